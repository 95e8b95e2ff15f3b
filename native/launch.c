/*
 * diffusion4j JNI shim: kernel launches.
 *
 * Java: io.github.diffusion4j.backend.cuda.Launch
 *   static native int kernel(long function, int gridX, int blockX, int sharedBytes, long stream, long params);
 *   static native long address(java.nio.ByteBuffer direct);
 *
 * JCuda's cuLaunchKernel takes the kernel parameters as a Pointer to Pointers to Java arrays and, on every
 * launch, walks that object graph through JNI: it allocates a native record per parameter, pins or copies
 * each array and copies it back afterwards. With several hundred launches per training step that host work
 * adds up to milliseconds. Here the parameters already sit in native memory (a direct ByteBuffer that
 * KernelArgs fills, beside the void* array pointing into it), so a launch is one JNI call with primitive
 * arguments and one cuLaunchKernel. The function and stream handles are the ones JCuda created (the same
 * driver objects: the shim opened the same libcuda.so.1).
 */
#include "d4j_native.h"
#include "cuda_decls.h"

/* Returns the CUresult; the caller turns a failure into an exception with the kernel's name. */
JNIEXPORT jint JNICALL Java_io_github_diffusion4j_backend_cuda_Launch_kernel(JNIEnv *env, jclass cls,
                                                                           jlong function, jint gridX,
                                                                           jint blockX, jint sharedBytes,
                                                                           jlong stream, jlong params) {
    D4J_FN(env, D4J_LIB_CUDA, d4j_cuLaunchKernel_t, launch, "cuLaunchKernel", -1);
    return launch(D4J_PTR(function), (unsigned int) gridX, 1, 1, (unsigned int) blockX, 1, 1,
                  (unsigned int) sharedBytes, D4J_PTR(stream), (void **) D4J_PTR(params), NULL);
}

/* The native address of a direct buffer (0 for a heap buffer). */
JNIEXPORT jlong JNICALL Java_io_github_diffusion4j_backend_cuda_Launch_address(JNIEnv *env, jclass cls,
                                                                             jobject buffer) {
    if (buffer == NULL) return 0;
    return D4J_JLONG((*env)->GetDirectBufferAddress(env, buffer));
}
