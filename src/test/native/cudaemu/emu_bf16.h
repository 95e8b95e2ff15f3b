/*
 * bfloat16 <-> float for the emulated cuBLAS and cuDNN (test-only): widening is exact; narrowing rounds to nearest,
 * ties to even, and keeps NaN a quiet NaN, as kernels/common.cuh (d4j::to_bf16), tensor/Rounding.java and
 * __float2bfloat16_rn do.
 */
#ifndef D4J_EMU_BF16_H
#define D4J_EMU_BF16_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static inline float emu_bf16_to_float(uint16_t h) {
    uint32_t u = (uint32_t) h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline uint16_t emu_float_to_bf16(float f) {
    uint32_t b;
    memcpy(&b, &f, 4);
    if ((b & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t) ((b >> 16) | 0x0040u);
    return (uint16_t) ((b + 0x7FFFu + ((b >> 16) & 1u)) >> 16);
}

/* n bf16 values at p widened into a malloc'd float array (NULL when out of memory) */
static inline float *emu_widen_bf16(const void *p, size_t n) {
    float *f = malloc((n ? n : 1) * sizeof(float));
    if (f == NULL) return NULL;
    for (size_t i = 0; i < n; i++) f[i] = emu_bf16_to_float(((const uint16_t *) p)[i]);
    return f;
}

#endif
