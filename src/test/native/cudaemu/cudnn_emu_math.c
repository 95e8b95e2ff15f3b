/* The emulated cuDNN's reference convolution passes and operand conversions (declared in cudnn_emu_math.h). */
#include "cudnn_emu_math.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "emu_bf16.h"   /* bf16 <-> float */


/* the valid output range [*lo, *hi) of o with 0 <= o * s + off < in, clipped to [0, out) */
static void valid_range(int in, int off, int s, int out, int *lo, int *hi) {
    int a = off >= 0 ? 0 : (-off + s - 1) / s;
    int b = in - 1 - off < 0 ? 0 : (in - 1 - off) / s + 1;
    if (b > out) b = out;
    *lo = a;
    *hi = b > a ? b : a;
}

static size_t widx(const geom *g, int k, int c, int r, int s) {
    if (g->flip) {
        r = g->kh - 1 - r;
        s = g->kw - 1 - s;
    }
    return (((size_t) k * g->c + c) * g->kh + r) * g->kw + s;
}

static void store(float *out, const double *acc, size_t len, double alpha, double beta, int readOld) {
    if (!readOld) {
        for (size_t i = 0; i < len; i++) out[i] = (float) (alpha * acc[i]);
    } else {
        for (size_t i = 0; i < len; i++) out[i] = (float) (alpha * acc[i] + beta * out[i]);
    }
}

/* y[n, k] = sum over c, r, s of w[k, c, r, s] x[n, c, oh sH + r dH - padH, ow sW + s dW - padW] */
void d4jemu_conv_fwd(const geom *g, double alpha, const float *x, const float *w, double beta, int readOld, float *y,
                    double *acc) {
    const size_t hw = (size_t) g->h * g->w, ohw = (size_t) g->ho * g->wo;
    for (int n = 0; n < g->n; n++) {
        for (int k = 0; k < g->k; k++) {
            memset(acc, 0, ohw * sizeof(double));
            for (int c = 0; c < g->c; c++) {
                const float *xp = x + ((size_t) n * g->c + c) * hw;
                for (int r = 0; r < g->kh; r++) {
                    int offH = r * g->dH - g->padH, oh0, oh1;
                    valid_range(g->h, offH, g->sH, g->ho, &oh0, &oh1);
                    for (int s = 0; s < g->kw; s++) {
                        int offW = s * g->dW - g->padW, ow0, ow1;
                        valid_range(g->w, offW, g->sW, g->wo, &ow0, &ow1);
                        const double wv = w[widx(g, k, c, r, s)];
                        for (int oh = oh0; oh < oh1; oh++) {
                            const float *xr = xp + (size_t) (oh * g->sH + offH) * g->w + offW;
                            double *ar = acc + (size_t) oh * g->wo;
                            if (g->sW == 1) {
                                for (int ow = ow0; ow < ow1; ow++) ar[ow] += wv * xr[ow];
                            } else {
                                const int sw = g->sW;
                                for (int ow = ow0; ow < ow1; ow++) ar[ow] += wv * xr[(size_t) ow * sw];
                            }
                        }
                    }
                }
            }
            store(y + ((size_t) n * g->k + k) * ohw, acc, ohw, alpha, beta, readOld);
        }
    }
}

/* dx[n, c] = the adjoint of run_fwd: every dy element scattered back through the taps it was gathered from */
void d4jemu_conv_bwd_data(const geom *g, double alpha, const float *w, const float *dy, double beta, int readOld,
                         float *dx, double *acc) {
    const size_t hw = (size_t) g->h * g->w, ohw = (size_t) g->ho * g->wo;
    for (int n = 0; n < g->n; n++) {
        for (int c = 0; c < g->c; c++) {
            memset(acc, 0, hw * sizeof(double));
            for (int k = 0; k < g->k; k++) {
                const float *dyp = dy + ((size_t) n * g->k + k) * ohw;
                for (int r = 0; r < g->kh; r++) {
                    int offH = r * g->dH - g->padH, oh0, oh1;
                    valid_range(g->h, offH, g->sH, g->ho, &oh0, &oh1);
                    for (int s = 0; s < g->kw; s++) {
                        int offW = s * g->dW - g->padW, ow0, ow1;
                        valid_range(g->w, offW, g->sW, g->wo, &ow0, &ow1);
                        const double wv = w[widx(g, k, c, r, s)];
                        for (int oh = oh0; oh < oh1; oh++) {
                            double *ar = acc + (size_t) (oh * g->sH + offH) * g->w + offW;
                            const float *dr = dyp + (size_t) oh * g->wo;
                            if (g->sW == 1) {
                                for (int ow = ow0; ow < ow1; ow++) ar[ow] += wv * dr[ow];
                            } else {
                                const int sw = g->sW;
                                for (int ow = ow0; ow < ow1; ow++) ar[(size_t) ow * sw] += wv * dr[ow];
                            }
                        }
                    }
                }
            }
            store(dx + ((size_t) n * g->c + c) * hw, acc, hw, alpha, beta, readOld);
        }
    }
}

