// optim_adamw8bit.c — AdamW with 8-bit optimizer state, our implementation of the scheme of
// bitsandbytes' AdamW8bit (Dettmers et al. 2022, "8-bit Optimizers via Block-wise Quantization").
// bitsandbytes is a CUDA library; this is a from-the-paper CPU re-implementation, checked against
// fp32 AdamW within a stated bound (tests/test_optim.c), not bit-compatible with bnb.
//
// What we do (and what bnb does):
//  * Both moments are stored as one byte per element plus one fp32 absmax per block of
//    Q8_BLOCK = 256 elements (bnb's block size for its 8-bit optimizers).
//  * A byte is an index into a 256-entry "dynamic" code book (Dettmers 2016, dynamic tree
//    quantisation): values ±10^-e · f for decades e = 6 … 0, where decade 10^-e has 2^(6-e)
//    (signed, for m) or 2^(7-e) (unsigned, for v ≥ 0) fractions f, the midpoints of an even split
//    of [0.1, 1]; plus 0 and 1. Small decades get few codes and the top decade [0.1, 1] gets 64
//    (signed) / 128 (unsigned), so the error relative to the block absmax is at most half a
//    top-decade gap: 0.45/64 ≈ 0.70 % for m and 0.45/128 ≈ 0.35 % for v. The signed book has +1
//    but no −1 (its most negative code is −0.9930), as bnb's has.
//  * A step dequantises a block (code × absmax), does the AdamW update in fp32 with the new fp32
//    moments, takes the new absmax of each moment over the block and rounds each element to the
//    nearest code (bnb's kernel does the same; its rounding search may pick the other neighbour
//    of a near-tie).
//  * Update rule (bnb's): m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g²; p *= 1 − lr·wd;
//    p −= lr·c2/c1 · m / (sqrt(v) + eps·c2), c1 = 1 − β1^t, c2 = sqrt(1 − β2^t) — algebraically
//    torch's AdamW.
//  * Tensors with fewer than min_8bit_size (4096) elements keep fp32 moments, as bnb does: most
//    LoRA down/up matrices of rank ≤ 8 are below that size.
#include <math.h>
#include <string.h>
#include "train/optim_internal.h"

static float map_signed[256], map_unsigned[256];
static int maps_ready;

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static void build_map(float *map, int is_signed) {
    int n = 0;
    for (int e = 0; e < 7; e++) {             // decade scale 10^(e-6)
        int count = is_signed ? 1 << e : 1 << (e + 1);
        double scale = pow(10.0, e - 6);
        for (int j = 0; j < count; j++) {
            double f = 0.1 + 0.9 * (j + 0.5) / count;
            map[n++] = (float)(scale * f);
            if (is_signed) map[n++] = (float)(-scale * f);
        }
    }
    map[n++] = 0.0f;
    map[n++] = 1.0f;
    SDL_ASSERT(n == 256);
    qsort(map, 256, sizeof(float), cmp_float);
}

const float *q8_map(int is_signed) {
    #pragma omp critical(q8_maps)
    {
        if (!maps_ready) {
            build_map(map_signed, 1);
            build_map(map_unsigned, 0);
            maps_ready = 1;
        }
    }
    return is_signed ? map_signed : map_unsigned;
}

uint8_t q8_quantize(const float *map, float x) {
    int lo = 0, hi = 255;                    // find the first code >= x
    if (x <= map[0]) return 0;
    if (x >= map[255]) return 255;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (map[mid] < x) lo = mid + 1; else hi = mid;
    }
    // map[lo-1] < x <= map[lo]: the nearer one (ties to the smaller magnitude side below)
    return (uint8_t)((x - map[lo - 1] < map[lo] - x) ? lo - 1 : lo);
}

static void quantize_block(uint8_t *codes, float *absmax, const float *x, int64_t n, const float *map) {
    float amax = 0.0f;
    for (int64_t i = 0; i < n; i++) { float a = fabsf(x[i]); if (a > amax) amax = a; }
    *absmax = amax;
    const float inv = amax > 0 ? 1.0f / amax : 0.0f;
    for (int64_t i = 0; i < n; i++) codes[i] = q8_quantize(map, x[i] * inv);
}

void q8_quantize_blocks(uint8_t *codes, float *absmax, const float *x, int64_t n, int is_signed) {
    const float *map = q8_map(is_signed);
    int64_t nb = (n + Q8_BLOCK - 1) / Q8_BLOCK;
    #pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t b = 0; b < nb; b++) {
        int64_t o = b * Q8_BLOCK, len = n - o < Q8_BLOCK ? n - o : Q8_BLOCK;
        quantize_block(codes + o, absmax + b, x + o, len, map);
    }
}

