package io.github.diffusion4j.tensor;

/**
 * The one seam through which every numeric operation goes. {@code CpuBackend} implements it in plain Java
 * and is the numerical reference; {@code CudaBackend} implements it with our kernels, cuDNN and cuBLAS.
 *
 * <p>Conventions (as in llm.c): arguments are <b>outputs first, then inputs, then dimensions</b>.
 * Tensors are contiguous, logically NCHW for images, of a {@link DType} the backend supports ({@link #dtypes()}).
 * <b>Every op computes in float32, whatever the dtypes of its tensors, and rounds each output to its tensor's dtype
 * (nearest-even) when it stores it</b>: an op may read a bf16 activation and an F32 bias and write a bf16 or an F32
 * output. The operands of a matrix product (a, b) and of a convolution (x, w and dy) share one dtype, as cuBLAS and
 * cuDNN require; statistics (GroupNorm's mean and rstd), timesteps, class ids, tables and optimizer state are F32
 * ({@link Check}). {@link #copy} between dtypes converts. Operations named {@code ...Grad} for parameters
 * <b>accumulate</b> ({@code +=}) into their output so gradients can be summed over uses and micro-batches;
 * everything else <b>assigns</b>. Unless stated, an output may not alias an input, except in elementwise
 * operations where {@code out} may be the same tensor as an input.
 *
 * <p>Random numbers come from Philox4x32-10 with the mapping documented in {@link Philox}: element
 * {@code i} of a tensor filled with {@code (seed, offset)} is {@code Philox.normal(seed, offset + i)}, on
 * every backend.
 */
public interface Backend extends AutoCloseable {

    /** Short name: "cpu" or "cuda". */
    String name();

    /** One line describing the device (CPU model and threads, or GPU name and memory). */
    String description();

    // ------------------------------------------------------------------ memory

    /** A new zero-filled tensor. */
    Tensor zeros(Shape shape);

    default Tensor zeros(int... dims) { return zeros(Shape.of(dims)); }

    /** The element types this backend can store and compute with (F32 everywhere; BF16 on the CPU and CUDA backends). */
    default java.util.Set<DType> dtypes() { return java.util.EnumSet.of(DType.F32); }

    /** A new zero-filled tensor of the given element type; a type not in {@link #dtypes()} is refused in one line. */
    default Tensor zeros(Shape shape, DType dtype) {
        Check.supported(this, dtype);
        return zeros(shape);
    }

    /** {@link #scratch(Shape)} of the given element type, refused as {@link #zeros(Shape, DType)} refuses. */
    default Tensor scratch(Shape shape, DType dtype) {
        Check.supported(this, dtype);
        return scratch(shape);
    }

    /**
     * A new tensor whose contents are unspecified (for buffers that are fully overwritten before being read).
     * It lives until closed, like {@link #zeros}.
     */
    default Tensor empty(Shape shape) { return zeros(shape); }

    /**
     * A step-scoped tensor with unspecified contents, for layer activations and gradients: valid until the next
     * {@link #beginStep()}. Backends with an activation arena serve these from it, so a steady-state training or
     * sampling loop allocates no device memory. Never keep one across steps (use {@link #empty} instead).
     */
    default Tensor scratch(Shape shape) { return empty(shape); }

    /**
     * Marks the start of a training step or of one model evaluation while sampling: the {@link #scratch} tensors
     * handed out before may be reused from now on.
     */
    default void beginStep() {}

    /**
     * Directs {@link #scratch} to one of two alternating regions (0 or 1), emptying that region first, or back to the
     * step's main arena (-1). A model's backward pass runs its k-th block in region k % 2: whatever block k allocates
     * then lives until block k - 2 starts, long enough for block k - 1 to consume block k's input gradient, and the
     * step needs two blocks' worth of backward temporaries instead of all of them. Tensors that must live longer are
     * taken in the main arena (-1). {@link #beginStep()} returns to the main arena. Backends without an arena ignore
     * it.
     */
    default void scratchRegion(int region) {}

    /** A new tensor holding a copy of {@code data} (a host-to-device transfer on a GPU). */
    Tensor fromArray(float[] data, Shape shape);

