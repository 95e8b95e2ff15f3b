package io.github.diffusion4j.eval;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class PrecisionRecallTest {

    /** Points on the x axis of a 2-D feature space. */
    private static float[] line(double... xs) {
        float[] f = new float[2 * xs.length];
        for (int i = 0; i < xs.length; i++) f[2 * i] = (float) xs[i];
        return f;
    }

    @Test void identicalSetsHavePerfectScores() {
        float[] a = line(0, 1, 2, 3, 4, 5, 6, 7);
        PrecisionRecall.Result r = PrecisionRecall.compute(a, 8, a.clone(), 8, 2, 3);
        assertEquals(1.0, r.precision());
        assertEquals(1.0, r.recall());
    }

    @Test void disjointSetsScoreZero() {
        float[] a = line(0, 1, 2, 3, 4), b = line(100, 101, 102, 103, 104);
        PrecisionRecall.Result r = PrecisionRecall.compute(a, 5, b, 5, 2, 1);
        assertEquals(0.0, r.precision());
        assertEquals(0.0, r.recall());
    }

    /**
     * Real: 0..9 (k = 1: every radius 1, manifold [-1, 10]). Fake: 0.5, 1.5, 2.5, 3.5, 30 (mode-dropping plus one
     * outlier). Precision: 4 of 5 inside. Fake radii (k = 1): 1, 1, 1, 1, 26.5 — the outlier's ball reaches 3.5
     * and covers real 4..9, the others cover 0..4, so recall is 10/10 (the known outlier sensitivity). With k = 1 and
     * the outlier removed, recall is 5/10 (0..4).
     */
    @Test void handComputedCase() {
        float[] real = line(0, 1, 2, 3, 4, 5, 6, 7, 8, 9);
        PrecisionRecall.Result r = PrecisionRecall.compute(real, 10, line(0.5, 1.5, 2.5, 3.5, 30), 5, 2, 1);
        assertEquals(0.8, r.precision(), 1e-12);
        assertEquals(1.0, r.recall(), 1e-12);
        PrecisionRecall.Result r2 = PrecisionRecall.compute(real, 10, line(0.5, 1.5, 2.5, 3.5), 4, 2, 1);
        assertEquals(1.0, r2.precision(), 1e-12);
        assertEquals(0.5, r2.recall(), 1e-12);
        // k = 2: real radii 2 (ends: 2), manifold [-2, 11]; fake radii 2,1... : 0.5 -> 2 (2.5), 1.5 -> 1, 2.5 -> 1, 3.5 -> 2
        // covered real: |r - 0.5| <= 2 -> 0,1,2; |r-1.5|<=1 -> 1,2; |r-2.5|<=1 -> 2,3; |r-3.5|<=2 -> 2,3,4,5 => 0..5: 6/10
        PrecisionRecall.Result r3 = PrecisionRecall.compute(real, 10, line(0.5, 1.5, 2.5, 3.5), 4, 2, 2);
        assertEquals(0.6, r3.recall(), 1e-12);
        assertEquals(1.0, r3.precision(), 1e-12);
    }

    @Test void tooFewPointsIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> PrecisionRecall.compute(line(0, 1, 2), 3, line(0, 1, 2), 3, 2, 3));
    }
}
