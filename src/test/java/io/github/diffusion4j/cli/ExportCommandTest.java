package io.github.diffusion4j.cli;

import io.github.diffusion4j.io.SafeTensors;
import io.github.diffusion4j.nn.Param;
import io.github.diffusion4j.tensor.DType;
import io.github.diffusion4j.tensor.Rounding;
import io.github.diffusion4j.train.Checkpoint;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/** {@code export}: a tiny run's EMA (or raw) weights as one safetensors file, checked against the checkpoint's files. */
class ExportCommandTest {
    static final int STEPS = 2;
    @TempDir static Path shared;
    static Path run, ckpt;
    static SafeTensors.Contents ema, raw;
    static List<String> paramNames;

    @BeforeAll
    static void trainOnce() throws IOException {
        run = shared.resolve("run");
        CliRun.trainTiny(run, STEPS).ok();
        ckpt = run.resolve(Checkpoint.DIR).resolve(Checkpoint.folderName(STEPS));
        ema = SafeTensors.read(ckpt.resolve(Checkpoint.EMA));
        raw = SafeTensors.read(ckpt.resolve(Checkpoint.MODEL));
        paramNames = Checkpoint.buildModel(Checkpoint.readInfo(ckpt)).params().params().stream().map(Param::name).toList();
        boolean differ = false;
        for (String n : paramNames) differ |= !java.util.Arrays.equals(ema.tensors().get(n).data(), raw.tensors().get(n).data());
        assertTrue(differ, "EMA and raw weights differ after " + STEPS + " steps (else --no-ema would go unchecked)");
    }

    static CliRun.Result export(String... args) {
        String[] a = new String[args.length + 1];
        a[0] = "export";
        System.arraycopy(args, 0, a, 1, args.length);
        return CliRun.run(a);
    }

    /** The exported file holds the model's parameters, in order, with {@code reference}'s values rounded to {@code dtype}. */
    static void checkExport(Path file, DType dtype, SafeTensors.Contents reference, String weights) throws IOException {
        SafeTensors.Contents c = SafeTensors.read(file);
        assertEquals(paramNames, new ArrayList<>(c.tensors().keySet()), "parameter names in model order");
        long numel = 0;
        for (String n : paramNames) {
            SafeTensors.Entry want = reference.tensors().get(n), got = c.tensors().get(n);
            assertArrayEquals(want.shape(), got.shape(), n);
            for (int i = 0; i < want.data().length; i++) {
                float w = dtype == DType.BF16 ? Rounding.bf16(want.data()[i]) : Rounding.to(dtype, want.data()[i]);
                assertEquals(Float.floatToIntBits(w), Float.floatToIntBits(got.data()[i]), n + "[" + i + "]");
            }
            numel += want.data().length;
        }
        SafeTensors.Header h = SafeTensors.readHeader(file);
        for (SafeTensors.TensorInfo t : h.tensors()) assertEquals(dtype.safetensorsName(), t.dtype(), t.name());
        assertEquals(h.dataStart() + (long) dtype.bytes() * numel, Files.size(file), "file size: " + dtype.bytes() + " bytes per element");
        Map<String, String> meta = c.metadata();
        for (Map.Entry<String, String> e : reference.metadata().entrySet()) assertEquals(e.getValue(), meta.get(e.getKey()), e.getKey());
        assertEquals(Long.toString(STEPS), meta.get("step"));
        assertEquals(weights, meta.get("weights"));
        assertEquals(dtype.safetensorsName(), meta.get("dtype"));
    }

    static void noTemporaryFiles(Path folder) throws IOException {
        try (Stream<Path> s = Files.list(folder)) {
            assertEquals(List.of(), s.filter(p -> p.getFileName().toString().contains(".tmp-")).toList());
        }
    }

