package io.github.diffusion4j.tensor;

import org.junit.jupiter.api.Test;

import java.math.BigDecimal;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link Rounding} against definitions that share none of its bit tricks: the bfloat16 values are the floats whose
 * low 16 bits are zero, the binary16 values are {@code m * 2^-24} (exponent field 0) and {@code (1024 + m) *
 * 2^(e - 25)}; "round to nearest, ties to even" picks, by exact ({@link BigDecimal}) distance, the nearer of the two
 * representable neighbours, on a tie the one with an even last mantissa bit, and overflows to infinity where the
 * nearer neighbour is the first value past the largest finite one (2^128 for bfloat16, 65536 for binary16).
 */
class RoundingTest {
    /** Non-negative binary16 values by bit pattern 0..0x7C00, from the definition; [0x7C00] = 65536 stands for inf. */
    static final BigDecimal[] HALF = new BigDecimal[0x7C01];

    static {
        for (int i = 0; i <= 0x7C00; i++) {
            int e = i >> 10, m = i & 0x3FF;
            HALF[i] = e == 0 ? exact(m * 0x1p-24) : exact((1024 + m) * Math.pow(2, e - 25));
        }
    }

    static BigDecimal exact(double d) { return new BigDecimal(d); }

    /** Reference float32 -> binary16 bits (finite or infinite {@code f}, not NaN). */
    static short refHalf(float f) {
        int sign = (Float.floatToRawIntBits(f) >>> 16) & 0x8000;
        if (Float.isInfinite(f)) return (short) (sign | 0x7C00);
        BigDecimal a = exact(Math.abs((double) f));
        if (a.compareTo(HALF[0x7C00]) >= 0) return (short) (sign | 0x7C00);
        int lo = 0, hi = 0x7C00;                     // largest i with HALF[i] <= a
        while (hi - lo > 1) {
            int mid = (lo + hi) >>> 1;
            if (HALF[mid].compareTo(a) <= 0) lo = mid; else hi = mid;
        }
        return (short) (sign | nearer(a, HALF[lo], lo, HALF[lo + 1], lo + 1));
    }

