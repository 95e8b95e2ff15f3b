package io.github.diffusion4j.backend.cuda;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The cuDNN half of the shim against a stand-in libcudnn (src/test/native/fake_cudnn.c): descriptor argument
 * order (format before type for tensors, type before format for filters), the plan's shape check and algorithm
 * choice from heuristic lists, the perf-struct reading, the convolution calls' arguments and the error message.
 * It cannot tell whether real cuDNN accepts these descriptors; that needs a GPU.
 */
class CudnnShimTest {
    @TempDir static Path dir;
    static Path log;
    static long handle;

    @BeforeAll static void setUp() throws Exception {
        ShimProbeTest.loadShim();
        boolean real = CudaAvailability.probe().cudnn().found();
        log = dir.resolve("cudnn.log");
        Path lib = FakeLibs.compile(dir, "libfakecudnn_calls.so", Path.of("src/test/native/fake_cudnn.c"),
                "LOG_PATH=\"" + log + "\"");
        FakeLibs.keepFake(Shim.KIND_CUDNN, lib, real);
        handle = Cudnn.create();
    }

    static List<String> calls() throws Exception {
        return Files.exists(log) ? Files.readAllLines(log) : List.of();
    }

    static String last() throws Exception {
        List<String> l = calls();
        return l.get(l.size() - 1);
    }

    @Test void planSetsDescriptorsAndPicksAlgorithms() throws Exception {
        int before = calls().size();
        // x [2, 3, 8, 8], w [4, 3, 3, 3], pad 1, stride 2 -> y [2, 4, 4, 4]
        long plan = Cudnn.convPlan(handle, 2, 3, 8, 8, 4, 3, 3, 1, 1, 2, 2, 4, 4,
                Cudnn.DATA_FLOAT, Cudnn.TENSOR_OP_MATH_ALLOW_CONVERSION, true, 1L << 30);
        List<String> made = calls().subList(before, calls().size());
        assertEquals("tensor format=0 type=0 2 3 8 8", made.get(0));   // CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT
        assertEquals("tensor format=0 type=0 2 4 4 4", made.get(1));
        assertEquals("filter type=0 format=0 4 3 3 3", made.get(2));
        for (int i = 3; i < 6; i++) {
            assertEquals("conv pad=1,1 stride=2,2 dilation=1,1 mode=1 type=0", made.get(i)); // CROSS_CORRELATION
        }
        long[] info = Cudnn.convPlanInfo(plan);
        // forward: skips NOT_SUPPORTED (algo 1) and the 1 TiB one (algo 6); takes algo 0 with the allowed math
        // backward: deterministic ones (algo 1 each) over the faster non-deterministic ones
        assertArrayEquals(new long[] {0, 2, 1000, 1, 0, 2001, 1, 2, 3001}, info);
        Cudnn.convPlanDestroy(plan);
    }

    @Test void bf16PlanSetsBf16DescriptorsWithFloatCompute() throws Exception {
        int before = calls().size();
        long plan = Cudnn.convPlan(handle, 2, 3, 8, 8, 4, 3, 3, 1, 1, 2, 2, 4, 4, Cudnn.DATA_BFLOAT16,
                Cudnn.TENSOR_OP_MATH, true, 1L << 30);
        List<String> made = calls().subList(before, calls().size());
        assertEquals("tensor format=0 type=9 2 3 8 8", made.get(0));   // CUDNN_DATA_BFLOAT16
        assertEquals("tensor format=0 type=9 2 4 4 4", made.get(1));
        assertEquals("filter type=9 format=0 4 3 3 3", made.get(2));
        for (int i = 3; i < 6; i++) {
            // the convolution computes in float: PSEUDO_BFLOAT16_CONFIG
            assertEquals("conv pad=1,1 stride=2,2 dilation=1,1 mode=1 type=0", made.get(i));
        }
        Cudnn.convPlanDestroy(plan);
    }

    @Test void nonDeterministicAllowedTakesTheFirstHeuristic() {
        long plan = Cudnn.convPlan(handle, 1, 1, 4, 4, 1, 1, 1, 0, 0, 1, 1, 4, 4, Cudnn.DATA_FLOAT, Cudnn.DEFAULT_MATH, false, -1);
        long[] info = Cudnn.convPlanInfo(plan);
        assertEquals(6, info[0], "no workspace limit: the first successful forward algorithm");
        assertEquals(0, info[3], "backward data ALGO_0 allowed");
        assertEquals(3, info[6], "backward filter ALGO_3 allowed");
        Cudnn.convPlanDestroy(plan);
    }

    @Test void wrongOutputShapeIsRejected() {
        CudaException e = assertThrows(CudaException.class, () -> Cudnn.convPlan(handle, 2, 3, 8, 8, 4, 3, 3, 1, 1, 2, 2,
                5, 4, Cudnn.DATA_FLOAT, Cudnn.DEFAULT_MATH, true, -1));
        assertTrue(e.getMessage().contains("cuDNN computes output [2, 4, 4, 4]") && e.getMessage().contains("but y is [2, 4, 5, 4]"),
                e.getMessage());
    }

    @Test void convolutionCallsPassTheirArguments() throws Exception {
        long plan = Cudnn.convPlan(handle, 2, 3, 8, 8, 4, 3, 3, 1, 1, 2, 2, 4, 4, Cudnn.DATA_FLOAT, Cudnn.DEFAULT_MATH, true, 1L << 30);
        Cudnn.convForward(handle, plan, 0x1000, 0x2000, 0x3000, 0x4000, 1000, 1f, 0f);
        assertEquals("forward algo=0 math=0 x=1000 w=2000 y=3000 ws=4000/1000 alpha=1 beta=0 xdims=2,3,8,8 ydims=2,4,4,4",
                last());
        Cudnn.convBackwardData(handle, plan, 0x2000, 0x3000, 0x5000, 0x4000, 2001, 1f, 0f);
        assertEquals("backwardData algo=1 w=2000 dy=3000 dx=5000 alpha=1 beta=0 dxdims=2,3,8,8", last());
        Cudnn.convBackwardFilter(handle, plan, 0x1000, 0x3000, 0x6000, 0x4000, 3001, 1f, 1f);
        assertEquals("backwardFilter algo=1 x=1000 dy=3000 dw=6000 alpha=1 beta=1 dwdims=4,3,3,3", last());
        CudaException e = assertThrows(CudaException.class,
                () -> Cudnn.convForward(handle, plan, 0x1000, 0x2000, 0x3000, 0xBAD, 0, 1f, 0f));
        assertEquals("cudnnConvolutionForward: CUDNN_STATUS_BAD_PARAM (2000): fake: workspace is 0xBAD", e.getMessage());
        Cudnn.setStream(handle, 0xABCDEF);
        assertEquals("setStream abcdef", last());
        Cudnn.convPlanDestroy(plan);
    }
}
