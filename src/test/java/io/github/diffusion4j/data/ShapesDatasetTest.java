package io.github.diffusion4j.data;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class ShapesDatasetTest {
    @Test void deterministicAndIndependentOfAccessOrder() {
        ShapesDataset a = new ShapesDataset(1000, 32, 5), b = new ShapesDataset(1000, 32, 5);
        float[] late = b.image(999);
        assertArrayEquals(a.image(999), late);
        assertArrayEquals(a.image(3), b.image(3));
        assertFalse(java.util.Arrays.equals(a.image(3), new ShapesDataset(1000, 32, 6).image(3)));
    }

    @Test void parametersCoverTheSpecifiedRanges() {
        ShapesDataset ds = new ShapesDataset(3000, 32, 0);
        int[] kinds = new int[3], colours = new int[4];
        for (int i = 0; i < ds.size(); i++) {
            ShapesDataset.Params p = ds.params(i);
            kinds[p.kind()]++;
            colours[p.colour()]++;
            assertEquals(p.kind(), ds.label(i));
            assertTrue(p.side() >= 0.35 * 32 && p.side() < 0.70 * 32 + 1e-9);
            assertTrue(p.x0() >= 0 && p.x0() + p.side() <= 32 + 1e-9);
            assertTrue(p.y0() >= 0 && p.y0() + p.side() <= 32 + 1e-9);
        }
        for (int k : kinds) assertTrue(k > 900, java.util.Arrays.toString(kinds));
        for (int c : colours) assertTrue(c > 650, java.util.Arrays.toString(colours));
    }

    @Test void pixelsAreBlendsOfBackgroundAndTheShapeColour() {
        ShapesDataset ds = new ShapesDataset(50, 32, 1);
        float[] bg = ShapesDataset.background();
        for (int i = 0; i < ds.size(); i++) {
            float[] img = ds.image(i);
            float[] col = ShapesDataset.palette(ds.params(i).colour());
            int border = 0, full = 0;
            for (int p = 0; p < 32 * 32; p++) {
                // coverage from the channel where colour and background differ most
                int c = Math.abs(col[2] - bg[2]) > Math.abs(col[0] - bg[0]) ? 2 : 0;
                if (Math.abs(col[1] - bg[1]) > Math.abs(col[c] - bg[c])) c = 1;
                float a = (img[c * 1024 + p] - bg[c]) / (col[c] - bg[c]);
                assertTrue(a >= -1e-5 && a <= 1 + 1e-5);
                for (int ch = 0; ch < 3; ch++) assertEquals(a * col[ch] + (1 - a) * bg[ch], img[ch * 1024 + p], 1e-5f);
                if (a > 0.999) full++;
                boolean edge = p < 32 || p >= 32 * 31 || p % 32 == 0 || p % 32 == 31;
                if (edge && a > 0) border++;
            }
            assertTrue(full > 0.03 * 1024, "image " + i + " has a solid interior");
        }
        // a square fully covering whole pixels
        float[] sq = new float[3 * 64];
        ShapesDataset.render(ShapesDataset.SQUARE, ShapesDataset.palette(0), bg, 2, 2, 4, 8, 8, sq, 0);
        int n = 0;
        for (int p = 0; p < 64; p++) if (sq[p] == ShapesDataset.palette(0)[0] && sq[64 + p] == ShapesDataset.palette(0)[1]) n++;
        assertEquals(16, n);
    }

    @Test void rejectsBadArguments() {
        assertThrows(IllegalArgumentException.class, () -> new ShapesDataset(0, 32, 0));
        assertThrows(IllegalArgumentException.class, () -> new ShapesDataset(10, 4, 0));
        assertThrows(IndexOutOfBoundsException.class, () -> new ShapesDataset(10, 32, 0).image(10));
    }
}
