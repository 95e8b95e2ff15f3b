package io.github.diffusion4j.diffusion;

/**
 * Inference timestep grids, following diffusers' {@code set_timesteps} (rounding is numpy's round-half-to-even,
 * {@link Math#rint}).
 */
public final class Timesteps {
    private Timesteps() {}

    /**
     * The n descending timesteps of DDPM and DDIM:
     * <ul>
     *   <li>leading: {@code ratio = T / n} (integer division), {@code (n-1-k) * ratio + stepsOffset};</li>
     *   <li>trailing: {@code round(T - k * T / n) - 1};</li>
     *   <li>linspace: {@code round(k' * (T - 1) / (n - 1))} for k' = n-1 ... 0 (just {0} when n = 1).</li>
     * </ul>
     * (numpy's {@code arange(T, 0, -T/n)} used by diffusers for "trailing" yields one spurious extra element for
     * some n, e.g. T = 1000, n = 61, which then becomes timestep -1; here "trailing" always has n elements.)
     *
     * @throws IllegalArgumentException for n outside [1, T] or a grid reaching beyond T-1
     */
    public static int[] spaced(TimestepSpacing spacing, int numTrainTimesteps, int n, int stepsOffset) {
        checkCount(numTrainTimesteps, n);
        int[] ts = new int[n];
        switch (spacing) {
            case LEADING -> {
                int ratio = numTrainTimesteps / n;
                for (int k = 0; k < n; k++) ts[k] = (n - 1 - k) * ratio + stepsOffset;
            }
            case TRAILING -> {
                double ratio = (double) numTrainTimesteps / n;
                for (int k = 0; k < n; k++) ts[k] = (int) Math.rint(numTrainTimesteps - k * ratio) - 1;
            }
            case LINSPACE -> linspaceDescending(ts, numTrainTimesteps - 1, n);
        }
        validate(ts, numTrainTimesteps, "timestep_spacing=" + spacing + ", steps_offset=" + stepsOffset);
        return ts;
    }

    /**
     * DPM-Solver's grid: the same rules on n+1 points with the last (t = 0 end) dropped, as diffusers'
     * {@code DPMSolverMultistepScheduler.set_timesteps}: linspace over [0, T-1] with n+1 points; leading with
     * {@code ratio = T / (n + 1)} plus stepsOffset; trailing as {@link #spaced}.
     */
    public static int[] dpmSolver(TimestepSpacing spacing, int numTrainTimesteps, int n, int stepsOffset) {
        return dpmSolver(spacing, numTrainTimesteps, n, stepsOffset, numTrainTimesteps);
    }

    /**
     * {@link #dpmSolver(TimestepSpacing, int, int, int)} below {@code last} (T minus the timesteps that
     * {@code lambda_min_clipped} removes, as diffusers' {@code last_timestep}): linspace over [0, last-1]; leading with
     * {@code ratio = last / (n + 1)}; trailing {@code round(last - k * T / n) - 1} while {@code last - k * T / n > 0}
     * (numpy's {@code arange(last, 0, -T/n)}), which may give fewer than n steps. With {@code last = T} the grids
     * above.
     *
     * @throws IllegalArgumentException for n outside [1, last]
     */
    public static int[] dpmSolver(TimestepSpacing spacing, int numTrainTimesteps, int n, int stepsOffset, int last) {
        checkCount(numTrainTimesteps, n);
        if (last < 1 || last > numTrainTimesteps) {
            throw new IllegalArgumentException("the last timestep bound " + last + " is outside [1, " + numTrainTimesteps + "]");
        }
        if (n > last) {
            throw new IllegalArgumentException("number of inference steps (" + n + ") is larger than the " + last
                    + " timesteps that lambda_min_clipped leaves");
        }
        int[] ts = new int[n];
        switch (spacing) {
            case LEADING -> {
                int ratio = last / (n + 1);
                for (int k = 0; k < n; k++) ts[k] = (n - k) * ratio + stepsOffset;
            }
            case TRAILING -> {
                if (last == numTrainTimesteps) return spaced(spacing, numTrainTimesteps, n, stepsOffset);
                double ratio = (double) numTrainTimesteps / n;
                int count = 0;
                while (count < n && last - count * ratio > 0 && Math.rint(last - count * ratio) - 1 >= 0) {
                    ts[count] = (int) Math.rint(last - count * ratio) - 1;
                    count++;
                }
                ts = java.util.Arrays.copyOf(ts, count);
            }
            case LINSPACE -> {
                int[] all = new int[n + 1];
                linspaceDescending(all, last - 1, n + 1);
                System.arraycopy(all, 0, ts, 0, n);
            }
        }
        validate(ts, numTrainTimesteps, "timestep_spacing=" + spacing + ", steps_offset=" + stepsOffset);
        return ts;
    }

    /** numpy's linspace(0, stop, num).round() reversed: element k' is k' * (stop / (num - 1)), the last exactly stop. */
    private static void linspaceDescending(int[] out, int stop, int num) {
        if (num == 1) {
            out[0] = 0;
            return;
        }
        double step = (double) stop / (num - 1);
        for (int j = 0; j < num; j++) {
            double v = j == num - 1 ? stop : j * step;
            out[num - 1 - j] = (int) Math.rint(v);
        }
    }

    private static void checkCount(int numTrainTimesteps, int n) {
        if (n < 1) throw new IllegalArgumentException("number of inference steps must be at least 1, got " + n);
        if (n > numTrainTimesteps) {
            throw new IllegalArgumentException("number of inference steps (" + n + ") cannot be larger than "
                    + "num_train_timesteps (" + numTrainTimesteps + ")");
        }
    }

    /**
     * Checks a custom or computed grid: non-empty, strictly descending, within [0, T-1].
     *
     * @throws IllegalArgumentException naming the first offending entry
     */
    public static void validate(int[] ts, int numTrainTimesteps, String what) {
        if (ts.length == 0) throw new IllegalArgumentException("timesteps must not be empty");
        for (int k = 0; k < ts.length; k++) {
            if (ts[k] < 0 || ts[k] >= numTrainTimesteps) {
                throw new IllegalArgumentException("timestep " + ts[k] + " (at index " + k + ") is outside [0, "
                        + numTrainTimesteps + ") (" + what + ")");
            }
            if (k > 0 && ts[k] >= ts[k - 1]) {
                throw new IllegalArgumentException("timesteps must be strictly descending, but " + ts[k - 1] + " is followed by "
                        + ts[k] + " (" + what + ")");
            }
        }
    }
}
