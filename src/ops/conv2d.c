// conv2d.c — 2-D convolution (dilation 1, groups 1) as im2col + BLAS sgemm, tiled over output
// rows so the column buffer stays bounded (and mostly cache-resident) at any image size.
//
// Per image n and per tile of output rows [oh0, oh1), with K = IC*KH*KW, P = (oh1-oh0)*OW:
//   col  (K, P)   = im2col(inp[n])        row k = (ic*KH + kh)*KW + kw, w's own (IC, KH, KW) order
//   out  (OC, P)  = w (OC, K) @ col        written in place into out[n] (ldc = OH*OW)
//   dw   (OC, K) += dout (OC, P) @ colᵀ
//   dinp: dcol (K, P) = wᵀ @ dout, then dinp[n] += col2im(dcol)   (dinp[n] zeroed first);
//         or, at stride 1 with OC < IC, dinp[n] = conv(dout[n], flipped transposed w), which
//         moves OC*KH*KW instead of IC*KH*KW column rows (see dinp_by_conv).
// A 1x1 stride-1 unpadded conv is a plain GEMM on the NCHW planes and needs no work memory.
#include "ops/conv2d.h"
#include "base/profile.h"
#include "ops/gemm.h"
#include "base/error.h"
#include <string.h>

// Target columns (output pixels) per tile: wide enough that the GEMMs run near the BLAS peak
// (OpenBLAS on Zen loses little down to ~512 columns), small enough that col (K x P floats)
// stays in L3 between im2col and the GEMM; 1024 and 2048 measured the same within noise.
#ifndef CONV2D_TILE_COLS
#define CONV2D_TILE_COLS 1024
#endif
// Hard cap on the tile, in floats (16 MiB); a tile is at least one output row regardless.
#ifndef CONV2D_TILE_MAX_FLOATS
#define CONV2D_TILE_MAX_FLOATS ((int64_t)4 << 20)
#endif

Conv2dDims conv2d_dims(int64_t N, int64_t IC, int64_t H, int64_t W, int64_t OC, int64_t K,
                       int64_t stride, int64_t pad) {
    Conv2dDims d = {.N = N, .IC = IC, .H = H, .W = W, .OC = OC, .KH = K, .KW = K, .stride = stride,
                    .pad_top = pad, .pad_bottom = pad, .pad_left = pad, .pad_right = pad};
    return d;
}

int64_t conv2d_out_h(const Conv2dDims *d) { return (d->H + d->pad_top + d->pad_bottom - d->KH) / d->stride + 1; }
int64_t conv2d_out_w(const Conv2dDims *d) { return (d->W + d->pad_left + d->pad_right - d->KW) / d->stride + 1; }

static void check_dims(const Conv2dDims *d) {
    SDL_ASSERT(d->N >= 0 && d->IC > 0 && d->OC > 0 && d->KH > 0 && d->KW > 0 && d->stride > 0);
    SDL_ASSERT(d->pad_top >= 0 && d->pad_bottom >= 0 && d->pad_left >= 0 && d->pad_right >= 0);
    SDL_ASSERT(d->H + d->pad_top + d->pad_bottom >= d->KH && d->W + d->pad_left + d->pad_right >= d->KW);
}

static int is_pointwise(const Conv2dDims *d) {
    return d->KH == 1 && d->KW == 1 && d->stride == 1 &&
           d->pad_top == 0 && d->pad_bottom == 0 && d->pad_left == 0 && d->pad_right == 0;
}

// Output rows per tile (>= 1, <= OH).
static int64_t tile_rows(const Conv2dDims *d) {
    const int64_t OH = conv2d_out_h(d), OW = conv2d_out_w(d), K = d->IC * d->KH * d->KW;
    int64_t rows = (CONV2D_TILE_COLS + OW - 1) / OW;
    if (rows * OW * K > CONV2D_TILE_MAX_FLOATS) rows = CONV2D_TILE_MAX_FLOATS / (OW * K);
    if (rows < 1) rows = 1;
    if (rows > OH) rows = OH;
    return rows;
}

static size_t tile_floats(const Conv2dDims *d) {
    return (size_t)(d->IC * d->KH * d->KW) * (size_t)(tile_rows(d) * conv2d_out_w(d));
}

