// tensor.c — memory-bound plumbing: elementwise adds and scales, per-channel bias broadcast,
// channel concat/split, nearest 2x upsample and its backward, NCHW <-> NHWC transposes.
// Each kernel is a plain loop nest parallelised over its outermost independent dimension;
// the transposes work in cache-sized tiles so both the reads and the writes stay sequential.
#include "ops/tensor.h"
#include "base/profile.h"
#include <string.h>

// Below this many floats (256 KB) a parallel region's fork/join costs more than it saves
// on a memory-bound loop.
#define TENSOR_PAR_MIN 65536

// ---- elementwise ----

void add_forward(float *out, const float *a, const float *b, int64_t n) {
    PROF_SCOPE(PROF_ELEMENTWISE);
    #pragma omp parallel for simd schedule(static) if (n >= TENSOR_PAR_MIN)
    for (int64_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

void add_into(float *acc, const float *x, int64_t n) {
    PROF_SCOPE(PROF_ELEMENTWISE);
    #pragma omp parallel for simd schedule(static) if (n >= TENSOR_PAR_MIN)
    for (int64_t i = 0; i < n; i++) acc[i] += x[i];
}

void scale_inplace(float *x, float s, int64_t n) {
    PROF_SCOPE(PROF_ELEMENTWISE);
    #pragma omp parallel for simd schedule(static) if (n >= TENSOR_PAR_MIN)
    for (int64_t i = 0; i < n; i++) x[i] *= s;
}

// ---- per-channel bias ----

void add_channel_bias_forward(float *x, const float *bias, int64_t N, int64_t C, int64_t HW) {
    PROF_SCOPE(PROF_ELEMENTWISE);
    int64_t rows = N * C;
    #pragma omp parallel for schedule(static) if (rows * HW >= TENSOR_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        float *xr = x + r * HW; // (HW)
        float b = bias[r];
        #pragma omp simd
        for (int64_t i = 0; i < HW; i++) xr[i] += b;
    }
}

void add_channel_bias_backward(float *dbias, const float *dout, int64_t N, int64_t C, int64_t HW) {
    PROF_SCOPE(PROF_ELEMENTWISE);
    int64_t rows = N * C;
    #pragma omp parallel for schedule(static) if (rows * HW >= TENSOR_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *g = dout + r * HW; // (HW)
        double s = 0.0;
        #pragma omp simd reduction(+:s)
        for (int64_t i = 0; i < HW; i++) s += g[i];
        dbias[r] += (float)s;
    }
}

// ---- concat / split along channels ----

// Per sample n, moves the two channel blocks between a (N, la), b (N, lb) and the
// concatenated cat (N, la + lb): forward (cat_out set) copies a_in, b_in into cat_out;
// backward copies cat_in out into a_out, b_out (either may be NULL: skipped). One parallel
// region over 64 KB pieces of both blocks, so a single sample (N = 1) still uses every thread.
#define COPY_PIECE 16384
static void concat_copy(float *cat_out, const float *a_in, const float *b_in,
                        const float *cat_in, float *a_out, float *b_out, int64_t N, int64_t la, int64_t lb) {
    int64_t pa = (la + COPY_PIECE - 1) / COPY_PIECE, pb = (lb + COPY_PIECE - 1) / COPY_PIECE;
    int64_t tasks = N * (pa + pb), lo = la + lb;
    #pragma omp parallel for schedule(static) if (N * lo >= TENSOR_PAR_MIN)
    for (int64_t t = 0; t < tasks; t++) {
        int64_t n = t / (pa + pb), k = t % (pa + pb);
        int first = k < pa;
        int64_t len = first ? la : lb, p0 = (first ? k : k - pa) * COPY_PIECE;
        int64_t m = len - p0 < COPY_PIECE ? len - p0 : COPY_PIECE;
        int64_t part_off = n * len + p0, cat_off = n * lo + (first ? 0 : la) + p0;
        if (cat_out) {
            memcpy(cat_out + cat_off, (first ? a_in : b_in) + part_off, (size_t)m * sizeof(float));
        } else {
            float *dst = first ? a_out : b_out;
            if (dst) memcpy(dst + part_off, cat_in + cat_off, (size_t)m * sizeof(float));
        }
    }
}

void concat_channels_forward(float *out, const float *a, const float *b, int64_t N, int64_t C1, int64_t C2, int64_t HW) {
    PROF_SCOPE(PROF_ELEMENTWISE);
    concat_copy(out, a, b, NULL, NULL, NULL, N, C1 * HW, C2 * HW);
}

