package io.github.diffusion4j.data;

import io.github.diffusion4j.data.ShapeValidity.Check;
import io.github.diffusion4j.data.ShapeValidity.Result;
import io.github.diffusion4j.tensor.Philox;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class ShapeValidityTest {
    static final int S = 32;

    @Test void datasetImagesAreValidAndClassifiedByTheirLabel() {
        for (int size : new int[] {16, 32, 64}) {
            ShapesDataset ds = new ShapesDataset(2000, size, 7);
            int ok = 0, n = ds.size();
            for (int i = 0; i < n; i++) {
                Result r = ShapeValidity.check(ds.image(i), 3, size, size);
                ShapesDataset.Params p = ds.params(i);
                if (r.valid() && r.kind() == p.kind() && r.colour() == p.colour()) ok++;
            }
            assertTrue(ok >= 0.99 * n, size + "px: only " + ok + "/" + n + " valid and correctly classified");
        }
    }

    @Test void datasetImagesWithMildNoiseStayValid() {
        ShapesDataset ds = new ShapesDataset(500, S, 3);
        int ok = 0;
        for (int i = 0; i < ds.size(); i++) {
            float[] img = ds.image(i);
            float[] z = new float[img.length];
            Philox.fillNormal(z, 0, 99, (long) i * img.length, 0, img.length);
            for (int j = 0; j < img.length; j++) img[j] = Math.max(-1, Math.min(1, img[j] + 0.05f * z[j]));
            Result r = ShapeValidity.check(img, 3, S, S);
            if (r.valid() && r.kind() == ds.label(i)) ok++;
        }
        assertTrue(ok >= 0.97 * ds.size(), "with noise sd 0.05 only " + ok + "/" + ds.size());
    }

    @Test void pureNoiseIsInvalid() {
        for (int seed = 0; seed < 20; seed++) {
            float[] img = new float[3 * S * S];
            Philox.fillNormal(img, 0, seed, 0, 0, img.length);
            for (int j = 0; j < img.length; j++) img[j] = Math.max(-1, Math.min(1, img[j]));
            assertFalse(ShapeValidity.check(img, 3, S, S).valid(), "gaussian noise " + seed);
            Philox.fillUniform(img, 0, seed, 0, 0, img.length);
            for (int j = 0; j < img.length; j++) img[j] = 2 * img[j] - 1;
            assertFalse(ShapeValidity.check(img, 3, S, S).valid(), "uniform noise " + seed);
        }
    }

    @Test void blankImagesAreInvalid() {
        float[] white = new float[3 * S * S];
        java.util.Arrays.fill(white, 1f);
        Result r = ShapeValidity.check(white, 3, S, S);
        assertFalse(r.valid());
        assertEquals(Check.BLANK, r.failed());
        float[] black = new float[3 * S * S];
        java.util.Arrays.fill(black, -1f);
        assertFalse(ShapeValidity.check(black, 3, S, S).valid());
        float[] grey = new float[3 * S * S];
        assertFalse(ShapeValidity.check(grey, 3, S, S).valid());
    }

    @Test void twoShapesAreInvalid() {
        float[] img = new float[3 * S * S];
        float[] bg = ShapesDataset.background();
        // a red square top-left and a blue circle bottom-right, well apart
        float[] a = new float[img.length], b = new float[img.length];
        ShapesDataset.render(ShapesDataset.SQUARE, ShapesDataset.palette(0), bg, 1, 1, 12, S, S, a, 0);
        ShapesDataset.render(ShapesDataset.CIRCLE, ShapesDataset.palette(2), bg, 18, 18, 12, S, S, b, 0);
        for (int j = 0; j < img.length; j++) img[j] = Math.min(a[j], b[j]);
        Result r = ShapeValidity.check(img, 3, S, S);
        assertFalse(r.valid(), r.reason());
        assertEquals(Check.SPLIT, r.failed(), r.reason());
        // the same colour twice
        ShapesDataset.render(ShapesDataset.CIRCLE, ShapesDataset.palette(0), bg, 18, 18, 12, S, S, b, 0);
        for (int j = 0; j < img.length; j++) img[j] = Math.min(a[j], b[j]);
        assertEquals(Check.SPLIT, ShapeValidity.check(img, 3, S, S).failed());
    }

    @Test void halfBlendedMessIsInvalid() {
        ShapesDataset ds = new ShapesDataset(200, S, 11);
        int invalid = 0;
        for (int i = 0; i + 1 < ds.size(); i += 2) {
            float[] a = ds.image(i), b = ds.image(i + 1);
            for (int j = 0; j < a.length; j++) a[j] = 0.5f * (a[j] + b[j]);
            if (!ShapeValidity.check(a, 3, S, S).valid()) invalid++;
        }
        assertEquals(100, invalid, "every 50/50 blend of two dataset images must be rejected");
        // one shape faded half way to the background
        float[] img = ds.image(0);
        for (int j = 0; j < img.length; j++) img[j] = 0.5f * (img[j] + 1f);
        Result r = ShapeValidity.check(img, 3, S, S);
        assertFalse(r.valid());
        assertEquals(Check.COLOUR, r.failed(), r.reason());
    }

    @Test void wrongColourIsInvalid() {
        float[] magenta = {220 / 127.5f - 1, 40 / 127.5f - 1, 220 / 127.5f - 1};
        float[] img = new float[3 * S * S];
        ShapesDataset.render(ShapesDataset.SQUARE, magenta, ShapesDataset.background(), 8, 8, 14, S, S, img, 0);
        Result r = ShapeValidity.check(img, 3, S, S);
        assertFalse(r.valid());
        assertEquals(Check.COLOUR, r.failed(), r.reason());
        // and the right colour in the same place is fine
        ShapesDataset.render(ShapesDataset.SQUARE, ShapesDataset.palette(3), ShapesDataset.background(), 8, 8, 14, S, S, img, 0);
        r = ShapeValidity.check(img, 3, S, S);
        assertTrue(r.valid(), r.reason());
        assertEquals(ShapesDataset.SQUARE, r.kind());
        assertEquals(3, r.colour());
    }

    @Test void wrongShapesAreInvalid() {
        float[] bg = ShapesDataset.background(), red = ShapesDataset.palette(0);
        // a wide rectangle
        float[] img = new float[3 * S * S];
        ShapesDataset.render(ShapesDataset.SQUARE, red, bg, 4, 4, 12, S, S, img, 0);
        for (int y = 4; y < 16; y++) for (int x = 16; x < 28; x++) for (int c = 0; c < 3; c++) img[c * S * S + y * S + x] = red[c];
        assertFalse(ShapeValidity.check(img, 3, S, S).valid());
        // an upside-down triangle: right fill ratio, wrong shape
        float[] up = new float[3 * S * S];
        ShapesDataset.render(ShapesDataset.TRIANGLE, red, bg, 6, 6, 18, S, S, up, 0);
        assertTrue(ShapeValidity.check(up, 3, S, S).valid());
        float[] down = new float[up.length];
        for (int c = 0; c < 3; c++) for (int y = 0; y < S; y++) System.arraycopy(up, c * S * S + y * S, down, c * S * S + (S - 1 - y) * S, S);
        Result r = ShapeValidity.check(down, 3, S, S);
        assertFalse(r.valid());
        assertTrue(r.failed() == Check.TEMPLATE || r.failed() == Check.FILL, r.reason());
    }

    @Test void greyscaleInputIsRejected() {
        assertEquals(Check.CHANNELS, ShapeValidity.check(new float[S * S], 1, S, S).failed());
    }

    @Test void reportCountsKindsAndColours() {
        ShapesDataset ds = new ShapesDataset(300, S, 5);
        float[] batch = new float[ds.size() * ds.imageFloats()];
        for (int i = 0; i < ds.size(); i++) ds.image(i, batch, i * ds.imageFloats());
        ShapeValidity.Report rep = ShapeValidity.evaluate(batch, ds.size(), 3, S, S);
        assertTrue(rep.validFraction() >= 0.99, rep.toString());
        for (int k : rep.kindCounts()) assertTrue(k > 60, rep.toString());
        for (int k : rep.colourCounts()) assertTrue(k > 40, rep.toString());
    }
}
