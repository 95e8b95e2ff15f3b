package io.github.diffusion4j.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.diffusion4j.backend.cpu.CpuBackend;
import io.github.diffusion4j.nn.Init;
import io.github.diffusion4j.nn.ParamStore;
import io.github.diffusion4j.tensor.DType;
import io.github.diffusion4j.tensor.Rounding;
import io.github.diffusion4j.tensor.Shape;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

class SafeTensorsTest {
    @TempDir Path dir;

    static Map<String, SafeTensors.Entry> sample() {
        Map<String, SafeTensors.Entry> m = new LinkedHashMap<>();
        m.put("z.weight", new SafeTensors.Entry(new int[] {2, 3}, new float[] {1, 2, 3, -4, 5.5f, Float.MIN_VALUE}));
        m.put("a.bias", new SafeTensors.Entry(new int[] {4}, new float[] {0.1f, -0.2f, Float.MAX_VALUE, -0f}));
        m.put("scalar", new SafeTensors.Entry(new int[] {}, new float[] {42}));
        m.put("empty", new SafeTensors.Entry(new int[] {0, 5}, new float[0]));
        return m;
    }

    @Test void roundTripAndIndependentHeaderParse() throws IOException {
        Path f = dir.resolve("m.safetensors");
        Map<String, String> meta = Map.of("format", "pt", "step", "1000");
        SafeTensors.write(f, sample(), meta);
        SafeTensors.Contents c = SafeTensors.read(f);
        assertEquals(new ArrayList<>(sample().keySet()), new ArrayList<>(c.tensors().keySet()), "insertion order kept");
        for (Map.Entry<String, SafeTensors.Entry> e : sample().entrySet()) {
            assertArrayEquals(e.getValue().shape(), c.tensors().get(e.getKey()).shape());
            assertArrayEquals(e.getValue().data(), c.tensors().get(e.getKey()).data());
        }
        assertEquals(meta, c.metadata());
        assertArrayEquals(Files.readAllBytes(f), SafeTensors.encode(sample(), meta));

        // independent parse of the bytes per the specification
        byte[] b = Files.readAllBytes(f);
        long n = ByteBuffer.wrap(b, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        assertEquals(0, (8 + n) % 8, "header padded to a multiple of 8");
        String json = new String(b, 8, (int) n, StandardCharsets.UTF_8);
        assertEquals(json.strip(), json.replaceAll(" +$", ""), "padding is trailing spaces");
        JsonNode root = new ObjectMapper().readTree(json);
        assertEquals("pt", root.get("__metadata__").get("format").asText());
        long expectBegin = 0;
        List<String> names = new ArrayList<>();
        for (Iterator<String> it = root.fieldNames(); it.hasNext(); ) {
            String name = it.next();
            if (name.equals("__metadata__")) continue;
            names.add(name);
            JsonNode t = root.get(name);
            assertEquals("F32", t.get("dtype").asText());
            SafeTensors.Entry e = sample().get(name);
            assertEquals(e.shape().length, t.get("shape").size());
            for (int i = 0; i < e.shape().length; i++) assertEquals(e.shape()[i], t.get("shape").get(i).asInt());
            long begin = t.get("data_offsets").get(0).asLong(), end = t.get("data_offsets").get(1).asLong();
            assertEquals(expectBegin, begin, "contiguous offsets");
            assertEquals(4L * e.data().length, end - begin);
            ByteBuffer data = ByteBuffer.wrap(b, (int) (8 + n + begin), (int) (end - begin)).order(ByteOrder.LITTLE_ENDIAN);
            for (float v : e.data()) assertEquals(Float.floatToIntBits(v), Float.floatToIntBits(data.getFloat()));
            expectBegin = end;
        }
        assertEquals(new ArrayList<>(sample().keySet()), names);
        assertEquals(b.length, 8 + n + expectBegin, "no trailing bytes");
    }

    /** A file assembled byte by byte as the specification describes, with F16, BF16 and F64 tensors too. */
    static byte[] handBuilt(String header, byte[] data) {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h).put(data);
        return b.array();
    }

    /** The same tensors and metadata give the same bytes, whatever order the metadata map iterates in. */
    @Test void theBytesDoNotDependOnTheMetadataMapsOrder() {
        Map<String, SafeTensors.Entry> t = new java.util.LinkedHashMap<>();
        t.put("w", new SafeTensors.Entry(new int[] {2}, new float[] {1f, 2f}));
        Map<String, String> m1 = new java.util.LinkedHashMap<>(), m2 = new java.util.LinkedHashMap<>();
        for (String k : List.of("step", "format", "model")) m1.put(k, k + "-value");
        for (String k : List.of("model", "step", "format")) m2.put(k, k + "-value");
        assertArrayEquals(SafeTensors.encode(t, m1), SafeTensors.encode(t, m2));
    }

