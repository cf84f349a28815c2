// attention.c — tiled multi-head attention with an online softmax (FlashAttention-style),
// and its naive reference. Layouts: see attention.h. scale = 1/sqrt(HD).
//
// Forward, for each (batch, head, tile of up to BQ queries), over tiles of up to BK keys:
//     S  = scale · Q_t K_tᵀ                          (nq, nk)  gemm
//     m' = max(m, rowmax S);  P = exp(S − m');  l = l·e^(m − m') + rowsum P
//     O  = O·e^(m − m') + P V_t                      (nq, HD)  gemm, accumulated in `out`
// then O /= l and lse = m + log l. Only one (BQ, BK) tile per thread is ever stored.
//
// Backward recomputes P = exp(S − lse) per tile, with Drow = rowsum(dO ⊙ O) per query:
//     dV_t += Pᵀ dO;  dP = dO V_tᵀ;  dS = P ⊙ (dP − Drow) · scale;  dQ += dS K_t;  dK_t += dSᵀ Q
// dK/dV accumulate over query tiles, so the parallel split matters (see bwd_split_queries).
//
// Every product is a gemm() call on a tile from inside an OpenMP region, so each call runs
// single-threaded BLAS (OpenBLAS does not nest); the threads split (batch, head, query tile).
// The exponentials use a range-reduced polynomial written so the compiler vectorises it.
#include "ops/attention.h"
#include "base/profile.h"
#include "ops/gemm.h"
#include "base/error.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__AVX__)
#include <immintrin.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

// Tiles: up to ATT_BK keys; ATT_BQ queries or more when the key tile is short (cross-attention,
// Tk = 77), so that a score tile holds about ATT_TILE floats (256 KiB: backward's two tiles
// stay in a 1 MiB L2). On Zen5 + OpenBLAS, 4096-token HD=40 ran within ±5% for tiles from
// 128×256 to 512×128; 256×256 was best (bench_attention). Overridable at build time.
#ifndef ATT_BQ
#define ATT_BQ 256
#endif
#ifndef ATT_BK
#define ATT_BK 256
#endif
#ifndef ATT_TILE
#define ATT_TILE (256 * 256)
#endif
// Split-query backward keeps per-thread dK/dV partials for a chunk of keys of at most
// ATT_PART floats each (512 KiB), so its memory does not grow with Tk or HD (VAE: HD = 512).
#ifndef ATT_PART
#define ATT_PART (1 << 17)
#endif
enum { ATT_LANES = 16 }; // independent partial sums: lets the exp-and-sum loop vectorise

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static inline size_t round16(size_t n) { return (n + 15) & ~(size_t)15; } // 64-byte granules

