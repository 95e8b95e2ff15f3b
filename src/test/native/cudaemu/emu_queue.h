/*
 * The emulated driver's stream queue as the cuBLAS / cuDNN stand-ins (cublas_emu.c, cudnn_emu.c) see it: the three
 * functions emu_driver.cpp exports (d4jemu_enqueue, d4jemu_flush, d4jemu_check_range), looked up in the already
 * loaded libcuda.so.1 on first use. Test-only; included by both stand-ins (each gets its own static copy).
 */
#ifndef D4J_EMU_QUEUE_H
#define D4J_EMU_QUEUE_H

#include <dlfcn.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>

/* The queue of the emulated driver (emu_driver.cpp). */
typedef struct {
    int (*enqueue)(void (*fn)(void *arg), void *arg, void (*free_arg)(void *arg));
    int (*flush)(void);
    int (*check_range)(const void *p, size_t bytes, const char *what);
} emu_driver;

static _Atomic(emu_driver *) driver_cache;

/* The driver's queue functions, or NULL to compute immediately. Only a successful look-up is cached. */
static const emu_driver *driver(void) {
    emu_driver *d = atomic_load_explicit(&driver_cache, memory_order_acquire);
    if (d != NULL) return d;
    void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
    if (h == NULL) return NULL;
    emu_driver found;
    found.enqueue = (int (*)(void (*)(void *), void *, void (*)(void *))) dlsym(h, "d4jemu_enqueue");
    found.flush = (int (*)(void)) dlsym(h, "d4jemu_flush");
    found.check_range = (int (*)(const void *, size_t, const char *)) dlsym(h, "d4jemu_check_range");
    if (found.enqueue == NULL || found.flush == NULL || found.check_range == NULL || (d = malloc(sizeof *d)) == NULL) {
        dlclose(h);
        return NULL;
    }
    *d = found; /* h stays open: the driver must outlive the queued closures */
    emu_driver *expected = NULL;
    if (!atomic_compare_exchange_strong_explicit(&driver_cache, &expected, d, memory_order_acq_rel,
                                                 memory_order_acquire)) {
        free(d); /* another thread published the same functions first */
        dlclose(h);
        d = expected;
    }
    return d;
}

#endif
