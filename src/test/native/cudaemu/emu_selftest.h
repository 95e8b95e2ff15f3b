/*
 * The harness the cuBLAS / cuDNN stand-ins' self-tests share (emu_libs_selftest.c, emu_libs_queue_selftest.c): one
 * PASS/FAIL line per check with the failure count, symbol look-up that stops the run when a symbol is missing, and a
 * small deterministic random source. Test-only.
 */
#ifndef D4J_EMU_SELFTEST_H
#define D4J_EMU_SELFTEST_H

#include <dlfcn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static int failures, checks;

static void report(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report(int ok, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("%s ", ok ? "PASS" : "FAIL");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    checks++;
    if (!ok) failures++;
}

static inline void *sym(void *lib, const char *name) {
    void *f = dlsym(lib, name);
    if (f == NULL) {
        fprintf(stderr, "missing symbol %s\n", name);
        exit(2);
    }
    return f;
}

/* xorshift64: the same sequence in every run */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static inline uint32_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t) (rng_state >> 16);
}
/* uniform in [-1, 1) */
static inline float rnd_float(void) { return (float) ((rnd() & 0xFFFFFF) / 8388608.0 - 1.0); }

static inline void fill(float *p, size_t n, float v) {
    for (size_t i = 0; i < n; i++) p[i] = v;
}

/* cudnn_cnn.h: cudnnConvolution{Fwd,BwdData,BwdFilter}AlgoPerf_t share this layout (as in cudnn_emu.c) */
typedef struct {
    int algo, status;
    float time;
    size_t memory;
    int determinism, mathType, reserved[3];
} perf_t;

#endif