    /** Reference float32 -> bfloat16 bits (not NaN). */
    static short refBf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        int sign = (bits >>> 16) & 0x8000;
        if (Float.isInfinite(f)) return (short) (sign | 0x7F80);
        int abs = bits & 0x7FFFFFFF;
        int down = abs >>> 16;                       // the bf16 at or below |f|: a float whose low 16 bits are zero
        BigDecimal a = exact(Math.abs((double) f));
        BigDecimal lo = exact(Float.intBitsToFloat(down << 16));
        if (a.compareTo(lo) == 0) return (short) (sign | down);
        BigDecimal hi = down + 1 == 0x7F80 ? exact(0x1p127).multiply(BigDecimal.valueOf(2)) // 2^128: overflow to inf
                : exact(Float.intBitsToFloat((down + 1) << 16));
        return (short) (sign | nearer(a, lo, down, hi, down + 1));
    }

    static int nearer(BigDecimal a, BigDecimal lo, int loBits, BigDecimal hi, int hiBits) {
        int c = a.subtract(lo).compareTo(hi.subtract(a));
        if (c != 0) return c < 0 ? loBits : hiBits;
        return (loBits & 1) == 0 ? loBits : hiBits;  // tie: the even one
    }

    static String hex(float f) { return Float.toHexString(f) + " (0x" + Integer.toHexString(Float.floatToRawIntBits(f)) + ")"; }

    static void checkHalf(float f) {
        short want = refHalf(f), got = Rounding.toHalfBits(f);
        assertEquals(want & 0xFFFF, got & 0xFFFF, () -> "toHalfBits(" + hex(f) + ")");
        assertEquals(Float.floatToRawIntBits(Rounding.halfToFloat(want)), Float.floatToRawIntBits(Rounding.to(DType.F16, f)),
                () -> "to(F16, " + hex(f) + ")");
    }

    static void checkBf16(float f) {
        short want = refBf16(f), got = Rounding.toBf16Bits(f);
        assertEquals(want & 0xFFFF, got & 0xFFFF, () -> "toBf16Bits(" + hex(f) + ")");
        float value = Float.intBitsToFloat((want & 0xFFFF) << 16);
        assertEquals(Float.floatToRawIntBits(value), Float.floatToRawIntBits(Rounding.bf16(f)), () -> "bf16(" + hex(f) + ")");
        assertEquals(Float.floatToRawIntBits(value), Float.floatToRawIntBits(Rounding.to(DType.BF16, f)), () -> "to(BF16, " + hex(f) + ")");
        float[] a = {f};
        Rounding.bf16InPlace(a, 0, 1);
        assertEquals(Float.floatToRawIntBits(value), Float.floatToRawIntBits(a[0]), () -> "bf16InPlace(" + hex(f) + ")");
    }

    /** Both signs of {@code f}, and its float neighbours. */
    static void around(float f, java.util.function.Consumer<Float> check) {
        for (float g : new float[] {f, Math.nextUp(f), Math.nextDown(f)}) {
            check.accept(g);
            check.accept(-g);
        }
    }

    @Test void halfToFloatIsExactForEveryBitPattern() {
        for (int i = 0; i < 0x10000; i++) {
            float f = Rounding.halfToFloat((short) i);
            int mag = i & 0x7FFF;
            boolean negative = (i & 0x8000) != 0;
            if (mag > 0x7C00) {
                assertTrue(Float.isNaN(f), "0x" + Integer.toHexString(i) + " is a NaN");
                continue;
            }
            float want = mag == 0x7C00 ? Float.POSITIVE_INFINITY : HALF[mag].floatValue();
            if (mag != 0x7C00) assertEquals(0, HALF[mag].compareTo(exact(want)), "binary16 values are floats");
            assertEquals(Float.floatToRawIntBits(negative ? -want : want), Float.floatToRawIntBits(f), "0x" + Integer.toHexString(i));
            assertEquals(i, Rounding.toHalfBits(f) & 0xFFFF, "round trip of 0x" + Integer.toHexString(i));
        }
    }

    @Test void bf16BitsRoundTrip() {
        for (int i = 0; i < 0x10000; i++) {
            float f = Rounding.fromBf16Bits((short) i);
            assertEquals(i << 16, Float.floatToRawIntBits(f));
            if (!Float.isNaN(f)) assertEquals(i, Rounding.toBf16Bits(f) & 0xFFFF, "round trip of 0x" + Integer.toHexString(i));
        }
    }

    /** Every tie (midpoint of two neighbouring binary16 values) and the floats just beside it. */
    @Test void halfTiesGoToEvenAndNeighboursOfTiesDoNot() {
        for (int i = 0; i < 0x7C00; i++) {
            float mid = HALF[i].add(HALF[i + 1]).divide(BigDecimal.valueOf(2)).floatValue();
            assertEquals(0, exact(mid).multiply(BigDecimal.valueOf(2)).compareTo(HALF[i].add(HALF[i + 1])), "midpoints are floats");
            around(mid, RoundingTest::checkHalf);
            assertEquals((i & 1) == 0 ? i : i + 1, Rounding.toHalfBits(mid), "tie at " + hex(mid));
        }
    }

    @Test void bf16TiesGoToEvenAndNeighboursOfTiesDoNot() {
        for (int i = 0; i < 0x7F80; i++) {
            float mid = Float.intBitsToFloat((i << 16) | 0x8000);   // halfway between bf16 i and i + 1
            around(mid, RoundingTest::checkBf16);
            assertEquals((i & 1) == 0 ? i : i + 1, Rounding.toBf16Bits(mid), "tie at " + hex(mid));
        }
    }

    @Test void randomFloatsRoundToTheNearest() {
        SplittableRandom r = new SplittableRandom(7);
        for (int k = 0; k < 200_000; k++) {
            float any = Float.intBitsToFloat(r.nextInt());           // every exponent, subnormals included
            if (!Float.isNaN(any)) {
                checkBf16(any);
                checkHalf(any);
            }
            // the binary16 range, subnormals to overflow: uniform exponent in [-27, 17)
            float inRange = (float) ((r.nextBoolean() ? 1 : -1) * (1 + r.nextDouble()) * Math.pow(2, r.nextInt(-27, 17)));
            checkHalf(inRange);
            checkBf16(inRange);
        }
    }

    @Test void specialValues() {
        // binary16 overflow: 65504 is the largest finite value, 65520 the midpoint to 65536 (a tie, to even = inf)
        assertEquals(0x7BFF, Rounding.toHalfBits(65504f));
        assertEquals(0x7BFF, Rounding.toHalfBits(65519f));
        assertEquals(0x7BFF, Rounding.toHalfBits(Math.nextDown(65520f)));
        assertEquals(0x7C00, Rounding.toHalfBits(65520f));
        assertEquals(0xFC00, Rounding.toHalfBits(-65520f) & 0xFFFF);
        assertEquals(0x7C00, Rounding.toHalfBits(1e10f));
        assertEquals(Float.POSITIVE_INFINITY, Rounding.to(DType.F16, 65520f));
        assertEquals(65504f, Rounding.to(DType.F16, 65519f));
        // infinities and zeros keep their sign
        assertEquals(0x7C00, Rounding.toHalfBits(Float.POSITIVE_INFINITY));
        assertEquals(0xFC00, Rounding.toHalfBits(Float.NEGATIVE_INFINITY) & 0xFFFF);
        assertEquals(0x7F80, Rounding.toBf16Bits(Float.POSITIVE_INFINITY));
        assertEquals(0xFF80, Rounding.toBf16Bits(Float.NEGATIVE_INFINITY) & 0xFFFF);
        assertEquals(0x8000, Rounding.toHalfBits(-0f) & 0xFFFF);
        assertEquals(0x8000, Rounding.toBf16Bits(-0f) & 0xFFFF);
        // bf16 overflow: Float.MAX_VALUE is past the midpoint between the largest bf16 and 2^128
        assertEquals(0x7F80, Rounding.toBf16Bits(Float.MAX_VALUE));
        assertEquals(0x7F7F, Rounding.toBf16Bits(Float.intBitsToFloat(0x7F7F7FFF)));
        // binary16 subnormals: 2^-25 is a tie between 0 and 2^-24 (to 0), 3 * 2^-25 one between 1 and 2 (to 2)
        assertEquals(0x0000, Rounding.toHalfBits(0x1p-25f));
        assertEquals(0x0001, Rounding.toHalfBits(Math.nextUp(0x1p-25f)));
        assertEquals(0x0002, Rounding.toHalfBits(3 * 0x1p-25f));
        assertEquals(0x8001, Rounding.toHalfBits(-0x1p-24f) & 0xFFFF);
        assertEquals(0x0400, Rounding.toHalfBits(1023.5f * 0x1p-24f), "a tie up into the smallest normal");
        assertEquals(0x0000, Rounding.toHalfBits(Float.MIN_VALUE));
        // float32 subnormals in bf16: kept where representable, ties to even
        assertEquals(0x0000, Rounding.toBf16Bits(Float.MIN_VALUE));
        assertEquals(0x0000, Rounding.toBf16Bits(Float.intBitsToFloat(0x8000)));
        assertEquals(0x0002, Rounding.toBf16Bits(Float.intBitsToFloat(0x18000)));
        assertEquals(0x0001, Rounding.toBf16Bits(Float.intBitsToFloat(0x10000)));
        assertEquals(1f, Rounding.bf16(1f + 0x1p-8f), "tie at 1 + 2^-8 goes down to even 1");
        assertEquals(1f + 0x1p-6f, Rounding.bf16(1f + 3 * 0x1p-8f), "tie at 1 + 3 * 2^-8 goes up to even");
    }

    @Test void nanStaysAQuietNanOfTheSameSign() {
        for (int bits : new int[] {0x7FC00000, 0x7F800001, 0x7FBFFFFF, 0xFFC00000, 0xFF800001, 0x7FFFFFFF, 0x7F802000}) {
            float nan = Float.intBitsToFloat(bits);
            short h = Rounding.toHalfBits(nan), b = Rounding.toBf16Bits(nan);
            assertTrue(Float.isNaN(Rounding.halfToFloat(h)) && (h & 0x0200) != 0, "f16 of 0x" + Integer.toHexString(bits));
            assertTrue(Float.isNaN(Rounding.fromBf16Bits(b)) && (b & 0x0040) != 0, "bf16 of 0x" + Integer.toHexString(bits));
            assertEquals(bits < 0, (h & 0x8000) != 0);
            assertEquals(bits < 0, (b & 0x8000) != 0);
            assertTrue(Float.isNaN(Rounding.bf16(nan)) && Float.isNaN(Rounding.to(DType.F16, nan)));
            float[] a = {nan};
            Rounding.bf16InPlace(a, 0, 1);
            assertTrue(Float.isNaN(a[0]));
        }
    }

    @Test void bf16InPlaceTouchesOnlyItsRange() {
        SplittableRandom r = new SplittableRandom(3);
        float[] a = new float[1000];
        for (int i = 0; i < a.length; i++) a[i] = (float) r.nextGaussian() * 100;
        float[] b = a.clone();
        Rounding.bf16InPlace(b, 100, 800);
        for (int i = 0; i < a.length; i++) {
            float want = i >= 100 && i < 900 ? Rounding.bf16(a[i]) : a[i];
            assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(b[i]), "index " + i);
        }
        assertEquals(a[5], Rounding.to(DType.F32, a[5]));
    }
}
