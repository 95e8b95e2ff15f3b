package io.github.diffusion4j.io;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.diffusion4j.nn.Param;
import io.github.diffusion4j.nn.ParamStore;
import io.github.diffusion4j.tensor.DType;
import io.github.diffusion4j.tensor.Rounding;
import io.github.diffusion4j.tensor.Tensor;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The safetensors format (Hugging Face), as read by {@code safetensors.torch.load_file} and diffusers:
 * <pre>
 *   8 bytes   N, unsigned little-endian
 *   N bytes   UTF-8 JSON: {"__metadata__": {"key": "value", ...},
 *                          "name": {"dtype": "F32", "shape": [d0, d1, ...], "data_offsets": [begin, end]}, ...}
 *             padded with spaces so that 8 + N is a multiple of 8
 *   rest      tensor data, little-endian, row-major; offsets count from the first byte after the header
 * </pre>
 * Tensors are written in the order given (insertion order of the map; parameter order for a {@link ParamStore}),
 * back to back, all in one dtype: F32 by default (exact), or BF16 / F16 rounded to nearest, ties to even, by
 * {@link Rounding} (F16 overflows to infinity beyond 65504 and keeps subnormals). Reading accepts F32, F16, BF16 and F64 (converted to float) and refuses
 * anything malformed with a one-line {@link FileFormatException} naming the file and, where one is at fault, the
 * tensor: header length beyond the file, bad JSON, missing fields, unsupported dtype, offsets that overlap, leave
 * gaps, fall outside the data or disagree with the shape.
 *
 * <p>Files are written atomically (see {@link AtomicFiles}).
 */
