package io.github.diffusion4j.dist;

import org.junit.jupiter.api.Assumptions;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * Starts the CLI as N MPI ranks: {@code mpirun -np N --oversubscribe java ... Main <args>} with this JVM's runtime
 * and class path. Without {@code mpirun} the tests skip, unless D4J_REQUIRE_MPI=1 (set by .ci/run, which installs
 * Open MPI), where they fail.
 */
final class MpiLaunch {
    record Result(int code, String out, double seconds) {
        Result ok() {
            if (code != 0) fail("mpirun exited with " + code + ":\n" + out);
            return this;
        }
    }

    private MpiLaunch() {}

    static void assumeMpirun() {
        boolean found = false;
        for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
            if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, "mpirun"))) found = true;
        }
        if (!found && "1".equals(System.getenv("D4J_REQUIRE_MPI"))) {
            fail("mpirun not found but D4J_REQUIRE_MPI=1 (install openmpi-bin libopenmpi-dev)");
        }
        Assumptions.assumeTrue(found, "mpirun not found (Open MPI: apt-get install openmpi-bin libopenmpi-dev)");
    }

    static List<String> command(int ranks, String... args) {
        List<String> c = new ArrayList<>(List.of("mpirun", "-np", Integer.toString(ranks), "--oversubscribe",
                // shared memory without cross-memory attach, which containers often forbid
                "--mca", "btl_vader_single_copy_mechanism", "none"));
        if ("root".equals(System.getProperty("user.name"))) c.add("--allow-run-as-root");
        String java = ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        c.addAll(List.of(java, "--add-modules", "jdk.incubator.vector", "-Xmx1g", "-cp", System.getProperty("java.class.path"),
                "io.github.diffusion4j.cli.Main"));
        c.addAll(List.of(args));
        return c;
    }

    static Process start(Path log, int ranks, String... args) throws IOException {
        ProcessBuilder pb = new ProcessBuilder(command(ranks, args)).redirectErrorStream(true).redirectOutput(log.toFile());
        return pb.start();
    }

    static Result run(Path tmp, int ranks, String... args) throws IOException, InterruptedException {
        Path log = Files.createTempFile(tmp, "mpirun", ".log");
        long t0 = System.nanoTime();
        Process p = start(log, ranks, args);
        if (!p.waitFor(300, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            fail("mpirun did not finish in 300 s:\n" + Files.readString(log));
        }
        return new Result(p.exitValue(), Files.readString(log), (System.nanoTime() - t0) / 1e9);
    }

    /** The pid of the rank's java process among those whose command line mentions {@code marker}. */
    static long pidOfRank(String marker, int rank) throws IOException {
        for (ProcessHandle h : ProcessHandle.allProcesses().toList()) {
            String cmd = h.info().commandLine().orElse("");
            if (!cmd.contains(marker) || !cmd.contains("io.github.diffusion4j.cli.Main") || cmd.startsWith("mpirun")) continue;
            Path env = Path.of("/proc", Long.toString(h.pid()), "environ");
            if (!Files.isReadable(env)) continue;
            for (String kv : new String(Files.readAllBytes(env)).split("\0")) {
                if (kv.equals("OMPI_COMM_WORLD_RANK=" + rank)) return h.pid();
            }
        }
        return -1;
    }
}