    default Tensor fromArray(float[] data, int... dims) { return fromArray(data, Shape.of(dims)); }

    /** Copies {@code src} (host) into {@code dst}, element {@code srcOffset} first (rounded to dst's dtype). */
    void copyFromHost(Tensor dst, float[] src, int srcOffset);

    /** Copies the tensor into a new host array. */
    float[] toHost(Tensor t);

    /** Copies the tensor into {@code dst} starting at {@code dstOffset}. */
    void copyToHost(float[] dst, int dstOffset, Tensor t);

    /** The values of a device-to-host copy that may still be in flight ({@link #toHostLater}). */
    interface PendingCopy {
        /** The values, waiting for the copy if it has not finished yet (the first call; later calls return them). */
        float[] get();
    }

    /**
     * Starts copying the tensor to the host and returns without waiting: {@link PendingCopy#get} later gives the
     * values the tensor holds at this point of the queued work, whatever is queued after it (the tensor may be
     * overwritten at once). A training step reads its loss this way after it has queued the backward pass, so the
     * GPU never waits for the host in between. Read the result before the backend is closed. The default copies now.
     */
    default PendingCopy toHostLater(Tensor t) {
        float[] values = toHost(t);
        return () -> values;
    }

    /** Waits until all queued work is finished (a no-op on the CPU). */
    default void synchronize() {}

    /** Work recorded by {@link #record} for replaying. */
    interface Recording extends AutoCloseable {
        /**
         * Queues the recorded work again. Returns false, queueing nothing, when it can no longer be replayed because
         * device memory was freed since it was recorded (which may have been memory it uses): record it anew.
         */
        boolean replay();

        /** Releases the recording. */
        @Override void close();
    }

    /**
     * Records the device work that {@code work} queues, without running it, for {@link Recording#replay replaying}
     * with a single launch (on CUDA, stream capture into a graph): every replay repeats the same operations with the
     * same scalar arguments on the same memory, so only the contents of that memory may differ from one replay to
     * the next. Host code in {@code work} runs once, now. Scratch tensors it takes stay in use by the recording, so
     * call {@link #beginStep()} before each replay, as before the work itself.
     *
     * <p>Returns null when the backend cannot record (the CPU, or a CUDA backend that is profiling or checking every
     * launch) or when {@code work} did something a recording cannot hold: waiting for the device, a host transfer or
     * a device allocation. Nothing has run then, and the work must be done directly. Exceptions of {@code work}
     * itself propagate.
     */
    default Recording record(Runnable work) { return null; }

    /** Points in the queued work whose times can be read once it has run (for benchmarks and profiles). */
    interface Timeline extends AutoCloseable {
        /** Marks the point the queued work has reached now. */
        void mark();

        /** The marks' times in milliseconds after the first, waiting for the work to reach the last. */
        double[] millis();

        @Override void close();
    }

    /** A {@link Timeline}; the default stamps the host clock, which is the work's on a backend that runs ops at once. */
    default Timeline timeline() {
        return new Timeline() {
            private final java.util.List<Long> t = new java.util.ArrayList<>();

            @Override public void mark() { t.add(System.nanoTime()); }

            @Override public double[] millis() {
                synchronize();
                double[] ms = new double[t.size()];
                for (int i = 0; i < ms.length; i++) ms[i] = (t.get(i) - t.get(0)) / 1e6;
                return ms;
            }

            @Override public void close() {}
        };
    }

    /**
     * The data-parallel all-reduce of this backend over {@code world}'s ranks (for the gradients; see
     * {@link io.github.diffusion4j.dist.AllReduce}). The default refuses in one line.
     */
    default io.github.diffusion4j.dist.AllReduce allReduce(io.github.diffusion4j.dist.World world) {
        throw new UnsupportedOperationException("the " + name() + " backend cannot train data-parallel");
    }

    @Override default void close() {}

    // ------------------------------------------------------------------ elementwise

    void fill(Tensor out, float value);

    /** out = in (same number of elements; shapes may differ; dtypes may differ: a conversion). */
    void copy(Tensor out, Tensor in);

