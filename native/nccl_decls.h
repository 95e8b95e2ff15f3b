/*
 * The NCCL declarations the shim calls, by value from NCCL 2.x's nccl.h (nccl.h.in: ncclComm_t, ncclUniqueId,
 * ncclResult_t, ncclDataType_t, ncclRedOp_t; unchanged since NCCL 2.4, and these entry points since 2.0).
 * cudaStream_t is passed as void *. No NCCL header is needed to build the shim.
 */
#ifndef D4J_NCCL_DECLS_H
#define D4J_NCCL_DECLS_H

#include <stddef.h>

typedef int d4j_ncclResult_t;   /* ncclSuccess = 0, ..., ncclRemoteError = 6, ncclInProgress = 7 */
typedef void *d4j_ncclComm_t;   /* typedef struct ncclComm *ncclComm_t; */

#define D4J_NCCL_UNIQUE_ID_BYTES 128   /* #define NCCL_UNIQUE_ID_BYTES 128 */
typedef struct { char internal[D4J_NCCL_UNIQUE_ID_BYTES]; } d4j_ncclUniqueId;

#define D4J_NCCL_SUCCESS 0
#define D4J_NCCL_IN_PROGRESS 7
#define D4J_NCCL_FLOAT32 7             /* ncclDataType_t: ncclFloat32 = 7 (ncclBfloat16 = 9) */
#define D4J_NCCL_SUM 0                 /* ncclRedOp_t: ncclSum = 0 */

typedef d4j_ncclResult_t (*d4j_ncclGetVersion_t)(int *version);
typedef d4j_ncclResult_t (*d4j_ncclGetUniqueId_t)(d4j_ncclUniqueId *uniqueId);
/* the id is passed by value */
typedef d4j_ncclResult_t (*d4j_ncclCommInitRank_t)(d4j_ncclComm_t *comm, int nranks, d4j_ncclUniqueId commId, int rank);
typedef d4j_ncclResult_t (*d4j_ncclAllReduce_t)(const void *sendbuff, void *recvbuff, size_t count, int datatype, int op,
                                                d4j_ncclComm_t comm, void *stream);
typedef d4j_ncclResult_t (*d4j_ncclCommAbort_t)(d4j_ncclComm_t comm);
typedef d4j_ncclResult_t (*d4j_ncclCommDestroy_t)(d4j_ncclComm_t comm);
typedef d4j_ncclResult_t (*d4j_ncclCommGetAsyncError_t)(d4j_ncclComm_t comm, d4j_ncclResult_t *asyncError);
typedef const char *(*d4j_ncclGetErrorString_t)(d4j_ncclResult_t result);

#endif
