package io.github.diffusion4j.nn;

import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Philox;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.Tensor;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Finite-difference gradient checks for layers and models with explicit backward passes.
 *
 * <p>The function under test is wrapped as {@link Forward} (computes the output from the current values of the
 * declared inputs and of the parameters in a {@link ParamStore}) and {@link Backward} (given dL/dOut, accumulates
 * the parameter gradients and returns the gradients of the declared inputs). The scalar loss is
 * {@code L = Σ out ⊙ R} with a fixed standard-normal {@code R} from Philox, accumulated in double, so
 * {@code dL/dOut = R}. Each checked element θ is compared with the central difference
 * {@code (L(θ⁺) − L(θ⁻)) / (θ⁺ − θ⁻)}, where θ± are the float32 values actually stored (so rounding of θ ± ε does
 * not bias the quotient). Large tensors are checked on a deterministic random subset of elements and,
 * additionally, along one random direction over all their elements (a directional derivative: every element
 * takes part, two forward passes per tensor).
 *
 * <p>The error of one comparison is {@code |a − n| / max(|a| + |n|, floor)}. Float32 round-off in the forward
 * pass makes {@code n} noisy by about σ_L / ε (σ_L: round-off of the loss), which for a deep model is far above
 * float resolution, so the floor is the largest of
 * <ul>
 *   <li>{@code absFloor} (default 1e-4),</li>
 *   <li>{@code relFloor · max|a|} over the tensor (default 1e-3): near-zero entries are judged on the scale of the
 *       tensor's largest gradient,</li>
 *   <li>the measured noise floor {@code 4 · noise / tol}: before the comparisons, a few symmetric probes
 *       {@code L(θ + δe) + L(θ − δe) − 2 L(θ)} with δ = ε/32 (the linear term cancels and δ² terms are negligible)
 *       measure σ_L (the largest probe, half of them on the first tensor, which feeds the most computation);
 *       {@code noise} is the resulting standard deviation of a central difference. A deviation within four
 *       standard deviations of round-off thus counts as at most the tolerance.</li>
 * </ul>
 * The maximum error per tensor and over all tensors is printed and asserted below the tolerance.
 */
public final class GradCheck {

    /** Computes the output from the current values of the inputs and parameters. */
    @FunctionalInterface
    public interface Forward {
        Tensor run();
    }

    /**
     * Runs the backward pass for the output of the last {@link Forward#run()}: accumulates parameter gradients and
     * returns dL/d(input i) for each declared input (in declaration order; may be null or shorter when no input
     * is declared).
     */
    @FunctionalInterface
    public interface Backward {
        Tensor[] run(Tensor dOut);
    }

    private final String name;
    private final Backend backend;
    private final Map<String, Tensor> inputs = new LinkedHashMap<>();
    private ParamStore store;
    private Forward forward;
    private Backward backward;
    private double eps = 1e-2;
    private double tol = 1e-2;
    private double absFloor = 1e-4;
    private double relFloor = 1e-3;
    private int noiseProbes = 12;
    private boolean richardson;
    private int maxElements = 32;
    private int fullUpTo = 64;
    private final Map<String, Integer> subsetFor = new LinkedHashMap<>();
    private boolean directional = true;
    private boolean checkInputs = true;
    private long seed = 1234;

    private GradCheck(String name, Backend backend) {
        this.name = name;
        this.backend = backend;
    }

    public static GradCheck of(String name, Backend backend) { return new GradCheck(name, backend); }

    /** Declares an input whose gradient {@link Backward} returns (in declaration order). */
    public GradCheck input(String inputName, Tensor t) {
        inputs.put(inputName, t);
        return this;
    }

    public GradCheck params(ParamStore s) {
        this.store = s;
        return this;
    }

    public GradCheck forward(Forward f) {
        this.forward = f;
        return this;
    }

    public GradCheck backward(Backward b) {
        this.backward = b;
        return this;
    }

    /** Absolute step of the central difference (the values checked are of order 0.1–1). */
    public GradCheck eps(double e) {
        this.eps = e;
        return this;
    }