/* sum of a[i * stride] * b[i] for i < len, in double with four partial sums */
static double dot(const float *a, int stride, const float *b, int len) {
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int i = 0;
    if (stride == 1) {
        for (; i + 4 <= len; i += 4) {
            s0 += (double) a[i] * b[i];
            s1 += (double) a[i + 1] * b[i + 1];
            s2 += (double) a[i + 2] * b[i + 2];
            s3 += (double) a[i + 3] * b[i + 3];
        }
        for (; i < len; i++) s0 += (double) a[i] * b[i];
    } else {
        for (; i + 2 <= len; i += 2) {
            s0 += (double) a[(size_t) i * stride] * b[i];
            s1 += (double) a[(size_t) (i + 1) * stride] * b[i + 1];
        }
        for (; i < len; i++) s0 += (double) a[(size_t) i * stride] * b[i];
    }
    return (s0 + s1) + (s2 + s3);
}

/* dw[k, c, r, s] = sum over n, oh, ow of x[n, c, oh sH + r dH - padH, ow sW + s dW - padW] dy[n, k, oh, ow] */
void d4jemu_conv_bwd_filter(const geom *g, double alpha, const float *x, const float *dy, double beta, int readOld,
                           float *dw) {
    const size_t hw = (size_t) g->h * g->w, ohw = (size_t) g->ho * g->wo;
    for (int k = 0; k < g->k; k++) {
        for (int c = 0; c < g->c; c++) {
            for (int r = 0; r < g->kh; r++) {
                int offH = r * g->dH - g->padH, oh0, oh1;
                valid_range(g->h, offH, g->sH, g->ho, &oh0, &oh1);
                for (int s = 0; s < g->kw; s++) {
                    int offW = s * g->dW - g->padW, ow0, ow1;
                    valid_range(g->w, offW, g->sW, g->wo, &ow0, &ow1);
                    double sum = 0;
                    if (ow1 > ow0) {
                        for (int n = 0; n < g->n; n++) {
                            const float *xp = x + ((size_t) n * g->c + c) * hw;
                            const float *dyp = dy + ((size_t) n * g->k + k) * ohw;
                            for (int oh = oh0; oh < oh1; oh++) {
                                const float *xr = xp + (size_t) (oh * g->sH + offH) * g->w + offW
                                                  + (size_t) ow0 * g->sW;
                                sum += dot(xr, g->sW, dyp + (size_t) oh * g->wo + ow0, ow1 - ow0);
                            }
                        }
                    }
                    size_t i = widx(g, k, c, r, s);
                    dw[i] = readOld ? (float) (alpha * sum + beta * dw[i]) : (float) (alpha * sum);
                }
            }
        }
    }
}

/*
 * An operand as [outer, ch, sp] (x: n, c, h w; w: k, c, kh kw; y: n, k, ho wo): its NCHW index of (o, c, s), or, in
 * NHWC memory ([outer, sp, ch]), where that element lies.
 */
static size_t at(int nhwc, size_t o, size_t c, size_t s, size_t ch, size_t sp) {
    return nhwc ? (o * sp + s) * ch + c : (o * ch + c) * sp + s;
}

/* The operand p (float or bf16, NCHW or NHWC) as a new float array in NCHW order; NULL when out of memory. */
float *d4jemu_widen_nchw(const void *p, int bf16, int nhwc, size_t outer, size_t ch, size_t sp) {
    float *f = malloc((outer * ch * sp ? outer * ch * sp : 1) * sizeof(float));
    if (f == NULL) return NULL;
    for (size_t o = 0; o < outer; o++) {
        for (size_t c = 0; c < ch; c++) {
            for (size_t s = 0; s < sp; s++) {
                size_t i = at(nhwc, o, c, s, ch, sp);
                f[(o * ch + c) * sp + s] = bf16 ? emu_bf16_to_float(((const uint16_t *) p)[i]) : ((const float *) p)[i];
            }
        }
    }
    return f;
}

/* The inverse of widen_nchw: the NCHW floats f stored back into p (bf16: emu_bf16.h's rounding, once). */
void d4jemu_narrow_nchw(void *p, const float *f, int bf16, int nhwc, size_t outer, size_t ch, size_t sp) {
    for (size_t o = 0; o < outer; o++) {
        for (size_t c = 0; c < ch; c++) {
            for (size_t s = 0; s < sp; s++) {
                size_t i = at(nhwc, o, c, s, ch, sp);
                float v = f[(o * ch + c) * sp + s];
                if (bf16) ((uint16_t *) p)[i] = emu_float_to_bf16(v);
                else ((float *) p)[i] = v;
            }
        }
    }
}