    /** out = alpha * a + beta * b. */
    void axpby(Tensor out, float alpha, Tensor a, float beta, Tensor b);

    /** out = a + b. */
    default void add(Tensor out, Tensor a, Tensor b) { axpby(out, 1f, a, 1f, b); }

    /** out += a. */
    default void addInPlace(Tensor out, Tensor a) { axpby(out, 1f, out, 1f, a); }

    /** out = s * a. */
    void scale(Tensor out, Tensor a, float s);

    /** out = a * b (elementwise). */
    void mul(Tensor out, Tensor a, Tensor b);

    /** out = clamp(a, lo, hi). */
    void clamp(Tensor out, Tensor a, float lo, float hi);

    // ------------------------------------------------------------------ reductions (results come to the host)

    /** Sum of all elements, accumulated in double. */
    double sum(Tensor x);

    default double mean(Tensor x) { return sum(x) / x.numel(); }

    /** Sum of squares of all elements, accumulated in double. */
    double sumSquares(Tensor x);

    /** True if every element is finite. */
    boolean allFinite(Tensor x);

    /** out[n] = sum over all other axes of x[n, ...] (per-sample sums). */
    void sumPerSample(Tensor out, Tensor x);

    // ------------------------------------------------------------------ bias and per-channel broadcasts

    /** out[n,c,...] = in[n,c,...] + bias[c]; in is [N, C, *spatial] (spatial may be empty). */
    void addBias(Tensor out, Tensor in, Tensor bias);

    /** dBias[c] += sum over n and spatial of dOut[n,c,...]. */
    void biasGrad(Tensor dBias, Tensor dOut);

    /** out[n,c,...] = in[n,c,...] + v[n,c]; v is [N, C]. */
    void addPerSampleChannel(Tensor out, Tensor in, Tensor v);

    /**
     * out = (in + bias[c]) + (other + otherBias[c]), in and other [N, C, *spatial]; otherBias may be null (then
     * out = (in + bias[c]) + other): the join of a residual block or an attention block, whose convolutions are
     * computed without their biases ({@code conv2d} with a null bias) so that the biases are added here, in one pass
     * where the backend can. out may alias in, not other; other is left unchanged.
     */
    void addBiasAdd(Tensor out, Tensor in, Tensor bias, Tensor other, Tensor otherBias);

    /** out[n,c,...] = (in[n,c,...] + bias[c]) + v[n,c], v [N, C]. out may alias in. */
    void addBiasPerSampleChannel(Tensor out, Tensor in, Tensor bias, Tensor v);

    /** dv[n,c] = sum over spatial of dOut[n,c,...] (assigns). */
    void perSampleChannelSum(Tensor dv, Tensor dOut);

    /** out[n,c,...] = in[n,c,...] * (1 + scale[n,c]) + shift[n,c]. */
    void scaleShift(Tensor out, Tensor in, Tensor scale, Tensor shift);

    /**
     * Backward of {@link #scaleShift}: dIn = dOut * (1 + scale); dScale[n,c] = sum dOut*in; dShift[n,c] = sum dOut
     * (all assign).
     */
    void scaleShiftBackward(Tensor dIn, Tensor dScale, Tensor dShift, Tensor dOut, Tensor in, Tensor scale);

    // ------------------------------------------------------------------ matrix products

    /**
     * c = alpha * op(a) @ op(b) + beta * c, for 2-D tensors (or tensors viewed as 2-D by their last axis:
     * a is [M, K] or, transposed, [K, M]).
     */
    void matmul(Tensor c, Tensor a, Tensor b, boolean transA, boolean transB, float alpha, float beta);

    /**
     * Batched matmul over the first axis: c[i] = alpha * op(a[i]) @ op(b[i]) + beta * c[i], with a, b, c of
     * shape [batch, rows, cols].
     */
    void batchedMatmul(Tensor c, Tensor a, Tensor b, boolean transA, boolean transB, float alpha, float beta);

