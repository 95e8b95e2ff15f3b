/*
 * diffusion4j JNI shim: loading, library handles, exceptions and the availability probe.
 *
 * Java: io.github.diffusion4j.backend.cuda.Shim
 *   static native int abiVersion();
 *   static native String probeLibrary(String name, int kind, boolean keep);
 *
 * probeLibrary dlopen()s one library (a soname searched the usual way, or an absolute path) and answers
 * "key=value" lines:
 *   status=ok|missing|error      missing: dlopen failed; error: opened but a required call failed
 *   error=...                    dlerror() text or the failing call (status missing/error)
 *   path=...                     the file the loader picked (link map name), realpath=... with symlinks resolved
 *   version=...                  kind cuda: cuDriverGetVersion as "major.minor"; cudnn: cudnnGetVersion as
 *                                "major.minor.patch"; cublas: cublasGetProperty(MAJOR/MINOR/PATCH)
 *   versionCode=...              the raw number (cuda and cudnn)
 * and for kind cuda (after cuInit(0), which is all a probe of the driver may cost):
 *   init=CUDA_SUCCESS|<error name>, devices=<count>, device0.name=..., device0.cc=<major>.<minor>,
 *   device0.memory=<bytes>
 * With keep=true the handle is remembered for its kind (the first one wins) and used by the cuDNN / cuBLAS
 * functions of the shim. Libraries are never dlclose()d: driver-backed libraries start threads and register
 * atexit handlers, and unloading them under the JVM is not worth the risk.
 */
#define _GNU_SOURCE
#include "d4j_native.h"
#include "cuda_decls.h"
#include "cudnn_decls.h"
#include "cublas_decls.h"
#include "nccl_decls.h"

#include <dlfcn.h>
#include <limits.h>
#include <link.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *g_handles[D4J_LIB_COUNT];
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static jclass g_cuda_exception; /* global ref, set in JNI_OnLoad */

JNIEXPORT jint JNICALL JNI_OnLoad(JavaVM *vm, void *reserved) {
    JNIEnv *env;
    if ((*vm)->GetEnv(vm, (void **) &env, JNI_VERSION_1_8) != JNI_OK) return JNI_ERR;
    jclass c = (*env)->FindClass(env, "io/github/diffusion4j/backend/cuda/CudaException");
    if (c == NULL) {
        (*env)->ExceptionClear(env);
        c = (*env)->FindClass(env, "java/lang/IllegalStateException");
        if (c == NULL) return JNI_ERR;
    }
    g_cuda_exception = (jclass) (*env)->NewGlobalRef(env, c);
    (*env)->DeleteLocalRef(env, c);
    return JNI_VERSION_1_8;
}

void d4j_throw(JNIEnv *env, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if ((*env)->ExceptionCheck(env)) return; /* keep the first exception */
    (*env)->ThrowNew(env, g_cuda_exception, msg);
}

void *d4j_lib_handle(int kind) {
    if (kind < 0 || kind >= D4J_LIB_COUNT) return NULL;
    pthread_mutex_lock(&g_lock);
    void *h = g_handles[kind];
    pthread_mutex_unlock(&g_lock);
    return h;
}

static const char *kind_name(int kind) {
    switch (kind) {
        case D4J_LIB_CUDA: return "the CUDA driver (libcuda.so.1)";
        case D4J_LIB_CUDNN: return "cuDNN (libcudnn.so.9)";
        case D4J_LIB_CUBLAS: return "cuBLAS (libcublas.so.13/.12)";
        case D4J_LIB_NCCL: return "NCCL (libnccl.so.2)";
        default: return "library";
    }
}

void *d4j_sym(JNIEnv *env, int kind, const char *name) {
    void *h = d4j_lib_handle(kind);
    if (h == NULL) {
        d4j_throw(env, "%s is not loaded (probe it first): cannot call %s", kind_name(kind), name);
        return NULL;
    }
    dlerror();
    void *f = dlsym(h, name);
    if (f == NULL) {
        const char *e = dlerror();
        d4j_throw(env, "%s has no symbol %s%s%s", kind_name(kind), name, e ? ": " : "", e ? e : "");
    }
    return f;
}

JNIEXPORT jint JNICALL Java_io_github_diffusion4j_backend_cuda_Shim_abiVersion(JNIEnv *env, jclass cls) {
    return D4J_SHIM_ABI;
}

/* ------------------------------------------------------------------------------------------ probe */

/* A growing "key=value\n" buffer; values have newlines replaced so every line stays one record. */
typedef struct {
    char buf[8192];
    size_t len;
    int ok; /* set when status=ok was written */
} kv_t;