static inline int thread_id(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

static inline int team_size(void) {
#ifdef _OPENMP
    return omp_get_num_threads();
#else
    return 1;
#endif
}

// ---- exp -------------------------------------------------------------------------------

static inline uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

// e^x = 2^n · e^r with n = round(x / ln2), r = x − n·ln2 ∈ [−ln2/2, ln2/2] (Cody–Waite split
// of ln2, exact with FMA), e^r by a degree-6 polynomial (Chebyshev-node interpolant of e^r on
// that interval, relative error < 1e-7). Branch-free so loops over it vectorise.
static inline float att_expf(float x) {
    // Clamp keeps n in [-127, 128]; NaN fails both compares and passes through to p.
    float xc = x < -88.0f ? -88.0f : (x > 88.75f ? 88.75f : x);
    const float magic = 0x1.8p23f; // adding it rounds to an integer held in the low mantissa bits
    float t = fmaf(xc, 0x1.715476p+0f, magic);
    float n = t - magic;
    float r = fmaf(n, -0x1.62e430p-1f, xc); // ln2 rounded to float
    r = fmaf(n, 0x1.05c610p-29f, r);        // + (float(ln2) − ln2)
    float p = 0x1.6d7532p-10f;
    p = fmaf(p, r, 0x1.126fa6p-7f);
    p = fmaf(p, r, 0x1.5554acp-5f);
    p = fmaf(p, r, 0x1.555404p-3f);
    p = fmaf(p, r, 0.5f);
    p = fmaf(p, r, 1.0f);
    p = fmaf(p, r, 1.0f);
    int32_t ni = (int32_t)(f2u(t) - f2u(magic)); // n as an integer
    int32_t kk = ni > 127 ? 127 : ni;            // 2^128 is not a float: apply it as 2^127 · 2
    float two_k = u2f((uint32_t)(kk + 127) << 23); // n = −127 gives 0: results < 2^-126.5 flush
    return p * two_k * (ni > 127 ? 2.0f : 1.0f);
}

void attention_expf_vec(float *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = att_expf(x[i]);
}

// ---- row helpers on one score tile (all vectorisable) -----------------------------------

// Row maximum. GCC does not vectorise float max reductions without -ffast-math (NaN rules),
// so the vector paths are written with intrinsics; a NaN score makes the row's output NaN
// either way (through exp).
static float row_max(const float *s, int64_t n) {
    float m = -INFINITY;
    int64_t j = 0;
#if defined(__AVX512F__)
    __m512 m0 = _mm512_set1_ps(-INFINITY), m1 = m0;
    for (; j + 32 <= n; j += 32) {
        m0 = _mm512_max_ps(m0, _mm512_loadu_ps(s + j));
        m1 = _mm512_max_ps(m1, _mm512_loadu_ps(s + j + 16));
    }
    m = _mm512_reduce_max_ps(_mm512_max_ps(m0, m1));
#elif defined(__AVX__)
    __m256 m0 = _mm256_set1_ps(-INFINITY), m1 = m0;
    for (; j + 16 <= n; j += 16) {
        m0 = _mm256_max_ps(m0, _mm256_loadu_ps(s + j));
        m1 = _mm256_max_ps(m1, _mm256_loadu_ps(s + j + 8));
    }
    float t[8];
    _mm256_storeu_ps(t, _mm256_max_ps(m0, m1));
    for (int l = 0; l < 8; l++) m = t[l] > m ? t[l] : m;
#endif
    for (; j < n; j++) m = s[j] > m ? s[j] : m;
    return m;
}

// s[j] = e^(s[j] − m); returns the sum (float lanes within the tile, double across lanes).
// The tail runs as one padded 16-lane block: a scalar exp is ~10x dearer per element, and
// short rows (Tk = 77) would spend a sixth of their elements there.
static double row_exp_sum(float *s, int64_t n, float m) {
    float acc[ATT_LANES];
    for (int l = 0; l < ATT_LANES; l++) acc[l] = 0.0f;
    int64_t j = 0;
    for (; j + ATT_LANES <= n; j += ATT_LANES)
        for (int l = 0; l < ATT_LANES; l++) {
            float p = att_expf(s[j + l] - m);
            s[j + l] = p;
            acc[l] += p;
        }
    if (j < n) {
        float t[ATT_LANES];
        for (int l = 0; l < ATT_LANES; l++) t[l] = j + l < n ? s[j + l] - m : -INFINITY;
        for (int l = 0; l < ATT_LANES; l++) {
            t[l] = att_expf(t[l]);
            acc[l] += t[l];
        }
        memcpy(s + j, t, (size_t)(n - j) * sizeof(float));
    }
    double sum = 0;
    for (int l = 0; l < ATT_LANES; l++) sum += acc[l];
    return sum;
}

// Causal mask on a score tile: S[i][j] = −inf where key k0+j is after query q0+i.
static void mask_causal(float *S, int64_t lds, int64_t q0, int64_t nq, int64_t k0, int64_t nk) {
    for (int64_t i = 0; i < nq; i++) {
        int64_t first = q0 + i + 1 - k0; // first masked column in this row
        if (first < 0) first = 0;
        for (int64_t j = first; j < nk; j++) S[i * lds + j] = -INFINITY;
    }
}

// ---- shapes, work layout -------------------------------------------------------------------

static void check_dims(const AttnDims *d) {
    SDL_ASSERT(d->B >= 0 && d->Tq >= 0 && d->Tk >= 1 && d->NH >= 1 && d->HD >= 1);
}

static int64_t tile_k(const AttnDims *d) { return d->Tk < ATT_BK ? d->Tk : ATT_BK; }
static int64_t tile_q(const AttnDims *d) {
    int64_t bq = ATT_TILE / tile_k(d);
    bq = bq < ATT_BQ ? ATT_BQ : bq & ~(int64_t)15;
    return d->Tq < bq ? (d->Tq > 0 ? d->Tq : 1) : bq;
}

// Keys per chunk in split-query backward: a multiple of the key tile, partials <= ATT_PART.
static int64_t key_chunk(const AttnDims *d) {
    int64_t bk = tile_k(d), kc = ATT_PART / d->HD / bk * bk;
    if (kc < bk) kc = bk;
    return kc < d->Tk ? kc : d->Tk;
}

// Backward: split the query tiles of one head among the threads (1, each keeping private
// dK/dV partials for a chunk of keys, summed after each chunk), or give each thread whole
// heads (0). At B·NH = 8 over 2 threads both measured the same within noise; whole heads need
// no partials and no barriers (a preempted thread stalls nobody), so they are used whenever
// they balance at least as well; queries when there are fewer heads than threads (VAE: 1).
static int bwd_split_queries(const AttnDims *d, int nt) {
    if (nt <= 1) return 0;
    int64_t bh = d->B * d->NH, nqt = (d->Tq + tile_q(d) - 1) / tile_q(d);
    double eff_heads = (double)bh / (double)(nt * ((bh + nt - 1) / nt));
    double eff_queries = (double)nqt / (double)(nt * ((nqt + nt - 1) / nt));
    return eff_queries > eff_heads + 0.05;
}

// Per-thread slot: two (BQ, BK) tiles (S/P and dP), per-row m, l (double) and Drow (double),
// and in split-query backward the private dK, dV partials (key_chunk, HD) each.
static size_t slot_floats(const AttnDims *d, int split) {
    size_t bq = (size_t)tile_q(d), bk = (size_t)tile_k(d);
    size_t n = 2 * round16(bq * bk) + round16(bq) + 2 * round16(2 * bq);
    if (split) n += 2 * round16((size_t)key_chunk(d) * (size_t)d->HD);
    return n;
}

size_t attention_work_floats(const AttnDims *d) {
    check_dims(d);
    int nt = sdl_get_threads();
    return (size_t)nt * slot_floats(d, bwd_split_queries(d, nt)) + 16; // + 16: see slot_at
}

typedef struct {
    float *S, *dP, *m;
    double *l, *D;
    float *dk_part, *dv_part;
} Slot;

// Slots start at the first 64-byte boundary in `work` (callers may pass any float pointer;
// the doubles and vector loads want alignment).
static Slot slot_at(float *work, const AttnDims *d, int split, int tid) {
    size_t bq = (size_t)tile_q(d), bk = (size_t)tile_k(d);
    float *base = (float *)(((uintptr_t)work + 63) & ~(uintptr_t)63);
    float *p = base + (size_t)tid * slot_floats(d, split);
    Slot s;
    s.S = p;
    p += round16(bq * bk);
    s.dP = p;
    p += round16(bq * bk);
    s.m = p;
    p += round16(bq);
    s.l = (double *)p;
    p += round16(2 * bq);
    s.D = (double *)p;
    p += round16(2 * bq);
    s.dk_part = split ? p : NULL;
    s.dv_part = split ? p + round16((size_t)key_chunk(d) * (size_t)d->HD) : NULL;
    return s;
}

// ---- forward ----------------------------------------------------------------------------

void attention_forward(float *out, float *lse, const float *q, const float *k, const float *v,
                       const AttnDims *d, float *work) {
    PROF_SCOPE(PROF_ATTENTION);
    check_dims(d);
    const int64_t B = d->B, Tq = d->Tq, Tk = d->Tk, NH = d->NH, HD = d->HD, C = NH * HD;
    if (B == 0 || Tq == 0) return;
    const int64_t bq = tile_q(d), bk = tile_k(d), nqt = (Tq + bq - 1) / bq;
    const int nt = sdl_get_threads();
    const int split = bwd_split_queries(d, nt); // only fixes the slot layout
    const float scale = (float)(1.0 / sqrt((double)HD));
    const int64_t ntasks = B * NH * nqt;

#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
    for (int64_t task = 0; task < ntasks; task++) {
        Slot w = slot_at(work, d, split, thread_id());
        const int64_t qt = task % nqt, bh = task / nqt, b = bh / NH, h = bh % NH;
        const int64_t q0 = qt * bq, nq = min64(bq, Tq - q0);
        const float *Q = q + (b * Tq + q0) * C + h * HD; // (nq, HD), row stride C
        const float *K = k + b * Tk * C + h * HD;        // (Tk, HD), row stride C
        const float *V = v + b * Tk * C + h * HD;
        float *O = out + (b * Tq + q0) * C + h * HD;     // (nq, HD) accumulator, row stride C
        for (int64_t i = 0; i < nq; i++) {
            w.m[i] = -INFINITY;
            w.l[i] = 0.0;
        }
        const int64_t kend = d->causal ? min64(Tk, q0 + nq) : Tk;
        for (int64_t k0 = 0; k0 < kend; k0 += bk) {
            const int64_t nk = min64(bk, kend - k0);
            float *S = w.S; // (nq, nk), row stride bk
            gemm(false, true, nq, nk, HD, scale, Q, C, K + k0 * C, C, 0.0f, S, bk);
            if (d->causal && k0 + nk - 1 > q0) mask_causal(S, bk, q0, nq, k0, nk);
            for (int64_t i = 0; i < nq; i++) {
                float *s = S + i * bk;
                float mold = w.m[i], mx = row_max(s, nk);
                float mnew = mx > mold ? mx : mold;
                if (mnew == -INFINITY) { // every key so far masked: this tile adds nothing
                    memset(s, 0, (size_t)nk * sizeof(float));
                    continue;
                }
                float corr = att_expf(mold - mnew); // 0 on the first visible tile
                w.l[i] = w.l[i] * corr + row_exp_sum(s, nk, mnew);
                w.m[i] = mnew;
                if (k0 > 0 && corr != 1.0f) // O holds the earlier tiles' sum (none for tile 0)
                    for (int64_t c = 0; c < HD; c++) O[i * C + c] *= corr;
            }
            // Key tile 0 is visible to every query (also causal), so it initialises O.
            gemm(false, false, nq, HD, nk, 1.0f, S, bk, V + k0 * C, C, k0 == 0 ? 0.0f : 1.0f, O, C);
        }
        float *L = lse ? lse + bh * Tq + q0 : NULL;
        for (int64_t i = 0; i < nq; i++) {
            float inv = (float)(1.0 / w.l[i]);
            for (int64_t c = 0; c < HD; c++) O[i * C + c] *= inv;
            if (L) L[i] = (float)((double)w.m[i] + log(w.l[i]));
        }
    }
}

// ---- backward -----------------------------------------------------------------------------

typedef struct {
    float *dq, *dk, *dv;                  // (B, T, C) outputs, each may be NULL
    const float *dout, *q, *k, *v, *out, *lse;
    const AttnDims *d;
    int64_t bq, bk, C;
    float scale;
} BwdArgs;

// One (batch·head, query tile) against keys [kb, ke) (kb a multiple of the key tile): dq rows
// are written (=) by key tile 0 and accumulated after; dK_acc, dV_acc hold keys from kb on,
// row strides ldk/ldv (+=).
static void bwd_tile(const BwdArgs *a, Slot *w, int64_t bh, int64_t qt, int64_t kb, int64_t ke,
                     float *dk_acc, int64_t ldk, float *dv_acc, int64_t ldv) {
    const AttnDims *d = a->d;
    const int64_t Tq = d->Tq, Tk = d->Tk, NH = d->NH, HD = d->HD, C = a->C, bq = a->bq, bk = a->bk;
    const int64_t b = bh / NH, h = bh % NH, q0 = qt * bq, nq = min64(bq, Tq - q0);
    const size_t qoff = (size_t)((b * Tq + q0) * C + h * HD), koff = (size_t)(b * Tk * C + h * HD);
    const float *Q = a->q + qoff, *dO = a->dout + qoff, *O = a->out + qoff; // (nq, HD), stride C
    const float *K = a->k + koff, *V = a->v + koff;                        // (Tk, HD), stride C
    float *dQ = a->dq ? a->dq + qoff : NULL;
    const float *L = a->lse + bh * Tq + q0;
    const int need_ds = dQ != NULL || dk_acc != NULL;
    const int64_t kend = d->causal ? min64(ke, q0 + nq) : ke;
    if (kb >= kend) return; // causal: every key of this range is after every query of the tile

    for (int64_t i = 0; i < nq; i++) { // Drow = rowsum(dO ⊙ O)
        double s = 0;
        for (int64_t c = 0; c < HD; c++) s += (double)dO[i * C + c] * O[i * C + c];
        w->D[i] = s;
    }
    for (int64_t k0 = kb; k0 < kend; k0 += bk) {
        const int64_t nk = min64(bk, kend - k0);
        float *P = w->S, *dP = w->dP; // (nq, nk), row stride bk
        gemm(false, true, nq, nk, HD, a->scale, Q, C, K + k0 * C, C, 0.0f, P, bk);
        if (d->causal && k0 + nk - 1 > q0) mask_causal(P, bk, q0, nq, k0, nk);
        for (int64_t i = 0; i < nq; i++) {
            row_exp_sum(P + i * bk, nk, L[i]);
        }
        if (dv_acc) gemm(true, false, nk, HD, nq, 1.0f, P, bk, dO, C, 1.0f, dv_acc + (k0 - kb) * ldv, ldv);
        if (!need_ds) continue;
        gemm(false, true, nq, nk, HD, 1.0f, dO, C, V + k0 * C, C, 0.0f, dP, bk);
        for (int64_t i = 0; i < nq; i++) {
            const float *p = P + i * bk;
            float *ds = dP + i * bk, Di = (float)w->D[i];
            for (int64_t j = 0; j < nk; j++) ds[j] = p[j] * (ds[j] - Di) * a->scale;
        }
        // Key tile 0 is visible to every query (also causal), so it initialises dQ.
        if (dQ) gemm(false, false, nq, HD, nk, 1.0f, dP, bk, K + k0 * C, C, k0 == 0 ? 0.0f : 1.0f, dQ, C);
        if (dk_acc) gemm(true, false, nk, HD, nq, 1.0f, dP, bk, Q, C, 1.0f, dk_acc + (k0 - kb) * ldk, ldk);
    }
}

// Zeroes `rows` rows of `cols` floats at row stride ld.
static void zero_rows(float *x, int64_t rows, int64_t cols, int64_t ld) {
    if (!x) return;
    for (int64_t r = 0; r < rows; r++) memset(x + r * ld, 0, (size_t)cols * sizeof(float));
}

void attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q,
                        const float *k, const float *v, const float *out, const float *lse,
                        const AttnDims *d, float *work) {
    PROF_SCOPE(PROF_ATTENTION);
    check_dims(d);
    const int64_t B = d->B, Tq = d->Tq, Tk = d->Tk, NH = d->NH, HD = d->HD, C = NH * HD;
    if (B == 0) return;
    if (Tq == 0) { // no queries: keys and values get no gradient
        if (dk) memset(dk, 0, (size_t)(B * Tk * C) * sizeof(float));
        if (dv) memset(dv, 0, (size_t)(B * Tk * C) * sizeof(float));
        return;
    }
    if (!dq && !dk && !dv) return;
    const int nt = sdl_get_threads();
    const int split = bwd_split_queries(d, nt);
    const int64_t bq = tile_q(d), nqt = (Tq + bq - 1) / bq, BH = B * NH;
    BwdArgs a = {dq, dk, dv, dout, q, k, v, out, lse, d, bq, tile_k(d), C, (float)(1.0 / sqrt((double)HD))};

    if (!split) {
        // Whole heads per thread: dK/dV of a head are only touched by its thread, so they
        // accumulate straight into the outputs.
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
        for (int64_t bh = 0; bh < BH; bh++) {
            Slot w = slot_at(work, d, split, thread_id());
            const int64_t b = bh / NH, h = bh % NH;
            float *dK = dk ? dk + b * Tk * C + h * HD : NULL, *dV = dv ? dv + b * Tk * C + h * HD : NULL;
            zero_rows(dK, Tk, HD, C);
            zero_rows(dV, Tk, HD, C);
            for (int64_t qt = 0; qt < nqt; qt++) bwd_tile(&a, &w, bh, qt, 0, Tk, dK, C, dV, C);
        }
        return;
    }
    // Query tiles of one head split among the threads, one chunk of keys at a time: private
    // dK/dV partials (kc, HD) per thread, summed over the team in a fixed order after each
    // chunk (deterministic for a given team size). dQ rows accumulate across chunks; the
    // barriers between chunks order those updates.
    const int64_t kc = key_chunk(d);
#pragma omp parallel num_threads(nt)
    {
        const int team = team_size();
        Slot w = slot_at(work, d, split, thread_id());
        float *dKp = dk ? w.dk_part : NULL, *dVp = dv ? w.dv_part : NULL;
        for (int64_t bh = 0; bh < BH; bh++) {
            const int64_t b = bh / NH, h = bh % NH;
            for (int64_t kb = 0; kb < Tk; kb += kc) {
                const int64_t nkc = min64(kc, Tk - kb);
                zero_rows(dKp, 1, nkc * HD, 0);
                zero_rows(dVp, 1, nkc * HD, 0);
#pragma omp for schedule(dynamic, 1)
                for (int64_t qt = 0; qt < nqt; qt++) bwd_tile(&a, &w, bh, qt, kb, kb + nkc, dKp, HD, dVp, HD);
#pragma omp for schedule(static)
                for (int64_t t = 0; t < nkc; t++)
                    for (int pass = 0; pass < 2; pass++) {
                        float *dst = pass == 0 ? dk : dv;
                        if (!dst) continue;
                        dst += (b * Tk + kb + t) * C + h * HD;
                        for (int th = 0; th < team; th++) {
                            Slot o = slot_at(work, d, split, th);
                            const float *part = (pass == 0 ? o.dk_part : o.dv_part) + t * HD;
                            if (th == 0) memcpy(dst, part, (size_t)HD * sizeof(float));
                            else for (int64_t c = 0; c < HD; c++) dst[c] += part[c];
                        }
                    }
            }
        }
    }
}