    /**
     * Batched matmul over matrices spaced at any stride: for i < batch, C_i = alpha op(A_i) op(B_i) + beta C_i, where
     * C_i is the m×n row-major matrix at element i * strideC of c, A_i the m×k (transA: k×m) matrix at i * strideA of
     * a and B_i the k×n (transB: n×k) one at i * strideB of b; each tensor starts at its first matrix (pass a view)
     * and must hold the last one. Every stride is at least its matrix's size. An example: the query block of each
     * sample of an [N, 3C, P] tensor (strideA = 3CP), used where it lies instead of being copied out first. The same
     * products as {@link #batchedMatmul} on copies of the matrices (bitwise on the CPU; cuBLAS may choose another
     * kernel for other strides or alignments).
     */
    default void stridedBatchedMatmul(Tensor c, long strideC, Tensor a, long strideA, Tensor b, long strideB, int batch,
                                      int m, int n, int k, boolean transA, boolean transB, float alpha, float beta) {
        StridedMatmul.check(c, strideC, a, strideA, b, strideB, batch, m, n, k);
        for (int i = 0; i < batch; i++) {
            matmul(c.view(i * strideC, Shape.of(m, n)), a.view(i * strideA, transA ? Shape.of(k, m) : Shape.of(m, k)),
                    b.view(i * strideB, transB ? Shape.of(n, k) : Shape.of(k, n)), transA, transB, alpha, beta);
        }
    }

    // ------------------------------------------------------------------ convolutions

    /**
     * y = conv2d(x, w) + bias. x [N, Cin, H, W], w [Cout, Cin, kh, kw], bias [Cout] or null,
     * y [N, Cout, Ho, Wo] with Ho = (H + 2 pad - kh) / stride + 1.
     */
    void conv2d(Tensor y, Tensor x, Tensor w, Tensor bias, int stride, int pad);

    /** dx = gradient of conv2d w.r.t. x (assigns). The shape of dx fixes H and W. */
    void conv2dBackwardData(Tensor dx, Tensor dy, Tensor w, int stride, int pad);

    /** dw += gradient of conv2d w.r.t. w; dBias += its gradient when not null. */
    void conv2dBackwardFilter(Tensor dw, Tensor dBias, Tensor dy, Tensor x, int stride, int pad);

    /**
     * Transposed convolution (PyTorch's ConvTranspose2d): w is [Cin, Cout, kh, kw], y [N, Cout, Ho, Wo] with
     * Ho = (H - 1) stride - 2 pad + kh (+ output padding, fixed by the shape of y).
     */
    default void convTranspose2d(Tensor y, Tensor x, Tensor w, Tensor bias, int stride, int pad) {
        conv2dBackwardData(y, x, w, stride, pad);
        if (bias != null) addBias(y, y, bias);
    }

    /** dx = gradient of convTranspose2d w.r.t. x (assigns). */
    default void convTranspose2dBackwardData(Tensor dx, Tensor dy, Tensor w, int stride, int pad) {
        conv2d(dx, dy, w, null, stride, pad);
    }

    /** dw += gradient of convTranspose2d w.r.t. w; dBias += its gradient when not null. */
    default void convTranspose2dBackwardFilter(Tensor dw, Tensor dBias, Tensor dy, Tensor x, int stride, int pad) {
        conv2dBackwardFilter(dw, null, x, dy, stride, pad);
        if (dBias != null) biasGrad(dBias, dy);
    }

    // ------------------------------------------------------------------ normalisation and activations

    /**
     * GroupNorm over [N, C, *spatial] with {@code groups} groups: y = (x - mean) * rstd * gamma[c] + beta[c].
     * mean and rstd ([N * groups]) are written for the backward pass.
     */
    void groupNorm(Tensor y, Tensor mean, Tensor rstd, Tensor x, Tensor gamma, Tensor beta, int groups, float eps);

    /** dx assigned; dGamma, dBeta accumulated. */
    void groupNormBackward(Tensor dx, Tensor dGamma, Tensor dBeta, Tensor dy, Tensor x, Tensor mean, Tensor rstd,
                           Tensor gamma, int groups);

