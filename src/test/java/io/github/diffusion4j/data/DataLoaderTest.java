package io.github.diffusion4j.data;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

class DataLoaderTest {
    /** A tiny dataset whose image i is a 1x4x4 ramp offset by i, so order and flips are visible. */
    static final class Ramp implements Dataset {
        final int n;
        volatile int failAt = -1;
        Ramp(int n) { this.n = n; }
        @Override public String name() { return "ramp"; }
        @Override public int size() { return n; }
        @Override public int channels() { return 1; }
        @Override public int imageSize() { return 4; }
        @Override public int numClasses() { return 0; }
        @Override public List<String> classNames() { return List.of(); }
        @Override public int label(int index) { return index; }
        @Override public void image(int index, float[] out, int off) {
            if (index == failAt) throw new DatasetException("cannot decode image broken-" + index + ".png");
            for (int i = 0; i < 16; i++) out[off + i] = index * 100 + i;
        }
    }

    static List<DataLoader.Batch> take(DataLoader l, int k) {
        List<DataLoader.Batch> out = new ArrayList<>();
        for (int i = 0; i < k; i++) out.add(l.next());
        return out;
    }

    static void assertSameBatches(List<DataLoader.Batch> a, List<DataLoader.Batch> b) {
        assertEquals(a.size(), b.size());
        for (int i = 0; i < a.size(); i++) {
            assertArrayEquals(a.get(i).labels(), b.get(i).labels(), "labels of batch " + i);
            assertArrayEquals(a.get(i).images(), b.get(i).images(), "images of batch " + i);
            assertEquals(a.get(i).position(), b.get(i).position());
        }
    }

    @Test void sameSeedSameBatchesAndEpochsArePermutations() {
        Ramp ds = new Ramp(10);
        try (DataLoader a = new DataLoader(ds, 3, 42); DataLoader b = new DataLoader(ds, 3, 42);
             DataLoader c = new DataLoader(ds, 3, 43)) {
            assertEquals(3, a.batchesPerEpoch());
            List<DataLoader.Batch> ba = take(a, 9), bb = take(b, 9), bc = take(c, 9);
            assertSameBatches(ba, bb);
            boolean differs = false;
            for (int i = 0; i < 9; i++) differs |= !Arrays.equals(ba.get(i).labels(), bc.get(i).labels());
            assertTrue(differs, "another seed gives another order");
            // each epoch (3 batches of 3, the 10th sample dropped) draws 9 distinct items
            for (int e = 0; e < 3; e++) {
                Set<Integer> seen = new HashSet<>();
                for (int k = 0; k < 3; k++) {
                    DataLoader.Batch batch = ba.get(3 * e + k);
                    assertEquals(new DataLoader.Position(e, 3 * k), batch.position());
                    for (int l : batch.labels()) assertTrue(seen.add(l));
                }
                assertEquals(9, seen.size());
            }
            assertNotEquals(Arrays.toString(ba.get(0).labels()) + Arrays.toString(ba.get(1).labels()),
                    Arrays.toString(ba.get(3).labels()) + Arrays.toString(ba.get(4).labels()), "epochs are reshuffled");
            assertEquals(new DataLoader.Position(3, 0), a.position());
        }
    }