    @Test void defaultIsEmaInF32BesideTheRun() throws IOException {
        CliRun.Result r = export("--run", run.toString()).ok();
        Path file = run.resolve("export-step-000002-ema-f32.safetensors");
        assertTrue(Files.isRegularFile(file), r.describe());
        checkExport(file, DType.F32, ema, "ema");
        long params = paramNames.stream().mapToLong(n -> ema.tensors().get(n).data().length).sum();
        assertTrue(r.out().contains(file.toString()), r.describe());
        assertTrue(r.out().contains("f32") && r.out().contains(params + " parameters"), r.describe());
        assertTrue(r.out().contains(String.format(java.util.Locale.ROOT, "%,d bytes", Files.size(file))), r.describe());
        noTemporaryFiles(run);
    }

    @Test void bf16OfTheEmaWeights(@TempDir Path tmp) throws IOException {
        Path file = tmp.resolve("sub/dir/model-bf16.safetensors");
        CliRun.Result r = export("--run", run.toString(), "--dtype", "bf16", "--out", file.toString()).ok();
        checkExport(file, DType.BF16, ema, "ema");
        assertTrue(r.out().contains(file.toString()) && r.out().contains("bf16"), r.describe());
        // rounding really happened: the file is half the F32 one's data and some values changed
        Path f32 = tmp.resolve("f32.safetensors");
        export("--run", run.toString(), "--out", f32.toString()).ok();
        assertEquals(Files.size(f32) - SafeTensors.readHeader(f32).dataStart(),
                2 * (Files.size(file) - SafeTensors.readHeader(file).dataStart()));
        SafeTensors.Contents a = SafeTensors.read(f32), b = SafeTensors.read(file);
        boolean changed = false;
        for (String n : paramNames) {
            float[] x = a.tensors().get(n).data(), y = b.tensors().get(n).data();
            changed |= !java.util.Arrays.equals(x, y);
            for (int i = 0; i < x.length; i++) assertEquals(Rounding.bf16(x[i]), y[i], n + "[" + i + "]: bf16 export = bf16(f32 export)");
        }
        assertTrue(changed, "bf16 export differs from the f32 one");
        // overwriting an existing export works and leaves no temporary files
        export("--run", run.toString(), "--dtype", "BF16", "--out", file.toString()).ok();
        checkExport(file, DType.BF16, ema, "ema");
        noTemporaryFiles(file.getParent());
    }

    @Test void rawWeightsInF16FromACheckpointFolder(@TempDir Path tmp) throws IOException {
        Path file = tmp.resolve("raw.safetensors");
        export("--run", ckpt.toString(), "--no-ema", "--dtype", "f16", "--out", file.toString()).ok();
        checkExport(file, DType.F16, raw, "raw");
        // without --out, a checkpoint folder's export goes to its run folder, not inside the checkpoint
        CliRun.Result r = export("--run", ckpt.toString(), "--no-ema").ok();
        Path def = run.resolve("export-step-000002-raw-f32.safetensors");
        assertTrue(Files.isRegularFile(def), r.describe());
        checkExport(def, DType.F32, raw, "raw");
    }

    @Test void clearOneLineErrors(@TempDir Path tmp) throws IOException {
        export("--run", tmp.resolve("nope").toString()).oneLineError("no such run or checkpoint", "nope");
        export("--run", tmp.toString()).oneLineError("holds no checkpoint");
        export("--run", run.toString(), "--dtype", "fp8").oneLineError("--dtype", "fp8", "f32, bf16 or f16");
        Path aFile = Files.writeString(tmp.resolve("a-file"), "x");
        export("--run", run.toString(), "--out", aFile.resolve("w.safetensors").toString())
                .oneLineError("cannot write", "not a directory");
        export("--run", run.toString(), "--out", aFile.resolve("deeper/w.safetensors").toString())
                .oneLineError("cannot write", "not a directory");
        export("--run", run.toString(), "--out", tmp.toString()).oneLineError("cannot write", "is a directory");
        try (Stream<Path> s = Files.list(tmp)) {
            assertEquals(List.of(aFile), s.toList(), "failed exports leave nothing behind");
        }
        assertEquals(2, export("--dtype", "bf16").code(), "--run is required");
    }
}