void concat_channels_backward(float *da, float *db, const float *dout, int64_t N, int64_t C1, int64_t C2, int64_t HW) {
    PROF_SCOPE(PROF_ELEMENTWISE);
    concat_copy(NULL, NULL, NULL, dout, da, db, N, C1 * HW, C2 * HW);
}

// ---- nearest 2x upsample ----

void upsample_nearest2x_forward(float *out, const float *inp, int64_t NC, int64_t H, int64_t W) {
    PROF_SCOPE(PROF_ELEMENTWISE);
    int64_t rows = NC * H, W2 = 2 * W;
    #pragma omp parallel for schedule(static) if (rows * W >= TENSOR_PAR_MIN / 4)
    for (int64_t r = 0; r < rows; r++) {
        // input row r = (nc, h) feeds output rows 2r and 2r + 1 (out rows are (nc, 2h + k))
        const float *src = inp + r * W;    // (W)
        float *o0 = out + 2 * r * W2;      // (2W)
        float *o1 = o0 + W2;               // (2W)
        #pragma omp simd
        for (int64_t w = 0; w < W; w++) {
            float v = src[w];
            o0[2 * w] = v;
            o0[2 * w + 1] = v;
            o1[2 * w] = v;
            o1[2 * w + 1] = v;
        }
    }
}

void upsample_nearest2x_backward(float *dinp, const float *dout, int64_t NC, int64_t H, int64_t W) {
    PROF_SCOPE(PROF_ELEMENTWISE);
    int64_t rows = NC * H, W2 = 2 * W;
    #pragma omp parallel for schedule(static) if (rows * W >= TENSOR_PAR_MIN / 4)
    for (int64_t r = 0; r < rows; r++) {
        const float *g0 = dout + 2 * r * W2, *g1 = g0 + W2; // (2W), (2W)
        float *d = dinp + r * W;                            // (W)
        #pragma omp simd
        for (int64_t w = 0; w < W; w++) d[w] = ((g0[2 * w] + g0[2 * w + 1]) + g1[2 * w]) + g1[2 * w + 1];
    }
}

void upsample_nearest2x_forward_naive(float *out, const float *inp, int64_t NC, int64_t H, int64_t W) {
    for (int64_t nc = 0; nc < NC; nc++)
        for (int64_t oh = 0; oh < 2 * H; oh++)
            for (int64_t ow = 0; ow < 2 * W; ow++)
                out[(nc * 2 * H + oh) * 2 * W + ow] = inp[(nc * H + oh / 2) * W + ow / 2];
}

void upsample_nearest2x_backward_naive(float *dinp, const float *dout, int64_t NC, int64_t H, int64_t W) {
    // torch's loop: zero the input grad, then add every output pixel in row-major order
    memset(dinp, 0, (size_t)(NC * H * W) * sizeof(float));
    for (int64_t nc = 0; nc < NC; nc++)
        for (int64_t oh = 0; oh < 2 * H; oh++)
            for (int64_t ow = 0; ow < 2 * W; ow++)
                dinp[(nc * H + oh / 2) * W + ow / 2] += dout[(nc * 2 * H + oh) * 2 * W + ow];
}

// ---- transposes ----

#if defined(__AVX__)
#include <immintrin.h>
// dst[j][i] = src[i][j] for an 8x8 block: 8 row loads, 24 in-register shuffles, 8 row stores.
static inline void transpose8x8(float *dst, int64_t ldd, const float *src, int64_t lds) {
    __m256 r0 = _mm256_loadu_ps(src + 0 * lds), r1 = _mm256_loadu_ps(src + 1 * lds);
    __m256 r2 = _mm256_loadu_ps(src + 2 * lds), r3 = _mm256_loadu_ps(src + 3 * lds);
    __m256 r4 = _mm256_loadu_ps(src + 4 * lds), r5 = _mm256_loadu_ps(src + 5 * lds);
    __m256 r6 = _mm256_loadu_ps(src + 6 * lds), r7 = _mm256_loadu_ps(src + 7 * lds);
    // rows a..h. Interleave pairs of rows within each 128-bit lane: a0 b0 a1 b1 | a4 b4 a5 b5 ...
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
    __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    // four rows per column within each lane: a0 b0 c0 d0 | a4 b4 c4 d4 ...
    __m256 u0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0)), u1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 u2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0)), u3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 u4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0)), u5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 u6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0)), u7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
    // join the lanes: column j = (a..d)j from u, (e..h)j from the matching u of rows e..h
    _mm256_storeu_ps(dst + 0 * ldd, _mm256_permute2f128_ps(u0, u4, 0x20));
    _mm256_storeu_ps(dst + 1 * ldd, _mm256_permute2f128_ps(u1, u5, 0x20));
    _mm256_storeu_ps(dst + 2 * ldd, _mm256_permute2f128_ps(u2, u6, 0x20));
    _mm256_storeu_ps(dst + 3 * ldd, _mm256_permute2f128_ps(u3, u7, 0x20));
    _mm256_storeu_ps(dst + 4 * ldd, _mm256_permute2f128_ps(u0, u4, 0x31));
    _mm256_storeu_ps(dst + 5 * ldd, _mm256_permute2f128_ps(u1, u5, 0x31));
    _mm256_storeu_ps(dst + 6 * ldd, _mm256_permute2f128_ps(u2, u6, 0x31));
    _mm256_storeu_ps(dst + 7 * ldd, _mm256_permute2f128_ps(u3, u7, 0x31));
}
#define HAVE_TRANSPOSE8X8 1
#endif

