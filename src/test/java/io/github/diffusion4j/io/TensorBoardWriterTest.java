package io.github.diffusion4j.io;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Reads the writer's files back with a reader written here from the formats' definitions, sharing no code with
 * the writer: TFRecord framing with a bitwise CRC32C (Castagnoli, reflected polynomial 0x82F63B78) and TensorFlow's
 * mask, and a generic protobuf wire-format decoder (varint, 64-bit, length-delimited, 32-bit).
 */
class TensorBoardWriterTest {
    @TempDir Path dir;

    // ---------------------------------------------------------------- independent reader

    /** CRC32C bit by bit, straight from the definition (no table, no java.util.zip). */
    static int crc32c(byte[] b, int off, int len) {
        int c = 0xFFFFFFFF;
        for (int i = off; i < off + len; i++) {
            c ^= b[i] & 0xFF;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? (c >>> 1) ^ 0x82F63B78 : c >>> 1;
        }
        return ~c;
    }

    static int masked(int crc) { return Integer.rotateRight(crc, 15) + 0xa282ead8; }

    static long le(byte[] b, int off, int n) {
        long v = 0;
        for (int i = n - 1; i >= 0; i--) v = v << 8 | (b[off + i] & 0xFF);
        return v;
    }

    /** The records of a TFRecord file; throws if a length or CRC does not check out. */
    static List<byte[]> records(byte[] f) {
        List<byte[]> out = new ArrayList<>();
        int p = 0;
        while (p < f.length) {
            if (f.length - p < 12) throw new IllegalStateException("truncated header at " + p);
            long len = le(f, p, 8);
            int headerCrc = (int) le(f, p + 8, 4);
            if (masked(crc32c(f, p, 8)) != headerCrc) throw new IllegalStateException("length CRC mismatch at " + p);
            if (len < 0 || len > f.length - p - 16) throw new IllegalStateException("truncated record at " + p);
            byte[] data = new byte[(int) len];
            System.arraycopy(f, p + 12, data, 0, data.length);
            int dataCrc = (int) le(f, p + 12 + data.length, 4);
            if (masked(crc32c(data, 0, data.length)) != dataCrc) throw new IllegalStateException("data CRC mismatch at " + p);
            out.add(data);
            p += 16 + data.length;
        }
        return out;
    }

    /** One decoded field: wire type 0 and 1 and 5 give {@code bits}, wire type 2 gives {@code bytes}. */
    record Field(int number, int wireType, long bits, byte[] bytes) {
        double asDouble() { assertEquals(1, wireType); return Double.longBitsToDouble(bits); }
        float asFloat() { assertEquals(5, wireType); return Float.intBitsToFloat((int) bits); }
        long asLong() { assertEquals(0, wireType); return bits; }
        String asString() { assertEquals(2, wireType); return new String(bytes, StandardCharsets.UTF_8); }
        Msg asMessage() { assertEquals(2, wireType); return Msg.parse(bytes); }
    }

    /** A protobuf message decoded without its schema. */
    record Msg(List<Field> fields) {
        static Msg parse(byte[] b) {
            List<Field> fs = new ArrayList<>();
            int[] p = {0};
            while (p[0] < b.length) {
                long key = varint(b, p);
                int number = (int) (key >>> 3), wt = (int) (key & 7);
                assertTrue(number > 0, "field number 0");
                switch (wt) {
                    case 0 -> fs.add(new Field(number, wt, varint(b, p), null));
                    case 1 -> { fs.add(new Field(number, wt, le(b, p[0], 8), null)); p[0] += 8; }
                    case 5 -> { fs.add(new Field(number, wt, le(b, p[0], 4), null)); p[0] += 4; }
                    case 2 -> {
                        int n = Math.toIntExact(varint(b, p));
                        if (n > b.length - p[0]) throw new IllegalStateException("length-delimited field runs past the end");
                        byte[] v = new byte[n];
                        System.arraycopy(b, p[0], v, 0, n);
                        p[0] += n;
                        fs.add(new Field(number, wt, 0, v));
                    }
                    default -> throw new IllegalStateException("wire type " + wt);
                }
                if (p[0] > b.length) throw new IllegalStateException("field runs past the end");
            }
            return new Msg(fs);
        }

        static long varint(byte[] b, int[] p) {
            long v = 0;
            for (int shift = 0; ; shift += 7) {
                if (shift >= 64) throw new IllegalStateException("varint too long");
                int x = b[p[0]++] & 0xFF;
                v |= (long) (x & 0x7F) << shift;
                if ((x & 0x80) == 0) return v;
            }
        }