    @Test void readsAHandBuiltFile() throws IOException {
        String header = "{\"__metadata__\":{\"format\":\"pt\"},"
                + "\"w\":{\"dtype\":\"F32\",\"shape\":[2,1],\"data_offsets\":[0,8]},"
                + "\"h\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[8,14]},"
                + "\"bf\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[14,16]},"
                + "\"d\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[16,24]}}";
        ByteBuffer d = ByteBuffer.allocate(24).order(ByteOrder.LITTLE_ENDIAN);
        d.putFloat(1.5f).putFloat(-2f);
        d.putShort((short) 0x3C00).putShort((short) 0xB800).putShort((short) 0x0001); // 1, -0.5, smallest subnormal
        d.putShort((short) 0x4049); // bf16 of 3.140625
        d.putDouble(0.25);
        Path f = dir.resolve("hand.safetensors");
        Files.write(f, handBuilt(header, d.array()));
        SafeTensors.Contents c = SafeTensors.read(f);
        assertEquals(List.of("w", "h", "bf", "d"), new ArrayList<>(c.tensors().keySet()));
        assertArrayEquals(new int[] {2, 1}, c.tensors().get("w").shape());
        assertArrayEquals(new float[] {1.5f, -2f}, c.tensors().get("w").data());
        assertArrayEquals(new float[] {1f, -0.5f, 0x1p-24f}, c.tensors().get("h").data());
        assertArrayEquals(new float[] {3.140625f}, c.tensors().get("bf").data());
        assertArrayEquals(new float[] {0.25f}, c.tensors().get("d").data());
        assertEquals(Map.of("format", "pt"), c.metadata());
        SafeTensors.Header h = SafeTensors.readHeader(f);
        assertEquals("F16", h.tensors().get(1).dtype());
        assertEquals(8 + header.length(), h.dataStart());
    }

    @Test void halfPrecisionConversionIsExact() {
        assertEquals(65504f, Rounding.halfToFloat((short) 0x7BFF));
        assertEquals(Float.POSITIVE_INFINITY, Rounding.halfToFloat((short) 0x7C00));
        assertTrue(Float.isNaN(Rounding.halfToFloat((short) 0x7E00)));
        assertEquals(-0f, Rounding.halfToFloat((short) 0x8000));
        assertEquals(0x1p-14f, Rounding.halfToFloat((short) 0x0400));
    }

    /** Values that exercise the rounding: ties, subnormals, F16 overflow, infinities, NaN, plus random ones. */
    static Map<String, SafeTensors.Entry> roundingSample() {
        float[] special = {0f, -0f, 1f, 1f + 0x1p-8f, 1f + 3 * 0x1p-8f, 1f + 0x1p-11f, 1f + 3 * 0x1p-11f, 3.14159265f,
                -2.71828f, 65504f, 65519f, 65520f, -65520f, 1e10f, Float.MAX_VALUE, Float.MIN_VALUE, 0x1p-25f, 3 * 0x1p-25f,
                0x1p-24f, 1023.5f * 0x1p-24f, 1e-30f, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN};
        java.util.SplittableRandom r = new java.util.SplittableRandom(11);
        float[] random = new float[3 * 5 * 7];
        for (int i = 0; i < random.length; i++) random[i] = (float) (r.nextGaussian() * Math.pow(10, r.nextInt(-6, 6)));
        float[] big = new float[700_000];      // more than one 1 MiB write chunk in every dtype
        for (int i = 0; i < big.length; i++) big[i] = (float) r.nextGaussian();
        Map<String, SafeTensors.Entry> m = new LinkedHashMap<>();
        m.put("special", new SafeTensors.Entry(new int[] {special.length}, special));
        m.put("random", new SafeTensors.Entry(new int[] {3, 5, 7}, random));
        m.put("scalar", new SafeTensors.Entry(new int[] {}, new float[] {0.1f}));
        m.put("empty", new SafeTensors.Entry(new int[] {0, 5}, new float[0]));
        m.put("big", new SafeTensors.Entry(new int[] {700, 1000}, big));
        return m;
    }

