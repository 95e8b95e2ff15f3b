/*
 * diffusion4j JNI shim: NCCL (libnccl.so.2), declared in nccl_decls.h.
 *
 * Java: io.github.diffusion4j.backend.cuda.Nccl (and NcclAllReduce, which uses it). Communicators, device addresses
 * and streams are jlongs. libnccl.so.2 must have been probed with keep=true (Shim.probeLibrary, kind NCCL) before
 * any call here. Every failing call throws CudaException("<call>: <ncclGetErrorString> (<code>)").
 */
#include "d4j_native.h"
#include "nccl_decls.h"

#include <dlfcn.h>
#include <string.h>

#define NCCL D4J_LIB_NCCL
#define NCCL_CLASS(name) Java_io_github_diffusion4j_backend_cuda_Nccl_##name

static int check(JNIEnv *env, d4j_ncclResult_t r, const char *call) {
    if (r == D4J_NCCL_SUCCESS) return 1;
    if ((*env)->ExceptionCheck(env)) return 0;
    void *h = d4j_lib_handle(NCCL);
    d4j_ncclGetErrorString_t str = h ? (d4j_ncclGetErrorString_t) dlsym(h, "ncclGetErrorString") : NULL;
    d4j_throw(env, "%s: %s (%d)", call, str ? str(r) : "NCCL error", r);
    return 0;
}

JNIEXPORT jint JNICALL NCCL_CLASS(version)(JNIEnv *env, jclass cls) {
    D4J_FN(env, NCCL, d4j_ncclGetVersion_t, fn, "ncclGetVersion", 0);
    int v = 0;
    if (!check(env, fn(&v), "ncclGetVersion")) return 0;
    return v;
}

JNIEXPORT jbyteArray JNICALL NCCL_CLASS(uniqueId)(JNIEnv *env, jclass cls) {
    D4J_FN(env, NCCL, d4j_ncclGetUniqueId_t, fn, "ncclGetUniqueId", NULL);
    d4j_ncclUniqueId id;
    memset(&id, 0, sizeof id);
    if (!check(env, fn(&id), "ncclGetUniqueId")) return NULL;
    jbyteArray out = (*env)->NewByteArray(env, D4J_NCCL_UNIQUE_ID_BYTES);
    if (out != NULL) (*env)->SetByteArrayRegion(env, out, 0, D4J_NCCL_UNIQUE_ID_BYTES, (const jbyte *) id.internal);
    return out;
}

/* Collective over the nranks processes that pass the same id; the CUDA context must be current on this thread. */
JNIEXPORT jlong JNICALL NCCL_CLASS(commInitRank)(JNIEnv *env, jclass cls, jint nranks, jbyteArray jid, jint rank) {
    D4J_FN(env, NCCL, d4j_ncclCommInitRank_t, fn, "ncclCommInitRank", 0);
    if ((*env)->GetArrayLength(env, jid) != D4J_NCCL_UNIQUE_ID_BYTES) {
        d4j_throw(env, "ncclCommInitRank: the unique id must have %d bytes", D4J_NCCL_UNIQUE_ID_BYTES);
        return 0;
    }
    d4j_ncclUniqueId id;
    (*env)->GetByteArrayRegion(env, jid, 0, D4J_NCCL_UNIQUE_ID_BYTES, (jbyte *) id.internal);
    d4j_ncclComm_t comm = NULL;
    if (!check(env, fn(&comm, nranks, id, rank), "ncclCommInitRank")) return 0;
    return D4J_JLONG(comm);
}

/* In place when send == recv; FP32 sum. */
JNIEXPORT void JNICALL NCCL_CLASS(allReduceSumFloat)(JNIEnv *env, jclass cls, jlong send, jlong recv, jlong count,
                                                     jlong comm, jlong stream) {
    D4J_FN(env, NCCL, d4j_ncclAllReduce_t, fn, "ncclAllReduce", );
    check(env, fn(D4J_PTR(send), D4J_PTR(recv), (size_t) count, D4J_NCCL_FLOAT32, D4J_NCCL_SUM, D4J_PTR(comm),
                  D4J_PTR(stream)), "ncclAllReduce");
}

/* The communicator's asynchronous error (0: none; 7: still in progress). */
JNIEXPORT jint JNICALL NCCL_CLASS(asyncError)(JNIEnv *env, jclass cls, jlong comm) {
    D4J_FN(env, NCCL, d4j_ncclCommGetAsyncError_t, fn, "ncclCommGetAsyncError", 0);
    d4j_ncclResult_t e = D4J_NCCL_SUCCESS;
    if (!check(env, fn(D4J_PTR(comm), &e), "ncclCommGetAsyncError")) return 0;
    return e;
}

JNIEXPORT jstring JNICALL NCCL_CLASS(errorString)(JNIEnv *env, jclass cls, jint code) {
    D4J_FN(env, NCCL, d4j_ncclGetErrorString_t, fn, "ncclGetErrorString", NULL);
    const char *s = fn(code);
    return (*env)->NewStringUTF(env, s ? s : "NCCL error");
}

/* Unblocks and frees a communicator whose peers may be gone (from any thread). */
JNIEXPORT void JNICALL NCCL_CLASS(commAbort)(JNIEnv *env, jclass cls, jlong comm) {
    D4J_FN(env, NCCL, d4j_ncclCommAbort_t, fn, "ncclCommAbort", );
    check(env, fn(D4J_PTR(comm)), "ncclCommAbort");
}

JNIEXPORT void JNICALL NCCL_CLASS(commDestroy)(JNIEnv *env, jclass cls, jlong comm) {
    D4J_FN(env, NCCL, d4j_ncclCommDestroy_t, fn, "ncclCommDestroy", );
    check(env, fn(D4J_PTR(comm)), "ncclCommDestroy");
}