// ---- naive reference ----------------------------------------------------------------------

// P (Tq, Tk) = softmax(scale · Q Kᵀ) for one (b, h), in double; fills lse_row (Tq) if non-NULL.
static void naive_probs(double *P, double *lse_row, const float *q, const float *k, const AttnDims *d,
                        int64_t b, int64_t h) {
    const int64_t Tq = d->Tq, Tk = d->Tk, HD = d->HD, C = d->NH * HD;
    const double scale = 1.0 / sqrt((double)HD);
    for (int64_t i = 0; i < Tq; i++) {
        const float *qi = q + (b * Tq + i) * C + h * HD;
        double *row = P + i * Tk, mx = -INFINITY;
        for (int64_t j = 0; j < Tk; j++) {
            if (d->causal && j > i) { row[j] = -INFINITY; continue; }
            const float *kj = k + (b * Tk + j) * C + h * HD;
            double s = 0;
            for (int64_t c = 0; c < HD; c++) s += (double)qi[c] * kj[c];
            row[j] = s * scale;
            if (row[j] > mx) mx = row[j];
        }
        double sum = 0;
        for (int64_t j = 0; j < Tk; j++) sum += (row[j] = exp(row[j] - mx));
        for (int64_t j = 0; j < Tk; j++) row[j] /= sum;
        if (lse_row) lse_row[i] = mx + log(sum);
    }
}