    /** Writes in {@code dtype}, reads back, and checks values, header and size independently of the reader. */
    private void roundTripIn(DType dtype) throws IOException {
        Path f = dir.resolve("m-" + dtype + ".safetensors");
        Map<String, SafeTensors.Entry> t = roundingSample();
        Map<String, String> meta = Map.of("format", "pt", "step", "3");
        SafeTensors.write(f, t, meta, dtype);
        byte[] b = Files.readAllBytes(f);
        assertArrayEquals(b, SafeTensors.encode(t, meta, dtype), "encode gives the file's bytes");

        SafeTensors.Contents c = SafeTensors.read(f);
        assertEquals(new ArrayList<>(t.keySet()), new ArrayList<>(c.tensors().keySet()));
        assertEquals(meta, c.metadata());
        long numel = 0;
        for (Map.Entry<String, SafeTensors.Entry> e : t.entrySet()) {
            float[] want = e.getValue().data(), got = c.tensors().get(e.getKey()).data();
            assertArrayEquals(e.getValue().shape(), c.tensors().get(e.getKey()).shape());
            assertEquals(want.length, got.length);
            for (int i = 0; i < want.length; i++) {
                float w = Rounding.to(dtype, want[i]);
                int idx = i;
                assertEquals(Float.floatToIntBits(w), Float.floatToIntBits(got[i]),
                        () -> e.getKey() + "[" + idx + "] = " + want[idx] + " read back as " + got[idx] + ", expected " + w);
            }
            numel += want.length;
        }
        // the header, parsed independently of SafeTensors, names the dtype; the data is dtype.bytes() per element
        long n = ByteBuffer.wrap(b, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        JsonNode root = new ObjectMapper().readTree(new String(b, 8, (int) n, StandardCharsets.UTF_8));
        long expectBegin = 0;
        for (Map.Entry<String, SafeTensors.Entry> e : t.entrySet()) {
            JsonNode d = root.get(e.getKey());
            assertEquals(dtype.safetensorsName(), d.get("dtype").asText(), e.getKey());
            assertEquals(expectBegin, d.get("data_offsets").get(0).asLong());
            expectBegin += (long) dtype.bytes() * e.getValue().data().length;
            assertEquals(expectBegin, d.get("data_offsets").get(1).asLong());
        }
        assertEquals(8 + n + (long) dtype.bytes() * numel, b.length, "file size");
        assertEquals(8 + n + (long) dtype.bytes() * numel, Files.size(f));
        for (SafeTensors.TensorInfo i : SafeTensors.readHeader(f).tensors()) assertEquals(dtype.safetensorsName(), i.dtype());
        if (dtype != DType.F32) {
            // the raw bits of the first tensor are Rounding's, little-endian
            ByteBuffer data = ByteBuffer.wrap(b, (int) (8 + n), b.length - (int) (8 + n)).order(ByteOrder.LITTLE_ENDIAN);
            for (float v : t.get("special").data()) {
                short want = dtype == DType.BF16 ? Rounding.toBf16Bits(v) : Rounding.toHalfBits(v);
                assertEquals(want, data.getShort(), "bits of " + v);
            }
        }
    }

    @Test void bf16RoundTrip() throws IOException { roundTripIn(DType.BF16); }

    @Test void f16RoundTrip() throws IOException { roundTripIn(DType.F16); }

    @Test void f32RoundTripIsExactAndTheDefault() throws IOException {
        roundTripIn(DType.F32);
        Path a = dir.resolve("default.safetensors"), b = dir.resolve("f32.safetensors");
        SafeTensors.write(a, sample(), Map.of("k", "v"));
        SafeTensors.write(b, sample(), Map.of("k", "v"), DType.F32);
        assertArrayEquals(Files.readAllBytes(a), Files.readAllBytes(b));
        assertArrayEquals(Files.readAllBytes(a), SafeTensors.encode(sample(), Map.of("k", "v")));
    }

    /** A reduced-precision file differs from the F32 one exactly where rounding changed a value. */
    @Test void reducedPrecisionFilesReallyRound() {
        Map<String, SafeTensors.Entry> t = Map.of("w", new SafeTensors.Entry(new int[] {3}, new float[] {1f + 0x1p-12f, 65519f, 0.1f}));
        assertArrayEquals(new float[] {1f, 65536f, 0.10009765625f},
                SafeTensors.decode(SafeTensors.encode(t, Map.of(), DType.BF16), "bf16").tensors().get("w").data());
        assertArrayEquals(new float[] {1f, 65504f, 0.0999755859375f},
                SafeTensors.decode(SafeTensors.encode(t, Map.of(), DType.F16), "f16").tensors().get("w").data());
    }

    @Test void paramStoreSavesInBf16AndLoadsBack() throws IOException {
        Path f = dir.resolve("params-bf16.safetensors");
        try (ParamStore a = store(Shape.of(2, 3, 3, 3), 1); ParamStore b = store(Shape.of(2, 3, 3, 3), 2)) {
            SafeTensors.save(f, a, a.values(), Map.of("preset", "tiny"), DType.BF16);
            assertEquals("BF16", SafeTensors.readHeader(f).tensors().get(0).dtype());
            SafeTensors.load(f, b);
            float[] want = a.values().toArray(), got = b.values().toArray();
            for (int i = 0; i < want.length; i++) assertEquals(Rounding.bf16(want[i]), got[i], "element " + i);
        }
    }

    private String refused(byte[] bytes) throws IOException {
        Path f = dir.resolve("bad.safetensors");
        Files.write(f, bytes);
        FileFormatException e = assertThrows(FileFormatException.class, () -> SafeTensors.read(f));
        assertTrue(e.getMessage().contains(f.toString()), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        return e.getMessage();
    }

    @Test void refusesCorruptAndTruncatedFiles() throws IOException {
        byte[] good = SafeTensors.encode(sample(), Map.of());
        assertTrue(refused(new byte[] {1, 2, 3}).contains("no header"));
        assertTrue(refused(Arrays.copyOf(good, 40)).contains("header length"));
        assertTrue(refused(Arrays.copyOf(good, good.length - 3)).contains("truncated"));
        assertTrue(refused(Arrays.copyOf(good, good.length + 4)).contains("4 bytes after the last tensor"));
        String F = "\"dtype\":\"F32\",";
        assertTrue(refused(handBuilt("{\"a\": {" + F + "\"shape\":[2]", new byte[8])).contains("bad JSON header"));
        assertTrue(refused(handBuilt("[1, 2]  ", new byte[0])).contains("not an object"));
        assertTrue(refused(handBuilt("{\"a\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", new byte[8]))
                .contains("tensor 'a' has unsupported dtype I64"));
        String m = refused(handBuilt("{\"a\":{" + F + "\"shape\":[3],\"data_offsets\":[0,8]}}", new byte[8]));
        assertTrue(m.contains("tensor 'a'") && m.contains("needs 12"), m);
        m = refused(handBuilt("{\"a\":{" + F + "\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{" + F + "\"shape\":[2],\"data_offsets\":[4,12]}}", new byte[12]));
        assertTrue(m.contains("tensor 'b'") && m.contains("overlap"), m);
        m = refused(handBuilt("{\"a\":{" + F + "\"shape\":[2],\"data_offsets\":[8,16]}}", new byte[16]));
        assertTrue(m.contains("gap"), m);
        m = refused(handBuilt("{\"a\":{" + F + "\"shape\":[4],\"data_offsets\":[0,16]}}", new byte[8]));
        assertTrue(m.contains("tensor 'a'") && m.contains("outside"), m);
        assertTrue(refused(handBuilt("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", new byte[4])).contains("no dtype"));
        assertTrue(refused(handBuilt("{\"__metadata__\":{\"k\":1}}", new byte[0])).contains("not a string"));
        assertTrue(refused(handBuilt("{\"a\":{" + F + "\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{" + F + "\"shape\":[1],\"data_offsets\":[0,4]}}", new byte[4]))
                .contains("bad JSON header"));
        FileFormatException e = assertThrows(FileFormatException.class, () -> SafeTensors.read(dir.resolve("missing.safetensors")));
        assertTrue(e.getMessage().contains("missing.safetensors"));
    }

    static ParamStore store(Shape weight, long seed) {
        ParamStore s = new ParamStore();
        ParamStore.Scope conv = s.root().child("conv");
        conv.param("weight", weight, Init.uniform(1));
        conv.paramNoDecay("bias", Shape.of(2), Init.uniform(1));
        s.root().child("out").param("weight", Shape.of(3, 2), Init.uniform(1));
        s.allocate(CpuBackend.get(), seed);
        return s;
    }

    @Test void paramStoreRoundTripAndRefusals() throws IOException {
        Path f = dir.resolve("params.safetensors");
        try (ParamStore a = store(Shape.of(2, 3, 3, 3), 1); ParamStore b = store(Shape.of(2, 3, 3, 3), 2)) {
            assertFalse(Arrays.equals(a.values().toArray(), b.values().toArray()));
            SafeTensors.save(f, a, Map.of("preset", "tiny"));
            assertEquals(List.of("conv.weight", "conv.bias", "out.weight"),
                    SafeTensors.readHeader(f).tensors().stream().map(SafeTensors.TensorInfo::name).toList());
            Map<String, String> meta = SafeTensors.load(f, b);
            assertEquals("tiny", meta.get("preset"));
            assertArrayEquals(a.values().toArray(), b.values().toArray());
            // a flat buffer of the same layout (e.g. EMA weights)
            try (var ema = CpuBackend.get().zeros(Shape.of((int) a.flatSize()))) {
                SafeTensors.load(f, a, ema);
                assertArrayEquals(a.values().toArray(), ema.toArray());
            }
        }
        try (ParamStore other = store(Shape.of(2, 3, 1, 1), 1)) {
            FileFormatException e = assertThrows(FileFormatException.class, () -> SafeTensors.load(f, other));
            assertTrue(e.getMessage().contains("'conv.weight'") && e.getMessage().contains("[2, 3, 3, 3]")
                    && e.getMessage().contains("[2, 3, 1, 1]") && e.getMessage().contains(f.toString()), e.getMessage());
        }
        Map<String, SafeTensors.Entry> partial = new LinkedHashMap<>(SafeTensors.read(f).tensors());
        partial.remove("conv.bias");
        SafeTensors.write(f, partial, Map.of());
        try (ParamStore s = store(Shape.of(2, 3, 3, 3), 1)) {
            FileFormatException e = assertThrows(FileFormatException.class, () -> SafeTensors.load(f, s));
            assertTrue(e.getMessage().contains("lacks tensor 'conv.bias'"), e.getMessage());
            partial.put("conv.bias", new SafeTensors.Entry(new int[] {2}, new float[2]));
            partial.put("extra", new SafeTensors.Entry(new int[] {1}, new float[1]));
            SafeTensors.write(f, partial, Map.of());
            e = assertThrows(FileFormatException.class, () -> SafeTensors.load(f, s));
            assertTrue(e.getMessage().contains("'extra'"), e.getMessage());
        }
    }

    @Test void severalBuffersInOneFileWithPrefixes() throws IOException {
        Path f = dir.resolve("opt.safetensors");
        try (ParamStore a = store(Shape.of(2, 3, 3, 3), 1); ParamStore b = store(Shape.of(2, 3, 3, 3), 2)) {
            Map<String, SafeTensors.Entry> all = new LinkedHashMap<>(SafeTensors.entries(a, a.values(), "m."));
            all.putAll(SafeTensors.entries(b, b.values(), "v."));
            SafeTensors.write(f, all, Map.of("step", "7"));
            SafeTensors.Contents c = SafeTensors.read(f);
            assertTrue(c.tensors().containsKey("v.conv.bias"));
            try (var m = CpuBackend.get().zeros(Shape.of((int) a.flatSize())); var v = CpuBackend.get().zeros(Shape.of((int) a.flatSize()))) {
                SafeTensors.copyInto(c, f.toString(), a, m, "m.");
                SafeTensors.copyInto(c, f.toString(), a, v, "v.");
                assertArrayEquals(a.values().toArray(), m.toArray());
                assertArrayEquals(b.values().toArray(), v.toArray());
                FileFormatException e = assertThrows(FileFormatException.class, () -> SafeTensors.copyInto(c, f.toString(), a, m, "ema."));
                assertTrue(e.getMessage().contains("lacks tensor 'ema.conv.weight'"), e.getMessage());
            }
        }
    }

    @Test void writesAtomically() throws IOException {
        Path f = dir.resolve("atomic.safetensors");
        SafeTensors.write(f, sample(), Map.of("v", "1"));
        SafeTensors.write(f, sample(), Map.of("v", "2"));
        assertEquals("2", SafeTensors.read(f).metadata().get("v"));
        byte[] before = Files.readAllBytes(f);
        assertThrows(IOException.class, () -> AtomicFiles.write(f, ch -> {
            ch.write(ByteBuffer.wrap(new byte[] {1, 2, 3}));
            throw new IOException("disk on fire");
        }));
        assertArrayEquals(before, Files.readAllBytes(f), "target untouched by a failed write");
        try (Stream<Path> s = Files.list(dir)) {
            assertEquals(List.of(f), s.toList(), "no temporary files left");
        }
    }
}