        List<Field> all(int number) { return fields.stream().filter(f -> f.number == number).toList(); }

        Field one(int number) {
            List<Field> a = all(number);
            assertEquals(1, a.size(), "occurrences of field " + number + " in " + fields);
            return a.get(0);
        }

        boolean has(int number) { return !all(number).isEmpty(); }
    }

    /** An event, read with the field numbers of event.proto / summary.proto. */
    record Event(double wallTime, long step, Msg msg) {
        static Event of(byte[] data) {
            Msg m = Msg.parse(data);
            return new Event(m.one(1).asDouble(), m.has(2) ? m.one(2).asLong() : 0, m);
        }
        List<Msg> values() { return msg.one(5).asMessage().all(1).stream().map(Field::asMessage).toList(); }
    }

    Path onlyEventFile() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            List<Path> files = s.toList();
            assertEquals(1, files.size(), files.toString());
            return files.get(0);
        }
    }

    List<Event> events(Path file) throws IOException {
        return records(Files.readAllBytes(file)).stream().map(Event::of).toList();
    }

    static byte[] png(int w, int h, int type) throws IOException {
        BufferedImage img = new BufferedImage(w, h, type);
        for (int y = 0; y < h; y++) for (int x = 0; x < w; x++) img.setRGB(x, y, 0xFF000000 | (x * 40) << 16 | (y * 60) << 8 | 0x33);
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        assertTrue(ImageIO.write(img, "png", b));
        return b.toByteArray();
    }

    // ---------------------------------------------------------------- tests

    @Test void testReaderCrcMatchesKnownAnswer() {
        // the CRC-32C check value (RFC 3720 / iSCSI): "123456789" -> 0xE3069283
        byte[] b = "123456789".getBytes(StandardCharsets.US_ASCII);
        assertEquals(0xE3069283, crc32c(b, 0, b.length));
    }

    @Test void scalarsAndImageRoundTripThroughAnIndependentReader() throws IOException {
        double t0 = System.currentTimeMillis() / 1000.0;
        byte[] png = png(7, 5, BufferedImage.TYPE_INT_RGB);
        Path file;
        try (TensorBoardWriter tb = new TensorBoardWriter(dir.resolve("tb/nested"))) {
            file = tb.file();
            tb.scalar("loss", 1, 0.25);
            tb.scalar("lr", 2, 1e-3);
            tb.scalar("loss", 300, -3.5);
            tb.scalar("big", 1L << 40, Double.NaN);
            tb.image("samples", 300, png, 7, 5, 3);
        }
        double t1 = System.currentTimeMillis() / 1000.0 + 1e-3;
        assertEquals(dir.resolve("tb/nested"), file.getParent());
        String name = file.getFileName().toString();
        assertTrue(name.matches("events\\.out\\.tfevents\\.\\d+\\.[A-Za-z0-9._-]+"), name);
        long secs = Long.parseLong(name.split("\\.")[3]);
        assertTrue(secs >= (long) Math.floor(t0) && secs <= (long) t1, name);

        List<Event> ev = events(file);
        assertEquals(6, ev.size());
        for (Event e : ev) assertTrue(e.wallTime() >= t0 - 1e-3 && e.wallTime() <= t1, "wall time " + e.wallTime());
        assertEquals("brain.Event:2", ev.get(0).msg().one(3).asString());
        assertEquals(0, ev.get(0).step());
        assertFalse(ev.get(0).msg().has(5));

        Object[][] want = {{1L, "loss", 0.25f}, {2L, "lr", 1e-3f}, {300L, "loss", -3.5f}, {1L << 40, "big", Float.NaN}};
        for (int i = 0; i < want.length; i++) {
            Event e = ev.get(1 + i);
            assertEquals((long) want[i][0], e.step());
            List<Msg> vs = e.values();
            assertEquals(1, vs.size());
            assertEquals(want[i][1], vs.get(0).one(1).asString());
            assertEquals((float) want[i][2], vs.get(0).one(2).asFloat(), 0f);
        }
        Event im = ev.get(5);
        assertEquals(300, im.step());
        Msg v = im.values().get(0);
        assertEquals("samples", v.one(1).asString());
        assertFalse(v.has(2), "an image value has no simple_value");
        Msg image = v.one(4).asMessage();
        assertEquals(5, image.one(1).asLong(), "height");
        assertEquals(7, image.one(2).asLong(), "width");
        assertEquals(3, image.one(3).asLong(), "colorspace RGB");
        assertArrayEquals(png, image.one(4).bytes());
        BufferedImage back = ImageIO.read(new java.io.ByteArrayInputStream(image.one(4).bytes()));
        assertEquals(7, back.getWidth());
        assertEquals(5, back.getHeight());
    }

    @Test void exactBytesOfAScalarEvent() throws IOException {
        // hand-encoded: Event{wall_time=1.5 (1: fixed64), step=3 (2: varint), summary (5) {value (1) {tag (1) "a", simple_value (2) 0.25f}}}
        byte[] want = {
                0x09, 0, 0, 0, 0, 0, 0, (byte) 0xF8, 0x3F,
                0x10, 0x03,
                0x2A, 0x0A, 0x0A, 0x08, 0x0A, 0x01, 'a', 0x15, 0, 0, (byte) 0x80, 0x3E};
        try (TensorBoardWriter tb = new TensorBoardWriter(dir, () -> 1.5)) {
            tb.scalar("a", 3, 0.25);
        }
        Path f = onlyEventFile();
        assertEquals("events.out.tfevents.1.", f.getFileName().toString().substring(0, 22));
        List<byte[]> r = records(Files.readAllBytes(f));
        assertEquals(2, r.size());
        assertArrayEquals(want, r.get(1));
        // the first record: wall_time 1.5, step 0, file_version (3) "brain.Event:2"
        ByteArrayOutputStream first = new ByteArrayOutputStream();
        first.write(new byte[] {0x09, 0, 0, 0, 0, 0, 0, (byte) 0xF8, 0x3F, 0x10, 0x00, 0x1A, 13});
        first.write("brain.Event:2".getBytes(StandardCharsets.US_ASCII));
        assertArrayEquals(first.toByteArray(), r.get(0));
        // the framing, byte for byte: 8-byte LE length, masked CRC of it, data, masked CRC of the data
        byte[] all = Files.readAllBytes(f);
        int off = 16 + r.get(0).length;
        assertEquals(want.length, le(all, off, 8));
        assertEquals(masked(crc32c(all, off, 8)), (int) le(all, off + 8, 4));
        assertEquals(masked(crc32c(want, 0, want.length)), (int) le(all, off + 12 + want.length, 4));
        assertEquals(all.length, off + 16 + want.length);
    }

    @Test void aCorruptedByteIsDetected() throws IOException {
        try (TensorBoardWriter tb = new TensorBoardWriter(dir)) {
            tb.scalar("loss", 7, 0.5);
            tb.image("img", 7, png(3, 3, BufferedImage.TYPE_INT_RGB));
        }
        byte[] good = Files.readAllBytes(onlyEventFile());
        assertEquals(3, records(good).size());
        int second = 16 + records(good).get(0).length;
        // every single-byte change anywhere in the file is caught (by a CRC or by the framing)
        int caught = 0;
        for (int i = 0; i < good.length; i++) {
            byte[] bad = good.clone();
            bad[i] ^= 0x10;
            try {
                records(bad);
            } catch (IllegalStateException expected) {
                caught++;
            }
        }
        assertEquals(good.length, caught);
        byte[] bad = good.clone();
        bad[second + 12 + 3] ^= 1;   // inside the second record's data
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> records(bad));
        assertTrue(e.getMessage().startsWith("data CRC mismatch at " + second), e.getMessage());
        byte[] badLen = good.clone();
        badLen[second] ^= 1;   // the second record's length
        e = assertThrows(IllegalStateException.class, () -> records(badLen));
        assertTrue(e.getMessage().startsWith("length CRC mismatch at " + second), e.getMessage());
        byte[] cut = java.util.Arrays.copyOf(good, good.length - 1);
        assertThrows(IllegalStateException.class, () -> records(cut));
    }

    @Test void flushMakesEverythingWrittenSoFarReadable() throws IOException {
        try (TensorBoardWriter tb = new TensorBoardWriter(dir)) {
            assertEquals(1, events(tb.file()).size(), "the file_version record is on disk from the start");
            tb.scalar("loss", 1, 1.0);
            tb.scalar("loss", 2, 0.5);
            tb.flush();
            List<Event> ev = events(tb.file());
            assertEquals(3, ev.size());
            assertEquals(2, ev.get(2).step());
            tb.scalar("loss", 3, 0.25);
        }
        assertEquals(4, events(onlyEventFile()).size());
    }

    @Test void scalarsOfAMetricsRowGoInOneEventSkippingNonNumbers() throws IOException {
        Map<String, Object> row = new LinkedHashMap<>();
        row.put("loss", 0.125);
        row.put("loss_q0", 0.5f);
        row.put("grad_norm", 3);
        row.put("note", "text");
        row.put("missing", null);
        try (TensorBoardWriter tb = new TensorBoardWriter(dir)) {
            tb.scalars("train/", 40, row);
            tb.scalars("train/", 41, Map.of("note", "nothing numeric"));   // writes no event
        }
        List<Event> ev = events(onlyEventFile());
        assertEquals(2, ev.size());
        List<Msg> vs = ev.get(1).values();
        assertEquals(40, ev.get(1).step());
        assertEquals(List.of("train/loss", "train/loss_q0", "train/grad_norm"), vs.stream().map(m -> m.one(1).asString()).toList());
        assertEquals(0.125f, vs.get(0).one(2).asFloat());
        assertEquals(0.5f, vs.get(1).one(2).asFloat());
        assertEquals(3f, vs.get(2).one(2).asFloat());
    }

    @Test void imageSizeAndChannelsAreReadFromThePngHeader() throws IOException {
        byte[] grey = png(4, 6, BufferedImage.TYPE_BYTE_GRAY);
        byte[] rgba = png(9, 2, BufferedImage.TYPE_INT_ARGB);
        Path f = dir.resolve("grid.png");
        Files.write(f, png(3, 8, BufferedImage.TYPE_INT_RGB));
        try (TensorBoardWriter tb = new TensorBoardWriter(dir.resolve("tb"))) {
            tb.image("grey", 1, grey);
            tb.image("rgba", 2, rgba);
            tb.image("file", 3, f);
            assertThrows(IllegalArgumentException.class, () -> tb.image("x", 4, new byte[40]));
            assertThrows(IllegalArgumentException.class, () -> tb.image("x", 4, grey, 4, 6, 5));
        }
        List<Event> ev;
        try (Stream<Path> s = Files.list(dir.resolve("tb"))) {
            ev = events(s.findFirst().orElseThrow());
        }
        assertEquals(4, ev.size());
        long[][] want = {{6, 4, 1}, {2, 9, 4}, {8, 3, 3}};
        for (int i = 0; i < 3; i++) {
            Msg image = ev.get(1 + i).values().get(0).one(4).asMessage();
            assertEquals(want[i][0], image.one(1).asLong(), "height");
            assertEquals(want[i][1], image.one(2).asLong(), "width");
            assertEquals(want[i][2], image.one(3).asLong(), "colorspace");
        }
        assertArrayEquals(Files.readAllBytes(f), ev.get(3).values().get(0).one(4).asMessage().one(4).bytes());
    }

    @Test void sessionStartIsASessionLogWithStatusStart() throws IOException {
        try (TensorBoardWriter tb = new TensorBoardWriter(dir)) {
            tb.sessionStart(1001);
        }
        Event e = events(onlyEventFile()).get(1);
        assertEquals(1001, e.step());
        assertEquals(1, e.msg().one(7).asMessage().one(1).asLong(), "SessionLog.status START");
        assertFalse(e.msg().has(5));
    }

    @Test void writersInTheSameSecondGetTheirOwnFiles() throws IOException {
        try (TensorBoardWriter a = new TensorBoardWriter(dir, () -> 1000.25);
             TensorBoardWriter b = new TensorBoardWriter(dir, () -> 1000.75)) {
            assertNotEquals(a.file(), b.file());
            assertTrue(b.file().getFileName().toString().startsWith(a.file().getFileName() + "."));
            a.scalar("x", 1, 1);
            b.scalar("x", 1, 2);
        }
        try (Stream<Path> s = Files.list(dir)) {
            List<Path> files = s.toList();
            assertEquals(2, files.size());
            for (Path f : files) assertEquals(2, events(f).size(), f.toString());
        }
    }

    @Test void closeTwiceIsFineAndWritingAfterCloseFails() throws IOException {
        TensorBoardWriter tb = new TensorBoardWriter(dir);
        tb.scalar("x", 1, 1);
        tb.close();
        tb.close();
        assertThrows(IllegalStateException.class, () -> tb.scalar("x", 2, 2));
        assertThrows(IllegalStateException.class, tb::flush);
        assertEquals(2, events(tb.file()).size());
    }

    @Test void aDirectoryThatCannotBeCreatedIsAnIOException() throws IOException {
        Path notADir = dir.resolve("file");
        Files.writeString(notADir, "x");
        assertThrows(IOException.class, () -> new TensorBoardWriter(notADir));
        assertThrows(IOException.class, () -> new TensorBoardWriter(notADir.resolve("sub")));
    }
}