public final class SafeTensors {
    /** Refuse headers larger than this (the reference implementation's limit is 100 MB). */
    static final long MAX_HEADER = 100_000_000L;
    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);

    private SafeTensors() {}

    /** One tensor: its shape and its values, row-major. */
    public record Entry(int[] shape, float[] data) {
        public Entry {
            long n = 1;
            for (int d : shape) {
                if (d < 0) throw new IllegalArgumentException("negative dimension in shape " + Arrays.toString(shape));
                n *= d;
            }
            if (n != data.length) {
                throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " needs " + n + " values, got " + data.length);
            }
        }
    }

    /** What a file holds: tensors in file order, and the string metadata. */
    public record Contents(Map<String, Entry> tensors, Map<String, String> metadata) {}

    /** Header description of one tensor (for inspecting a file without reading its data). */
    public record TensorInfo(String name, String dtype, int[] shape, long begin, long end) {
        public long numel() {
            long n = 1;
            for (int d : shape) n *= d;
            return n;
        }
    }

    /** The parsed header: tensors in file order, metadata, and where the data starts in the file. */
    public record Header(List<TensorInfo> tensors, Map<String, String> metadata, long dataStart, long dataLength) {}

    // ------------------------------------------------------------------ writing

    /** Writes {@code tensors} (as F32, in map order) and {@code metadata} to {@code file}, atomically. */
    public static void write(Path file, Map<String, Entry> tensors, Map<String, String> metadata) throws IOException {
        write(file, tensors, metadata, DType.F32);
    }

    /**
     * Writes {@code tensors} (in map order) as {@code dtype} and {@code metadata} to {@code file}, atomically. BF16 and
     * F16 values are rounded to nearest, ties to even ({@link Rounding}); reading the file back gives exactly
     * {@code Rounding.to(dtype, v)} for every value {@code v}.
     */
    public static void write(Path file, Map<String, Entry> tensors, Map<String, String> metadata, DType dtype) throws IOException {
        List<String> names = new ArrayList<>(tensors.keySet());
        byte[] header = header(tensors, metadata, dtype);
        AtomicFiles.write(file, ch -> {
            AtomicFiles.writeFully(ch, ByteBuffer.wrap(header));
            ByteBuffer buf = ByteBuffer.allocate(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
            int chunk = buf.capacity() / dtype.bytes();
            for (String n : names) {
                float[] data = tensors.get(n).data();
                for (int i = 0; i < data.length; i += chunk) {
                    buf.clear();
                    put(buf, data, i, Math.min(chunk, data.length - i), dtype);
                    AtomicFiles.writeFully(ch, buf.flip());
                }
            }
        });
    }

    /** The file bytes {@link #write} would produce (for small tensors and tests). */
    public static byte[] encode(Map<String, Entry> tensors, Map<String, String> metadata) {
        return encode(tensors, metadata, DType.F32);
    }

    /** The file bytes {@link #write(Path, Map, Map, DType)} would produce (for small tensors and tests). */
    public static byte[] encode(Map<String, Entry> tensors, Map<String, String> metadata, DType dtype) {
        long total = 0;
        for (Entry e : tensors.values()) total += (long) dtype.bytes() * e.data().length;
        byte[] header = header(tensors, metadata, dtype);
        ByteBuffer b = ByteBuffer.allocate(Math.toIntExact(header.length + total)).order(ByteOrder.LITTLE_ENDIAN);
        b.put(header);
        for (Entry e : tensors.values()) put(b, e.data(), 0, e.data().length, dtype);
        return b.array();
    }

    /** Puts {@code data[from, from + n)} as {@code dtype}, little-endian. */
    private static void put(ByteBuffer b, float[] data, int from, int n, DType dtype) {
        switch (dtype) {
            case F32 -> {
                b.asFloatBuffer().put(data, from, n);
                b.position(b.position() + 4 * n);
            }
            case BF16 -> { for (int i = from; i < from + n; i++) b.putShort(Rounding.toBf16Bits(data[i])); }
            case F16 -> { for (int i = from; i < from + n; i++) b.putShort(Rounding.toHalfBits(data[i])); }
        }
    }

    /** The 8-byte length plus the padded JSON header, offsets assigned contiguously in map order. */
    private static byte[] header(Map<String, Entry> tensors, Map<String, String> metadata, DType dtype) {
        ObjectNode root = JSON.createObjectNode();
        if (metadata != null && !metadata.isEmpty()) {
            ObjectNode meta = root.putObject("__metadata__");
            // sorted: a Map.of iterates in a per-JVM random order, and the same checkpoint should give the same bytes
            for (Map.Entry<String, String> e : new java.util.TreeMap<>(metadata).entrySet()) meta.put(e.getKey(), e.getValue());
        }
        long off = 0;
        for (Map.Entry<String, Entry> e : tensors.entrySet()) {
            String name = e.getKey();
            if (name.equals("__metadata__")) throw new IllegalArgumentException("'__metadata__' is not a valid tensor name");
            ObjectNode t = root.putObject(name);
            t.put("dtype", dtype.safetensorsName());
            ArrayNode shape = t.putArray("shape");
            for (int d : e.getValue().shape()) shape.add(d);
            long bytes = (long) dtype.bytes() * e.getValue().data().length;
            ArrayNode offsets = t.putArray("data_offsets");
            offsets.add(off);
            offsets.add(off + bytes);
            off += bytes;
        }
        byte[] json;
        try {
            json = JSON.writeValueAsBytes(root);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
        int padded = (json.length + 7) & ~7;
        ByteBuffer b = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(padded);
        b.put(json);
        while (b.hasRemaining()) b.put((byte) ' ');
        return b.array();
    }

    // ------------------------------------------------------------------ reading

    /** Reads and validates the header of {@code file} only. */
    public static Header readHeader(Path file) throws IOException {
        if (!Files.isRegularFile(file)) throw new FileFormatException("safetensors file " + file + " does not exist");
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            return readHeader(Source.of(ch), file.toString());
        }
    }

    /** Reads the whole file. */
    public static Contents read(Path file) throws IOException {
        if (!Files.isRegularFile(file)) throw new FileFormatException("safetensors file " + file + " does not exist");
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            return readAll(Source.of(ch), file.toString());
        }
    }

    /** Parses file bytes (see {@link #read}); {@code source} names them in messages. */
    public static Contents decode(byte[] bytes, String source) {
        try {
            return readAll(Source.of(bytes), source);
        } catch (IOException e) {
            throw new IllegalStateException(e); // not reachable for a byte array
        }
    }

    private static Contents readAll(Source src, String name) throws IOException {
        Header h = readHeader(src, name);
        Map<String, Entry> tensors = new LinkedHashMap<>();
        for (TensorInfo t : h.tensors()) tensors.put(t.name(), new Entry(t.shape(), readData(src, h.dataStart(), t, name)));
        return new Contents(Collections.unmodifiableMap(tensors), h.metadata());
    }

    private static Header readHeader(Source ch, String src) throws IOException {
        long size = ch.size();
        if (size < 8) throw new FileFormatException("truncated safetensors file " + src + ": " + size + " bytes, no header");
        ByteBuffer lb = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        readFully(ch, lb, 0);
        long n = lb.flip().getLong();
        if (n < 2 || n > size - 8) {
            throw new FileFormatException("safetensors file " + src + " is truncated or corrupt: header length "
                    + Long.toUnsignedString(n) + " does not fit in its " + size + " bytes");
        }
        if (n > MAX_HEADER) throw new FileFormatException("safetensors file " + src + " has a header of " + n + " bytes (too large)");
        ByteBuffer hb = ByteBuffer.allocate((int) n);
        readFully(ch, hb, 8);
        JsonNode root;
        try {
            root = JSON.readTree(new String(hb.array(), StandardCharsets.UTF_8));
        } catch (JsonProcessingException e) {
            throw new FileFormatException("safetensors file " + src + " has a bad JSON header: "
                    + e.getOriginalMessage().replace('\n', ' '), e);
        }
        if (root == null || !root.isObject()) throw new FileFormatException("safetensors file " + src + " has a bad JSON header: not an object");
        long dataStart = 8 + n, dataLength = size - dataStart;
        Map<String, String> meta = new LinkedHashMap<>();
        List<TensorInfo> tensors = new ArrayList<>();
        for (Map.Entry<String, JsonNode> f : root.properties()) {
            String name = f.getKey();
            JsonNode v = f.getValue();
            if (name.equals("__metadata__")) {
                if (!v.isObject()) throw new FileFormatException("safetensors file " + src + ": __metadata__ is not an object");
                for (Map.Entry<String, JsonNode> e : v.properties()) {
                    if (!e.getValue().isTextual()) {
                        throw new FileFormatException("safetensors file " + src + ": metadata value of '" + e.getKey() + "' is not a string");
                    }
                    meta.put(e.getKey(), e.getValue().asText());
                }
                continue;
            }
            tensors.add(tensorInfo(name, v, src));
        }
        // offsets must tile the data area exactly, as the reference implementation requires
        List<TensorInfo> byOffset = new ArrayList<>(tensors);
        byOffset.sort((a, b) -> Long.compare(a.begin(), b.begin()));
        long expect = 0;
        for (TensorInfo t : byOffset) {
            if (t.begin() != expect) {
                throw new FileFormatException("safetensors file " + src + ": tensor '" + t.name() + "' data_offsets ["
                        + t.begin() + ", " + t.end() + "] " + (t.begin() < expect ? "overlap the previous tensor" : "leave a gap after byte " + expect));
            }
            if (t.end() > dataLength) {
                throw new FileFormatException("safetensors file " + src + " is truncated: tensor '" + t.name() + "' data_offsets ["
                        + t.begin() + ", " + t.end() + "] lie outside the " + dataLength + " data bytes");
            }
            expect = t.end();
        }
        if (expect != dataLength) {
            throw new FileFormatException("safetensors file " + src + " has " + (dataLength - expect) + " bytes after the last tensor");
        }
        return new Header(Collections.unmodifiableList(tensors), Collections.unmodifiableMap(meta), dataStart, dataLength);
    }

    private static TensorInfo tensorInfo(String name, JsonNode v, String src) {
        String at = "safetensors file " + src + ": tensor '" + name + "'";
        if (!v.isObject()) throw new FileFormatException(at + " is not described by an object");
        JsonNode dtype = v.get("dtype"), shape = v.get("shape"), offsets = v.get("data_offsets");
        if (dtype == null || !dtype.isTextual()) throw new FileFormatException(at + " has no dtype");
        if (shape == null || !shape.isArray()) throw new FileFormatException(at + " has no shape");
        if (offsets == null || !offsets.isArray() || offsets.size() != 2) throw new FileFormatException(at + " has no data_offsets [begin, end]");
        int width = dtypeSize(dtype.asText());
        if (width == 0) {
            throw new FileFormatException(at + " has unsupported dtype " + dtype.asText() + " (F32, F16, BF16 or F64 expected)");
        }
        int[] dims = new int[shape.size()];
        long numel = 1;
        for (int i = 0; i < dims.length; i++) {
            JsonNode d = shape.get(i);
            if (!d.canConvertToInt() || !d.isIntegralNumber() || d.asInt() < 0) throw new FileFormatException(at + " has a bad shape " + shape);
            dims[i] = d.asInt();
            numel = dims[i] != 0 && numel > Long.MAX_VALUE / 16 / dims[i] ? Long.MAX_VALUE / 16 : numel * dims[i];
        }
        JsonNode b = offsets.get(0), e = offsets.get(1);
        if (!b.isIntegralNumber() || !e.isIntegralNumber() || !b.canConvertToLong() || !e.canConvertToLong()
                || b.asLong() < 0 || e.asLong() < b.asLong()) {
            throw new FileFormatException(at + " has bad data_offsets " + offsets);
        }
        long bytes = e.asLong() - b.asLong();
        if (numel > Integer.MAX_VALUE) throw new FileFormatException(at + " is too large (" + numel + " elements)");
        if (bytes != numel * width) {
            throw new FileFormatException(at + " has data_offsets " + offsets + " holding " + bytes + " bytes, but shape "
                    + Arrays.toString(dims) + " of " + dtype.asText() + " needs " + numel * width);
        }
        return new TensorInfo(name, dtype.asText(), dims, b.asLong(), e.asLong());
    }

    private static int dtypeSize(String dtype) {
        switch (dtype) {
            case "F32": return 4;
            case "F16":
            case "BF16": return 2;
            case "F64": return 8;
            default: return 0;
        }
    }

    private static float[] readData(Source ch, long dataStart, TensorInfo t, String src) throws IOException {
        int n = (int) t.numel();
        float[] out = new float[n];
        int width = dtypeSize(t.dtype());
        int chunkElems = Math.max(1, (1 << 20) / width);
        ByteBuffer buf = ByteBuffer.allocate(chunkElems * width).order(ByteOrder.LITTLE_ENDIAN);
        long pos = dataStart + t.begin();
        for (int i = 0; i < n; ) {
            int k = Math.min(n - i, chunkElems);
            buf.clear().limit(k * width);
            readFully(ch, buf, pos);
            buf.flip();
            switch (t.dtype()) {
                case "F32" -> buf.asFloatBuffer().get(out, i, k);
                case "F64" -> { for (int j = 0; j < k; j++) out[i + j] = (float) buf.getDouble(); }
                case "F16" -> { for (int j = 0; j < k; j++) out[i + j] = Rounding.halfToFloat(buf.getShort()); }
                case "BF16" -> { for (int j = 0; j < k; j++) out[i + j] = Rounding.fromBf16Bits(buf.getShort()); }
                default -> throw new FileFormatException("safetensors file " + src + ": tensor '" + t.name() + "' has unsupported dtype " + t.dtype());
            }
            pos += (long) k * width;
            i += k;
        }
        return out;
    }

    private static void readFully(Source ch, ByteBuffer b, long pos) throws IOException {
        while (b.hasRemaining()) {
            int r = ch.read(b, pos);
            if (r < 0) throw new java.io.EOFException("unexpected end of file");
            pos += r;
        }
    }

    // ------------------------------------------------------------------ parameter stores

    /** Saves the values of {@code store}'s parameters under their names. */
    public static void save(Path file, ParamStore store, Map<String, String> metadata) throws IOException {
        save(file, store, store.values(), metadata);
    }

    /**
     * Saves a flat buffer laid out like {@code layout}'s parameters (its values, an EMA copy, AdamW moments) as
     * one tensor per parameter, named and shaped like the parameters. One device-to-host copy.
     */
    public static void save(Path file, ParamStore layout, Tensor flat, Map<String, String> metadata) throws IOException {
        save(file, layout, flat, metadata, DType.F32);
    }

    /** As {@link #save(Path, ParamStore, Tensor, Map)}, with the values written as {@code dtype} (rounded to nearest even). */
    public static void save(Path file, ParamStore layout, Tensor flat, Map<String, String> metadata, DType dtype) throws IOException {
        write(file, entries(layout, flat, ""), metadata, dtype);
    }

    /**
     * Loads {@code file} into {@code store}'s parameter values and returns the file's metadata. The file must hold
     * exactly the store's parameters, with the same shapes.
     */
    public static Map<String, String> load(Path file, ParamStore store) throws IOException {
        return load(file, store, store.values());
    }

    /**
     * Loads {@code file} into a flat buffer laid out like {@code layout} (see {@link #save(Path, ParamStore, Tensor, Map)});
     * the file must hold exactly the parameters, with the same shapes. Returns the file's metadata.
     */
    public static Map<String, String> load(Path file, ParamStore layout, Tensor flat) throws IOException {
        Contents c = read(file);
        for (String name : c.tensors().keySet()) {
            boolean known = layout.params().stream().anyMatch(p -> p.name().equals(name));
            if (!known) throw new FileFormatException("safetensors file " + file + " has tensor '" + name + "', which the model does not have");
        }
        copyInto(c, file.toString(), layout, flat, "");
        return c.metadata();
    }

    /**
     * The tensors of a flat buffer laid out like {@code layout}, named {@code prefix + parameter name}: for
     * files that hold several buffers (e.g. prefixes {@code "m."} and {@code "v."} for AdamW moments). One
     * device-to-host copy.
     */
    public static Map<String, Entry> entries(ParamStore layout, Tensor flat, String prefix) {
        checkFlat(layout, flat);
        float[] host = flat.toArray();
        Map<String, Entry> tensors = new LinkedHashMap<>();
        for (Param p : layout.params()) {
            int off = Math.toIntExact(p.offset());
            tensors.put(prefix + p.name(), new Entry(p.shape().dims(), Arrays.copyOfRange(host, off, off + p.shape().size())));
        }
        return tensors;
    }

    /**
     * Copies the tensors {@code prefix + parameter name} of {@code contents} into a flat buffer laid out like
     * {@code layout} (one host-to-device copy; alignment padding is zeroed). Every parameter must be present with
     * its shape; other tensors are ignored. {@code source} names the file in messages.
     */
    public static void copyInto(Contents contents, String source, ParamStore layout, Tensor flat, String prefix) {
        checkFlat(layout, flat);
        float[] host = new float[Math.toIntExact(layout.flatSize())];
        for (Param p : layout.params()) {
            String name = prefix + p.name();
            Entry e = contents.tensors().get(name);
            if (e == null) throw new FileFormatException("safetensors file " + source + " lacks tensor '" + name + "'");
            if (!Arrays.equals(e.shape(), p.shape().dims())) {
                throw new FileFormatException("tensor '" + name + "' in " + source + " has shape " + Arrays.toString(e.shape())
                        + " but the model expects " + p.shape());
            }
            float[] d = e.data();
            for (int i = 0; i < d.length; i++) {
                if (!Float.isFinite(d[i])) {
                    throw new FileFormatException("tensor '" + name + "' in " + source + " holds " + d[i] + " at element "
                            + i + ": refusing non-finite weights");
                }
            }
            System.arraycopy(d, 0, host, Math.toIntExact(p.offset()), d.length);
        }
        // a tensor of this prefix that the model does not have: another model's file, or a corrupted one
        for (String name : contents.tensors().keySet()) {
            if (!name.startsWith(prefix)) continue;
            String param = name.substring(prefix.length());
            if (!layout.has(param)) {
                throw new FileFormatException("safetensors file " + source + " has tensor '" + name
                        + "', which the model has no parameter for");
            }
        }
        flat.backend().copyFromHost(flat, host, 0);
    }

    private static void checkFlat(ParamStore layout, Tensor flat) {
        if (flat.numel() != layout.flatSize()) {
            throw new IllegalArgumentException("flat buffer has " + flat.numel() + " elements, the parameters need " + layout.flatSize());
        }
    }

    /** Positional reads from a file or a byte array, so {@link #decode} shares the file-reading code. */
    private interface Source {
        long size() throws IOException;

        /** Reads up to {@code dst.remaining()} bytes at {@code position}; -1 at the end. */
        int read(ByteBuffer dst, long position) throws IOException;

        static Source of(FileChannel ch) {
            return new Source() {
                @Override public long size() throws IOException { return ch.size(); }

                @Override public int read(ByteBuffer dst, long position) throws IOException { return ch.read(dst, position); }
            };
        }

        static Source of(byte[] data) {
            return new Source() {
                @Override public long size() { return data.length; }

                @Override public int read(ByteBuffer dst, long position) {
                    if (position >= data.length) return -1;
                    int k = (int) Math.min(dst.remaining(), data.length - position);
                    dst.put(data, (int) position, k);
                    return k;
                }
            };
        }
    }
}