void attention_forward_naive(float *out, float *lse, const float *q, const float *k, const float *v,
                             const AttnDims *d) {
    check_dims(d);
    const int64_t B = d->B, Tq = d->Tq, Tk = d->Tk, NH = d->NH, HD = d->HD, C = NH * HD;
    double *P = malloc((size_t)(Tq * Tk + Tq + 1) * sizeof(double));
    SDL_ASSERT(P);
    double *L = P + Tq * Tk;
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < NH; h++) {
            naive_probs(P, L, q, k, d, b, h);
            for (int64_t i = 0; i < Tq; i++) {
                for (int64_t c = 0; c < HD; c++) {
                    double s = 0;
                    for (int64_t j = 0; j < Tk; j++) s += P[i * Tk + j] * v[(b * Tk + j) * C + h * HD + c];
                    out[(b * Tq + i) * C + h * HD + c] = (float)s;
                }
                if (lse) lse[(b * NH + h) * Tq + i] = (float)L[i];
            }
        }
    free(P);
}

void attention_backward_naive(float *dq, float *dk, float *dv, const float *dout, const float *q,
                              const float *k, const float *v, const AttnDims *d) {
    check_dims(d);
    const int64_t B = d->B, Tq = d->Tq, Tk = d->Tk, NH = d->NH, HD = d->HD, C = NH * HD;
    const double scale = 1.0 / sqrt((double)HD);
    double *P = malloc((size_t)(2 * Tq * Tk + 1) * sizeof(double));
    SDL_ASSERT(P);
    double *dS = P + Tq * Tk;
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < NH; h++) {
            naive_probs(P, NULL, q, k, d, b, h);
            // dP = dO Vᵀ, then softmax backward dS = P ⊙ (dP − rowsum(P ⊙ dP)), times scale.
            for (int64_t i = 0; i < Tq; i++) {
                const float *doi = dout + (b * Tq + i) * C + h * HD;
                double rs = 0;
                for (int64_t j = 0; j < Tk; j++) {
                    const float *vj = v + (b * Tk + j) * C + h * HD;
                    double s = 0;
                    for (int64_t c = 0; c < HD; c++) s += (double)doi[c] * vj[c];
                    dS[i * Tk + j] = s;
                    rs += s * P[i * Tk + j];
                }
                for (int64_t j = 0; j < Tk; j++) dS[i * Tk + j] = P[i * Tk + j] * (dS[i * Tk + j] - rs) * scale;
            }
            for (int64_t c = 0; c < HD; c++) {
                if (dq)
                    for (int64_t i = 0; i < Tq; i++) {
                        double s = 0;
                        for (int64_t j = 0; j < Tk; j++) s += dS[i * Tk + j] * k[(b * Tk + j) * C + h * HD + c];
                        dq[(b * Tq + i) * C + h * HD + c] = (float)s;
                    }
                for (int64_t j = 0; j < Tk; j++) {
                    double sk = 0, sv = 0;
                    for (int64_t i = 0; i < Tq; i++) {
                        sk += dS[i * Tk + j] * q[(b * Tq + i) * C + h * HD + c];
                        sv += P[i * Tk + j] * dout[(b * Tq + i) * C + h * HD + c];
                    }
                    if (dk) dk[(b * Tk + j) * C + h * HD + c] = (float)sk;
                    if (dv) dv[(b * Tk + j) * C + h * HD + c] = (float)sv;
                }
            }
        }
    free(P);
}