    /**
     * y = dropout(silu(groupNorm(h))) with h = (x + xBias[c]) + xAdd[n, c]: a ResBlock's normalisation, activation and
     * dropout, where x may be a convolution's output before its bias xBias [C] and xAdd [N, C] its time embedding.
     * xBias and xAdd are both null (h = x) or both given; p = 0 means no dropout, else the mask is {@link #dropout}'s
     * for (p, seed, offset). mean and rstd ([N * groups]) are those of h, as in {@link #groupNorm}. The same values as
     * {@link #addBiasPerSampleChannel}, {@link #groupNorm}, {@link #silu} and {@link #dropout} in turn; a backend may
     * do it in one pass without storing h or the normalised values (the backward pass recomputes them). x is left
     * unchanged.
     */
    void groupNormSilu(Tensor y, Tensor mean, Tensor rstd, Tensor x, Tensor xBias, Tensor xAdd, Tensor gamma,
                       Tensor beta, int groups, float eps, float p, long seed, long offset);

    /**
     * The backward of {@link #groupNormSilu}'s normalisation and activation (its dropout is undone by
     * {@link #dropoutBackward} first): dy is the gradient at silu(groupNorm(h)), dx the gradient of h (which is also
     * x's, xBias's per channel and xAdd's per sample and channel), plus {@code addend} when it is not null (the
     * gradient of a residual branch joining at the input). dx assigned and may alias dy; addend must alias neither;
     * dGamma and dBeta accumulate. The normalised values are recomputed from x (and the offsets), mean, rstd, gamma and
     * beta.
     */
    void groupNormSiluBackward(Tensor dx, Tensor dGamma, Tensor dBeta, Tensor dy, Tensor x, Tensor xBias, Tensor xAdd,
                               Tensor mean, Tensor rstd, Tensor gamma, Tensor beta, int groups, float eps,
                               Tensor addend);

    /**
     * y += conv2d(x, w) without bias (stride, pad as {@link #conv2d}): a convolution over channels split into parts,
     * one part at a time (UNet's inference path that skips concatenations). The default convolves into a scratch
     * tensor and adds it; a GPU backend accumulates in the convolution itself.
     */
    default void conv2dAccumulate(Tensor y, Tensor x, Tensor w, int stride, int pad) {
        Tensor t = scratch(y.shape());
        conv2d(t, x, w, null, stride, pad);
        addInPlace(y, t);
    }

    /** y = x * sigmoid(x). */
    void silu(Tensor y, Tensor x);

    /** dx = dy * silu'(x). */
    void siluBackward(Tensor dx, Tensor dy, Tensor x);

    /** Softmax over the last axis (y may be x: in place is allowed). */
    void softmax(Tensor y, Tensor x);

    /** dx = y * (dy - sum(dy * y)) over the last axis (dx may be dy). */
    void softmaxBackward(Tensor dx, Tensor dy, Tensor y);

    /** Dropout with keep-probability 1-p; kept elements are scaled by 1/(1-p); the mask comes from Philox. */
    void dropout(Tensor y, Tensor x, float p, long seed, long offset);

    /** dx = dy * mask / (1-p), with the mask regenerated from (seed, offset). */
    void dropoutBackward(Tensor dx, Tensor dy, float p, long seed, long offset);

    // ------------------------------------------------------------------ reshaping

    /** Nearest-neighbour upsampling x2: [N, C, H, W] -> [N, C, 2H, 2W]. */
    void upsampleNearest2x(Tensor y, Tensor x);

    /** dx[.., i, j] = sum of the 2x2 block of dy it was copied to (assigns). */
    void upsampleNearest2xBackward(Tensor dx, Tensor dy);

    /** out = concat(parts) along axis 1 (channels). */
    void concatChannels(Tensor out, Tensor... parts);

    /** Inverse of {@link #concatChannels}: copies channel ranges of {@code in} to the parts (assigns). */
    void splitChannels(Tensor[] parts, Tensor in);

    /**
     * One-hot rows: out[n, k] = 1 if k == (int) ids[n] else 0; out is [N, K], ids [N] (class ids as floats).
     * Ids outside [0, K) are an error.
     */
    void oneHot(Tensor out, Tensor ids);

