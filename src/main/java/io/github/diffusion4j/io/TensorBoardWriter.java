package io.github.diffusion4j.io;

import java.io.BufferedOutputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;
import java.util.function.DoubleSupplier;
import java.util.zip.CRC32C;

/**
 * Writes a TensorBoard event file ({@code <dir>/events.out.tfevents.<unix seconds>.<hostname>}) with scalars and
 * PNG images, in pure Java: no protobuf library, no TensorFlow.
 *
 * <p>The file is a TFRecord stream: per record a little-endian uint64 length, the masked CRC32C of those 8 bytes,
 * the data, and the masked CRC32C of the data (mask: rotate right by 15 bits, add {@code 0xa282ead8}). Each record
 * is one serialized {@code tensorboard.Event} (tensorboard/compat/proto/event.proto): {@code wall_time = 1}
 * (double), {@code step = 2} (int64), and one of {@code file_version = 3} (string; the first record says
 * {@code "brain.Event:2"}), {@code summary = 5} or {@code session_log = 7}. A {@code Summary}
 * (summary.proto) is {@code repeated Value value = 1}; a {@code Value} is {@code tag = 1} and either
 * {@code simple_value = 2} (float) or {@code image = 4}, an {@code Image} of {@code height = 1}, {@code width = 2},
 * {@code colorspace = 3} (1 grey, 2 grey + alpha, 3 RGB, 4 RGBA) and {@code encoded_image_string = 4} (the PNG).
 *
 * <p>Records are buffered and reach the file on {@link #flush()} and {@link #close()} (and whenever the buffer
 * fills). Every write failure is an {@link IOException}; callers that cannot throw one (a listener) wrap it in an
 * {@link java.io.UncheckedIOException}. After {@link #close()}, writes throw {@link IllegalStateException}.
 * The methods are synchronized, so one writer may be shared by threads.
 *
 * <p>Several writers (a run and its resumptions) may share a directory: TensorBoard reads every event file in it
 * as one run. A name already taken (two writers in the same second) gets a {@code .1}, {@code .2}, ... suffix.
 */
public final class TensorBoardWriter implements AutoCloseable {
    /** The {@code file_version} of the first record, as TensorFlow and tensorboardX write it. */
    public static final String FILE_VERSION = "brain.Event:2";
    private static final int MASK_DELTA = 0xa282ead8;

    private final Path file;
    private final DoubleSupplier wallClock;
    private final CRC32C crc = new CRC32C();
    private OutputStream out;

    /** Creates {@code dir} (and its parents) if needed and starts a new event file there. */
    public TensorBoardWriter(Path dir) throws IOException {
        this(dir, () -> System.currentTimeMillis() / 1000.0);
    }

