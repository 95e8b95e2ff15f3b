package io.github.diffusion4j.backend.cuda;

import java.util.List;
import java.util.Map;

/**
 * The names of the {@code extern "C"} kernels in the fatbin (kernels/*.cu), one constant per kernel. The CUDA
 * backend looks them up with cuModuleGetFunction; NativeBuildTest checks that this list and the sources agree
 * and that every SASS image contains every kernel. Signatures and launch rules are documented in the .cu files.
 */
public final class Kernels {
    private Kernels() {}

    // elementwise.cu
    public static final String AXPBY = "d4j_axpby";
    public static final String SCALE = "d4j_scale";
    public static final String MUL = "d4j_mul";
    public static final String CLAMP = "d4j_clamp";
    public static final String SILU = "d4j_silu";
    public static final String SILU_BACKWARD = "d4j_silu_backward";
    public static final String CONVERT_F32_BF16 = "d4j_convert_f32_bf16";
    public static final String CONVERT_BF16_F32 = "d4j_convert_bf16_f32";
    public static final String ACCUMULATE_BF16_F32 = "d4j_accumulate_bf16_f32";
    // reduce.cu
    public static final String SUM_PARTIALS = "d4j_sum_partials";
    public static final String SUM_FINALIZE = "d4j_sum_finalize";
    public static final String NONFINITE_FLAG = "d4j_nonfinite_flag";
    public static final String SUM_PER_SAMPLE = "d4j_sum_per_sample";
    // broadcast.cu
    public static final String ADD_BIAS = "d4j_add_bias";
    public static final String PLANE_SUMS = "d4j_plane_sums";
    public static final String CHANNEL_SUMS = "d4j_channel_sums";
    public static final String ADD_PER_SAMPLE_CHANNEL = "d4j_add_per_sample_channel";
    public static final String ADD_BIAS_ADD = "d4j_add_bias_add";
    public static final String ADD_BIAS_PER_SAMPLE_CHANNEL = "d4j_add_bias_per_sample_channel";
    public static final String PER_SAMPLE_CHANNEL_SUM = "d4j_per_sample_channel_sum";
    public static final String SCALE_SHIFT = "d4j_scale_shift";
    public static final String SCALE_SHIFT_BACKWARD = "d4j_scale_shift_backward";
    // groupnorm.cu
    public static final String GROUP_NORM_FORWARD = "d4j_group_norm_forward";
    public static final String GROUP_NORM_BACKWARD = "d4j_group_norm_backward";
    public static final String GROUP_NORM_FORWARD_OFFSET = "d4j_group_norm_forward_offset";
    public static final String GROUP_NORM_BACKWARD_OFFSET = "d4j_group_norm_backward_offset";
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
    public static final String TRANSPOSE_INNER = "d4j_transpose_inner";
    // embedding.cu
    public static final String TIMESTEP_EMBEDDING = "d4j_timestep_embedding";
    public static final String ONE_HOT = "d4j_one_hot";
    // optim.cu
    public static final String ADAMW = "d4j_adamw";
    public static final String EMA = "d4j_ema";
    public static final String UPDATE_GATE = "d4j_update_gate";
    // diffusion.cu
    public static final String Q_SAMPLE = "d4j_q_sample";
    public static final String DIFFUSION_STEP = "d4j_diffusion_step";
    public static final String REPAINT_BLEND = "d4j_repaint_blend";
    public static final String MSE_LOSS = "d4j_mse_loss";
    public static final String DRAW_TIMESTEPS = "d4j_draw_timesteps";
    public static final String DYNAMIC_THRESHOLD = "d4j_dynamic_threshold";
    public static final String VLB_LOSS = "d4j_vlb_loss";

    /**
     * The kernels instantiated for BF16 tensors too: {@code d4j_NAME_bf16} ({@link #bf16}), with the parameter list of
     * {@code d4j_NAME} (bf16 pointers where it has float pointers to activations; AdamW's: the weight copy only; the
     * broadcasts': out, in and other, their per-channel values staying float; GroupNorm's: x, y, dy, dx and the addend,
     * its statistics, affine parameters, input offsets and parameter gradients staying float; softmax's: the
     * probabilities y and dx, the scores and dy staying float).
     */
    public static final List<String> TYPED = List.of(AXPBY, SCALE, MUL, CLAMP, SILU, SILU_BACKWARD, ADAMW, ADD_BIAS,
            ADD_BIAS_ADD, ADD_BIAS_PER_SAMPLE_CHANNEL, ADD_PER_SAMPLE_CHANNEL, SCALE_SHIFT, PLANE_SUMS, DROPOUT,
            GROUP_NORM_FORWARD, GROUP_NORM_FORWARD_OFFSET, GROUP_NORM_BACKWARD, GROUP_NORM_BACKWARD_OFFSET,
            PER_SAMPLE_CHANNEL_SUM, SCALE_SHIFT_BACKWARD, SOFTMAX, SOFTMAX_BACKWARD, UPSAMPLE_NEAREST2X,
            UPSAMPLE_NEAREST2X_BACKWARD, COPY_CHANNELS, TRANSPOSE_INNER);

    /** The name of kernel {@code name}'s BF16 instantiation. */
    public static String bf16(String name) {
        if (!TYPED.contains(name)) throw new IllegalArgumentException("kernel " + name + " has no bf16 instantiation");
        return name + "_bf16";
    }

    /** Every kernel of the untyped list below, then the BF16 instantiations of {@link #TYPED}. */
    public static final List<String> ALL;

