/*
 * The cuDNN declarations the shim calls, written out by value so that no cuDNN header is needed to build it.
 * Checked against the cuDNN 9.6 headers (cudnn_graph.h, cudnn_ops.h, cudnn_cnn.h); the legacy convolution API
 * used here is marked deprecated in cuDNN 9 but still shipped and exported by libcudnn.so.9, which forwards
 * to the sub-libraries (libcudnn_ops / libcudnn_cnn / engines) itself.
 *
 * Enums are passed as int (the ABI of a C enum on x86-64 / aarch64 Linux), opaque handles as void *.
 */
#ifndef D4J_CUDNN_DECLS_H
#define D4J_CUDNN_DECLS_H

#include <stddef.h>

typedef int d4j_cudnnStatus_t;   /* cudnn_graph.h: cudnnStatus_t, CUDNN_STATUS_SUCCESS = 0 */
typedef void *d4j_cudnnHandle_t; /* struct cudnnContext * */
typedef void *d4j_cudnnTensorDescriptor_t;
typedef void *d4j_cudnnFilterDescriptor_t;
typedef void *d4j_cudnnConvolutionDescriptor_t;

/* cudnn_graph.h */
#define D4J_CUDNN_STATUS_SUCCESS 0
#define D4J_CUDNN_DATA_FLOAT 0                        /* cudnnDataType_t */
#define D4J_CUDNN_DATA_BFLOAT16 9
#define D4J_CUDNN_TENSOR_NCHW 0                       /* cudnnTensorFormat_t */
#define D4J_CUDNN_TENSOR_NHWC 1
#define D4J_CUDNN_CROSS_CORRELATION 1                 /* cudnnConvolutionMode_t (CUDNN_CONVOLUTION = 0) */
#define D4J_CUDNN_DEFAULT_MATH 0                      /* cudnnMathType_t */
#define D4J_CUDNN_TENSOR_OP_MATH 1
#define D4J_CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION 2   /* lets FP32 convolutions run on TF32 tensor cores */
#define D4J_CUDNN_FMA_MATH 3                          /* FP32 FMA only, no TF32 */

/* cudnn_ops.h ("TODO: move these enums out to the appropriate submodule"):
   cudnnConvolutionFwdAlgo_t 0..7 (IMPLICIT_GEMM=0, IMPLICIT_PRECOMP_GEMM=1, GEMM=2, DIRECT=3, FFT=4,
   FFT_TILING=5, WINOGRAD=6, WINOGRAD_NONFUSED=7), cudnnConvolutionBwdDataAlgo_t 0..5 (ALGO_0=0 is
   non-deterministic), cudnnConvolutionBwdFilterAlgo_t 0..6 (ALGO_0=0 and ALGO_3=3 non-deterministic) */
#define D4J_CUDNN_CONVOLUTION_FWD_ALGO_COUNT 8
#define D4J_CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT 6
#define D4J_CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT 7
#define D4J_CUDNN_DETERMINISTIC 1                     /* cudnnDeterminism_t: NON_DETERMINISTIC = 0 */

/*
 * cudnn_cnn.h: cudnnConvolutionFwdAlgoPerf_t, cudnnConvolutionBwdDataAlgoPerf_t and
 * cudnnConvolutionBwdFilterAlgoPerf_t all have this layout (cuDNN 7 through 9):
 *   { algo (enum); status (cudnnStatus_t); float time; size_t memory; cudnnDeterminism_t determinism;
 *     cudnnMathType_t mathType; int reserved[3]; }
 * On LP64: offsets 0, 4, 8, 16 (after 4 bytes of padding), 24, 28, 32; sizeof = 48.
 */
typedef struct {
    int algo;
    d4j_cudnnStatus_t status;
    float time;
    size_t memory;
    int determinism;
    int mathType;
    int reserved[3];
} d4j_cudnnAlgoPerf_t;

/* cudnn_graph.h */
typedef size_t (*d4j_cudnnGetVersion_t)(void);
typedef const char *(*d4j_cudnnGetErrorString_t)(d4j_cudnnStatus_t status);
typedef void (*d4j_cudnnGetLastErrorString_t)(char *message, size_t max_size);   /* cuDNN >= 9.0 */
typedef d4j_cudnnStatus_t (*d4j_cudnnCreate_t)(d4j_cudnnHandle_t *handle);
typedef d4j_cudnnStatus_t (*d4j_cudnnDestroy_t)(d4j_cudnnHandle_t handle);
typedef d4j_cudnnStatus_t (*d4j_cudnnSetStream_t)(d4j_cudnnHandle_t handle, void *stream);

