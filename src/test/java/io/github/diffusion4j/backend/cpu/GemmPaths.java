package io.github.diffusion4j.backend.cpu;

import org.junit.jupiter.api.Assumptions;

/** Test helper: switches CpuGemm between its Vector API kernel and the scalar fallback. */
final class GemmPaths {
    private static final boolean DEFAULT = CpuGemm.vectorized();

    private GemmPaths() {}

    /** Selects a path; a test asking for the vector path is skipped (not failed) where it is unavailable. */
    static void select(boolean vector) {
        Assumptions.assumeTrue(!vector || CpuGemm.vectorAvailable(), "Vector API module not present");
        CpuGemm.useVectorApi(vector);
    }

    static void restoreDefault() { CpuGemm.useVectorApi(DEFAULT); }
}