void q8_dequantize_blocks(float *x, const uint8_t *codes, const float *absmax, int64_t n, int is_signed) {
    const float *map = q8_map(is_signed);
    #pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) x[i] = map[codes[i]] * absmax[i / Q8_BLOCK];
}

static int is_8bit(const Optimizer *o, int64_t k) { return o->slots[k].p.n >= o->cfg.min_8bit_size; }

SdlStatus optim_adamw8bit_init(Optimizer *o) {
    if (o->cfg.amsgrad)
        return sdl_fail(SDL_ERR_ARG, NULL, "drop amsgrad=True or use --optimizer_type AdamW",
                        "AdamW8bit does not support amsgrad");
    q8_map(1);
    for (int64_t k = 0; k < o->n_slots; k++) {
        const OptimParam *p = &o->slots[k].p;
        if (is_8bit(o, k)) {
            int64_t nb = (p->n + Q8_BLOCK - 1) / Q8_BLOCK;
            optim_add_buf(o, k, "state1", ST_U8, p->ndim, p->shape);
            optim_add_buf(o, k, "state2", ST_U8, p->ndim, p->shape);
            optim_add_buf(o, k, "absmax1", ST_F32, 1, &nb);
            optim_add_buf(o, k, "absmax2", ST_F32, 1, &nb);
        } else {
            optim_add_buf(o, k, "exp_avg", ST_F32, p->ndim, p->shape);
            optim_add_buf(o, k, "exp_avg_sq", ST_F32, p->ndim, p->shape);
        }
    }
    return SDL_OK;
}

int optim_adamw8bit_step(Optimizer *o) {
    const OptimConfig *c = &o->cfg;
    const float *m1 = q8_map(1), *m2 = q8_map(0);
    for (int64_t k = 0; k < o->n_slots; k++) {
        const OptimParam *p = &o->slots[k].p;
        if (!p->grad) continue;
        const double lr = o->group_lr[o->slots[k].group];
        const int64_t t = ++o->param_step[k];
        o->param_init[k] = 1;
        const double c1 = 1.0 - pow(c->beta1, (double)t), c2 = sqrt(1.0 - pow(c->beta2, (double)t));
        const float step = (float)(-lr * c2 / c1), eps_c2 = (float)(c->eps * c2);
        const float decay = (float)(1.0 - lr * c->weight_decay);
        const float b1 = (float)c->beta1, one_b1 = (float)(1.0 - c->beta1);
        const float b2 = (float)c->beta2, one_b2 = (float)(1.0 - c->beta2);
        float *x = p->param;
        const float *g = p->grad;
        const int64_t n = p->n;
        if (!is_8bit(o, k)) {
            float *m = optim_buf(o, k, "exp_avg"), *v = optim_buf(o, k, "exp_avg_sq");
            #pragma omp parallel for schedule(static) if (n > 32768)
            for (int64_t i = 0; i < n; i++) {
                m[i] = m[i] * b1 + one_b1 * g[i];
                v[i] = v[i] * b2 + one_b2 * (g[i] * g[i]);
                x[i] = x[i] * decay;
                x[i] = x[i] + step * (m[i] / (sqrtf(v[i]) + eps_c2));
            }
            continue;
        }
        uint8_t *q1 = optim_buf(o, k, "state1"), *q2 = optim_buf(o, k, "state2");
        float *a1 = optim_buf(o, k, "absmax1"), *a2 = optim_buf(o, k, "absmax2");
        const int64_t nb = (n + Q8_BLOCK - 1) / Q8_BLOCK;
        #pragma omp parallel for schedule(static) if (n > 32768)
        for (int64_t b = 0; b < nb; b++) {
            float mt[Q8_BLOCK], vt[Q8_BLOCK];
            const int64_t off = b * Q8_BLOCK, len = n - off < Q8_BLOCK ? n - off : Q8_BLOCK;
            for (int64_t j = 0; j < len; j++) {
                const int64_t i = off + j;
                float m = m1[q1[i]] * a1[b], v = m2[q2[i]] * a2[b];
                m = m * b1 + one_b1 * g[i];
                v = v * b2 + one_b2 * (g[i] * g[i]);
                mt[j] = m;
                vt[j] = v;
                x[i] = x[i] * decay;
                x[i] = x[i] + step * (m / (sqrtf(v) + eps_c2));
            }
            quantize_block(q1 + off, a1 + b, mt, len, m1);
            quantize_block(q2 + off, a2 + b, vt, len, m2);
        }
    }
    return 1;
}
