/*
 * diffusion4j JNI shim: MPI (Open MPI's libmpi.so.40), declared in mpi_decls.h.
 *
 * Java: io.github.diffusion4j.dist.Mpi. The library is opened with RTLD_GLOBAL, as Open MPI needs for the plugins
 * it loads itself (they resolve libmpi's symbols globally). Communicators and requests travel as jlongs. Every
 * function returns the MPI status (0 = MPI_SUCCESS), which the Java side turns into a one-line error with
 * MPI_Error_string; the world communicator is switched to MPI_ERRORS_RETURN at init, so errors come back instead of
 * aborting the process. A blocking call copies its Java array rather than pinning it (a critical section held
 * while a peer is late would stall the garbage collector and the watchdog thread with it).
 */
#include "d4j_native.h"
#include "mpi_decls.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MPI_CLASS(name) Java_io_github_diffusion4j_dist_Mpi_##name

static struct {
    void *lib;
    d4j_MPI_Comm world;
    d4j_MPI_Datatype t_double, t_float, t_byte;
    d4j_MPI_Op op_sum, op_max, op_min;
    d4j_MPI_Errhandler errors_return;
    d4j_MPI_Info info_null;
    void *request_null;
    d4j_MPI_Init_thread_t init_thread;
    d4j_MPI_Initialized_t initialized;
    d4j_MPI_Finalized_t finalized;
    d4j_MPI_Finalize_t finalize;
    d4j_MPI_Abort_t abort_;
    d4j_MPI_Comm_rank_t comm_rank;
    d4j_MPI_Comm_size_t comm_size;
    d4j_MPI_Comm_dup_t comm_dup;
    d4j_MPI_Comm_free_t comm_free;
    d4j_MPI_Comm_split_type_t comm_split_type;
    d4j_MPI_Comm_set_errhandler_t set_errhandler;
    d4j_MPI_Allreduce_t allreduce;
    d4j_MPI_Iallreduce_t iallreduce;
    d4j_MPI_Bcast_t bcast;
    d4j_MPI_Barrier_t barrier;
    d4j_MPI_Waitall_t waitall;
    d4j_MPI_Testall_t testall;
    d4j_MPI_Error_string_t error_string;
    d4j_MPI_Get_library_version_t library_version;
} M;
static pthread_mutex_t g_open_lock = PTHREAD_MUTEX_INITIALIZER;

#define D4J_MPI_NOT_OPEN (-1000) /* our own status: the library was not opened */

/* Opens the library and resolves everything; returns NULL, or why not (a static or allocated message in buf). */
static const char *open_lib(const char *name, char *buf, size_t n) {
    if (M.lib != NULL) return NULL;
    dlerror();
    void *h = dlopen(name, RTLD_NOW | RTLD_GLOBAL);
    if (h == NULL) {
        const char *e = dlerror();
        snprintf(buf, n, "%s", e ? e : "dlopen failed");
        return buf;
    }
    struct { const char *sym; void **dst; } syms[] = {
        {"ompi_mpi_comm_world", (void **) &M.world},       {"ompi_mpi_double", (void **) &M.t_double},
        {"ompi_mpi_float", (void **) &M.t_float},          {"ompi_mpi_byte", (void **) &M.t_byte},
        {"ompi_mpi_op_sum", (void **) &M.op_sum},          {"ompi_mpi_op_max", (void **) &M.op_max},
        {"ompi_mpi_op_min", (void **) &M.op_min},          {"ompi_mpi_errors_return", (void **) &M.errors_return},
        {"ompi_mpi_info_null", (void **) &M.info_null},    {"ompi_request_null", (void **) &M.request_null},
        {"MPI_Init_thread", (void **) &M.init_thread},     {"MPI_Initialized", (void **) &M.initialized},
        {"MPI_Finalized", (void **) &M.finalized},         {"MPI_Finalize", (void **) &M.finalize},
        {"MPI_Abort", (void **) &M.abort_},                {"MPI_Comm_rank", (void **) &M.comm_rank},
        {"MPI_Comm_size", (void **) &M.comm_size},         {"MPI_Comm_dup", (void **) &M.comm_dup},
        {"MPI_Comm_free", (void **) &M.comm_free},         {"MPI_Comm_split_type", (void **) &M.comm_split_type},
        {"MPI_Comm_set_errhandler", (void **) &M.set_errhandler},
        {"MPI_Allreduce", (void **) &M.allreduce},         {"MPI_Iallreduce", (void **) &M.iallreduce},
        {"MPI_Bcast", (void **) &M.bcast},                 {"MPI_Barrier", (void **) &M.barrier},
        {"MPI_Waitall", (void **) &M.waitall},             {"MPI_Testall", (void **) &M.testall},
        {"MPI_Error_string", (void **) &M.error_string},   {"MPI_Get_library_version", (void **) &M.library_version},
    };
    for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
        void *p = dlsym(h, syms[i].sym);
        if (p == NULL) {
            snprintf(buf, n, "%s has no symbol %s (not Open MPI's libmpi.so.40?)", name, syms[i].sym);
            memset(&M, 0, sizeof M);
            dlclose(h);
            return buf;
        }
        *syms[i].dst = p;
    }
    M.lib = h;
    return NULL;
}

