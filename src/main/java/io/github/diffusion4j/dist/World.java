package io.github.diffusion4j.dist;

import java.nio.ByteBuffer;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.List;

/**
 * The processes of a data-parallel run: one per GPU (or CPU rank), launched by {@code mpirun} or Slurm's
 * {@code srun}. {@link #single()} is one process without MPI; {@link #open} initialises MPI when the launcher
 * started several processes (or when asked for), reading rank and size from MPI itself.
 *
 * <p>Host collectives (scalars, bytes, barriers) run on MPI's world communicator from the main thread, in the
 * same order on every rank; the gradient all-reduce of the CPU backend has its own duplicate of it
 * ({@link #gradientComm}) so that it never interleaves with them. A {@link Watchdog} bounds every wait on the
 * other ranks ({@link #timeoutSeconds}); when it fires, the hooks registered with {@link #onAbort} run (the CUDA
 * backend aborts its NCCL communicator there) and MPI aborts every rank.
 */
public final class World implements AutoCloseable {
    /**
     * Whether to use MPI: when the launcher started several processes, always, or never; SELF is one process that
     * takes the data-parallel code path (buckets, the backend's all-reduce over one rank) without MPI, to measure
     * what that path costs.
     */
    public enum Mode {
        AUTO, MPI, OFF, SELF;

        public static Mode parse(String s) {
            try {
                return valueOf(s.trim().toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("--distributed must be auto, mpi, self or off, got '" + s + "'");
            }
        }
    }

    /** The default bound on a wait for the other ranks, in seconds (PyTorch's NCCL default is 10 minutes too). */
    public static final double DEFAULT_TIMEOUT_S = 600;

    private static final World SINGLE = new World(false, 0, 1, 0, 1, 0, 0, DEFAULT_TIMEOUT_S);

    private final boolean mpi;          // MPI carries the collectives
    private final boolean parallel;     // the data-parallel code path runs (MPI, or SELF)
    private final int rank, size, localRank, localSize, threadLevel;
    private final long worldComm;
    private long gradComm;
    private final double timeoutSeconds;
    private final List<Runnable> abortHooks = new CopyOnWriteArrayList<>();
    private Watchdog watchdog;
    private boolean closed;

    private World(boolean mpi, int rank, int size, int localRank, int localSize, int threadLevel, long worldComm,
                  double timeoutSeconds) {
        this(mpi, mpi, rank, size, localRank, localSize, threadLevel, worldComm, timeoutSeconds);
    }

    private World(boolean mpi, boolean parallel, int rank, int size, int localRank, int localSize, int threadLevel,
                  long worldComm, double timeoutSeconds) {
        this.mpi = mpi;
        this.parallel = parallel;
        this.rank = rank;
        this.size = size;
        this.localRank = localRank;
        this.localSize = localSize;
        this.threadLevel = threadLevel;
        this.worldComm = worldComm;
        this.timeoutSeconds = timeoutSeconds;
    }

    /** One process, no MPI. */
    public static World single() { return SINGLE; }

