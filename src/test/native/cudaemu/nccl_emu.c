/*
 * nccl_emu.c: a CPU stand-in for NCCL, built as libnccl.so.2, used ONLY by the emulated-CUDA tests (never shipped).
 * In the emulation a "device pointer" is a host pointer, so an all-reduce is an MPI_Allreduce over the ranks on
 * host memory: the process is already an MPI rank (the data-parallel code initialised Open MPI through the shim;
 * libmpi.so.40 is found with dlopen RTLD_NOLOAD), and each communicator is a duplicate of MPI_COMM_WORLD. Without
 * MPI (train --distributed self) a communicator of one rank is allowed, and its sums are copies.
 *
 * Asynchrony as on a GPU: ncclAllReduce validates its arguments at the call (NULL or out-of-allocation buffers,
 * unknown types and ops, a destroyed or aborted communicator), then queues the sum behind the driver's other work
 * (d4jemu_enqueue), so it sees the gradients the kernels queued before it wrote and the work queued after it sees
 * the sums. The emulated driver runs its one queue at synchronising calls, which every rank reaches at the same
 * point of the same program, so the ranks' queued sums meet. A failure inside a queued sum becomes the
 * communicator's asynchronous error (ncclCommGetAsyncError), as NCCL reports a remote failure.
 *
 * Exports what native/nccl.c and native/probe.c dlsym(): ncclGetVersion, ncclGetUniqueId, ncclCommInitRank,
 * ncclAllReduce, ncclCommGetAsyncError, ncclGetErrorString, ncclCommAbort, ncclCommDestroy. Only FP32 (ncclFloat32)
 * sums are emulated; other types or ops return ncclInvalidArgument.
 */
#define _GNU_SOURCE /* RTLD_NOLOAD */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "emu_queue.h"
#include "mpi_decls.h"
#include "nccl_decls.h"

enum { ncclSuccess = 0, ncclUnhandledCudaError = 1, ncclSystemError = 2, ncclInternalError = 3,
       ncclInvalidArgument = 4, ncclInvalidUsage = 5, ncclRemoteError = 6 };

static const char MAGIC[8] = "d4jemu1";

typedef struct {
    d4j_MPI_Comm comm;   /* NULL: one rank without MPI (--distributed self) */
    int rank, size;
    volatile int error;   /* the asynchronous error */
    int aborted;
} emu_comm;

static struct {
    int ok;
    d4j_MPI_Comm world;
    d4j_MPI_Datatype t_float, t_long;
    d4j_MPI_Op op_sum, op_max, op_min;
    d4j_MPI_Comm_dup_t dup;
    d4j_MPI_Comm_free_t comm_free;
    d4j_MPI_Comm_rank_t rank;
    d4j_MPI_Comm_size_t size;
    d4j_MPI_Allreduce_t allreduce;
    d4j_MPI_Initialized_t initialized;
} M;

/* The already loaded Open MPI; 0 when this process is no MPI rank. */
static int mpi(void) {
    if (M.ok) return 1;
    void *h = dlopen("libmpi.so.40", RTLD_NOW | RTLD_NOLOAD | RTLD_GLOBAL);
    if (h == NULL) return 0;
    M.world = dlsym(h, "ompi_mpi_comm_world");
    M.t_float = dlsym(h, "ompi_mpi_float");
    M.t_long = dlsym(h, "ompi_mpi_long_long_int");
    M.op_sum = dlsym(h, "ompi_mpi_op_sum");
    M.op_max = dlsym(h, "ompi_mpi_op_max");
    M.op_min = dlsym(h, "ompi_mpi_op_min");
    M.dup = (d4j_MPI_Comm_dup_t) dlsym(h, "MPI_Comm_dup");
    M.comm_free = (d4j_MPI_Comm_free_t) dlsym(h, "MPI_Comm_free");
    M.rank = (d4j_MPI_Comm_rank_t) dlsym(h, "MPI_Comm_rank");
    M.size = (d4j_MPI_Comm_size_t) dlsym(h, "MPI_Comm_size");
    M.allreduce = (d4j_MPI_Allreduce_t) dlsym(h, "MPI_Allreduce");
    M.initialized = (d4j_MPI_Initialized_t) dlsym(h, "MPI_Initialized");
    int flag = 0;
    if (!M.world || !M.t_float || !M.t_long || !M.op_sum || !M.op_max || !M.op_min || !M.dup || !M.comm_free
        || !M.rank || !M.size || !M.allreduce || !M.initialized || M.initialized(&flag) != 0 || !flag) {
        return 0;
    }
    M.ok = 1;
    return 1;
}

int ncclGetVersion(int *version) {
    if (version == NULL) return ncclInvalidArgument;
    *version = 22305; /* reports itself as 2.23.5 */
    return ncclSuccess;
}

const char *ncclGetErrorString(int r) {
    switch (r) {
        case ncclSuccess: return "no error";
        case ncclUnhandledCudaError: return "unhandled cuda error (emulated)";
        case ncclSystemError: return "unhandled system error (emulated: an MPI call failed)";
        case ncclInternalError: return "internal error (emulated)";
        case ncclInvalidArgument: return "invalid argument (emulated)";
        case ncclInvalidUsage: return "invalid usage (emulated)";
        case ncclRemoteError: return "remote process exited or there was a network error (emulated)";
        default: return "unknown result code (emulated)";
    }
}