    // ------------------------------------------------------------------ optimiser

    /**
     * Decides the coming optimizer update where the step runs, without the host: writes {@code gate} (an F32 tensor
     * of {@link UpdateGate#SIZE}) from the sum of squares of {@code grads} and the gate's own step count, exactly as
     * {@link UpdateGate#decide} does (the gradient norm, the non-finite skip, clip factor and gradient scale, the bias
     * corrections and EMA decay of this update). The sum of squares accumulates in double (summed in another order
     * on a GPU). Start a run with a zero gate (its step count t = 0) or restore t there.
     */
    void updateGate(Tensor gate, Tensor grads, UpdateGate g);

    /**
     * One AdamW step over flat buffers (PyTorch's AdamW semantics, decoupled weight decay), with gradScale, bc1 and
     * bc2 from the {@link #updateGate gate}, and nothing changed when the gate says skip. Per element i:
     * <pre>
     *   g  = grads[i] * gradScale
     *   m  = beta1 m + (1 - beta1) g
     *   v  = beta2 v + (1 - beta2) g²
     *   p  = p (1 - lr weightDecay decayMask[i])          (decayMask null: 1 everywhere)
     *   p  = p - (lr / bc1) m / (sqrt(v) / sqrt(bc2) + eps)
     * </pre>
     * with bias corrections bc1 = 1 - beta1^t, bc2 = 1 - beta2^t. gradScale folds gradient clipping and
     * micro-batch averaging into the same pass. params, grads, m, v and the mask are F32 (master weights, gradients
     * and moments stay in float32 under mixed precision); {@code paramsCopy}, when not null, receives the
     * params in its own dtype (the bf16 copy the model computes with), written by the same pass where the backend can,
     * on a skipped update too (then the unchanged params): after the call it always holds them.
     */
    void adamw(Tensor params, Tensor paramsCopy, Tensor grads, Tensor m, Tensor v, Tensor decayMask, float lr,
               float beta1, float beta2, float eps, float weightDecay, Tensor gate);

    /**
     * The EMA of the weights with the gate's decay d: shadow = d shadow + (1 - d) params ({@link #axpby}'s
     * expression), nothing when the gate says skip.
     */
    void emaUpdate(Tensor shadow, Tensor params, Tensor gate);

    // ------------------------------------------------------------------ random numbers and embeddings

    /** out[i] = Philox.normal(seed, offset + i). */
    void randn(Tensor out, long seed, long offset);

    /** out[i] = Philox.uniform(seed, offset + i), in [0, 1). */
    void rand(Tensor out, long seed, long offset);

    /**
     * Sinusoidal timestep embedding [N, dim] of timesteps [N] (as in DDPM / diffusers with
     * flip_sin_to_cos=false, downscale_freq_shift=1 when {@code ddpmStyle}, else 0):
     * half = dim/2, freq_j = exp(-ln(maxPeriod) * j / (half - shift)), out[n, j] = sin(t_n freq_j),
     * out[n, half + j] = cos(t_n freq_j); a zero column is appended when dim is odd.
     */
    void timestepEmbedding(Tensor out, Tensor timesteps, float maxPeriod, boolean ddpmStyle);

    // ------------------------------------------------------------------ diffusion (fused, one kernel each on a GPU)

    /** {@link #qSample} target selector: the training target is the noise epsilon. */
    int TARGET_EPSILON = 0;
    /** {@link #qSample} target selector: the training target is the clean sample x0. */
    int TARGET_SAMPLE = 1;
    /** {@link #qSample} target selector: the training target is v = sqrt(abar) eps - sqrt(1 - abar) x0. */
    int TARGET_V = 2;