    @Test void imagesMatchLabelsAndFlipsAreHorizontalAndAboutHalf() {
        Ramp ds = new Ramp(50);
        int flips = 0, total = 0;
        try (DataLoader l = new DataLoader(ds, 10, 7)) {
            for (int k = 0; k < 40; k++) {
                DataLoader.Batch b = l.next();
                for (int j = 0; j < b.size(); j++) {
                    int item = b.labels()[j];
                    float[] img = Arrays.copyOfRange(b.images(), 16 * j, 16 * j + 16);
                    boolean flipped = img[0] == item * 100 + 3;
                    for (int y = 0; y < 4; y++) for (int x = 0; x < 4; x++) {
                        int sx = flipped ? 3 - x : x;
                        assertEquals(item * 100 + y * 4 + sx, img[y * 4 + x]);
                    }
                    assertEquals(flipped, l.flipped(b.position().epoch(), b.position().index() + j));
                    if (flipped) flips++;
                    total++;
                }
            }
        }
        assertTrue(flips > 0.4 * total && flips < 0.6 * total, flips + " flips of " + total);
        try (DataLoader l = new DataLoader(ds, 10, 7, DataLoader.Options.DEFAULT.withFlip(false).withShuffle(false))) {
            DataLoader.Batch b = l.next();
            assertArrayEquals(new int[] {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, b.labels());
            assertEquals(0f, b.images()[0]);
        }
    }

    /** A trainer's single upload: the same images, then the labels as floats, in every batch. */
    @Test void labelsAfterImagesAppendsTheLabelsAsFloats() {
        Ramp ds = new Ramp(23);
        try (DataLoader plain = new DataLoader(ds, 5, 4);
             DataLoader both = new DataLoader(ds, 5, 4, DataLoader.Options.DEFAULT.withLabelsAfterImages(true))) {
            for (int k = 0; k < 9; k++) {   // two epochs: the order and the flips change, the layout does not
                DataLoader.Batch a = plain.next(), b = both.next();
                assertArrayEquals(a.labels(), b.labels());
                int n = a.images().length;
                assertEquals(n + 5, b.images().length);
                assertArrayEquals(a.images(), java.util.Arrays.copyOf(b.images(), n));
                for (int j = 0; j < 5; j++) assertEquals((float) a.labels()[j], b.images()[n + j]);
            }
        }
    }

    @Test void restoringThePositionContinuesBitExactly() {
        Ramp ds = new Ramp(23);
        List<DataLoader.Batch> reference;
        try (DataLoader l = new DataLoader(ds, 5, 99)) {
            reference = take(l, 20);
        }
        for (int cut : new int[] {0, 1, 4, 5, 9, 13}) {
            DataLoader.Position saved;
            try (DataLoader l = new DataLoader(ds, 5, 99)) {
                take(l, cut);
                saved = l.position();
                take(l, 2); // batches prefetched or consumed after the save do not matter
            }
            try (DataLoader l = new DataLoader(ds, 5, 99)) {
                l.seek(saved);
                assertSameBatches(reference.subList(cut, 20), take(l, 20 - cut));
            }
        }
        // seeking an open loader mid-stream
        try (DataLoader l = new DataLoader(ds, 5, 99)) {
            take(l, 7);
            l.seek(reference.get(2).position());
            assertSameBatches(reference.subList(2, 6), take(l, 4));
        }
    }

    @Test void lastIncompleteBatchWhenNotDropped() {
        Ramp ds = new Ramp(7);
        try (DataLoader l = new DataLoader(ds, 3, 1, DataLoader.Options.DEFAULT.withDropLast(false))) {
            assertEquals(3, l.batchesPerEpoch());
            assertEquals(3, l.next().size());
            assertEquals(3, l.next().size());
            DataLoader.Batch last = l.next();
            assertEquals(1, last.size());
            assertEquals(16, last.images().length);
            assertEquals(new DataLoader.Position(1, 0), last.next());
        }
        assertThrows(IllegalArgumentException.class, () -> new DataLoader(ds, 8, 1));
    }

    @Test void workerErrorsAreRethrownInTheConsumer() {
        Ramp ds = new Ramp(12);
        ds.failAt = 5;
        try (DataLoader l = new DataLoader(ds, 4, 3, DataLoader.Options.DEFAULT.withShuffle(false))) {
            l.next();
            DatasetException e = assertThrows(DatasetException.class, () -> { l.next(); l.next(); });
            assertTrue(e.getMessage().contains("broken-5.png"));
            // after the failure the loader can be repositioned and used again
            ds.failAt = -1;
            l.seek(DataLoader.Position.START);
            assertEquals(0, l.next().labels()[0]);
        }
    }

    @Test void closeStopsTheThread() throws InterruptedException {
        Ramp ds = new Ramp(100);
        DataLoader l = new DataLoader(ds, 4, 3, DataLoader.Options.DEFAULT.withPrefetch(2));
        l.next();
        Thread t = null;
        for (Thread th : Thread.getAllStackTraces().keySet()) if (th.getName().equals("diffusion4j-data-ramp")) t = th;
        assertNotNull(t);
        assertTrue(t.isDaemon());
        l.close();
        t.join(5000);
        assertFalse(t.isAlive());
        assertThrows(IllegalStateException.class, l::next);
        l.close();
    }

    @Test void worksWithShapes() {
        ShapesDataset ds = new ShapesDataset(64, 16, 0);
        try (DataLoader l = new DataLoader(ds, 16, 0)) {
            DataLoader.Batch b = l.next();
            assertEquals(16 * 3 * 16 * 16, b.images().length);
            for (int lab : b.labels()) assertTrue(lab >= 0 && lab < 3);
            for (float v : b.images()) assertTrue(v >= -1 && v <= 1);
        }
    }
}
