package io.github.diffusion4j.cli;

import io.github.diffusion4j.train.TrainConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** 'train' options: their defaults are TrainConfig's (one place), and bad values get the shared one-line messages. */
class TrainOptionsTest {

    @Test void theDefaultsAreTrainConfigs() {
        TrainCommand cmd = new TrainCommand();
        new CommandLine(cmd).parseArgs();
        Map<?, ?> fromCli = TrainConfig.json().convertValue(cmd.configFromOptions(), Map.class);
        Map<?, ?> fromJava = TrainConfig.json().convertValue(new TrainConfig(), Map.class);
        assertEquals(fromJava, fromCli);
    }

    @Test void badValuesAreRefusedWithTheSharedMessages(@TempDir Path tmp) {
        String out = tmp.resolve("run").toString();
        String[][] cases = {
                {"--lr", "Infinity", "--lr must be finite and > 0"},
                {"--lr", "NaN", "--lr must be finite and > 0"},
                {"--timesteps", "2147483647", "--timesteps 2147483647 is out of range 2..100000"},
                {"--batch-size", "0", "--batch-size 0 is out of range 1..65536"},
                {"--min-snr", "Infinity", "--min-snr must be finite"},
                {"--dropout", "-2", "--dropout must be in [0, 1)"},
                {"--precision", "fp8", "precision must be fp32, bf16 or auto"},
                {"--steps", "100000000", "--steps 100000000 is out of range"},
        };
        for (String[] c : cases) {
            CliRun.run("train", c[0], c[1], "--out", out, "--device", "cpu", "--sample-count", "0").oneLineError(c[2]);
        }
    }
}