    public GradCheck tol(double t) {
        this.tol = t;
        return this;
    }

    /** floor = max(abs, rel · max|analytic gradient of the tensor|, measured noise floor). */
    public GradCheck floor(double abs, double rel) {
        this.absFloor = abs;
        this.relFloor = rel;
        return this;
    }

    /** Tensors with at most {@code fullUpTo} elements are checked in full, larger ones on {@code subset} elements. */
    public GradCheck elements(int fullUpTo, int subset) {
        this.fullUpTo = fullUpTo;
        this.maxElements = subset;
        return this;
    }

    /** Checks {@code k} elements (or all, if fewer) of the named tensor instead of the default subset. */
    public GradCheck subset(String tensorName, int k) {
        subsetFor.put(tensorName, k);
        return this;
    }

    /** Whether tensors larger than {@code fullUpTo} are also checked along a random direction (default on). */
    public GradCheck directional(boolean on) {
        this.directional = on;
        return this;
    }

    /**
     * Richardson extrapolation {@code (4 D(ε) − D(2ε)) / 3} of the central difference D: truncation error O(ε⁴)
     * instead of O(ε²), for strongly curved functions, at twice the forward passes.
     */
    public GradCheck richardson(boolean on) {
        this.richardson = on;
        return this;
    }

    /** Number of symmetric probes that measure the round-off noise (0 disables the noise floor). */
    public GradCheck noiseProbes(int n) {
        this.noiseProbes = n;
        return this;
    }

    /** Whether the input gradients returned by {@link Backward} are checked (models return none). */
    public GradCheck checkInputs(boolean on) {
        this.checkInputs = on;
        return this;
    }

    public GradCheck seed(long s) {
        this.seed = s;
        return this;
    }

    /** Per-tensor results of a check. */
    public static final class Result {
        public final String name;
        /** Max relative error per checked tensor (elementwise and directional combined). */
        public final Map<String, Double> maxRel = new LinkedHashMap<>();
        /** Analytic gradients (host copies) per checked tensor. */
        public final Map<String, float[]> analytic = new LinkedHashMap<>();
        public double overall;
        public int comparisons;
        /** Estimated standard deviation of a central-difference derivative due to float32 round-off. */
        public double noise;

        Result(String name) { this.name = name; }
    }

    /** The loss Σ out ⊙ r in double. */
    static double dot(float[] out, float[] r) {
        if (out.length != r.length) throw new IllegalStateException("output size changed: " + out.length + " vs " + r.length);
        double s = 0;
        for (int i = 0; i < out.length; i++) s += (double) out[i] * r[i];
        return s;
    }

    private double loss(float[] r) {
        Tensor out = forward.run();
        float[] o = backend.toHost(out);
        for (float v : o) if (!Float.isFinite(v)) fail(name + ": non-finite output");
        return dot(o, r);
    }

    /** A checked tensor: its value tensor (perturbed in place) and its analytic gradient on the host. */
    private record Target(String name, Tensor value, float[] grad) {}

