package io.github.diffusion4j.backend.cuda;

import org.junit.jupiter.api.Assumptions;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** Compiles stand-in shared libraries (src/test/native/fake_*.c) with gcc for the shim tests. */
final class FakeLibs {
    private FakeLibs() {}

    /** gcc -shared -fPIC source -o dir/name with the given -D defines; aborts the test when gcc is missing. */
    static Path compile(Path dir, String name, Path source, String... defines) throws IOException, InterruptedException {
        Path lib = dir.resolve(name);
        List<String> cmd = new ArrayList<>(List.of("gcc", "-shared", "-fPIC", "-O0", "-Wall"));
        for (String d : defines) cmd.add("-D" + d);
        cmd.addAll(List.of("-o", lib.toString(), source.toAbsolutePath().toString()));
        Process p;
        try {
            p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        } catch (IOException e) {
            Assumptions.abort("gcc not available: " + e.getMessage());
            throw e;
        }
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0, "gcc failed: " + out);
        return lib;
    }

    /** Makes the shim use a stand-in library of that kind; only possible while the real one is absent. */
    static void keepFake(int kind, Path lib, boolean realFound) {
        Assumptions.assumeFalse(realFound, "the real library is loaded in this JVM; not replacing it with a fake");
        String r = Shim.probeLibrary(lib.toString(), kind, true);
        assertTrue(r.contains("status=ok"), r);
    }
}
