package io.github.diffusion4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.diffusion4j.io.FileFormatException;
import io.github.diffusion4j.train.Checkpoint;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * A checkpoint's config.json with one field (of any object) set to a hostile value, or with random bytes flipped:
 * reading it and building its model either works or is refused with a one-line FileFormatException; never another
 * exception, an OutOfMemoryError or a hang. A few hundred cases.
 */
class ConfigFuzzTest {
    private static final String[] HOSTILE = {"null", "\"\"", "\"x\"", "-1", "0", "1", "16.5", "1e308", "-1e308",
            "2147483647", "9223372036854775807", "true", "[]", "{}", "\"Infinity\"", "\"NaN\"", "\"-Infinity\""};

    @Test void hostileConfigsAreRefusedCleanly(@TempDir Path tmp) throws Exception {
        Path run = tmp.resolve("run");
        CliRun.trainTiny(run, 1).ok();
        Path dir = Checkpoint.resolve(run), file = dir.resolve(Checkpoint.CONFIG);
        String good = Files.readString(file);
        ObjectMapper json = new ObjectMapper();
        JsonNode root = json.readTree(good);
        List<String[]> fields = new ArrayList<>();   // {object ("" = root), field}
        root.fieldNames().forEachRemaining(f -> fields.add(new String[] {"", f}));
        for (String obj : new String[] {"train", "model", "schedule", "dataset", "data_position", "optimizer"}) {
            root.path(obj).fieldNames().forEachRemaining(f -> fields.add(new String[] {obj, f}));
        }
        SplittableRandom rng = new SplittableRandom(7);
        int[] counts = new int[2];
        assertTimeoutPreemptively(Duration.ofSeconds(120), () -> {
            for (String[] f : fields) {
                for (int k = 0; k < 4; k++) {
                    ObjectNode r = (ObjectNode) json.readTree(good);
                    ObjectNode o = f[0].isEmpty() ? r : (ObjectNode) r.get(f[0]);
                    o.set(f[1], json.readTree(HOSTILE[rng.nextInt(HOSTILE.length)]));
                    Files.writeString(file, json.writeValueAsString(r));
                    check(dir, counts, f[0] + "." + f[1]);
                }
            }
            byte[] bytes = good.getBytes(java.nio.charset.StandardCharsets.UTF_8);
            for (int k = 0; k < 100; k++) {
                byte[] b = bytes.clone();
                b[rng.nextInt(b.length)] = (byte) rng.nextInt(256);
                Files.write(file, b);
                check(dir, counts, "byte flip " + k);
            }
        });
        System.out.printf("config.json fuzz: %d cases read, %d refused with FileFormatException (%d fields)%n",
                counts[0], counts[1], fields.size());
    }

    private static void check(Path dir, int[] counts, String what) {
        try {
            Checkpoint.Info info = Checkpoint.readInfo(dir);
            Checkpoint.buildModel(info);
            counts[0]++;
        } catch (FileFormatException e) {
            counts[1]++;
            if (e.getMessage() == null || e.getMessage().contains("\n")) fail(what + ": not a one-line message: " + e.getMessage());
        } catch (Throwable e) {
            fail(what + ": gave " + e + " instead of a FileFormatException", e);
        }
    }
}