    /**
     * The number of processes the launcher started, from its environment: OMPI_COMM_WORLD_SIZE (Open MPI's
     * {@code mpirun}), PMI_SIZE (PMI launchers), SLURM_STEP_NUM_TASKS (a Slurm {@code srun} step; not the job's
     * SLURM_NTASKS, which a batch script that runs one process also sees); 1 when none is set.
     */
    public static int launcherSize(Map<String, String> env) {
        for (String k : new String[] {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS"}) {
            String v = env.get(k);
            if (v != null && !v.isBlank()) {
                try {
                    return Math.max(1, Integer.parseInt(v.trim()));
                } catch (NumberFormatException e) {
                    throw new DistException(k + "=" + v + " is not a number of processes");
                }
            }
        }
        return 1;
    }

    /**
     * The world of this process: {@link #single()} for {@link Mode#OFF}, or for {@link Mode#AUTO} when the launcher
     * started one process; otherwise MPI is loaded and initialised (MPI_THREAD_MULTIPLE requested). Once an MPI
     * world is open, every later call returns it (MPI initialises once per process) until it is closed.
     *
     * @param timeoutSeconds the bound on a wait for the other ranks (at least 1 s)
     */
    private static World current;   // the MPI world of this process, once opened (MPI initialises once per process)

    /** Whether this process has an open MPI world. */
    public static synchronized boolean isOpen() { return current != null; }

    public static synchronized World open(Mode mode, double timeoutSeconds) {
        if (current != null) return current;
        World w = doOpen(mode, timeoutSeconds);
        if (w.mpi) current = w;
        return w;
    }

    private static World doOpen(Mode mode, double timeoutSeconds) {
        if (!(timeoutSeconds >= 1)) throw new IllegalArgumentException("--dist-timeout must be at least 1 second, got " + timeoutSeconds);
        int launched = launcherSize(System.getenv());
        if (mode == Mode.OFF) {
            if (launched > 1) {
                throw new IllegalArgumentException("--distributed off, but the launcher started " + launched
                        + " processes: they would all train alone in the same run folder");
            }
            return SINGLE;
        }
        if (mode == Mode.AUTO && launched <= 1) return SINGLE;
        if (mode == Mode.SELF) {
            if (launched > 1) throw new IllegalArgumentException("--distributed self is one process, but the launcher started " + launched);
            return new World(false, true, 0, 1, 0, 1, 0, 0, timeoutSeconds);
        }
        Mpi.load();
        int[] out = new int[5];
        Mpi.check(Mpi.initThread(Mpi.THREAD_MULTIPLE, out), "MPI_Init_thread");
        World w = new World(true, out[1], out[2], out[3], out[4], out[0], Mpi.commWorld(), timeoutSeconds);
        if (launched > 1 && w.size != launched) {
            throw new DistException("the launcher started " + launched + " processes but MPI sees " + w.size
                    + " (was the program run without mpirun/srun --mpi=pmix?)");
        }
        return w;
    }

    public int rank() { return rank; }

    public int size() { return size; }

    /** This process's index among the ranks on its node: the GPU it takes. */
    public int localRank() { return localRank; }

    public int localSize() { return localSize; }

    /** Whether this is rank 0, which alone writes checkpoints, samples and logs. */
    public boolean isRoot() { return rank == 0; }

    /**
     * Whether this process runs the data-parallel code path: MPI carries the world (also for one rank under
     * {@code --distributed mpi}), or {@code --distributed self}.
     */
    public boolean distributed() { return parallel; }

    /** Whether MPI carries the collectives (false in one process, and under {@code --distributed self}). */
    public boolean usesMpi() { return mpi; }

    public double timeoutSeconds() { return timeoutSeconds; }

    /** A slice of a global batch of {@code total}: this rank's equal share. */
    public BatchSlice slice(int total) { return BatchSlice.ofRank(total, rank, size); }

    /** "rank 1/4: " in a distributed run, "" otherwise: the prefix of a rank's messages. */
    public String prefix() { return mpi && size > 1 ? "rank " + rank + "/" + size + ": " : ""; }

    /** Sums {@code values} over the ranks, in place; returns them. */
    public double[] allReduceSum(double... values) { return allReduce(values, Mpi.SUM, "MPI_Allreduce(sum)", false); }

    public double[] allReduceMax(double... values) { return allReduce(values, Mpi.MAX, "MPI_Allreduce(max)", false); }

    /**
     * {@link #allReduceMax(double...)}, without the watchdog's bound when {@code unbounded} (the others may be busy
     * for long, e.g. while rank 0 writes a checkpoint or evaluates).
     */
    public double[] allReduceMax(boolean unbounded, double... values) {
        return allReduce(values, Mpi.MAX, "MPI_Allreduce(max)", unbounded);
    }

    public double[] allReduceMin(double... values) { return allReduce(values, Mpi.MIN, "MPI_Allreduce(min)", false); }

    private double[] allReduce(double[] values, int op, String call, boolean unbounded) {
        if (!mpi || values.length == 0) return values;
        if (unbounded) {
            Mpi.check(Mpi.allreduce(worldComm, values, op), call);
            return values;
        }
        try (Watchdog.Guard g = watchdog().guard(call)) {
            Mpi.check(Mpi.allreduce(worldComm, values, op), call);
        }
        return values;
    }

    /** Root's bytes on every rank (any length; the other ranks' arguments are ignored). */
    public byte[] broadcast(byte[] bytes, int root) {
        if (!mpi) return bytes;
        try (Watchdog.Guard g = watchdog().guard("MPI_Bcast")) {
            byte[] len = ByteBuffer.allocate(4).putInt(rank == root ? bytes.length : 0).array();
            Mpi.check(Mpi.bcast(worldComm, len, root), "MPI_Bcast");
            byte[] data = rank == root ? bytes.clone() : new byte[ByteBuffer.wrap(len).getInt()];
            Mpi.check(Mpi.bcast(worldComm, data, root), "MPI_Bcast");
            return data;
        }
    }

    public void barrier() {
        if (!mpi) return;
        try (Watchdog.Guard g = watchdog().guard("MPI_Barrier")) {
            Mpi.check(Mpi.barrier(worldComm), "MPI_Barrier");
        }
    }

    /** Waits for every rank without the watchdog's bound (they may be busy for long, e.g. sampling their share). */
    public void barrierUnbounded() {
        if (mpi) Mpi.check(Mpi.barrier(worldComm), "MPI_Barrier");
    }

    /**
     * Gives every rank the parts of {@code data} the others computed: part k, {@code counts[k]} floats from
     * {@code offsets[k]}, is rank {@code owners[k]}'s and is broadcast from it (an all-gather of unequal parts).
     */
    public void gatherParts(float[] data, int[] offsets, int[] counts, int[] owners) {
        if (!mpi) return;
        for (int k = 0; k < offsets.length; k++) {
            boolean mine = owners[k] == rank;
            byte[] bytes = new byte[0];
            if (mine) {
                ByteBuffer b = ByteBuffer.allocate(counts[k] * Float.BYTES).order(java.nio.ByteOrder.LITTLE_ENDIAN);
                b.asFloatBuffer().put(data, offsets[k], counts[k]);
                bytes = b.array();
            }
            bytes = broadcast(bytes, owners[k]);
            if (!mine) {
                if (bytes.length != counts[k] * Float.BYTES) {
                    throw new DistException("rank " + owners[k] + " sent " + bytes.length + " bytes for a part of " + counts[k] + " floats");
                }
                ByteBuffer.wrap(bytes).order(java.nio.ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(data, offsets[k], counts[k]);
            }
        }
    }

    /** The communicator of the CPU backend's gradient all-reduce: a duplicate of the world's, made on first use. */
    public synchronized long gradientComm() {
        if (!mpi) throw new IllegalStateException("no MPI in a single-process world");
        if (gradComm == 0) {
            long[] out = new long[1];
            Mpi.check(Mpi.commDup(worldComm, out), "MPI_Comm_dup");
            gradComm = out[0];
        }
        return gradComm;
    }

    /**
     * Starts an in-place sum over the ranks of {@code count} floats of a direct buffer from {@code byteOffset}, on
     * the gradient communicator; returns the request for {@link #waitAll}. Nothing may touch those bytes until then.
     */
    public long startSum(ByteBuffer direct, long byteOffset, int count) {
        if (!mpi) return 0;   // a sum over this one rank: nothing to do
        long[] out = new long[1];
        Mpi.check(Mpi.iallreduceSumFloat(gradientComm(), direct, byteOffset, count, out), "MPI_Iallreduce");
        return out[0];
    }

    /** Lets MPI progress the first {@code n} requests without waiting; true when all of them are done. */
    public boolean progress(long[] requests, int n) {
        if (!mpi) return true;
        int[] flag = new int[1];
        Mpi.check(Mpi.testAll(requests, n, flag), "MPI_Testall");
        return flag[0] != 0;
    }

    /** Waits for the first {@code n} requests, under the watchdog ({@code what} names the wait). */
    public void waitAll(long[] requests, int n, String what) {
        if (!mpi) return;
        try (Watchdog.Guard g = watchdog().guard(what)) {
            Mpi.check(Mpi.waitAll(requests, n), "MPI_Waitall");
        }
    }

    /** Runs {@code hook} (from the watchdog's thread) before MPI aborts the ranks, e.g. to abort NCCL. */
    public void onAbort(Runnable hook) { abortHooks.add(hook); }

    /** The watchdog that bounds this world's waits (started on first use). */
    public synchronized Watchdog watchdog() {
        if (watchdog == null) watchdog = new Watchdog(this, timeoutSeconds);
        return watchdog;
    }

    /**
     * Stops every rank now: runs the abort hooks, then MPI_Abort (exit code {@code code} on the launcher); a single
     * process just halts. Does not return.
     */
    public void abort(int code) {
        for (Runnable h : abortHooks) {
            try {
                h.run();
            } catch (RuntimeException e) {
                System.err.println(prefix() + "while aborting: " + e.getMessage());
            }
        }
        System.err.flush();
        System.out.flush();
        if (mpi) Mpi.abort(worldComm, code);
        Runtime.getRuntime().halt(code);
    }

    /** Finalises MPI (after the last collective of every rank). */
    @Override public synchronized void close() {
        if (!mpi || closed) return;
        closed = true;
        synchronized (World.class) {
            if (current == this) current = null;
        }
        if (watchdog != null) watchdog.close();
        if (gradComm != 0) Mpi.commFree(gradComm);
        Mpi.check(Mpi.finalizeMpi(), "MPI_Finalize");
    }

    @Override public String toString() {
        if (!mpi) return parallel ? "one process on the data-parallel path (--distributed self)" : "single process";
        return String.format(Locale.ROOT, "rank %d of %d (local %d of %d, MPI thread level %d)", rank, size,
                localRank, localSize, threadLevel);
    }
}
