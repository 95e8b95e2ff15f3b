/*
 * The emulated cuDNN's arithmetic (cudnn_emu.c holds the API: descriptors, algorithms, checks, the queue): the
 * reference convolution passes on float NCHW operands, accumulated in double, and the conversion of an operand into
 * and out of that form (bf16, NHWC). Tests only.
 */
#ifndef D4J_CUDNN_EMU_MATH_H
#define D4J_CUDNN_EMU_MATH_H

#include <stddef.h>

/* internal to libcudnn.so.9's emulation: not exported (cudnn_emu.c exports exactly cuDNN's functions) */
#pragma GCC visibility push(hidden)

/* The geometry of one convolution, checked. */
typedef struct {
    int n, c, h, w;      /* x */
    int k, kh, kw;       /* w: [k, c, kh, kw] */
    int ho, wo;          /* y: [n, k, ho, wo] */
    int padH, padW, sH, sW, dH, dW;
    int flip;            /* CUDNN_CONVOLUTION: the filter is applied flipped */
    int math;
    int bf16;            /* x, w and y are CUDNN_DATA_BFLOAT16 (computed in float: PSEUDO_BFLOAT16_CONFIG) */
    int nhwc;            /* x, w and y are CUDNN_TENSOR_NHWC ([n, h, w, c], [k, kh, kw, c], [n, ho, wo, k]) */
} geom;

/* y = alpha conv(x, w) + beta y (y read only when readOld); acc: one output plane of doubles */
void d4jemu_conv_fwd(const geom *g, double alpha, const float *x, const float *w, double beta, int readOld, float *y,
                     double *acc);
/* dx = alpha conv^T(dy, w) + beta dx; acc: one input plane of doubles */
void d4jemu_conv_bwd_data(const geom *g, double alpha, const float *w, const float *dy, double beta, int readOld,
                          float *dx, double *acc);
/* dw = alpha dW(x, dy) + beta dw */
void d4jemu_conv_bwd_filter(const geom *g, double alpha, const float *x, const float *dy, double beta, int readOld,
                            float *dw);
/* An operand [outer, ch, sp] (float or bf16, in NCHW or NHWC memory) as a new float array in NCHW order; NULL when
   out of memory. */
float *d4jemu_widen_nchw(const void *p, int bf16, int nhwc, size_t outer, size_t ch, size_t sp);
/* The inverse: the NCHW floats f stored back into p (bf16 rounded to nearest even, once). */
void d4jemu_narrow_nchw(void *p, const float *f, int bf16, int nhwc, size_t outer, size_t ch, size_t sp);

#pragma GCC visibility pop

#endif
