package io.github.diffusion4j.cli;

import io.github.diffusion4j.dist.World;
import picocli.CommandLine;
import picocli.CommandLine.Option;

import java.io.PrintWriter;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * The data-parallel settings of a command that can run as MPI ranks ({@code train}, {@code sample},
 * {@code evaluate}): {@code --distributed auto|mpi|off} and {@code --dist-timeout S}, and the way such a command
 * runs ({@link #run}): in a world of several ranks a failure is reported once with the rank's prefix and stops
 * every rank (they would otherwise wait for the failed one until the watchdog's bound), and MPI is finalised at
 * the end by whoever opened it.
 */
public final class DistributedOptions {
    /** The options' names: settings of this process, which {@code train --resume} may change. */
    public static final List<String> NAMES = List.of("--distributed", "--dist-timeout");

    @Option(names = "--distributed", defaultValue = "auto", paramLabel = "MODE", description = {"Data-parallel: auto (MPI when mpirun",
            "or srun started several processes), mpi (also for one), self (one process on the data-parallel path,",
            "without MPI: measures its cost), off (default: ${DEFAULT-VALUE})."})
    String mode;
    @Option(names = "--dist-timeout", defaultValue = "600", paramLabel = "S", description = {"Data-parallel: stop every rank when one",
            "waits this long for the others (a rank died or hangs; default: ${DEFAULT-VALUE} s)."})
    double timeout;

    /** What {@link #run} gives the command's body. */
    @FunctionalInterface
    public interface Body {
        int run(World world) throws Exception;
    }

    /**
     * Runs {@code body} in this process's world (opened here, or already open when the command runs inside another,
     * as {@code evaluate --run} runs {@code sample}).
     */
    public int run(CommandLine.Model.CommandSpec spec, Body body) throws Exception {
        boolean owner = !World.isOpen();
        World world;
        try {
            world = World.open(World.Mode.parse(mode), timeout);
        } catch (IllegalArgumentException e) {
            throw new UserException(e.getMessage());
        }
        if (!world.usesMpi()) return body.run(world);   // one process: failures end it as usual
        int code;
        try {
            code = body.run(world);
        } catch (Exception e) {
            if (!world.isRoot()) {
                // most failures (bad input, a diverged run) happen on every rank alike: leave the report to rank 0,
                // whose abort ends this one; a failure of this rank alone is reported 2 s later
                Thread.sleep(2000);
            }
            code = Main.report(e, spec.commandLine().getErr(), Verbosity.isVerbose(spec.commandLine().getParseResult()),
                    world.prefix());
            world.abort(code);
            throw e;   // not reached
        }
        if (owner) world.close();
        return code;
    }

    /** Where a rank writes its report: the command's output on rank 0, nowhere on the others. */
    public static PrintWriter out(World world, CommandLine.Model.CommandSpec spec) {
        return world.isRoot() ? spec.commandLine().getOut() : new PrintWriter(java.io.OutputStream.nullOutputStream());
    }

    /**
     * The GPU of this process: {@code gpu} when {@code --gpu} was given or in one process; else the node-local rank
     * modulo the GPUs it sees (under Slurm's {@code --gpus-per-task} each rank sees one).
     */
    public static int gpu(World world, int gpu, boolean given) {
        if (given || !world.distributed()) return gpu;
        int devices = io.github.diffusion4j.backend.cuda.CudaAvailability.probe().deviceCount();
        return devices > 0 ? world.localRank() % devices : 0;
    }
}