    /** Runs the check, prints the maximum relative errors and asserts them below the tolerance. */
    public Result run() {
        if (forward == null || backward == null) throw new IllegalStateException("forward and backward must be set");
        Result res = new Result(name);
        Tensor out0 = forward.run();
        Shape outShape = out0.shape();
        float[] r = new float[outShape.size()];
        Philox.fillNormal(r, 0, seed, 0, 0, r.length);
        double l0 = dot(backend.toHost(out0), r);
        // the forward pass must be a deterministic function of the values (dropout masks included)
        double l0again = loss(r);
        assertEquals(l0, l0again, 0.0, name + ": forward is not deterministic (fresh Ctx with a fixed seed?)");

        // analytic gradients: fresh forward, zeroed parameter gradients, one backward with dOut = R
        forward.run();
        if (store != null) store.zeroGrad();
        Tensor dOut = backend.fromArray(r, outShape);
        Tensor[] dIn = backward.run(dOut);

        List<Target> targets = new ArrayList<>();
        if (checkInputs) {
            int i = 0;
            for (Map.Entry<String, Tensor> e : inputs.entrySet()) {
                Tensor g = dIn != null && i < dIn.length ? dIn[i] : null;
                if (g == null) fail(name + ": backward returned no gradient for input " + e.getKey());
                assertEquals(e.getValue().shape().numel(), g.shape().numel(), name + ": gradient size of " + e.getKey());
                targets.add(new Target(e.getKey(), e.getValue(), backend.toHost(g)));
                i++;
            }
        }
        if (store != null) {
            for (Param p : store.params()) targets.add(new Target(p.name(), p.value(), backend.toHost(p.grad())));
        }

        StringBuilder line = new StringBuilder();
        Philox.Stream pick = new Philox.Stream(seed ^ 0x5DEECE66DL, 0);
        long dirOffset = 1L << 40;

        // round-off noise of the loss, from symmetric probes on random elements: half of them in the first tensor
        // (the input, or the first parameter of a model, which feeds the most computation and so perturbs the most
        // round-offs), half in random tensors; the largest probe sets the estimate
        double maxProbe = 0;
        double delta = eps / 32;
        for (int k = 0; k < noiseProbes && !targets.isEmpty(); k++) {
            Target t = targets.get(k % 2 == 0 ? 0 : pick.nextInt(targets.size()));
            int idx = pick.nextInt(t.grad.length);
            Tensor cell = t.value.view(idx, Shape.of(1));
            float v = backend.toHost(cell)[0];
            backend.fill(cell, (float) (v + delta));
            double lp = loss(r);
            backend.fill(cell, (float) (v - delta));
            double lm = loss(r);
            backend.fill(cell, v);
            maxProbe = Math.max(maxProbe, Math.abs(lp + lm - 2 * l0));
        }
        // σ_L ≈ |probe| / √6 (three independent round-offs); a central difference has σ = √2 σ_L / (2ε)
        res.noise = maxProbe / Math.sqrt(6) * Math.sqrt(2) / (2 * eps);
        // Richardson (4 D(ε) − D(2ε)) / 3 amplifies the noise of D(ε) by √(16 + 1/4) / 3
        if (richardson) res.noise *= Math.sqrt(16.25) / 3;
        double noiseFloor = 4 * res.noise / tol;

        for (Target t : targets) {
            float[] a = t.grad;
            res.analytic.put(t.name, a);
            double maxAbs = 0;
            for (float v : a) maxAbs = Math.max(maxAbs, Math.abs(v));
            double floor = Math.max(Math.max(absFloor, relFloor * maxAbs), noiseFloor);
            int n = a.length;
            double worst = 0;
            String worstWhere = "";
            for (int idx : indices(n, subsetFor.getOrDefault(t.name, maxElements), pick)) {
                Tensor cell = t.value.view(idx, Shape.of(1));
                float v = backend.toHost(cell)[0];
                double num = elementDifference(cell, v, eps, r);
                if (richardson) num = (4 * num - elementDifference(cell, v, 2 * eps, r)) / 3;
                double err = Math.abs(a[idx] - num) / Math.max(Math.abs(a[idx]) + Math.abs(num), floor);
                res.comparisons++;
                if (err > worst) {
                    worst = err;
                    worstWhere = String.format(Locale.ROOT, "[%d] analytic %.6g numeric %.6g", idx, a[idx], num);
                }
            }
            if (directional && n > fullUpTo) {
                // random unit direction u = d / |d| over all elements: Σ a_i u_i against (L(θ + εu) − L(θ − εu)) / 2ε
                float[] v = backend.toHost(t.value);
                float[] d = new float[n];
                Philox.fillNormal(d, 0, seed + 17, dirOffset, 0, n);
                dirOffset += n;
                double norm = 0;
                for (float x : d) norm += (double) x * x;
                norm = Math.sqrt(norm);
                double ana = 0;
                for (int i = 0; i < n; i++) ana += a[i] * d[i] / norm;
                // both are derivatives along a unit vector, on the scale of a single-element derivative
                double an = ana, nu = directionalDifference(t.value, v, d, norm, eps, r);
                if (richardson) nu = (4 * nu - directionalDifference(t.value, v, d, norm, 2 * eps, r)) / 3;
                double err = Math.abs(an - nu) / Math.max(Math.abs(an) + Math.abs(nu), floor);
                res.comparisons++;
                if (err > worst) {
                    worst = err;
                    worstWhere = String.format(Locale.ROOT, "direction: analytic %.6g numeric %.6g", an, nu);
                }
            }
            res.maxRel.put(t.name, worst);
            res.overall = Math.max(res.overall, worst);
            if (line.length() > 0) line.append(", ");
            line.append(String.format(Locale.ROOT, "%.1e (%s)", worst, t.name));
            if (worst > tol) {
                System.out.println("GradCheck " + name + ": " + t.name + " worst " + worstWhere
                        + String.format(Locale.ROOT, " (floor %.2g, max|grad| %.3g)", floor, maxAbs));
            }
        }
        System.out.println(String.format(Locale.ROOT, "GradCheck %s: max rel err %.1e overall (%d comparisons, "
                        + "FD round-off noise %.1e, tol %.0e); %s", name, res.overall, res.comparisons, res.noise, tol, line));
        for (Map.Entry<String, Double> e : res.maxRel.entrySet()) {
            assertTrue(e.getValue() <= tol, String.format(Locale.ROOT, "%s: gradient of %s has max rel err %.3g > %.3g",
                    name, e.getKey(), e.getValue(), tol));
        }
        return res;
    }