// The stride-1 input gradient is itself a convolution: dout correlated with the kernel flipped
// in space and transposed in channels ("full" padding),
//   dinp[ic, ih, iw] = sum_{oc,kh,kw} dout[oc, ih + pt - kh, iw + pl - kw] * w[oc, ic, kh, kw]
//                    = conv(dout, wt)[ic, ih, iw],  wt[ic, oc, a, c] = w[oc, ic, KH-1-a, KW-1-c],
//                      padding (top KH-1-pt, bottom KH-1-pb, left KW-1-pl, right KW-1-pr).
// Its im2col has OC*KH*KW rows instead of IC*KH*KW and it needs no scatter-add, so it is the
// cheaper route when OC < IC (LoCon down projections, decoder convs after a skip concat).
// Measured dinp time vs dcol+col2im: 3x faster for 320->16 at 64x64, 11% for 960->320, 6% for
// 640->320, but 5-8% slower at OC == IC (hence the strict <). wt lives in work memory, so only
// when it is at most 16 MiB. Returns 1 and fills *td when it applies.
static int dinp_by_conv(const Conv2dDims *d, Conv2dDims *td) {
    if (d->stride != 1 || is_pointwise(d) || d->OC >= d->IC) return 0;
    if (d->pad_top >= d->KH || d->pad_bottom >= d->KH || d->pad_left >= d->KW || d->pad_right >= d->KW) return 0;
    if (d->IC * d->OC * d->KH * d->KW > CONV2D_TILE_MAX_FLOATS) return 0;
    *td = (Conv2dDims){.N = 1, .IC = d->OC, .H = conv2d_out_h(d), .W = conv2d_out_w(d), .OC = d->IC,
                       .KH = d->KH, .KW = d->KW, .stride = 1,
                       .pad_top = d->KH - 1 - d->pad_top, .pad_bottom = d->KH - 1 - d->pad_bottom,
                       .pad_left = d->KW - 1 - d->pad_left, .pad_right = d->KW - 1 - d->pad_right};
    SDL_ASSERT(conv2d_out_h(td) == d->H && conv2d_out_w(td) == d->W);
    return 1;
}

size_t conv2d_work_floats(const Conv2dDims *d) {
    check_dims(d);
    if (is_pointwise(d)) return 0;
    size_t n = tile_floats(d);
    Conv2dDims td;
    if (dinp_by_conv(d, &td)) { // wt, then a tile shared by the dw and the dinp passes
        size_t t = tile_floats(&td);
        n = (size_t)(d->IC * d->OC * d->KH * d->KW) + (t > n ? t : n);
    }
    return n;
}

// Range [lo, hi) of output columns whose input column ow*s + off lies inside [0, W).
static void valid_cols(int64_t off, int64_t s, int64_t W, int64_t OW, int64_t *lo, int64_t *hi) {
    int64_t l = off >= 0 ? 0 : (-off + s - 1) / s;
    int64_t h = off > W - 1 ? 0 : (W - 1 - off) / s + 1;
    if (l > OW) l = OW;
    if (h > OW) h = OW;
    if (h < l) h = l;
    *lo = l;
    *hi = h;
}

// col (K, P) for output rows [oh0, oh1) of one image x (IC, H, W); padding reads as zero.
static void im2col_rows(float *restrict col, const float *restrict x, const Conv2dDims *d,
                        int64_t OW, int64_t oh0, int64_t oh1) {
    const int64_t H = d->H, W = d->W, KH = d->KH, KW = d->KW, s = d->stride;
    const int64_t rows = oh1 - oh0, P = rows * OW, K = d->IC * KH * KW;
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t k = 0; k < K; k++)
        for (int64_t r = 0; r < rows; r++) {
            const int64_t kw = k % KW, kh = (k / KW) % KH, ic = k / (KW * KH);
            float *restrict dst = col + k * P + r * OW;
            const int64_t ih = (oh0 + r) * s - d->pad_top + kh;
            if (ih < 0 || ih >= H) {
                memset(dst, 0, (size_t)OW * sizeof(float));
                continue;
            }
            const int64_t off = kw - d->pad_left; // input column = ow*s + off
            const float *restrict src = x + (ic * H + ih) * W;
            int64_t lo, hi;
            valid_cols(off, s, W, OW, &lo, &hi);
            for (int64_t ow = 0; ow < lo; ow++) dst[ow] = 0.0f;
            if (s == 1) memcpy(dst + lo, src + lo + off, (size_t)(hi - lo) * sizeof(float));
            else for (int64_t ow = lo; ow < hi; ow++) dst[ow] = src[ow * s + off];
            for (int64_t ow = hi; ow < OW; ow++) dst[ow] = 0.0f;
        }
}