JNIEXPORT jstring JNICALL MPI_CLASS(open)(JNIEnv *env, jclass cls, jstring jname) {
    const char *name = (*env)->GetStringUTFChars(env, jname, NULL);
    if (name == NULL) return NULL;
    char buf[1024];
    pthread_mutex_lock(&g_open_lock);
    const char *err = open_lib(name, buf, sizeof buf);
    pthread_mutex_unlock(&g_open_lock);
    (*env)->ReleaseStringUTFChars(env, jname, name);
    return err == NULL ? NULL : (*env)->NewStringUTF(env, err);
}

JNIEXPORT jstring JNICALL MPI_CLASS(libraryVersion)(JNIEnv *env, jclass cls) {
    if (M.lib == NULL) return NULL;
    char v[D4J_MPI_MAX_LIBRARY_VERSION_STRING + 1] = {0};
    int len = 0;
    if (M.library_version(v, &len) != D4J_MPI_SUCCESS) return NULL;
    for (char *p = v; *p; p++) if (*p == '\n') *p = ' ';
    return (*env)->NewStringUTF(env, v);
}

JNIEXPORT jstring JNICALL MPI_CLASS(errorString)(JNIEnv *env, jclass cls, jint code) {
    char s[D4J_MPI_MAX_ERROR_STRING + 1] = {0};
    int len = 0;
    if (code == D4J_MPI_NOT_OPEN) return (*env)->NewStringUTF(env, "the MPI library is not loaded");
    if (M.lib == NULL || M.error_string(code, s, &len) != D4J_MPI_SUCCESS) snprintf(s, sizeof s, "MPI error %d", code);
    return (*env)->NewStringUTF(env, s);
}

/* out: provided thread level, world rank, world size, node-local rank, node-local size. */
JNIEXPORT jint JNICALL MPI_CLASS(initThread)(JNIEnv *env, jclass cls, jint required, jintArray jout) {
    if (M.lib == NULL) return D4J_MPI_NOT_OPEN;
    int flag = 0, provided = 0, rc;
    M.initialized(&flag);
    if (!flag && (rc = M.init_thread(NULL, NULL, required, &provided)) != D4J_MPI_SUCCESS) return rc;
    if ((rc = M.set_errhandler(M.world, M.errors_return)) != D4J_MPI_SUCCESS) return rc;
    int rank = 0, size = 1, lrank = 0, lsize = 1;
    if ((rc = M.comm_rank(M.world, &rank)) != D4J_MPI_SUCCESS) return rc;
    if ((rc = M.comm_size(M.world, &size)) != D4J_MPI_SUCCESS) return rc;
    d4j_MPI_Comm node = NULL;
    if ((rc = M.comm_split_type(M.world, D4J_MPI_COMM_TYPE_SHARED, rank, M.info_null, &node)) != D4J_MPI_SUCCESS) return rc;
    M.comm_rank(node, &lrank);
    M.comm_size(node, &lsize);
    M.comm_free(&node);
    jint out[5] = {provided, rank, size, lrank, lsize};
    (*env)->SetIntArrayRegion(env, jout, 0, 5, out);
    return D4J_MPI_SUCCESS;
}

JNIEXPORT jlong JNICALL MPI_CLASS(commWorld)(JNIEnv *env, jclass cls) { return D4J_JLONG(M.world); }

JNIEXPORT jint JNICALL MPI_CLASS(commDup)(JNIEnv *env, jclass cls, jlong comm, jlongArray jout) {
    if (M.lib == NULL) return D4J_MPI_NOT_OPEN;
    d4j_MPI_Comm c = NULL;
    int rc = M.comm_dup(D4J_PTR(comm), &c);
    if (rc != D4J_MPI_SUCCESS) return rc;
    M.set_errhandler(c, M.errors_return);
    jlong v = D4J_JLONG(c);
    (*env)->SetLongArrayRegion(env, jout, 0, 1, &v);
    return D4J_MPI_SUCCESS;
}

JNIEXPORT jint JNICALL MPI_CLASS(commFree)(JNIEnv *env, jclass cls, jlong comm) {
    if (M.lib == NULL) return D4J_MPI_NOT_OPEN;
    d4j_MPI_Comm c = D4J_PTR(comm);
    return M.comm_free(&c);
}

static d4j_MPI_Op op_of(int op) { return op == 1 ? M.op_max : op == 2 ? M.op_min : M.op_sum; }

/* In place over the ranks; op 0 sum, 1 max, 2 min. */
JNIEXPORT jint JNICALL MPI_CLASS(allreduce)(JNIEnv *env, jclass cls, jlong comm, jdoubleArray jv, jint op) {
    if (M.lib == NULL) return D4J_MPI_NOT_OPEN;
    jsize n = (*env)->GetArrayLength(env, jv);
    jdouble *v = (*env)->GetDoubleArrayElements(env, jv, NULL);
    if (v == NULL) return D4J_MPI_NOT_OPEN;
    int rc = M.allreduce(D4J_MPI_IN_PLACE, v, n, M.t_double, op_of(op), D4J_PTR(comm));
    (*env)->ReleaseDoubleArrayElements(env, jv, v, rc == D4J_MPI_SUCCESS ? 0 : JNI_ABORT);
    return rc;
}

