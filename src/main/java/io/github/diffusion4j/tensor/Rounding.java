package io.github.diffusion4j.tensor;

/**
 * Conversions between float32 and the 16-bit types, as the hardware does them: float32 to bfloat16 and to IEEE
 * binary16 round to nearest, ties to even (CUDA's {@code __float2bfloat16_rn} / {@code __float2half_rn}); NaN stays a
 * (quiet) NaN; the other direction is exact. bfloat16 is the top half of a float32 (8 exponent bits, 7 stored
 * mantissa bits), so its rounding is one integer addition on the float's bits.
 */
public final class Rounding {
    private Rounding() {}

    /** The bfloat16 bits nearest to {@code f} (ties to even). */
    public static short toBf16Bits(float f) {
        int bits = Float.floatToRawIntBits(f);
        if ((bits & 0x7FFFFFFF) > 0x7F800000) return (short) ((bits >>> 16) | 0x0040);   // NaN: keep it a quiet NaN
        int lsb = (bits >>> 16) & 1;
        return (short) ((bits + 0x7FFF + lsb) >>> 16);
    }

    /** The float32 value of bfloat16 bits (exact). */
    public static float fromBf16Bits(short h) { return Float.intBitsToFloat((h & 0xFFFF) << 16); }

    /** {@code f} rounded to the nearest bfloat16 value, as a float32 (ties to even). */
    public static float bf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if ((bits & 0x7FFFFFFF) > 0x7F800000) return f;
        int lsb = (bits >>> 16) & 1;
        return Float.intBitsToFloat((bits + 0x7FFF + lsb) & 0xFFFF0000);
    }

    /** Rounds {@code a[from, from + n)} to bfloat16 values in place. */
    public static void bf16InPlace(float[] a, int from, int n) {
        for (int i = from, end = from + n; i < end; i++) {
            int bits = Float.floatToRawIntBits(a[i]);
            if ((bits & 0xFFFF) == 0 || (bits & 0x7FFFFFFF) > 0x7F800000) continue;   // already bf16, or NaN
            int lsb = (bits >>> 16) & 1;
            a[i] = Float.intBitsToFloat((bits + 0x7FFF + lsb) & 0xFFFF0000);
        }
    }

    /** {@code f} rounded to the nearest value of {@code dtype} (F32: unchanged). */
    public static float to(DType dtype, float f) {
        return switch (dtype) {
            case F32 -> f;
            case BF16 -> bf16(f);
            case F16 -> halfToFloat(toHalfBits(f));
        };
    }

    /** The IEEE 754 binary16 bits nearest to {@code f} (ties to even; overflow to infinity, subnormals kept). */
    public static short toHalfBits(float f) {
        int bits = Float.floatToRawIntBits(f);
        int sign = (bits >>> 16) & 0x8000;
        int abs = bits & 0x7FFFFFFF;
        if (abs > 0x7F800000) return (short) (sign | 0x7E00 | ((abs >>> 13) & 0x3FF));        // NaN
        if (abs >= 0x477FF000) return (short) (sign | 0x7C00);                                 // rounds to inf
        if (abs < 0x38800000) {                                                                // subnormal or zero
            // value = abs * 2^24 half-ulps; Math.rint rounds half to even
            int m = (int) Math.rint(Float.intBitsToFloat(abs) * 0x1p24f);
            return (short) (sign | m);
        }
        int lsb = (abs >>> 13) & 1;
        int r = abs + 0xFFF + lsb;                    // round the 13 dropped bits to nearest even
        return (short) (sign | ((r - 0x38000000) >>> 13));
    }

    /** IEEE 754 binary16 bits to float (exact). */
    public static float halfToFloat(short h) {
        int bits = h & 0xFFFF;
        int sign = (bits & 0x8000) << 16;
        int exp = (bits >>> 10) & 0x1F;
        int mant = bits & 0x3FF;
        if (exp == 0x1F) return Float.intBitsToFloat(sign | 0x7F800000 | (mant << 13)); // inf / nan
        if (exp == 0) {
            float v = mant * 0x1p-24f; // subnormal (or zero)
            return sign != 0 ? -v : v;
        }
        return Float.intBitsToFloat(sign | ((exp + 112) << 23) | (mant << 13));
    }
}
