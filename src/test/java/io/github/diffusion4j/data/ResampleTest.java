package io.github.diffusion4j.data;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class ResampleTest {
    @Test void identity() {
        float[] a = new float[2 * 3 * 5];
        for (int i = 0; i < a.length; i++) a[i] = i * 0.5f;
        assertArrayEquals(a, Resample.resize(a, 2, 3, 5, 3, 5), 1e-6f);
    }

    @Test void downscaleIsAnAreaAverage() {
        float[] a = {1, 2, 3, 4, 5, 6, 7, 8, 9};
        // 3x3 -> 2x2: each output covers 1.5 x 1.5 source pixels
        float[] r = Resample.resize(a, 1, 3, 3, 2, 2);
        double tl = (1 * 1 + 2 * 0.5 + 4 * 0.5 + 5 * 0.25) / 2.25;
        assertEquals(tl, r[0], 1e-5);
        float[] one = Resample.resize(a, 1, 3, 3, 1, 1);
        assertEquals(5f, one[0], 1e-5f);
    }

    @Test void upscaleIsBilinearWithCentreAlignment() {
        float[] a = {0, 4};
        float[] r = Resample.resize(a, 1, 1, 2, 1, 4);
        assertArrayEquals(new float[] {0, 1, 3, 4}, r, 1e-6f);
    }

    @Test void centerCropOfAWideImage() {
        // 2 x 6 image with columns 0..5; shorter side 2 -> 2, crop the middle 2 columns
        float[] a = new float[12];
        for (int y = 0; y < 2; y++) for (int x = 0; x < 6; x++) a[y * 6 + x] = x;
        float[] r = Resample.resizeCenterCrop(a, 1, 2, 6, 2);
        assertArrayEquals(new float[] {2, 3, 2, 3}, r, 1e-6f);
        float[] half = Resample.resizeCenterCrop(a, 1, 2, 6, 1);
        assertEquals(2.5f, half[0], 1e-6f);
    }
}
