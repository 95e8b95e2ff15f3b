/*
 * The MPI declarations the shim calls, by value from Open MPI 4.1's mpi.h (libmpi.so.40; the same in Open MPI 5).
 * Open MPI's handles are pointers to structs, and its predefined handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, ...)
 * are the addresses of exported globals: mpi.h defines e.g.
 *     #define MPI_COMM_WORLD OMPI_PREDEFINED_GLOBAL(MPI_Comm, ompi_mpi_comm_world)
 *     #define OMPI_PREDEFINED_GLOBAL(type, global) ((type) ((void *) &(global)))
 * so the shim takes them with dlsym("ompi_mpi_comm_world") and friends. This is Open MPI's ABI, not MPICH's
 * (whose handles are integers); libmpi.so.40 is Open MPI's soname. No MPI header is needed to build the shim.
 */
#ifndef D4J_MPI_DECLS_H
#define D4J_MPI_DECLS_H

#include <stddef.h>

typedef void *d4j_MPI_Comm;       /* typedef struct ompi_communicator_t *MPI_Comm; */
typedef void *d4j_MPI_Datatype;   /* typedef struct ompi_datatype_t *MPI_Datatype; */
typedef void *d4j_MPI_Op;         /* typedef struct ompi_op_t *MPI_Op; */
typedef void *d4j_MPI_Request;    /* typedef struct ompi_request_t *MPI_Request; */
typedef void *d4j_MPI_Errhandler; /* typedef struct ompi_errhandler_t *MPI_Errhandler; */
typedef void *d4j_MPI_Info;       /* typedef struct ompi_info_t *MPI_Info; */

#define D4J_MPI_SUCCESS 0                 /* mpi.h: #define MPI_SUCCESS 0 */
#define D4J_MPI_THREAD_MULTIPLE 3         /* enum { MPI_THREAD_SINGLE, _FUNNELED, _SERIALIZED, _MULTIPLE } */
#define D4J_MPI_COMM_TYPE_SHARED 0        /* enum { MPI_COMM_TYPE_SHARED, OMPI_COMM_TYPE_HWTHREAD, ... } */
#define D4J_MPI_MAX_ERROR_STRING 256      /* OPAL_MAX_ERROR_STRING */
#define D4J_MPI_MAX_LIBRARY_VERSION_STRING 256
/* MPI_STATUS_IGNORE and MPI_STATUSES_IGNORE are ((MPI_Status *) 0) */

typedef int (*d4j_MPI_Init_thread_t)(int *argc, char ***argv, int required, int *provided);
typedef int (*d4j_MPI_Initialized_t)(int *flag);
typedef int (*d4j_MPI_Finalized_t)(int *flag);
typedef int (*d4j_MPI_Finalize_t)(void);
typedef int (*d4j_MPI_Abort_t)(d4j_MPI_Comm comm, int errorcode);
typedef int (*d4j_MPI_Comm_rank_t)(d4j_MPI_Comm comm, int *rank);
typedef int (*d4j_MPI_Comm_size_t)(d4j_MPI_Comm comm, int *size);
typedef int (*d4j_MPI_Comm_dup_t)(d4j_MPI_Comm comm, d4j_MPI_Comm *newcomm);
typedef int (*d4j_MPI_Comm_free_t)(d4j_MPI_Comm *comm);
typedef int (*d4j_MPI_Comm_split_type_t)(d4j_MPI_Comm comm, int split_type, int key, d4j_MPI_Info info,
                                         d4j_MPI_Comm *newcomm);
typedef int (*d4j_MPI_Comm_set_errhandler_t)(d4j_MPI_Comm comm, d4j_MPI_Errhandler errhandler);
typedef int (*d4j_MPI_Allreduce_t)(const void *sendbuf, void *recvbuf, int count, d4j_MPI_Datatype datatype,
                                   d4j_MPI_Op op, d4j_MPI_Comm comm);
typedef int (*d4j_MPI_Iallreduce_t)(const void *sendbuf, void *recvbuf, int count, d4j_MPI_Datatype datatype,
                                    d4j_MPI_Op op, d4j_MPI_Comm comm, d4j_MPI_Request *request);
typedef int (*d4j_MPI_Bcast_t)(void *buffer, int count, d4j_MPI_Datatype datatype, int root, d4j_MPI_Comm comm);
typedef int (*d4j_MPI_Barrier_t)(d4j_MPI_Comm comm);
typedef int (*d4j_MPI_Waitall_t)(int count, d4j_MPI_Request requests[], void *statuses);
typedef int (*d4j_MPI_Testall_t)(int count, d4j_MPI_Request requests[], int *flag, void *statuses);
typedef int (*d4j_MPI_Error_string_t)(int errorcode, char *string, int *resultlen);
typedef int (*d4j_MPI_Get_library_version_t)(char *version, int *resultlen);

/* MPI_IN_PLACE: #define MPI_IN_PLACE ((void *) 1) */
#define D4J_MPI_IN_PLACE ((void *) 1)

#endif