static void kv(kv_t *o, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void kv(kv_t *o, const char *key, const char *fmt, ...) {
    char val[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(val, sizeof val, fmt, ap);
    va_end(ap);
    for (char *p = val; *p; p++) {
        if (*p == '\n' || *p == '\r') *p = ' ';
    }
    if (strcmp(key, "status") == 0) o->ok = strcmp(val, "ok") == 0;
    int n = snprintf(o->buf + o->len, sizeof o->buf - o->len, "%s=%s\n", key, val);
    if (n > 0) {
        o->len += (size_t) n;
        if (o->len >= sizeof o->buf) o->len = sizeof o->buf - 1;
    }
}

static const char *cu_error_name(d4j_cuGetErrorName_t getName, d4j_CUresult r, char *tmp, size_t n) {
    const char *s = NULL;
    if (getName != NULL && getName(r, &s) == D4J_CUDA_SUCCESS && s != NULL) return s;
    snprintf(tmp, n, "CUresult %d", r);
    return tmp;
}

static void probe_driver(void *h, kv_t *o) {
    d4j_cuDriverGetVersion_t getVersion = (d4j_cuDriverGetVersion_t) dlsym(h, "cuDriverGetVersion");
    d4j_cuInit_t init = (d4j_cuInit_t) dlsym(h, "cuInit");
    d4j_cuGetErrorName_t errName = (d4j_cuGetErrorName_t) dlsym(h, "cuGetErrorName");
    d4j_cuDeviceGetCount_t getCount = (d4j_cuDeviceGetCount_t) dlsym(h, "cuDeviceGetCount");
    d4j_cuDeviceGet_t getDevice = (d4j_cuDeviceGet_t) dlsym(h, "cuDeviceGet");
    d4j_cuDeviceGetName_t getName = (d4j_cuDeviceGetName_t) dlsym(h, "cuDeviceGetName");
    d4j_cuDeviceGetAttribute_t getAttr = (d4j_cuDeviceGetAttribute_t) dlsym(h, "cuDeviceGetAttribute");
    d4j_cuDeviceTotalMem_t totalMem = (d4j_cuDeviceTotalMem_t) dlsym(h, "cuDeviceTotalMem_v2");
    if (getVersion == NULL || init == NULL || getCount == NULL) {
        kv(o, "status", "error");
        kv(o, "error", "not a CUDA driver library: cuDriverGetVersion/cuInit/cuDeviceGetCount missing");
        return;
    }
    char tmp[64];
    int v = 0;
    d4j_CUresult r = getVersion(&v);
    if (r == D4J_CUDA_SUCCESS) {
        kv(o, "versionCode", "%d", v);
        kv(o, "version", "%d.%d", v / 1000, (v % 1000) / 10);
    }
    r = init(0);
    kv(o, "init", "%s", r == D4J_CUDA_SUCCESS ? "CUDA_SUCCESS" : cu_error_name(errName, r, tmp, sizeof tmp));
    if (r != D4J_CUDA_SUCCESS) {
        kv(o, "devices", "0");
        kv(o, "status", "ok");
        return;
    }
    int count = 0;
    r = getCount(&count);
    if (r != D4J_CUDA_SUCCESS) {
        kv(o, "status", "error");
        kv(o, "error", "cuDeviceGetCount failed: %s", cu_error_name(errName, r, tmp, sizeof tmp));
        return;
    }
    kv(o, "devices", "%d", count);
    d4j_CUdevice dev;
    if (count > 0 && getDevice != NULL && getDevice(&dev, 0) == D4J_CUDA_SUCCESS) {
        char name[256] = {0};
        if (getName != NULL && getName(name, (int) sizeof name - 1, dev) == D4J_CUDA_SUCCESS) {
            kv(o, "device0.name", "%s", name);
        }
        int major = 0, minor = 0;
        if (getAttr != NULL && getAttr(&major, D4J_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev) == 0
            && getAttr(&minor, D4J_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev) == 0) {
            kv(o, "device0.cc", "%d.%d", major, minor);
        }
        size_t bytes = 0;
        if (totalMem != NULL && totalMem(&bytes, dev) == D4J_CUDA_SUCCESS) kv(o, "device0.memory", "%zu", bytes);
    }
    kv(o, "status", "ok");
}

static void probe_cudnn(void *h, kv_t *o) {
    d4j_cudnnGetVersion_t getVersion = (d4j_cudnnGetVersion_t) dlsym(h, "cudnnGetVersion");
    if (getVersion == NULL) {
        kv(o, "status", "error");
        kv(o, "error", "not a cuDNN library: cudnnGetVersion missing");
        return;
    }
    size_t v = getVersion();
    kv(o, "versionCode", "%zu", v);
    /* cuDNN 9 encodes major*10000 + minor*100 + patch (CUDNN_VERSION in cudnn_version.h); cuDNN 8 used
       major*1000 + minor*100 + patch */
    if (v >= 90000) kv(o, "version", "%zu.%zu.%zu", v / 10000, (v % 10000) / 100, v % 100);
    else kv(o, "version", "%zu.%zu.%zu", v / 1000, (v % 1000) / 100, v % 100);
    kv(o, "status", "ok");
}

static void probe_cublas(void *h, kv_t *o) {
    d4j_cublasGetProperty_t getProperty = (d4j_cublasGetProperty_t) dlsym(h, "cublasGetProperty");
    if (getProperty == NULL) {
        kv(o, "status", "error");
        kv(o, "error", "not a cuBLAS library: cublasGetProperty missing");
        return;
    }
    int major = -1, minor = -1, patch = -1;
    int r1 = getProperty(D4J_MAJOR_VERSION, &major);
    int r2 = getProperty(D4J_MINOR_VERSION, &minor);
    int r3 = getProperty(D4J_PATCH_LEVEL, &patch);
    if (r1 != 0 || r2 != 0 || r3 != 0) {
        kv(o, "status", "error");
        kv(o, "error", "cublasGetProperty failed with status %d", r1 != 0 ? r1 : r2 != 0 ? r2 : r3);
        return;
    }
    kv(o, "version", "%d.%d.%d", major, minor, patch);
    kv(o, "status", "ok");
}

/* NCCL: ncclGetVersion gives X * 10000 + Y * 100 + Z from 2.9 on (X * 1000 + Y * 100 + Z before). */
static void probe_nccl(void *h, kv_t *o) {
    d4j_ncclGetVersion_t getVersion = (d4j_ncclGetVersion_t) dlsym(h, "ncclGetVersion");
    if (getVersion == NULL || dlsym(h, "ncclCommInitRank") == NULL || dlsym(h, "ncclAllReduce") == NULL) {
        kv(o, "status", "error");
        kv(o, "error", "not a library of NCCL: ncclGetVersion/ncclCommInitRank/ncclAllReduce missing");
        return;
    }
    int v = 0;
    if (getVersion(&v) == D4J_NCCL_SUCCESS) {
        kv(o, "versionCode", "%d", v);
        if (v >= 10000) kv(o, "version", "%d.%d.%d", v / 10000, (v % 10000) / 100, v % 100);
        else kv(o, "version", "%d.%d.%d", v / 1000, (v % 1000) / 100, v % 100);
    }
    kv(o, "status", "ok");
}

JNIEXPORT jstring JNICALL Java_io_github_diffusion4j_backend_cuda_Shim_probeLibrary(JNIEnv *env, jclass cls,
                                                                                    jstring jname, jint kind,
                                                                                    jboolean keep) {
    if (jname == NULL || kind < 0 || kind >= D4J_LIB_COUNT) {
        d4j_throw(env, "probeLibrary: bad arguments (kind %d)", (int) kind);
        return NULL;
    }
    const char *name = (*env)->GetStringUTFChars(env, jname, NULL);
    if (name == NULL) return NULL; /* OutOfMemoryError pending */
    kv_t *o = calloc(1, sizeof(kv_t));
    if (o == NULL) {
        (*env)->ReleaseStringUTFChars(env, jname, name);
        d4j_throw(env, "probeLibrary: out of memory");
        return NULL;
    }
    kv(o, "name", "%s", name);

    dlerror();
    void *h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        const char *e = dlerror();
        kv(o, "status", "missing");
        kv(o, "error", "%s", e != NULL ? e : "dlopen failed");
    } else {
        struct link_map *lm = NULL;
        if (dlinfo(h, RTLD_DI_LINKMAP, &lm) == 0 && lm != NULL && lm->l_name != NULL && lm->l_name[0]) {
            kv(o, "path", "%s", lm->l_name);
            char real[PATH_MAX];
            if (realpath(lm->l_name, real) != NULL) kv(o, "realpath", "%s", real);
        }
        switch (kind) {
            case D4J_LIB_CUDA: probe_driver(h, o); break;
            case D4J_LIB_CUDNN: probe_cudnn(h, o); break;
            case D4J_LIB_CUBLAS: probe_cublas(h, o); break;
            case D4J_LIB_NCCL: probe_nccl(h, o); break;
            default: kv(o, "status", "ok"); break;
        }
        if (keep && o->ok) {
            pthread_mutex_lock(&g_lock);
            if (g_handles[kind] == NULL) g_handles[kind] = h;
            pthread_mutex_unlock(&g_lock);
        }
    }
    (*env)->ReleaseStringUTFChars(env, jname, name);
    jstring result = (*env)->NewStringUTF(env, o->buf);
    free(o);
    return result;
}
