/*
 * The few CUDA driver API declarations the probe and the kernel launcher call, by value from CUDA 13.0's cuda.h
 * (the driver API has kept these signatures and values since CUDA 3.2; cuDeviceTotalMem is exported as
 * cuDeviceTotalMem_v2).
 * No CUDA header is needed to build the shim.
 */
#ifndef D4J_CUDA_DECLS_H
#define D4J_CUDA_DECLS_H

#include <stddef.h>

typedef int d4j_CUresult;   /* enum cudaError_enum; CUDA_SUCCESS = 0 */
typedef int d4j_CUdevice;   /* typedef int CUdevice_v1; typedef CUdevice_v1 CUdevice; */

#define D4J_CUDA_SUCCESS 0
#define D4J_CUDA_ERROR_NO_DEVICE 100                          /* cuda.h: CUDA_ERROR_NO_DEVICE = 100 */
#define D4J_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR 75   /* cuda.h */
#define D4J_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR 76   /* cuda.h */

typedef d4j_CUresult (*d4j_cuInit_t)(unsigned int flags);
typedef d4j_CUresult (*d4j_cuDriverGetVersion_t)(int *driverVersion);
typedef d4j_CUresult (*d4j_cuDeviceGetCount_t)(int *count);
typedef d4j_CUresult (*d4j_cuDeviceGet_t)(d4j_CUdevice *device, int ordinal);
typedef d4j_CUresult (*d4j_cuDeviceGetName_t)(char *name, int len, d4j_CUdevice dev);
typedef d4j_CUresult (*d4j_cuDeviceGetAttribute_t)(int *pi, int attrib, d4j_CUdevice dev);
typedef d4j_CUresult (*d4j_cuDeviceTotalMem_t)(size_t *bytes, d4j_CUdevice dev);   /* "cuDeviceTotalMem_v2" */
typedef d4j_CUresult (*d4j_cuGetErrorName_t)(d4j_CUresult error, const char **pStr);
/* cuLaunchKernel(CUfunction f, gridDimX..Z, blockDimX..Z, sharedMemBytes, CUstream hStream, void **kernelParams,
   void **extra); CUfunction and CUstream are opaque pointers */
typedef d4j_CUresult (*d4j_cuLaunchKernel_t)(void *f, unsigned int gridDimX, unsigned int gridDimY,
                                             unsigned int gridDimZ, unsigned int blockDimX, unsigned int blockDimY,
                                             unsigned int blockDimZ, unsigned int sharedMemBytes, void *hStream,
                                             void **kernelParams, void **extra);

#endif