    /** (L(v + h) − L(v − h)) / (v⁺ − v⁻) for one element, with the float values actually stored; restores v. */
    private double elementDifference(Tensor cell, float v, double h, float[] r) {
        float vp = (float) (v + h), vm = (float) (v - h);
        backend.fill(cell, vp);
        double lp = loss(r);
        backend.fill(cell, vm);
        double lm = loss(r);
        backend.fill(cell, v);
        return (lp - lm) / ((double) vp - (double) vm);
    }

    /** Central difference along the unit vector d / norm with step h; restores the values v. */
    private double directionalDifference(Tensor value, float[] v, float[] d, double norm, double h, float[] r) {
        int n = v.length;
        float[] vp = new float[n], vm = new float[n];
        for (int i = 0; i < n; i++) {
            double step = h * d[i] / norm;
            vp[i] = (float) (v[i] + step);
            vm[i] = (float) (v[i] - step);
        }
        backend.copyFromHost(value, vp, 0);
        double lp = loss(r);
        backend.copyFromHost(value, vm, 0);
        double lm = loss(r);
        backend.copyFromHost(value, v, 0);
        // the rounding of v ± step is far below the step (|v| ≲ 1, h ≥ 1e-3), so 2h is the step taken
        return (lp - lm) / (2 * h);
    }

    /** All indices of a small tensor, or a deterministic random subset of k elements of a large one. */
    private int[] indices(int n, int k, Philox.Stream pick) {
        if (n <= fullUpTo || n <= k) {
            int[] all = new int[n];
            for (int i = 0; i < n; i++) all[i] = i;
            return all;
        }
        TreeSet<Integer> set = new TreeSet<>();
        if (k >= 4) {
            set.add(0);
            set.add(n - 1);
        }
        while (set.size() < k) set.add(pick.nextInt(n));
        return set.stream().mapToInt(Integer::intValue).toArray();
    }

    // ------------------------------------------------------------------ accumulation semantics

