package io.github.diffusion4j.nn;

import io.github.diffusion4j.backend.cpu.CpuBackend;
import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.opentest4j.AssertionFailedError;

import static io.github.diffusion4j.nn.GradCheck.randn;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Negative controls: the harness must reject wrong gradients, or its passing checks mean nothing. */
class GradCheckSelfTest {
    private final Backend b = CpuBackend.get();

    /** y = x² elementwise, with a backward that can be made wrong. */
    private GradCheck square(Tensor x, int wrongIndex, float wrongBy) {
        return GradCheck.of("square (broken at " + wrongIndex + ")", b).input("x", x)
                .forward(() -> {
                    Tensor y = b.zeros(x.shape());
                    b.mul(y, x, x);
                    return y;
                })
                .backward(dy -> {
                    Tensor dx = b.zeros(x.shape());
                    b.mul(dx, dy, x);
                    b.scale(dx, dx, 2f);
                    if (wrongIndex >= 0) {
                        float[] h = b.toHost(dx);
                        h[wrongIndex] += wrongBy;
                        b.copyFromHost(dx, h, 0);
                    }
                    return new Tensor[] {dx};
                });
    }

    @Test void correctGradientPasses() {
        Tensor x = randn(b, 1, 1f, 2, 3, 4);
        GradCheck.Result r = square(x, -1, 0f).tol(1e-3).run();
        assertTrue(r.overall < 1e-3);
    }

    @Test void oneWrongElementFails() {
        Tensor x = randn(b, 1, 1f, 2, 3, 4);
        // an error of 5% of a typical gradient in a single element of a fully checked tensor
        assertThrows(AssertionFailedError.class, () -> square(x, 7, 0.05f).run());
    }

    @Test void wrongScaleFails() {
        ParamStore store = new ParamStore();
        Conv2d conv = new Conv2d(store.root(), 3, 4, 3, 1, 1);
        GradCheck.allocateRandom(store, b, 2);
        Tensor x = randn(b, 3, 1f, 2, 3, 5, 5);
        assertThrows(AssertionFailedError.class, () -> GradCheck.of("conv with dx x 1.05", b).input("x", x).params(store)
                .forward(() -> conv.forward(x))
                .backward(dy -> {
                    Tensor dx = conv.backward(dy);
                    b.scale(dx, dx, 1.05f);
                    return new Tensor[] {dx};
                }).run());
    }

    @Test void directionalCheckAloneCatchesAPartlyWrongTensor() {
        // no elementwise samples: only the random direction over all 2 x 3 x 8 x 8 = 384 elements; the gradient
        // of one channel (1/6 of the elements) is 20% off
        Tensor x = randn(b, 4, 1f, 2, 3, 8, 8);
        GradCheck c = GradCheck.of("square, channel 1 of sample 0 off by 20%", b).input("x", x)
                .elements(0, 0)
                .forward(() -> {
                    Tensor y = b.zeros(x.shape());
                    b.mul(y, x, x);
                    return y;
                })
                .backward(dy -> {
                    Tensor dx = b.zeros(x.shape());
                    b.mul(dx, dy, x);
                    b.scale(dx, dx, 2f);
                    Tensor ch = dx.view(64, Shape.of(64));
                    b.scale(ch, ch, 1.2f);
                    return new Tensor[] {dx};
                });
        assertThrows(AssertionFailedError.class, c::run);
    }

    @Test void missingParameterGradientFails() {
        ParamStore store = new ParamStore();
        Linear lin = new Linear(store.root(), 4, 3);
        GradCheck.allocateRandom(store, b, 5);
        Tensor x = randn(b, 6, 1f, 2, 4);
        // forgets the bias gradient
        assertThrows(AssertionFailedError.class, () -> GradCheck.of("linear without bias grad", b).params(store)
                .forward(() -> lin.forward(x))
                .backward(dy -> {
                    lin.backward(dy);
                    b.fill(lin.bias.grad(), 0f);
                    return null;
                }).run());
    }

    @Test void nonAccumulatingParameterGradientFails() {
        ParamStore store = new ParamStore();
        Linear lin = new Linear(store.root(), 4, 3);
        GradCheck.allocateRandom(store, b, 5);
        Tensor x = randn(b, 6, 1f, 2, 4);
        assertThrows(AssertionFailedError.class, () -> GradCheck.assertAccumulates("linear assigning its grads", b, store,
                () -> lin.forward(x),
                dy -> {
                    store.zeroGrad(); // overwrites instead of accumulating
                    return new Tensor[] {lin.backward(dy)};
                }));
    }

    @Test void nonDeterministicForwardFails() {
        Dropout drop = new Dropout(0.5f);
        Tensor x = randn(b, 7, 1f, 2, 8);
        long[] seed = {0};
        // a new dropout seed per forward: the masks differ between evaluations
        assertThrows(AssertionFailedError.class, () -> GradCheck.of("dropout with changing masks", b).input("x", x)
                .forward(() -> drop.forward(Ctx.training(b, ++seed[0]), x))
                .backward(dy -> new Tensor[] {drop.backward(dy)}).run());
    }
}