    /**
     * Forward diffusion q(x_t | x_0) in closed form with a timestep per sample, fused with the training target.
     * With {@code P = x0.numel() / N} elements per sample ({@code N = t.numel()}), for element {@code i}:
     * <pre>
     *   n   = i / P;  s = (int) t[n]                     (t holds integral timesteps as floats)
     *   a   = sqrtAlphaBar[s];  b = sqrtOneMinusAlphaBar[s]
     *   eps = noise != null ? noise[i] : Philox.normal(seed, offset + i)
     *   xt[i] = a * x0[i] + b * eps
     *   target[i] = eps                  (targetType TARGET_EPSILON)
     *             = x0[i]                (TARGET_SAMPLE)
     *             = a * eps - b * x0[i]  (TARGET_V)
     * </pre>
     * float32 arithmetic, products rounded in the order written. {@code target} may be null (no target written,
     * as in a scheduler's {@code addNoise}); then {@code targetType} is ignored. {@code xt} may alias {@code x0}
     * or {@code noise}. {@code seed} and {@code offset} are unused when {@code noise} is given.
     *
     * @param sqrtAlphaBar         table [T] of sqrt(abar_s)
     * @param sqrtOneMinusAlphaBar table [T] of sqrt(1 - abar_s)
     */
    void qSample(Tensor xt, Tensor target, Tensor x0, Tensor noise, Tensor t, Tensor sqrtAlphaBar,
                 Tensor sqrtOneMinusAlphaBar, int targetType, long seed, long offset);

    /**
     * Training timesteps and their loss weights, drawn where the step runs (no host copy): with {@code T =
     * weightTable.numel()}, t[i] is the i-th value that {@code new Philox.Stream(seed, position).nextInt(T)} returns
     * (rejection sampling, so the draws are taken in order), stored as a float, and weights[i] = weightTable[t[i]]
     * (weights may be null). The host can draw the same values with the same stream when it needs them for its logs.
     */
    void drawTimesteps(Tensor t, Tensor weights, Tensor weightTable, long seed, long position);

    /**
     * One sampler step (DDPM, DDIM, DPM-Solver++ all reduce to it), fused into one pass. Per element {@code i},
     * with {@code k} the coefficients:
     * <pre>
     *   x0 = k.x0FromSample * sample[i] + k.x0FromModel * modelOut[i]
     *   if (k.clip) x0 = min(max(x0, -k.clipRange), k.clipRange)
     *   predX0[i] = x0                                        (when predX0 != null)
     *   prev[i] = k.a * x0 + k.b * sample[i] + k.c * modelOut[i]
     *           + k.d * prevX0[i]                             (term present only when prevX0 != null)
     *           + k.sigma * Philox.normal(seed, offset + i)   (term present only when k.sigma != 0)
     * </pre>
     * float32 arithmetic, summed left to right as written. All inputs of element {@code i} are read before its
     * outputs are written, so {@code prev} and {@code predX0} may alias any input (in place updates are fine).
     * With {@code k.learnedVariance} the model output is [N, 2P] for samples of P elements: element {@code i} (of
     * sample {@code n = i / P}, {@code j = i % P}) reads {@code modelOut[n 2P + j]} as its prediction and
     * {@code v = modelOut[n 2P + P + j]}, and its noise term is {@code expf(0.5f * (k.lvBase + k.lvScale * v)) *
     * Philox.normal(seed, offset + i)} (the product rounded to float, then added); prev and predX0 must not alias
     * modelOut then.
     *
     * @param prevX0 the previous step's predicted x0 (multistep solvers), or null
     */
    void diffusionStep(Tensor prev, Tensor predX0, Tensor sample, Tensor modelOut, Tensor prevX0,
                       StepCoefficients k, long seed, long offset);

    /** Coefficients per sample of {@link #vlbLoss}, in this order: c1, c2, minLog, maxLog, p, q, first. */
    int VLB_COEFFICIENTS = 7;