int ncclGetUniqueId(d4j_ncclUniqueId *id) {
    if (id == NULL) return ncclInvalidArgument;
    memset(id, 0, sizeof *id);
    memcpy(id->internal, MAGIC, sizeof MAGIC);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = (uint64_t) ts.tv_nsec ^ ((uint64_t) ts.tv_sec << 20) ^ ((uint64_t) getpid() << 40);
    memcpy(id->internal + 8, &x, sizeof x);
    return ncclSuccess;
}

/* Collective over the MPI world: every rank must pass the same id, the world's size and its own MPI rank. */
int ncclCommInitRank(d4j_ncclComm_t *out, int nranks, d4j_ncclUniqueId id, int rank) {
    if (out == NULL || nranks < 1 || rank < 0 || rank >= nranks) return ncclInvalidArgument;
    if (memcmp(id.internal, MAGIC, sizeof MAGIC) != 0) return ncclInvalidArgument; /* not from ncclGetUniqueId */
    emu_comm *c = calloc(1, sizeof *c);
    if (c == NULL) return ncclSystemError;
    if (!mpi()) {   /* no MPI rank: only a communicator of one, whose sums are copies */
        if (nranks != 1) {
            free(c);
            return ncclInvalidUsage;
        }
        c->size = 1;
        *out = c;
        return ncclSuccess;
    }
    if (M.dup(M.world, &c->comm) != 0) {
        free(c);
        return ncclSystemError;
    }
    M.rank(c->comm, &c->rank);
    M.size(c->comm, &c->size);
    long long mine, lo, hi;
    memcpy(&mine, id.internal + 8, sizeof mine);
    int agree = M.allreduce(&mine, &lo, 1, M.t_long, M.op_min, c->comm) == 0
                && M.allreduce(&mine, &hi, 1, M.t_long, M.op_max, c->comm) == 0 && lo == hi;
    if (!agree || c->size != nranks || c->rank != rank) {
        M.comm_free(&c->comm);
        free(c);
        return ncclInvalidArgument;
    }
    *out = c;
    return ncclSuccess;
}

typedef struct {
    emu_comm *comm;
    const float *send;
    float *recv;
    size_t count;
} job;

static void run_job(void *arg) {
    job *j = arg;
    if (j->comm->error || j->comm->aborted) return;
    if (j->comm->comm == NULL) { /* one rank: the sum is the input */
        if (j->send != j->recv) memmove(j->recv, j->send, j->count * sizeof(float));
        return;
    }
    size_t done = 0;
    while (done < j->count) {
        int n = j->count - done > (1u << 30) ? (1 << 30) : (int) (j->count - done);
        const void *src = j->send == j->recv ? D4J_MPI_IN_PLACE : (const void *) (j->send + done);
        if (M.allreduce(src, j->recv + done, n, M.t_float, M.op_sum, j->comm->comm) != 0) {
            j->comm->error = ncclSystemError;
            return;
        }
        done += (size_t) n;
    }
}

int ncclAllReduce(const void *send, void *recv, size_t count, int datatype, int op, d4j_ncclComm_t comm, void *stream) {
    emu_comm *c = comm;
    if (c == NULL || c->aborted) return ncclInvalidArgument;
    if (datatype != D4J_NCCL_FLOAT32 || op != D4J_NCCL_SUM) return ncclInvalidArgument;
    if (count == 0) return ncclSuccess;
    if (send == NULL || recv == NULL) return ncclInvalidArgument;
    const emu_driver *d = driver();
    if (d != NULL && (d->check_range(send, count * sizeof(float), "ncclAllReduce sendbuff")
                      || d->check_range(recv, count * sizeof(float), "ncclAllReduce recvbuff"))) {
        return ncclUnhandledCudaError;
    }
    job *j = malloc(sizeof *j);
    if (j == NULL) return ncclSystemError;
    *j = (job){c, send, recv, count};
    if (d == NULL) {
        run_job(j);
        free(j);
        return c->error;
    }
    return d->enqueue(run_job, j, free) == 0 ? ncclSuccess : ncclUnhandledCudaError;
}

int ncclCommGetAsyncError(d4j_ncclComm_t comm, int *error) {
    emu_comm *c = comm;
    if (c == NULL || error == NULL) return ncclInvalidArgument;
    *error = c->error;
    return ncclSuccess;
}

/* Marks the communicator dead (queued sums on it are skipped); its MPI duplicate is leaked, as peers may be gone. */
int ncclCommAbort(d4j_ncclComm_t comm) {
    emu_comm *c = comm;
    if (c == NULL) return ncclInvalidArgument;
    c->aborted = 1;
    return ncclSuccess;
}

int ncclCommDestroy(d4j_ncclComm_t comm) {
    emu_comm *c = comm;
    if (c == NULL) return ncclInvalidArgument;
    const emu_driver *d = driver();
    if (d != NULL) d->flush(); /* the queued sums use the communicator */
    if (!c->aborted && c->comm != NULL) M.comm_free(&c->comm);
    free(c);
    return ncclSuccess;
}
