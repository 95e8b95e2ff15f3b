// Philox4x32-10 and the (seed, index) -> number mapping of io.github.diffusion4j.tensor.Philox, on the device.
//
// The mapping (it must stay identical to Philox.java, which documents it):
//   key      k0 = low32(seed), k1 = high32(seed)
//   counter  global element index g: block b = g >> 2 (logical), lane l = g & 3,
//            ctr = (low32(b), high32(b), 0, 0); one Philox call gives four words x0..x3
//   uniform  (x_l >> 8) * 2^-24                                   (exact in float)
//   normal   Box-Muller on the lane pair p = l & ~1, in double precision, rounded once to float:
//            u1 = ((x_p >> 8) + 1) * 2^-24, u2 = (x_{p+1} >> 8) * 2^-24,
//            r = sqrt(-2 ln u1), theta = 2 pi u2; even lanes r cos(theta), odd lanes r sin(theta)
//
// Java's long seed/offset arrive as 64-bit kernel parameters; they are treated as unsigned here, which is
// what Java's >>> and (int) casts do with the same bits.
//
// Compiled without fast math and with -fmad=false (see CMakeLists.txt): the double-precision log / sqrt /
// sin / cos below are CUDA's accurate versions (log, sqrt: <= 1 ulp and correctly rounded; sin/cos <= 2 ulp in
// double), so after rounding to float the result equals Java's except in the rare case where a double result
// lies within a couple of double ulps of a float rounding boundary.
#pragma once

#include <stdint.h>

// Host-callable as well, so that a plain C++ compiler can check this file against Philox.java
// (src/test/native/philox_host_check.cpp, run by PhiloxHostCheckTest): no GPU needed for that check.
// D4J_CUDA_EMULATION: compiled as host C++ by the emulated-CUDA tests (src/test/native/cudaemu/emu_cuda.h
// supplies the CUDA vocabulary, vector types included).
#if defined(__CUDACC__) || defined(D4J_CUDA_EMULATION)
#define D4J_HD __host__ __device__ __forceinline__
#define D4J_UNROLL _Pragma("unroll")
#else
#include <math.h>
#define D4J_HD inline
#define D4J_UNROLL
struct uint4 { uint32_t x, y, z, w; };
struct float4 { float x, y, z, w; };
inline uint4 make_uint4(uint32_t x, uint32_t y, uint32_t z, uint32_t w) { return uint4{x, y, z, w}; }
inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }
#endif