/* cudnn_ops.h */
typedef d4j_cudnnStatus_t (*d4j_cudnnCreateTensorDescriptor_t)(d4j_cudnnTensorDescriptor_t *desc);
typedef d4j_cudnnStatus_t (*d4j_cudnnDestroyTensorDescriptor_t)(d4j_cudnnTensorDescriptor_t desc);
/* note the argument order: format before dataType here, dataType before format for filters */
typedef d4j_cudnnStatus_t (*d4j_cudnnSetTensor4dDescriptor_t)(d4j_cudnnTensorDescriptor_t desc, int format,
                                                             int dataType, int n, int c, int h, int w);
typedef d4j_cudnnStatus_t (*d4j_cudnnCreateFilterDescriptor_t)(d4j_cudnnFilterDescriptor_t *desc);
typedef d4j_cudnnStatus_t (*d4j_cudnnDestroyFilterDescriptor_t)(d4j_cudnnFilterDescriptor_t desc);
typedef d4j_cudnnStatus_t (*d4j_cudnnSetFilter4dDescriptor_t)(d4j_cudnnFilterDescriptor_t desc, int dataType,
                                                             int format, int k, int c, int h, int w);

/* cudnn_cnn.h */
typedef d4j_cudnnStatus_t (*d4j_cudnnCreateConvolutionDescriptor_t)(d4j_cudnnConvolutionDescriptor_t *desc);
typedef d4j_cudnnStatus_t (*d4j_cudnnDestroyConvolutionDescriptor_t)(d4j_cudnnConvolutionDescriptor_t desc);
typedef d4j_cudnnStatus_t (*d4j_cudnnSetConvolution2dDescriptor_t)(d4j_cudnnConvolutionDescriptor_t desc,
                                                                  int pad_h, int pad_w, int u, int v,
                                                                  int dilation_h, int dilation_w, int mode,
                                                                  int computeType);
typedef d4j_cudnnStatus_t (*d4j_cudnnGetConvolution2dForwardOutputDim_t)(
    d4j_cudnnConvolutionDescriptor_t convDesc, d4j_cudnnTensorDescriptor_t inputTensorDesc,
    d4j_cudnnFilterDescriptor_t filterDesc, int *n, int *c, int *h, int *w);
typedef d4j_cudnnStatus_t (*d4j_cudnnSetConvolutionMathType_t)(d4j_cudnnConvolutionDescriptor_t desc, int mathType);

typedef d4j_cudnnStatus_t (*d4j_cudnnGetConvolutionForwardAlgorithm_v7_t)(
    d4j_cudnnHandle_t handle, d4j_cudnnTensorDescriptor_t srcDesc, d4j_cudnnFilterDescriptor_t filterDesc,
    d4j_cudnnConvolutionDescriptor_t convDesc, d4j_cudnnTensorDescriptor_t destDesc, int requestedAlgoCount,
    int *returnedAlgoCount, d4j_cudnnAlgoPerf_t *perfResults);
typedef d4j_cudnnStatus_t (*d4j_cudnnFindConvolutionForwardAlgorithmEx_t)(
    d4j_cudnnHandle_t handle, d4j_cudnnTensorDescriptor_t xDesc, const void *x, d4j_cudnnFilterDescriptor_t wDesc,
    const void *w, d4j_cudnnConvolutionDescriptor_t convDesc, d4j_cudnnTensorDescriptor_t yDesc, void *y,
    int requestedAlgoCount, int *returnedAlgoCount, d4j_cudnnAlgoPerf_t *perfResults, void *workSpace,
    size_t workSpaceSizeInBytes);
typedef d4j_cudnnStatus_t (*d4j_cudnnGetConvolutionForwardWorkspaceSize_t)(
    d4j_cudnnHandle_t handle, d4j_cudnnTensorDescriptor_t xDesc, d4j_cudnnFilterDescriptor_t wDesc,
    d4j_cudnnConvolutionDescriptor_t convDesc, d4j_cudnnTensorDescriptor_t yDesc, int algo, size_t *sizeInBytes);
typedef d4j_cudnnStatus_t (*d4j_cudnnConvolutionForward_t)(
    d4j_cudnnHandle_t handle, const void *alpha, d4j_cudnnTensorDescriptor_t xDesc, const void *x,
    d4j_cudnnFilterDescriptor_t wDesc, const void *w, d4j_cudnnConvolutionDescriptor_t convDesc, int algo,
    void *workSpace, size_t workSpaceSizeInBytes, const void *beta, d4j_cudnnTensorDescriptor_t yDesc, void *y);

