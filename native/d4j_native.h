/*
 * diffusion4j JNI shim: shared declarations.
 *
 * The shim is built with a C compiler and jni.h only. The NVIDIA libraries (libcuda.so.1, libcudnn.so.9,
 * libcublas.so.13 or .12, libnccl.so.2) and Open MPI (libmpi.so.40, native/mpi.c) are opened with dlopen() at run
 * time and the few functions we call are declared in cuda_decls.h / cudnn_decls.h / cublas_decls.h /
 * nccl_decls.h / mpi_decls.h, copied by value from their headers (the header and the value are noted next to
 * every declaration).
 *
 * Java side: io.github.diffusion4j.backend.cuda.Shim (probe), Cudnn and Cublas (the library calls), Launch (kernel
 * launches).
 * Device addresses and stream handles travel as jlong. Every failing NVIDIA call is turned into a
 * io.github.diffusion4j.backend.cuda.CudaException whose message names the call and its status string.
 */
#ifndef D4J_NATIVE_H
#define D4J_NATIVE_H

#include <jni.h>
#include <stddef.h>
#include <stdint.h>

/* Bumped whenever a native signature changes; Shim.java refuses a shim with another ABI version. */
#define D4J_SHIM_ABI 4

/* The libraries the shim can open; the index is also the "kind" argument of Shim.probeLibrary. */
enum d4j_lib_kind {
    D4J_LIB_CUDA = 0,   /* the driver, libcuda.so.1 */
    D4J_LIB_CUDNN = 1,  /* libcudnn.so.9 */
    D4J_LIB_CUBLAS = 2, /* libcublas.so.13 or libcublas.so.12 */
    D4J_LIB_NCCL = 3,   /* libnccl.so.2 */
    D4J_LIB_OTHER = 4,  /* anything else: dlopen only */
    D4J_LIB_COUNT = 5
};

/* The handle kept for a kind (the first successful probe with keep=true), or NULL. */
void *d4j_lib_handle(int kind);

/* dlsym in the kept library of that kind; throws CudaException (and returns NULL) when missing. */
void *d4j_sym(JNIEnv *env, int kind, const char *name);

/* Throws io.github.diffusion4j.backend.cuda.CudaException(message), formatted like printf. */
void d4j_throw(JNIEnv *env, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Resolves a function pointer once per call site (a static cache read and written atomically, so concurrent
 * first calls are harmless) and returns failret from the JNI function, with the exception pending, if the
 * symbol is missing.
 */
#define D4J_FN(env, kind, type, var, name, failret)                            \
    static type var##_cached = NULL;                                          \
    type var = __atomic_load_n(&var##_cached, __ATOMIC_ACQUIRE);              \
    if (var == NULL) {                                                        \
        var = (type) d4j_sym((env), (kind), (name));                          \
        if (var == NULL) return failret;                                      \
        __atomic_store_n(&var##_cached, var, __ATOMIC_RELEASE);               \
    }

/* jlong <-> pointer */
#define D4J_PTR(x) ((void *) (intptr_t) (x))
#define D4J_JLONG(p) ((jlong) (intptr_t) (p))

#endif