// dst (S, R) [r0:r1, s0:s1] = src (R, S) [r0:r1, s0:s1]^T, one tile.
static void transpose_tile(float *dst, const float *src, int64_t R, int64_t S, int64_t r0, int64_t r1,
                           int64_t s0, int64_t s1) {
#ifdef HAVE_TRANSPOSE8X8
    int64_t r8 = r0 + (r1 - r0) / 8 * 8, s8 = s0 + (s1 - s0) / 8 * 8;
    // Walk so that consecutive 8x8 blocks reuse the cache lines of the side with the larger
    // stride: with a power-of-two stride (HW = 4096) those lines all map to one L1 set and
    // would be evicted before their second half is used.
    if (S >= R) {
        for (int64_t r = r0; r < r8; r += 8)
            for (int64_t s = s0; s < s8; s += 8) transpose8x8(dst + s * R + r, R, src + r * S + s, S);
    } else {
        for (int64_t s = s0; s < s8; s += 8)
            for (int64_t r = r0; r < r8; r += 8) transpose8x8(dst + s * R + r, R, src + r * S + s, S);
    }
    // ragged edges
    for (int64_t r = r8; r < r1; r++)
        for (int64_t s = s0; s < s1; s++) dst[s * R + r] = src[r * S + s];
    for (int64_t r = r0; r < r8; r++)
        for (int64_t s = s8; s < s1; s++) dst[s * R + r] = src[r * S + s];
#else
    for (int64_t s = s0; s < s1; s++)
        for (int64_t r = r0; r < r1; r++) dst[s * R + r] = src[r * S + s];
#endif
}

// Per batch item, src (R, S) -> dst (S, R), in TILE x TILE tiles, parallel over tiles.
// 128 (2 x 64 KB per tile, L2-resident) measured best among 16..256 at (1, 320, 4096):
// runs of 512 B on both sides keep the TLB and the prefetchers happy.
#define TILE 128
static void transpose_batched(float *out, const float *inp, int64_t N, int64_t R, int64_t S) {
    int64_t tr = (R + TILE - 1) / TILE, ts = (S + TILE - 1) / TILE;
    int64_t tasks = N * tr * ts;
    #pragma omp parallel for schedule(static) if (N * R * S >= TENSOR_PAR_MIN)
    for (int64_t t = 0; t < tasks; t++) {
        int64_t n = t / (tr * ts), rt = (t / ts) % tr, st = t % ts;
        int64_t r0 = rt * TILE, s0 = st * TILE;
        int64_t r1 = r0 + TILE < R ? r0 + TILE : R, s1 = s0 + TILE < S ? s0 + TILE : S;
        transpose_tile(out + n * R * S, inp + n * R * S, R, S, r0, r1, s0, s1);
    }
}

void transpose_nchw_to_nhwc(float *out, const float *inp, int64_t N, int64_t C, int64_t HW) {
    PROF_SCOPE(PROF_ELEMENTWISE);
    transpose_batched(out, inp, N, C, HW);
}

void transpose_nhwc_to_nchw(float *out, const float *inp, int64_t N, int64_t C, int64_t HW) {
    PROF_SCOPE(PROF_ELEMENTWISE);
    transpose_batched(out, inp, N, HW, C);
}

void transpose_nchw_to_nhwc_naive(float *out, const float *inp, int64_t N, int64_t C, int64_t HW) {
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t p = 0; p < HW; p++) out[(n * HW + p) * C + c] = inp[(n * C + c) * HW + p];
}

void transpose_nhwc_to_nchw_naive(float *out, const float *inp, int64_t N, int64_t C, int64_t HW) {
    for (int64_t n = 0; n < N; n++)
        for (int64_t p = 0; p < HW; p++)
            for (int64_t c = 0; c < C; c++) out[(n * C + c) * HW + p] = inp[(n * HW + p) * C + c];
}