// x (IC, H, W) += col2im(col) for output rows [oh0, oh1); the adjoint of im2col_rows.
// Parallel over input channels: each channel's plane receives only its own KH*KW rows of col.
static void col2im_rows_add(float *restrict x, const float *restrict col, const Conv2dDims *d,
                            int64_t OW, int64_t oh0, int64_t oh1) {
    const int64_t H = d->H, W = d->W, KH = d->KH, KW = d->KW, s = d->stride;
    const int64_t rows = oh1 - oh0, P = rows * OW;
#pragma omp parallel for schedule(static)
    for (int64_t ic = 0; ic < d->IC; ic++)
        for (int64_t kh = 0; kh < KH; kh++)
            for (int64_t kw = 0; kw < KW; kw++) {
                const int64_t k = (ic * KH + kh) * KW + kw, off = kw - d->pad_left;
                int64_t lo, hi;
                valid_cols(off, s, W, OW, &lo, &hi);
                for (int64_t r = 0; r < rows; r++) {
                    const int64_t ih = (oh0 + r) * s - d->pad_top + kh;
                    if (ih < 0 || ih >= H) continue;
                    float *restrict dst = x + (ic * H + ih) * W;
                    const float *restrict src = col + k * P + r * OW;
                    if (s == 1) for (int64_t ow = lo; ow < hi; ow++) dst[ow + off] += src[ow];
                    else for (int64_t ow = lo; ow < hi; ow++) dst[ow * s + off] += src[ow];
                }
            }
}

// o (OC, P) with leading dimension ld: row oc += b[oc].
static void add_bias(float *o, const float *b, int64_t OC, int64_t P, int64_t ld) {
#pragma omp parallel for schedule(static)
    for (int64_t oc = 0; oc < OC; oc++) {
        float *restrict row = o + oc * ld;
        const float bv = b[oc];
        for (int64_t i = 0; i < P; i++) row[i] += bv;
    }
}

void conv2d_forward(float *out, const float *inp, const float *w, const float *b,
                    const Conv2dDims *d, float *work) {
    PROF_SCOPE(d->KH == 1 && d->KW == 1 ? PROF_CONV1X1 : PROF_CONV3X3);
    check_dims(d);
    const int64_t OH = conv2d_out_h(d), OW = conv2d_out_w(d), OHW = OH * OW;
    const int64_t IC = d->IC, OC = d->OC, K = IC * d->KH * d->KW, HW = d->H * d->W;
    const int64_t rows = tile_rows(d);
    for (int64_t n = 0; n < d->N; n++) {
        float *o = out + n * OC * OHW;          // (OC, OH, OW)
        const float *x = inp + n * IC * HW;     // (IC, H, W)
        if (is_pointwise(d)) {
            gemm(false, false, OC, OHW, IC, 1.0f, w, IC, x, HW, 0.0f, o, OHW);
            if (b) add_bias(o, b, OC, OHW, OHW);
            continue;
        }
        for (int64_t oh0 = 0; oh0 < OH; oh0 += rows) {
            const int64_t oh1 = oh0 + rows < OH ? oh0 + rows : OH, P = (oh1 - oh0) * OW;
            im2col_rows(work, x, d, OW, oh0, oh1);
            gemm(false, false, OC, P, K, 1.0f, w, K, work, P, 0.0f, o + oh0 * OW, OHW);
            if (b) add_bias(o + oh0 * OW, b, OC, P, OHW); // while the tile is still in cache
        }
    }
}