JNIEXPORT jint JNICALL MPI_CLASS(bcast)(JNIEnv *env, jclass cls, jlong comm, jbyteArray jb, jint root) {
    if (M.lib == NULL) return D4J_MPI_NOT_OPEN;
    jsize n = (*env)->GetArrayLength(env, jb);
    jbyte *b = (*env)->GetByteArrayElements(env, jb, NULL);
    if (b == NULL) return D4J_MPI_NOT_OPEN;
    int rc = M.bcast(b, n, M.t_byte, root, D4J_PTR(comm));
    (*env)->ReleaseByteArrayElements(env, jb, b, rc == D4J_MPI_SUCCESS ? 0 : JNI_ABORT);
    return rc;
}

JNIEXPORT jint JNICALL MPI_CLASS(barrier)(JNIEnv *env, jclass cls, jlong comm) {
    if (M.lib == NULL) return D4J_MPI_NOT_OPEN;
    return M.barrier(D4J_PTR(comm));
}

/* Starts an in-place float sum over count floats of a direct buffer from byteOffset; the request goes to out[0]. */
JNIEXPORT jint JNICALL MPI_CLASS(iallreduceSumFloat)(JNIEnv *env, jclass cls, jlong comm, jobject buf,
                                                     jlong byteOffset, jint count, jlongArray jout) {
    if (M.lib == NULL) return D4J_MPI_NOT_OPEN;
    char *base = (char *) (*env)->GetDirectBufferAddress(env, buf);
    jlong cap = (*env)->GetDirectBufferCapacity(env, buf);
    if (base == NULL || byteOffset < 0 || count < 0 || byteOffset + 4 * (jlong) count > cap) return D4J_MPI_NOT_OPEN - 1;
    d4j_MPI_Request r = NULL;
    int rc = M.iallreduce(D4J_MPI_IN_PLACE, base + byteOffset, count, M.t_float, M.op_sum, D4J_PTR(comm), &r);
    if (rc != D4J_MPI_SUCCESS) return rc;
    jlong v = D4J_JLONG(r);
    (*env)->SetLongArrayRegion(env, jout, 0, 1, &v);
    return D4J_MPI_SUCCESS;
}

/* Runs MPI_Waitall (flag == NULL) or MPI_Testall on the first n requests of a Java long[], writing the handles back
   (completed ones become MPI_REQUEST_NULL). */
static int on_requests(JNIEnv *env, jlongArray jreq, int n, int *flag) {
    jlong *r = (*env)->GetLongArrayElements(env, jreq, NULL);
    d4j_MPI_Request *q = malloc(sizeof(d4j_MPI_Request) * (size_t) n);
    if (r == NULL || q == NULL) {
        if (r) (*env)->ReleaseLongArrayElements(env, jreq, r, JNI_ABORT);
        free(q);
        return D4J_MPI_NOT_OPEN - 2;
    }
    for (int i = 0; i < n; i++) q[i] = D4J_PTR(r[i]);
    int rc = flag == NULL ? M.waitall(n, q, NULL) : M.testall(n, q, flag, NULL);
    for (int i = 0; i < n; i++) r[i] = D4J_JLONG(q[i]);
    (*env)->ReleaseLongArrayElements(env, jreq, r, 0);
    free(q);
    return rc;
}

/* Waits for the first n requests. */
JNIEXPORT jint JNICALL MPI_CLASS(waitAll)(JNIEnv *env, jclass cls, jlongArray jreq, jint n) {
    if (M.lib == NULL) return D4J_MPI_NOT_OPEN;
    return n <= 0 ? D4J_MPI_SUCCESS : on_requests(env, jreq, n, NULL);
}

/* Drives progress on the first n requests; out[0] = 1 when all have completed. */
JNIEXPORT jint JNICALL MPI_CLASS(testAll)(JNIEnv *env, jclass cls, jlongArray jreq, jint n, jintArray jflag) {
    if (M.lib == NULL) return D4J_MPI_NOT_OPEN;
    int flag = 1, rc = n <= 0 ? D4J_MPI_SUCCESS : on_requests(env, jreq, n, &flag);
    jint f = flag;
    (*env)->SetIntArrayRegion(env, jflag, 0, 1, &f);
    return rc;
}

JNIEXPORT jint JNICALL MPI_CLASS(abort)(JNIEnv *env, jclass cls, jlong comm, jint code) {
    if (M.lib == NULL) return D4J_MPI_NOT_OPEN;
    return M.abort_(D4J_PTR(comm), code);
}

JNIEXPORT jint JNICALL MPI_CLASS(finalizeMpi)(JNIEnv *env, jclass cls) {
    if (M.lib == NULL) return D4J_MPI_NOT_OPEN;
    int flag = 0;
    M.finalized(&flag);
    return flag ? D4J_MPI_SUCCESS : M.finalize();
}