    /**
     * Parameter gradients accumulate and input gradients are assigned: after zeroGrad, forward + backward twice
     * (same dOut) leaves exactly twice the parameter gradients of one pass (up to float rounding), while each
     * pass returns the same input gradients. Also checks that every parameter got a non-zero gradient.
     */
    public static void assertAccumulates(String name, Backend backend, ParamStore store, Forward f, Backward bw) {
        Tensor out = f.run();
        float[] r = new float[out.size()];
        Philox.fillNormal(r, 0, 4321, 0, 0, r.length);
        Tensor dOut = backend.fromArray(r, out.shape());
        store.zeroGrad();
        Tensor[] in1 = bw.run(dOut);
        float[] g1 = backend.toHost(store.grads());
        float[][] in1h = hostAll(backend, in1);
        f.run();
        Tensor[] in2 = bw.run(dOut);
        float[] g2 = backend.toHost(store.grads());
        float[][] in2h = hostAll(backend, in2);
        double maxAbs = 0, maxErr = 0;
        for (float v : g1) maxAbs = Math.max(maxAbs, Math.abs(v));
        assertTrue(maxAbs > 0, name + ": all parameter gradients are zero");
        for (int i = 0; i < g1.length; i++) maxErr = Math.max(maxErr, Math.abs(g2[i] - 2.0 * g1[i]));
        assertTrue(maxErr <= 1e-5 * maxAbs, name + ": two backward passes do not give twice the gradient (max error "
                + maxErr + ", max |g| " + maxAbs + ")");
        for (Param p : store.params()) {
            assertTrue(backend.sumSquares(p.grad()) > 0, name + ": parameter " + p.name() + " got no gradient");
        }
        for (int k = 0; k < in1h.length; k++) {
            if (in1h[k] == null) continue;
            double m = 0, e = 0;
            for (int i = 0; i < in1h[k].length; i++) {
                m = Math.max(m, Math.abs(in1h[k][i]));
                e = Math.max(e, Math.abs(in2h[k][i] - in1h[k][i]));
            }
            assertTrue(e <= 1e-6 * m, name + ": input gradient " + k + " differs between passes (assigned, not accumulated)");
        }
        System.out.println(String.format(Locale.ROOT, "GradCheck %s: two backward passes give 2x the parameter gradients "
                + "(max deviation %.1e of max |g| %.3g)", name, maxErr, maxAbs));
        store.zeroGrad();
    }

    private static float[][] hostAll(Backend b, Tensor[] ts) {
        if (ts == null) return new float[0][];
        float[][] out = new float[ts.length][];
        for (int i = 0; i < ts.length; i++) out[i] = ts[i] == null ? null : b.toHost(ts[i]);
        return out;
    }

    // ------------------------------------------------------------------ helpers for tests

    /** A tensor of standard normals times {@code scale}, from Philox (seed, 0). */
    public static Tensor randn(Backend b, long seed, float scale, int... dims) {
        Shape s = Shape.of(dims);
        float[] v = new float[s.size()];
        Philox.fillNormal(v, 0, seed, 0, 0, v.length);
        for (int i = 0; i < v.length; i++) v[i] *= scale;
        return b.fromArray(v, s);
    }

    /**
     * Replaces every parameter by random values so that no gradient path is switched off by a zero
     * initialisation: weights (rank ≥ 2) N(0, gain² / fan-in), rank-1 parameters (biases, norm scales and
     * shifts) their current value plus N(0, 0.1²) (norm scales stay near 1).
     */
    public static void randomize(ParamStore store, long seed, double gain) {
        Backend b = store.backend();
        long offset = 0;
        for (Param p : store.params()) {
            Shape s = p.shape();
            int n = s.size();
            float[] z = new float[n];
            Philox.fillNormal(z, 0, seed, offset, 0, n);
            offset += n;
            float[] v = b.toHost(p.value());
            if (s.rank() >= 2) {
                double std = gain / Math.sqrt(Init.fanIn(s));
                for (int i = 0; i < n; i++) v[i] = (float) (z[i] * std);
            } else {
                for (int i = 0; i < n; i++) v[i] += (float) (0.1 * z[i]);
            }
            b.copyFromHost(p.value(), v, 0);
        }
    }

    /** Allocates a store whose parameters are registered (on {@code b}, with {@code seed}) and randomises them. */
    public static ParamStore allocateRandom(ParamStore store, Backend b, long seed) {
        store.allocate(b, seed);
        randomize(store, seed + 1, 1.0);
        return store;
    }
}