    /**
     * The variational-bound term of improved DDPM's hybrid loss (Nichol &amp; Dhariwal 2021) for a learned-range
     * variance, in bits per dimension, and its gradient with respect to the variance output v only (the mean is
     * stop-gradient, as in the paper). Per sample n of P elements, with {c1, c2, minLog, maxLog, p, q, first} =
     * {@code coefs[7n ... 7n + 6]}:
     * <pre>
     *   mu~    = c1 x0 + c2 xt                         (the posterior mean of q(x_{t-1} | x_t, x0))
     *   mu     = c1 (p xt + q pred) + c2 xt           (the model's mean, from its x0 estimate)
     *   logVar = minLog + (v + 1) / 2 (maxLog - minLog)
     *   first == 0: L = 0.5 (-1 + logVar - minLog + exp(minLog - logVar) + (mu~ - mu)^2 exp(-logVar))
     *               (the KL of N(mu~, e^minLog) from N(mu, e^logVar))
     *   first != 0: L = -log of the discretised Gaussian likelihood of x0 under N(mu, e^logVar): bins of 2/255
     *               around x0, open beyond -0.999 and 0.999, with the CDF 0.5 (1 + tanh(sqrt(2/pi) (z + 0.044715 z^3)))
     *               and probabilities clamped at 1e-12 (improved-diffusion's discretized_gaussian_log_likelihood)
     *   vb[n]  = sum of L over the sample / (P ln 2)          (double accumulation on the CPU)
     *   dV[i]  = gradScale * dL/dv / (P ln 2)
     * </pre>
     * x0, xt, pred, v and dV are [N, ...] of N P elements; dV may alias v.
     */
    void vlbLoss(Tensor vb, Tensor dV, Tensor x0, Tensor xt, Tensor pred, Tensor v, Tensor coefs, float gradScale);

    /**
     * Imagen's dynamic thresholding of predicted x0 (Saharia et al. 2022; diffusers' {@code _threshold_sample}), in
     * place, per sample n of {@code P = x.numel() / x.dim(0)} elements:
     * <pre>
     *   q = the ratio-quantile of |x| over the sample: pos = (double) ratio * (P - 1), lo = floor(pos),
     *       a = |x|_(lo), b = |x|_(min(lo + 1, P - 1)) (order statistics), q = a + (b - a) * (float) (pos - lo)
     *   t = min(max(q, 1), maxValue)
     *   x = min(max(x, -t), t) / t
     * </pre>
     * float32 arithmetic (Java's min/max). Samples whose values stay within [-1, 1] are unchanged.
     */
    void dynamicThreshold(Tensor x, float ratio, float maxValue);

    /**
     * RePaint-style replacement of the known region (inpainting): the known pixels are re-noised to the level of
     * the new sample and blended in by the mask. Per element {@code i}, with {@code M = keepMask.numel()} (which
     * must divide {@code sample.numel()}; the mask repeats, e.g. [H, W] or [1, C, H, W] over a batch):
     * <pre>
     *   m     = keepMask[i % M]                 (1 = known pixel kept from original, 0 = generated)
     *   known = sqrtAlphaBar * original[i]
     *         + sqrtOneMinusAlphaBar * Philox.normal(seed, offset + i)   (term only when sqrtOneMinusAlphaBar != 0)
     *   out[i] = m * known + (1 - m) * sample[i]
     * </pre>
     * float32 arithmetic; {@code out} may alias {@code sample}.
     */
    void repaintBlend(Tensor out, Tensor sample, Tensor original, Tensor keepMask, float sqrtAlphaBar,
                      float sqrtOneMinusAlphaBar, long seed, long offset);

    /**
     * Per-sample mean squared error and the gradient of a weighted batch loss, in one pass. With {@code N =
     * mse.numel()} samples of {@code P = modelOut.numel() / N} elements, for element {@code i} of sample
     * {@code n = i / P}:
     * <pre>
     *   diff     = modelOut[i] - target[i]
     *   mse[n]   = (1 / P) * sum over the sample's elements of diff^2      (accumulated in double on the CPU)
     *   dOut[i]  = gradScale * w[n] * (2 / P) * diff,   w[n] = weights != null ? weights[n] : 1
     * </pre>
     * so that with {@code gradScale = 1/N}, {@code dOut} is the gradient of {@code (1/N) sum_n w[n] mse[n]}.
     * {@code dOut} may be null (loss only) and may alias {@code modelOut} or {@code target}.
     */
    void mseLoss(Tensor mse, Tensor dOut, Tensor modelOut, Tensor target, Tensor weights, float gradScale);
}