namespace d4j {

/** High 32 bits of the 64-bit product (the PTX mul.hi.u32 on the device). */
D4J_HD uint32_t mulhi32(uint32_t a, uint32_t b) {
#if defined(__CUDA_ARCH__)
    return __umulhi(a, b);
#else
    return (uint32_t) (((uint64_t) a * b) >> 32);
#endif
}

constexpr uint32_t PHILOX_M0 = 0xD2511F53u;
constexpr uint32_t PHILOX_M1 = 0xCD9E8D57u;
constexpr uint32_t PHILOX_W0 = 0x9E3779B9u;
constexpr uint32_t PHILOX_W1 = 0xBB67AE85u;
// 2.0 * Math.PI in Java, i.e. the double nearest 2 pi
constexpr double TWO_PI = 6.283185307179586;
constexpr double TWO_POW_M24 = 1.0 / 16777216.0;

/** Ten Philox4x32 rounds on counter c with key (k0, k1), exactly as Philox.philox4x32_10. */
D4J_HD uint4 philox4x32_10(uint4 c, uint32_t k0, uint32_t k1) {
    D4J_UNROLL
    for (int r = 0; r < 10; r++) {
        if (r > 0) {
            k0 += PHILOX_W0;
            k1 += PHILOX_W1;
        }
        uint32_t hi0 = mulhi32(PHILOX_M0, c.x), lo0 = PHILOX_M0 * c.x;
        uint32_t hi1 = mulhi32(PHILOX_M1, c.z), lo1 = PHILOX_M1 * c.z;
        uint4 n;
        n.x = hi1 ^ c.y ^ k0;
        n.y = lo1;
        n.z = hi0 ^ c.w ^ k1;
        n.w = lo0;
        c = n;
    }
    return c;
}

/** The four words of block b under seed (Philox.block). */
D4J_HD uint4 philox_block(unsigned long long seed, unsigned long long b) {
    uint4 ctr = make_uint4((uint32_t) b, (uint32_t) (b >> 32), 0u, 0u);
    return philox4x32_10(ctr, (uint32_t) seed, (uint32_t) (seed >> 32));
}

/** Word l (0..3) of a Philox output. */
D4J_HD uint32_t philox_word(uint4 x, int l) {
    return l == 0 ? x.x : l == 1 ? x.y : l == 2 ? x.z : x.w;
}

/** Philox.uniformFromWord: 24 random bits scaled to [0, 1); exact in float. */
D4J_HD float uniform_from_word(uint32_t x) {
    return (float) (x >> 8) * 0x1p-24f;
}

/**
 * Box-Muller on one pair of words (Philox.normalFromWords), both outputs at once: *c gets the even-lane
 * (cosine) value, *s the odd-lane (sine) value.
 */
D4J_HD void normal_pair_from_words(uint32_t xa, uint32_t xb, float* c, float* s) {
    double u1 = (double) ((xa >> 8) + 1u) * TWO_POW_M24;   // (0, 1]
    double u2 = (double) (xb >> 8) * TWO_POW_M24;          // [0, 1)
    double r = sqrt(-2.0 * log(u1));
    double theta = TWO_PI * u2;
    // sincos() is CUDA's combined double sin/cos (same error bounds as sin and cos); the host build uses
    // separate calls, as Java does
#if defined(__CUDA_ARCH__)
    double sn, cs;
    sincos(theta, &sn, &cs);
#else
    double sn = sin(theta), cs = cos(theta);
#endif
    *c = (float) (r * cs);
    *s = (float) (r * sn);
}

/** Philox.uniform(seed, g). */
D4J_HD float philox_uniform(unsigned long long seed, unsigned long long g) {
    return uniform_from_word(philox_word(philox_block(seed, g >> 2), (int) (g & 3)));
}

/** Philox.normal(seed, g) (computes the whole pair and keeps one; use the block kernels for bulk draws). */
D4J_HD float philox_normal(unsigned long long seed, unsigned long long g) {
    uint4 x = philox_block(seed, g >> 2);
    int l = (int) (g & 3);
    float c, s;
    if (l < 2) normal_pair_from_words(x.x, x.y, &c, &s);
    else normal_pair_from_words(x.z, x.w, &c, &s);
    return (l & 1) == 0 ? c : s;
}

/** The four normals of Philox block b, in lane order. */
D4J_HD float4 philox_normal4(unsigned long long seed, unsigned long long b) {
    uint4 x = philox_block(seed, b);
    float4 o;
    normal_pair_from_words(x.x, x.y, &o.x, &o.y);
    normal_pair_from_words(x.z, x.w, &o.z, &o.w);
    return o;
}

/** The four uniforms of Philox block b, in lane order. */
D4J_HD float4 philox_uniform4(unsigned long long seed, unsigned long long b) {
    uint4 x = philox_block(seed, b);
    return make_float4(uniform_from_word(x.x), uniform_from_word(x.y), uniform_from_word(x.z),
                       uniform_from_word(x.w));
}

D4J_HD float lane(float4 v, int l) {
    return l == 0 ? v.x : l == 1 ? v.y : l == 2 ? v.z : v.w;
}

/**
 * Stores the lanes of Philox block b that fall into a tensor filled from global index {@code offset}: element
 * i = g - offset for g in [4b, 4b + 4) when 0 <= i < n. Block-per-thread kernels (randn, rand, dropout, noise)
 * visit blocks first = offset >> 2 ... last = (offset + n - 1) >> 2.
 */
D4J_HD void store_block(float* out, long long n, unsigned long long offset, unsigned long long b, float4 v) {
    unsigned long long g0 = b << 2;
    for (int l = 0; l < 4; l++) {
        // kept unsigned so that g < offset wraps to a huge value and is skipped
        unsigned long long i = g0 + (unsigned long long) l - offset;
        if (i < (unsigned long long) n) out[i] = lane(v, l);
    }
}

/** Number of Philox blocks that cover global indices [offset, offset + n), n > 0. */
D4J_HD long long block_count(long long n, unsigned long long offset) {
    return (long long) (((offset + (unsigned long long) n - 1) >> 2) - (offset >> 2) + 1);
}

}  // namespace d4j
