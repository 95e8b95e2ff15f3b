package io.github.diffusion4j.backend.cuda;

import java.util.List;

/**
 * The names of the {@code extern "C"} kernels in the fatbin (kernels/*.cu), one constant per kernel. The CUDA
 * backend looks them up with cuModuleGetFunction; NativeBuildTest checks that this list and the sources agree
 * and that every SASS image contains every kernel. Signatures and launch rules are documented in the .cu files.
 */
public final class Kernels {
    private Kernels() {}

    // elementwise.cu
    public static final String FILL = "d4j_fill";
    public static final String COPY = "d4j_copy";
    public static final String AXPBY = "d4j_axpby";
    public static final String SCALE = "d4j_scale";
    public static final String MUL = "d4j_mul";
    public static final String CLAMP = "d4j_clamp";
    public static final String SILU = "d4j_silu";
    public static final String SILU_BACKWARD = "d4j_silu_backward";
    // reduce.cu
    public static final String SUM_PARTIALS = "d4j_sum_partials";
    public static final String SUM_FINALIZE = "d4j_sum_finalize";
    public static final String NONFINITE_FLAG = "d4j_nonfinite_flag";
    public static final String SUM_PER_SAMPLE = "d4j_sum_per_sample";
    // broadcast.cu
    public static final String ADD_BIAS = "d4j_add_bias";
    public static final String BIAS_GRAD = "d4j_bias_grad";
    public static final String ADD_PER_SAMPLE_CHANNEL = "d4j_add_per_sample_channel";
    public static final String PER_SAMPLE_CHANNEL_SUM = "d4j_per_sample_channel_sum";
    public static final String SCALE_SHIFT = "d4j_scale_shift";
    public static final String SCALE_SHIFT_BACKWARD = "d4j_scale_shift_backward";
    // groupnorm.cu
    public static final String GROUP_NORM_FORWARD = "d4j_group_norm_forward";
    public static final String GROUP_NORM_BACKWARD_PARAMS = "d4j_group_norm_backward_params";
    public static final String GROUP_NORM_BACKWARD_INPUT = "d4j_group_norm_backward_input";
    // softmax.cu
    public static final String SOFTMAX = "d4j_softmax";
    public static final String SOFTMAX_BACKWARD = "d4j_softmax_backward";
    // random.cu
    public static final String RANDN = "d4j_randn";
    public static final String RAND = "d4j_rand";
    public static final String DROPOUT = "d4j_dropout";
    // reshape.cu
    public static final String UPSAMPLE_NEAREST2X = "d4j_upsample_nearest2x";
    public static final String UPSAMPLE_NEAREST2X_BACKWARD = "d4j_upsample_nearest2x_backward";
    public static final String COPY_CHANNELS = "d4j_copy_channels";
    // embedding.cu
    public static final String TIMESTEP_EMBEDDING = "d4j_timestep_embedding";
    // optim.cu
    public static final String ADAMW = "d4j_adamw";
    public static final String EMA = "d4j_ema";
    // diffusion.cu
    public static final String ADD_NOISE = "d4j_add_noise";

    /** Every kernel above. */
    public static final List<String> ALL = List.of(FILL, COPY, AXPBY, SCALE, MUL, CLAMP, SILU, SILU_BACKWARD,
            SUM_PARTIALS, SUM_FINALIZE, NONFINITE_FLAG, SUM_PER_SAMPLE, ADD_BIAS, BIAS_GRAD, ADD_PER_SAMPLE_CHANNEL,
            PER_SAMPLE_CHANNEL_SUM, SCALE_SHIFT, SCALE_SHIFT_BACKWARD, GROUP_NORM_FORWARD, GROUP_NORM_BACKWARD_PARAMS,
            GROUP_NORM_BACKWARD_INPUT, SOFTMAX, SOFTMAX_BACKWARD, RANDN, RAND, DROPOUT, UPSAMPLE_NEAREST2X,
            UPSAMPLE_NEAREST2X_BACKWARD, COPY_CHANNELS, TIMESTEP_EMBEDDING, ADAMW, EMA, ADD_NOISE);
}
