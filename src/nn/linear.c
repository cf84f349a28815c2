// linear.c — Linear module forward/backward with the LoRA hook (see lora.h for the math), and
// the adapter's training-time dropout masks (shared with conv.c).
#include "nn/linear.h"
#include "base/error.h"
#include "base/profile.h"
#include "ops/gemm.h"
#include "ops/linear.h"

// ---- LoRA dropout: masks as a pure function of (seed, index) ----

// Golden-ratio increments decorrelate consecutive counters before the mix (splitmix64).
float lora_dropout_uniform(uint64_t seed, uint64_t i) {
    return (float)(lora_mix64(seed + (i + 1) * 0x9E3779B97F4A7C15ull) >> 40) * 0x1p-24f;
}

void lora_dropout_apply(const LoraAdapter *a, float *x, int64_t N, int64_t P, int64_t Q) {
    const int64_t r = a->rank;
    const float p = a->dropout, q = a->rank_dropout;
    // kept values: x · 1/(1−p) · 1/(1−q) (torch's dropout multiplies by a float 1/(1−p))
    const float keep = (p > 0 ? 1.0f / (1.0f - p) : 1.0f) * (q > 0 ? 1.0f / (1.0f - q) : 1.0f);
    // two independent streams: element-wise (network_dropout) and per (n, rank) (rank_dropout)
    const uint64_t s_elem = lora_mix64(a->seed ^ 0x656c656d656e7473ull), s_rank = lora_mix64(a->seed ^ 0x72616e6b6d61736bull);
    const int64_t rows = N * P;
    #pragma omp parallel for schedule(static) if (rows * r * Q >= 32768)
    for (int64_t np = 0; np < rows; np++) {
        const int64_t n = np / P;
        float *xr = x + np * r * Q; // (r, Q)
        for (int64_t j = 0; j < r; j++) {
            float *xj = xr + j * Q;
            // kohya: mask = torch.rand(batch, r) > q
            if (q > 0 && !(lora_dropout_uniform(s_rank, (uint64_t)(n * r + j)) > q)) {
                for (int64_t i = 0; i < Q; i++) xj[i] = 0.0f;
                continue;
            }
            if (p > 0) {
                const uint64_t base = (uint64_t)((np * r + j) * Q);
                for (int64_t i = 0; i < Q; i++) // F.dropout: kept with probability 1−p
                    xj[i] = lora_dropout_uniform(s_elem, base + (uint64_t)i) < p ? 0.0f : xj[i] * keep;
            } else {
                for (int64_t i = 0; i < Q; i++) xj[i] *= keep;
            }
        }
    }
}

// The Linear view of h (M, r) as (batch, M/batch, r, 1).
static void linear_dropout(const LoraAdapter *a, float *x, int64_t M) {
    int64_t B = 1;
    if (a->rank_dropout > 0) {
        B = a->batch;
        SDL_ASSERT(B >= 1 && M % B == 0); // lora_network_step_begin's batch must match the forward's rows
    }
    lora_dropout_apply(a, x, B, M / B, 1);
}

// ---- the module ----

size_t linear_module_work_floats(const Linear *m, int64_t M) {
    return m->lora ? (size_t)(M * m->lora->rank) : 0; // dh
}

void linear_module_forward(const Linear *m, float *out, const float *inp, int64_t M) {
    linear_forward(out, inp, half_weight_get(m->w, &m->w16), m->b, M, m->in, m->out);
    const LoraAdapter *a = m->lora;
    if (!a) return;
    PROF_SCOPE(PROF_LORA);
    int64_t r = a->rank;
    gemm(false, true, M, r, m->in, 1.0f, inp, m->in, a->down, m->in, 0.0f, a->h, r);       // h (M, r) = inp @ downᵀ
    if (lora_dropout_active(a)) linear_dropout(a, a->h, M);                                // h ⊙= mask · 1/(1−p)(1−q)
    gemm(false, true, M, m->out, r, a->scale, a->h, r, a->up, r, 1.0f, out, m->out);       // out += s · h @ upᵀ
}

void linear_module_backward(const Linear *m, float *dinp, const float *dout, const float *inp, int64_t M, float *work) {
    // the weight is read only for dinp: a 16-bit one is widened only then
    linear_backward(dinp, m->dw, m->db, dout, inp, dinp ? half_weight_get(m->w, &m->w16) : m->w, M, m->in, m->out);
    const LoraAdapter *a = m->lora;
    if (!a || (!dinp && !a->ddown && !a->dup)) return;
    PROF_SCOPE(PROF_LORA);
    int64_t r = a->rank;
    if (a->dup) // dup (out, r) += s · doutᵀ @ h   (h saved after the dropout masks)
        gemm(true, false, m->out, r, M, a->scale, dout, m->out, a->h, r, 1.0f, a->dup, r);
    if (!dinp && !a->ddown) return;
    float *dh = work;                                                                       // (M, r)
    gemm(false, false, M, r, m->out, a->scale, dout, m->out, a->up, r, 0.0f, dh, r);        // dh = s · dout @ up
    if (lora_dropout_active(a)) linear_dropout(a, dh, M);                                  // the forward's masks
    if (a->ddown) gemm(true, false, r, m->in, M, 1.0f, dh, r, inp, m->in, 1.0f, a->ddown, m->in); // ddown += dhᵀ @ inp
    if (dinp) gemm(false, false, M, m->in, r, 1.0f, dh, r, a->down, m->in, 1.0f, dinp, m->in);    // dinp += dh @ down
}