typedef d4j_cudnnStatus_t (*d4j_cudnnGetConvolutionBackwardDataAlgorithm_v7_t)(
    d4j_cudnnHandle_t handle, d4j_cudnnFilterDescriptor_t filterDesc, d4j_cudnnTensorDescriptor_t diffDesc,
    d4j_cudnnConvolutionDescriptor_t convDesc, d4j_cudnnTensorDescriptor_t gradDesc, int requestedAlgoCount,
    int *returnedAlgoCount, d4j_cudnnAlgoPerf_t *perfResults);
typedef d4j_cudnnStatus_t (*d4j_cudnnFindConvolutionBackwardDataAlgorithmEx_t)(
    d4j_cudnnHandle_t handle, d4j_cudnnFilterDescriptor_t wDesc, const void *w, d4j_cudnnTensorDescriptor_t dyDesc,
    const void *dy, d4j_cudnnConvolutionDescriptor_t convDesc, d4j_cudnnTensorDescriptor_t dxDesc, void *dx,
    int requestedAlgoCount, int *returnedAlgoCount, d4j_cudnnAlgoPerf_t *perfResults, void *workSpace,
    size_t workSpaceSizeInBytes);
typedef d4j_cudnnStatus_t (*d4j_cudnnGetConvolutionBackwardDataWorkspaceSize_t)(
    d4j_cudnnHandle_t handle, d4j_cudnnFilterDescriptor_t wDesc, d4j_cudnnTensorDescriptor_t dyDesc,
    d4j_cudnnConvolutionDescriptor_t convDesc, d4j_cudnnTensorDescriptor_t dxDesc, int algo, size_t *sizeInBytes);
typedef d4j_cudnnStatus_t (*d4j_cudnnConvolutionBackwardData_t)(
    d4j_cudnnHandle_t handle, const void *alpha, d4j_cudnnFilterDescriptor_t wDesc, const void *w,
    d4j_cudnnTensorDescriptor_t dyDesc, const void *dy, d4j_cudnnConvolutionDescriptor_t convDesc, int algo,
    void *workSpace, size_t workSpaceSizeInBytes, const void *beta, d4j_cudnnTensorDescriptor_t dxDesc, void *dx);

typedef d4j_cudnnStatus_t (*d4j_cudnnGetConvolutionBackwardFilterAlgorithm_v7_t)(
    d4j_cudnnHandle_t handle, d4j_cudnnTensorDescriptor_t srcDesc, d4j_cudnnTensorDescriptor_t diffDesc,
    d4j_cudnnConvolutionDescriptor_t convDesc, d4j_cudnnFilterDescriptor_t gradDesc, int requestedAlgoCount,
    int *returnedAlgoCount, d4j_cudnnAlgoPerf_t *perfResults);
typedef d4j_cudnnStatus_t (*d4j_cudnnFindConvolutionBackwardFilterAlgorithmEx_t)(
    d4j_cudnnHandle_t handle, d4j_cudnnTensorDescriptor_t xDesc, const void *x, d4j_cudnnTensorDescriptor_t dyDesc,
    const void *y, d4j_cudnnConvolutionDescriptor_t convDesc, d4j_cudnnFilterDescriptor_t dwDesc, void *dw,
    int requestedAlgoCount, int *returnedAlgoCount, d4j_cudnnAlgoPerf_t *perfResults, void *workSpace,
    size_t workSpaceSizeInBytes);
typedef d4j_cudnnStatus_t (*d4j_cudnnGetConvolutionBackwardFilterWorkspaceSize_t)(
    d4j_cudnnHandle_t handle, d4j_cudnnTensorDescriptor_t xDesc, d4j_cudnnTensorDescriptor_t dyDesc,
    d4j_cudnnConvolutionDescriptor_t convDesc, d4j_cudnnFilterDescriptor_t gradDesc, int algo, size_t *sizeInBytes);
typedef d4j_cudnnStatus_t (*d4j_cudnnConvolutionBackwardFilter_t)(
    d4j_cudnnHandle_t handle, const void *alpha, d4j_cudnnTensorDescriptor_t xDesc, const void *x,
    d4j_cudnnTensorDescriptor_t dyDesc, const void *dy, d4j_cudnnConvolutionDescriptor_t convDesc, int algo,
    void *workSpace, size_t workSpaceSizeInBytes, const void *beta, d4j_cudnnFilterDescriptor_t dwDesc, void *dw);

#endif