void conv2d_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                     const float *w, const Conv2dDims *d, float *work) {
    PROF_SCOPE(d->KH == 1 && d->KW == 1 ? PROF_CONV1X1 : PROF_CONV3X3);
    check_dims(d);
    const int64_t OH = conv2d_out_h(d), OW = conv2d_out_w(d), OHW = OH * OW;
    const int64_t IC = d->IC, OC = d->OC, K = IC * d->KH * d->KW, HW = d->H * d->W;
    const int64_t rows = tile_rows(d), N = d->N;
    if (db) {
        // A sum over N*OH*OW (up to ~10^6) terms: accumulate in double, in 8 independent
        // lanes so the loop vectorises without reassociating any one lane's sum.
#pragma omp parallel for schedule(static)
        for (int64_t oc = 0; oc < OC; oc++) {
            double lane[8] = {0};
            double s = 0;
            for (int64_t n = 0; n < N; n++) {
                const float *row = dout + (n * OC + oc) * OHW;
                int64_t i = 0;
                for (; i + 8 <= OHW; i += 8)
                    for (int j = 0; j < 8; j++) lane[j] += row[i + j];
                for (; i < OHW; i++) s += row[i];
            }
            for (int j = 0; j < 8; j++) s += lane[j];
            db[oc] += (float)s;
        }
    }
    if (!dinp && !dw) return;
    Conv2dDims td;
    const int by_conv = dinp && dinp_by_conv(d, &td);
    const int64_t KH = d->KH, KW = d->KW, TK = OC * KH * KW; // TK: the K of the dinp-as-conv GEMM
    float *wt = work, *col = by_conv ? work + IC * TK : work; // wt (IC, TK) only when by_conv
    if (by_conv) {
        // wt (IC, OC, KH, KW): w with channels swapped and taps flipped
#pragma omp parallel for schedule(static)
        for (int64_t ic = 0; ic < IC; ic++)
            for (int64_t oc = 0; oc < OC; oc++)
                for (int64_t a = 0; a < KH; a++)
                    for (int64_t c = 0; c < KW; c++)
                        wt[((ic * OC + oc) * KH + a) * KW + c] = w[((oc * IC + ic) * KH + (KH - 1 - a)) * KW + (KW - 1 - c)];
    }
    for (int64_t n = 0; n < N; n++) {
        const float *g = dout + n * OC * OHW;   // (OC, OH, OW)
        const float *x = inp + n * IC * HW;     // (IC, H, W)
        float *dx = dinp ? dinp + n * IC * HW : NULL;
        if (is_pointwise(d)) {
            if (dw) gemm(false, true, OC, IC, OHW, 1.0f, g, OHW, x, HW, 1.0f, dw, IC);
            if (dx) gemm(true, false, IC, HW, OC, 1.0f, w, IC, g, OHW, 0.0f, dx, HW);
            continue;
        }
        if (dw)
            for (int64_t oh0 = 0; oh0 < OH; oh0 += rows) {
                const int64_t oh1 = oh0 + rows < OH ? oh0 + rows : OH, P = (oh1 - oh0) * OW;
                im2col_rows(col, x, d, OW, oh0, oh1);
                gemm(false, true, OC, K, P, 1.0f, g + oh0 * OW, OHW, col, P, 1.0f, dw, K);
            }
        if (!dx) continue;
        if (by_conv) {
            const int64_t trows = tile_rows(&td), W = d->W;
            for (int64_t ih0 = 0; ih0 < d->H; ih0 += trows) {
                const int64_t ih1 = ih0 + trows < d->H ? ih0 + trows : d->H, P = (ih1 - ih0) * W;
                im2col_rows(col, g, &td, W, ih0, ih1);
                gemm(false, false, IC, P, TK, 1.0f, wt, TK, col, P, 0.0f, dx + ih0 * W, HW);
            }
        } else {
            memset(dx, 0, (size_t)(IC * HW) * sizeof(float));
            for (int64_t oh0 = 0; oh0 < OH; oh0 += rows) {
                const int64_t oh1 = oh0 + rows < OH ? oh0 + rows : OH, P = (oh1 - oh0) * OW;
                // dcol (K, P) = wᵀ @ dout tile (OC, P; leading dimension OHW)
                gemm(true, false, K, P, OC, 1.0f, w, K, g + oh0 * OW, OHW, 0.0f, col, P);
                col2im_rows_add(dx, col, d, OW, oh0, oh1);
            }
        }
    }
}