    private static final List<String> BASE = List.of(AXPBY, SCALE, MUL, CLAMP, SILU, SILU_BACKWARD, CONVERT_F32_BF16, CONVERT_BF16_F32, ACCUMULATE_BF16_F32,
            SUM_PARTIALS, SUM_FINALIZE, NONFINITE_FLAG, SUM_PER_SAMPLE, ADD_BIAS, PLANE_SUMS, CHANNEL_SUMS, ADD_PER_SAMPLE_CHANNEL,
            ADD_BIAS_ADD, ADD_BIAS_PER_SAMPLE_CHANNEL,
            PER_SAMPLE_CHANNEL_SUM, SCALE_SHIFT, SCALE_SHIFT_BACKWARD, GROUP_NORM_FORWARD, GROUP_NORM_BACKWARD, GROUP_NORM_FORWARD_OFFSET, GROUP_NORM_BACKWARD_OFFSET, SOFTMAX, SOFTMAX_BACKWARD, RANDN, RAND, DROPOUT, UPSAMPLE_NEAREST2X,
            UPSAMPLE_NEAREST2X_BACKWARD, COPY_CHANNELS, TRANSPOSE_INNER, TIMESTEP_EMBEDDING, ONE_HOT, ADAMW, EMA, UPDATE_GATE, Q_SAMPLE, DIFFUSION_STEP,
            REPAINT_BLEND, MSE_LOSS, DRAW_TIMESTEPS, DYNAMIC_THRESHOLD, VLB_LOSS);

    /**
     * The parameter list of every kernel, one letter per parameter, as the launchers pass them: {@code p} a device
     * pointer (passed as a 64-bit address, 0 for nullptr), {@code j} a 64-bit integer ({@code long long} or
     * {@code unsigned long long}), {@code i} an {@code int}, {@code f} a {@code float}. KernelSignatureTest parses
     * kernels/*.cu and checks every entry against the source, so a launcher can never pass a parameter of the
     * wrong width.
     */
    public static final Map<String, String> SIGNATURES;

    private static final Map<String, String> BASE_SIGNATURES = Map.ofEntries(
            Map.entry(AXPBY, "pppjff"),
            Map.entry(CONVERT_F32_BF16, "ppj"),
            Map.entry(CONVERT_BF16_F32, "ppj"),
            Map.entry(ACCUMULATE_BF16_F32, "ppj"),
            Map.entry(SCALE, "ppjf"),
            Map.entry(MUL, "pppj"),
            Map.entry(CLAMP, "ppjff"),
            Map.entry(SILU, "ppj"),
            Map.entry(SILU_BACKWARD, "pppj"),
            Map.entry(SUM_PARTIALS, "ppji"),
            Map.entry(SUM_FINALIZE, "ppi"),
            Map.entry(NONFINITE_FLAG, "ppj"),
            Map.entry(SUM_PER_SAMPLE, "ppij"),
            Map.entry(ADD_BIAS, "pppiij"),
            Map.entry(PLANE_SUMS, "ppjj"),
            Map.entry(CHANNEL_SUMS, "pppii"),
            Map.entry(ADD_PER_SAMPLE_CHANNEL, "pppjj"),
            Map.entry(ADD_BIAS_ADD, "pppppiij"),
            Map.entry(ADD_BIAS_PER_SAMPLE_CHANNEL, "ppppiij"),
            Map.entry(PER_SAMPLE_CHANNEL_SUM, "ppjj"),
            Map.entry(SCALE_SHIFT, "ppppjj"),
            Map.entry(SCALE_SHIFT_BACKWARD, "ppppppjj"),
            Map.entry(GROUP_NORM_FORWARD, "ppppppiijififfjj"),
            Map.entry(GROUP_NORM_BACKWARD, "pppppppppiijii"),
            Map.entry(GROUP_NORM_FORWARD_OFFSET, "ppppppppiijififfjj"),
            Map.entry(GROUP_NORM_BACKWARD_OFFSET, "pppppppppppiijii"),
            Map.entry(SOFTMAX, "ppji"),
            Map.entry(SOFTMAX_BACKWARD, "pppji"),
            Map.entry(RANDN, "pjjj"),
            Map.entry(RAND, "pjjj"),
            Map.entry(DROPOUT, "ppjffjj"),
            Map.entry(UPSAMPLE_NEAREST2X, "ppjii"),
            Map.entry(UPSAMPLE_NEAREST2X_BACKWARD, "ppjii"),
            Map.entry(COPY_CHANNELS, "ppiiiiiij"),
            Map.entry(TRANSPOSE_INNER, "ppiii"),
            Map.entry(TIMESTEP_EMBEDDING, "ppiifi"),
            Map.entry(ONE_HOT, "pppii"),
            Map.entry(ADAMW, "ppppppjfffffp"),
            Map.entry(EMA, "ppjp"),
            Map.entry(UPDATE_GATE, "ppfiffifdd"),
            Map.entry(Q_SAMPLE, "ppppppppjjiijj"),
            Map.entry(DIFFUSION_STEP, "pppppjffiffffffjffjj"),
            Map.entry(REPAINT_BLEND, "ppppjjffjj"),
            Map.entry(MSE_LOSS, "pppppijf"),
            Map.entry(DRAW_TIMESTEPS, "pppiijj"),
            Map.entry(DYNAMIC_THRESHOLD, "pijff"),
            Map.entry(VLB_LOSS, "pppppppijf"));

    static {
        List<String> all = new java.util.ArrayList<>(BASE);
        Map<String, String> sigs = new java.util.HashMap<>(BASE_SIGNATURES);
        for (String k : TYPED) {
            all.add(bf16(k));
            sigs.put(bf16(k), BASE_SIGNATURES.get(k));
        }
        ALL = List.copyOf(all);
        SIGNATURES = Map.copyOf(sigs);
    }
}