    /** As {@link #TensorBoardWriter(Path)}, with the wall clock (seconds since the epoch) of every event given. */
    TensorBoardWriter(Path dir, DoubleSupplier wallClock) throws IOException {
        this.wallClock = wallClock;
        Files.createDirectories(dir);
        String base = "events.out.tfevents." + (long) Math.floor(wallClock.getAsDouble()) + "." + hostname();
        Path f = dir.resolve(base);
        OutputStream o = null;
        for (int k = 1; o == null; k++) {
            try {
                o = Files.newOutputStream(f, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
            } catch (FileAlreadyExistsException taken) {
                if (k > 1000) throw taken;
                f = dir.resolve(base + "." + k);
            }
        }
        this.file = f;
        this.out = new BufferedOutputStream(o, 1 << 16);
        try {
            Proto e = event(0);
            e.string(3, FILE_VERSION);
            writeRecord(e.toByteArray());
            out.flush();   // a valid (if empty) event file from the start
        } catch (IOException | RuntimeException ex) {
            try {
                out.close();
            } catch (IOException suppressed) {
                ex.addSuppressed(suppressed);
            }
            throw ex;
        }
    }

    /** The event file being written. */
    public Path file() { return file; }

    /** Appends one scalar (stored as a 32-bit float, TensorBoard's {@code simple_value}). */
    public synchronized void scalar(String tag, long step, double value) throws IOException {
        Proto summary = new Proto();
        summary.message(1, scalarValue(tag, value));
        writeSummary(step, summary);
    }

    /**
     * Appends every numeric entry of {@code values} as a scalar, all in one event of step {@code step}; entries
     * whose value is not a {@link Number} (or is null) are skipped. The tag of an entry is {@code prefix + key}.
     */
    public synchronized void scalars(String prefix, long step, Map<String, ?> values) throws IOException {
        Proto summary = new Proto();
        int n = 0;
        for (Map.Entry<String, ?> en : values.entrySet()) {
            if (!(en.getValue() instanceof Number v)) continue;
            summary.message(1, scalarValue(prefix + en.getKey(), v.doubleValue()));
            n++;
        }
        if (n > 0) writeSummary(step, summary);
    }

    /**
     * Appends a PNG image of {@code width} x {@code height} pixels with {@code channels} channels (1 grey,
     * 2 grey + alpha, 3 RGB, 4 RGBA). The bytes are stored as they are; TensorBoard decodes them.
     */
    public synchronized void image(String tag, long step, byte[] png, int width, int height, int channels) throws IOException {
        if (width <= 0 || height <= 0) throw new IllegalArgumentException("image size " + width + "x" + height);
        if (channels < 1 || channels > 4) throw new IllegalArgumentException("channels must be 1 to 4, not " + channels);
        Proto image = new Proto();
        image.varint(1, height);
        image.varint(2, width);
        image.varint(3, channels);
        image.bytes(4, png);
        Proto value = new Proto();
        value.string(1, tag);
        value.message(4, image);
        Proto summary = new Proto();
        summary.message(1, value);
        writeSummary(step, summary);
    }

    /** Appends a PNG image, its size and channels read from its IHDR header. */
    public void image(String tag, long step, byte[] png) throws IOException {
        int[] whc = pngHeader(png);
        image(tag, step, png, whc[0], whc[1], whc[2]);
    }

    /** Appends the PNG file {@code png} as an image. */
    public void image(String tag, long step, Path png) throws IOException {
        image(tag, step, Files.readAllBytes(png));
    }

    /**
     * Marks a (re)start of training at {@code step} (a {@code SessionLog} with status START): TensorBoard then drops
     * the events it has read with a step of {@code step} or more, such as those a crashed or stopped run wrote after
     * its last checkpoint. A resumed run calls this with the resumed step + 1.
     */
    public synchronized void sessionStart(long step) throws IOException {
        Proto log = new Proto();
        log.varint(1, 1);   // SessionLog.SessionStatus.START
        Proto e = event(step);
        e.message(7, log);
        writeRecord(e.toByteArray());
    }

    /** Writes what is buffered to the file. */
    public synchronized void flush() throws IOException {
        open().flush();
    }

    /** Flushes and closes the file; closing again does nothing. */
    @Override public synchronized void close() throws IOException {
        if (out == null) return;
        OutputStream o = out;
        out = null;
        o.close();   // BufferedOutputStream.close flushes first
    }

    // ---- encoding ----

    private static Proto scalarValue(String tag, double value) {
        Proto v = new Proto();
        v.string(1, tag);
        v.float32(2, (float) value);
        return v;
    }

    private Proto event(long step) {
        Proto e = new Proto();
        e.float64(1, wallClock.getAsDouble());
        e.varint(2, step);
        return e;
    }

    private void writeSummary(long step, Proto summary) throws IOException {
        Proto e = event(step);
        e.message(5, summary);
        writeRecord(e.toByteArray());
    }

    private void writeRecord(byte[] data) throws IOException {
        OutputStream o = open();
        byte[] header = new byte[12];
        long n = data.length;
        for (int i = 0; i < 8; i++) header[i] = (byte) (n >>> (8 * i));
        putIntLE(header, 8, maskedCrc(header, 0, 8));
        byte[] footer = new byte[4];
        putIntLE(footer, 0, maskedCrc(data, 0, data.length));
        o.write(header);
        o.write(data);
        o.write(footer);
    }

    private int maskedCrc(byte[] b, int off, int len) {
        crc.reset();
        crc.update(b, off, len);
        int c = (int) crc.getValue();
        return ((c >>> 15) | (c << 17)) + MASK_DELTA;
    }

    private static void putIntLE(byte[] b, int off, int v) {
        for (int i = 0; i < 4; i++) b[off + i] = (byte) (v >>> (8 * i));
    }

    private OutputStream open() {
        if (out == null) throw new IllegalStateException("TensorBoard writer for " + file + " is closed");
        return out;
    }

    /** {width, height, channels} from a PNG's IHDR chunk. */
    static int[] pngHeader(byte[] png) {
        byte[] sig = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
        boolean ok = png.length >= 33;
        for (int i = 0; ok && i < 8; i++) ok = png[i] == sig[i];
        ok = ok && png[12] == 'I' && png[13] == 'H' && png[14] == 'D' && png[15] == 'R';
        if (!ok) throw new IllegalArgumentException("not a PNG (no PNG signature and IHDR chunk)");
        int w = intBE(png, 16), h = intBE(png, 20);
        int channels = switch (png[25]) {
            case 0 -> 1;        // greyscale
            case 2, 3 -> 3;     // RGB, palette
            case 4 -> 2;        // greyscale + alpha
            case 6 -> 4;        // RGBA
            default -> throw new IllegalArgumentException("unknown PNG colour type " + png[25]);
        };
        return new int[] {w, h, channels};
    }

    private static int intBE(byte[] b, int off) {
        return (b[off] & 0xff) << 24 | (b[off + 1] & 0xff) << 16 | (b[off + 2] & 0xff) << 8 | (b[off + 3] & 0xff);
    }

    /** The host name for the file name (letters, digits, '.', '-', '_' only); "localhost" if it cannot be had. */
    private static String hostname() {
        String h = System.getenv("HOSTNAME");
        if (h == null || h.isBlank()) {
            try {
                h = InetAddress.getLocalHost().getHostName();
            } catch (IOException | RuntimeException e) {
                h = null;
            }
        }
        if (h == null || h.isBlank()) h = "localhost";
        return h.replaceAll("[^A-Za-z0-9._-]", "_");
    }

    /** A protobuf message being encoded (wire types 0 varint, 1 64-bit, 2 length-delimited, 5 32-bit). */
    private static final class Proto {
        private final ByteArrayOutputStream buf = new ByteArrayOutputStream();

        private void tag(int field, int wireType) { rawVarint((long) field << 3 | wireType); }

        private void rawVarint(long v) {
            while ((v & ~0x7FL) != 0) {
                buf.write((int) (v & 0x7F) | 0x80);
                v >>>= 7;
            }
            buf.write((int) v);
        }

        /** int32/int64/enum: a negative value takes ten bytes (sign-extended to 64 bits), as protobuf encodes it. */
        void varint(int field, long v) {
            tag(field, 0);
            rawVarint(v);
        }

        void float64(int field, double v) {
            tag(field, 1);
            long bits = Double.doubleToRawLongBits(v);
            for (int i = 0; i < 8; i++) buf.write((int) (bits >>> (8 * i)));
        }

        void float32(int field, float v) {
            tag(field, 5);
            int bits = Float.floatToRawIntBits(v);
            for (int i = 0; i < 4; i++) buf.write(bits >>> (8 * i));
        }

        void bytes(int field, byte[] b) {
            tag(field, 2);
            rawVarint(b.length);
            buf.write(b, 0, b.length);
        }

        void string(int field, String s) { bytes(field, s.getBytes(StandardCharsets.UTF_8)); }

        void message(int field, Proto m) { bytes(field, m.toByteArray()); }

        byte[] toByteArray() { return buf.toByteArray(); }
    }
}