// ---- naive references: the definition, double accumulation, no work memory ----

void conv2d_forward_naive(float *out, const float *inp, const float *w, const float *b, const Conv2dDims *d) {
    const int64_t OH = conv2d_out_h(d), OW = conv2d_out_w(d), H = d->H, W = d->W, s = d->stride;
    const int64_t IC = d->IC, OC = d->OC, KH = d->KH, KW = d->KW;
    for (int64_t n = 0; n < d->N; n++)
        for (int64_t oc = 0; oc < OC; oc++)
            for (int64_t oh = 0; oh < OH; oh++)
                for (int64_t ow = 0; ow < OW; ow++) {
                    double acc = b ? b[oc] : 0.0;
                    for (int64_t ic = 0; ic < IC; ic++)
                        for (int64_t kh = 0; kh < KH; kh++)
                            for (int64_t kw = 0; kw < KW; kw++) {
                                int64_t ih = oh * s - d->pad_top + kh, iw = ow * s - d->pad_left + kw;
                                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                                acc += (double)inp[((n * IC + ic) * H + ih) * W + iw] *
                                       w[((oc * IC + ic) * KH + kh) * KW + kw];
                            }
                    out[((n * OC + oc) * OH + oh) * OW + ow] = (float)acc;
                }
}

void conv2d_backward_naive(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                           const float *w, const Conv2dDims *d) {
    const int64_t OH = conv2d_out_h(d), OW = conv2d_out_w(d), H = d->H, W = d->W, s = d->stride;
    const int64_t N = d->N, IC = d->IC, OC = d->OC, KH = d->KH, KW = d->KW;
    if (db)
        for (int64_t oc = 0; oc < OC; oc++) {
            double acc = 0;
            for (int64_t n = 0; n < N; n++)
                for (int64_t i = 0; i < OH * OW; i++) acc += dout[(n * OC + oc) * OH * OW + i];
            db[oc] += (float)acc;
        }
    if (dw)
        for (int64_t oc = 0; oc < OC; oc++)
            for (int64_t ic = 0; ic < IC; ic++)
                for (int64_t kh = 0; kh < KH; kh++)
                    for (int64_t kw = 0; kw < KW; kw++) {
                        double acc = 0;
                        for (int64_t n = 0; n < N; n++)
                            for (int64_t oh = 0; oh < OH; oh++)
                                for (int64_t ow = 0; ow < OW; ow++) {
                                    int64_t ih = oh * s - d->pad_top + kh, iw = ow * s - d->pad_left + kw;
                                    if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                                    acc += (double)dout[((n * OC + oc) * OH + oh) * OW + ow] *
                                           inp[((n * IC + ic) * H + ih) * W + iw];
                                }
                        dw[((oc * IC + ic) * KH + kh) * KW + kw] += (float)acc;
                    }
    if (dinp)
        // Gather form: input pixel (ih, iw) meets output (oh, ow) through tap (kh, kw) when
        // oh*s - pad_top + kh == ih and ow*s - pad_left + kw == iw.
        for (int64_t n = 0; n < N; n++)
            for (int64_t ic = 0; ic < IC; ic++)
                for (int64_t ih = 0; ih < H; ih++)
                    for (int64_t iw = 0; iw < W; iw++) {
                        double acc = 0;
                        for (int64_t oc = 0; oc < OC; oc++)
                            for (int64_t kh = 0; kh < KH; kh++)
                                for (int64_t kw = 0; kw < KW; kw++) {
                                    int64_t th = ih + d->pad_top - kh, tw = iw + d->pad_left - kw;
                                    if (th < 0 || tw < 0 || th % s || tw % s) continue;
                                    int64_t oh = th / s, ow = tw / s;
                                    if (oh >= OH || ow >= OW) continue;
                                    acc += (double)dout[((n * OC + oc) * OH + oh) * OW + ow] *
                                           w[((oc * IC + ic) * KH + kh) * KW + kw];
                                }
                        dinp[((n * IC + ic) * H + ih) * W + iw] = (float)acc;
                    }
}
