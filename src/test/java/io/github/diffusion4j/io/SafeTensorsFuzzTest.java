package io.github.diffusion4j.io;

import io.github.diffusion4j.tensor.DType;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Malformed safetensors bytes (a few hundred generated cases: flipped bytes, truncations, hostile header lengths,
 * header edits of dtypes, shapes and offsets): the reader either reads them or refuses them with a
 * FileFormatException; never another exception, an OutOfMemoryError or a hang.
 */
class SafeTensorsFuzzTest {
    private static final String[] HOSTILE = {"-1", "0", "1", "2147483647", "2147483648", "9223372036854775807",
            "-9223372036854775808", "1e308", "16.5", "null", "\"x\"", "[]", "{}", "[1,2]", "[0,-4]", "[4,0]", "[0,99999999999]",
            "\"F32\"", "\"BF16\"", "\"F16\"", "\"F64\"", "\"I64\"", "\"\""};

    @Test void malformedInputsAreRefusedCleanly() {
        Map<String, SafeTensors.Entry> t = new LinkedHashMap<>();
        t.put("a.weight", new SafeTensors.Entry(new int[] {3, 4}, new float[12]));
        t.put("b", new SafeTensors.Entry(new int[] {5}, new float[] {1, 2, 3, 4, 5}));
        byte[] good = SafeTensors.encode(t, Map.of("format", "x"), DType.F32);
        byte[] half = SafeTensors.encode(t, Map.of(), DType.BF16);
        long headerLen = ByteBuffer.wrap(good).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        String header = new String(good, 8, (int) headerLen, StandardCharsets.UTF_8);
        SplittableRandom rng = new SplittableRandom(2026);
        int[] counts = new int[2];
        assertTimeoutPreemptively(Duration.ofSeconds(60), () -> {
            for (int k = 0; k < 150; k++) {                         // flipped bytes, anywhere
                byte[] b = (k % 2 == 0 ? good : half).clone();
                for (int f = 0; f <= k % 4; f++) b[rng.nextInt(b.length)] ^= (byte) (1 << rng.nextInt(8));
                check(b, counts);
            }
            for (int cut = 0; cut < good.length; cut += 7) check(java.util.Arrays.copyOf(good, cut), counts);   // truncated
            for (long len : new long[] {-1, 0, 1, 7, headerLen - 1, headerLen + 1, good.length, 1L << 31, 1L << 40, Long.MAX_VALUE}) {
                byte[] b = good.clone();
                ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(0, len);
                check(b, counts);
            }
            for (String field : new String[] {"dtype", "shape", "data_offsets"}) {   // one header value replaced
                for (String v : HOSTILE) {
                    check(withHeader(good, headerLen, replaceFirst(header, field, v)), counts);
                }
            }
        });
        System.out.printf("safetensors fuzz: %d cases read, %d refused with FileFormatException%n", counts[0], counts[1]);
    }

    private static void check(byte[] b, int[] counts) {
        try {
            SafeTensors.decode(b, "fuzz");
            counts[0]++;
        } catch (FileFormatException e) {
            counts[1]++;
            if (e.getMessage() == null || e.getMessage().contains("\n")) fail("not a one-line message: " + e.getMessage());
        } catch (Throwable e) {
            fail("malformed input gave " + e + " instead of a FileFormatException", e);
        }
    }

    /** The header with the first value of {@code field} replaced by raw JSON {@code value}. */
    private static String replaceFirst(String header, String field, String value) {
        int i = header.indexOf("\"" + field + "\":");
        if (i < 0) fail("no " + field + " in " + header);
        int start = i + field.length() + 3;
        int end = start;
        if (header.charAt(start) == '[') end = header.indexOf(']', start) + 1;
        else if (header.charAt(start) == '"') end = header.indexOf('"', start + 1) + 1;
        else while (end < header.length() && ",}".indexOf(header.charAt(end)) < 0) end++;
        return header.substring(0, start) + value + header.substring(end);
    }

    private static byte[] withHeader(byte[] good, long oldLen, String header) {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        int data = good.length - 8 - (int) oldLen;
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + data).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h).put(good, 8 + (int) oldLen, data);
        return b.array();
    }
}
