// optim_prodigy.c — Prodigy (Mishchenko & Defazio 2023, "Prodigy: An Expeditiously Adaptive
// Parameter-Free Learner") as prodigyopt 1.1.2, the version kohya pins.
//
// One step (dlr = d·lr·bias_correction uses the d from before this step):
//   d_num *= β3 (β3 = sqrt(β2) unless given)
//   per parameter (group lr > 0): Δnum += (d/d0)·dlr·<g, p0 − p>   (every slice_p-th element)
//     m = β1·m + d(1−β1)·g;  v = β2·v + d²(1−β2)·g²;  s = β3·s + (d/d0)·dlr·g (safeguard_warmup: ·d)
//     d_den += ‖s‖₁
//   d_den == 0 → return without touching the parameters (the reference does the same)
//   d̂ = d_coef·(d_num + Δnum)/d_den;  if d == d0: d = max(d, d̂);  d_max = max(d_max, d̂);
//   d = min(d_max, d·growth_rate)
//   per parameter: p −= dlr·m / (sqrt(v) + d·eps)  (decoupled wd first: p −= p·wd·dlr)
// p0 is the parameter at its first step (the reference stores a scalar 0 when p is all zeros —
// the same values). Coupled weight decay (decouple=False) adds wd·p to the gradient, which the
// reference does in place on p.grad; we add it on the fly and leave the grad untouched.
#include <math.h>
#include "train/optim_internal.h"

enum { S_D, S_DMAX, S_DNUM, S_K, S_DHAT, S_DDEN };

static int64_t sliced(int64_t n, int64_t sp) { return (n + sp - 1) / sp; }

SdlStatus optim_prodigy_init(Optimizer *o) {
    static const char *names[] = {"d", "d_max", "d_numerator", "k", "d_hat", "d_denom"};
    for (int i = 0; i < 6; i++) o->scalar_names[i] = names[i];
    o->scalars[S_D] = o->scalars[S_DMAX] = o->scalars[S_DHAT] = o->cfg.d0;
    for (int64_t k = 0; k < o->n_slots; k++) {
        const OptimParam *p = &o->slots[k].p;
        int64_t ns = sliced(p->n, o->cfg.slice_p);
        optim_add_buf(o, k, "s", ST_F32, 1, &ns);
        optim_add_buf(o, k, "p0", ST_F32, 1, &ns);
        if (o->cfg.beta1 > 0) optim_add_buf(o, k, "exp_avg", ST_F32, p->ndim, p->shape);
        optim_add_buf(o, k, "exp_avg_sq", ST_F32, p->ndim, p->shape);
    }
    return SDL_OK;
}

typedef struct { const float *g, *x, *p0; int64_t sp; float wd; } NumCtx;
static double num_chunk(void *ctx, int64_t b, int64_t e) {
    const NumCtx *c = ctx;
    double s = 0;
    for (int64_t j = b; j < e; j++) {
        float g = c->g[j * c->sp];
        if (c->wd != 0.0f) g = g + c->wd * c->x[j * c->sp];
        s += (double)g * (double)(c->p0[j] - c->x[j * c->sp]);
    }
    return s;
}

int optim_prodigy_step(Optimizer *o) {
    const OptimConfig *c = &o->cfg;
    const double beta1 = c->beta1, beta2 = c->beta2;
    const double beta3 = c->has_beta3 ? c->beta3 : sqrt(beta2);
    double d = o->scalars[S_D], d_max = o->scalars[S_DMAX];
    const double d0 = c->d0, k_step = o->scalars[S_K];
    double lr = 0;
    for (int64_t g = 0; g < o->n_groups; g++) if (o->group_lr[g] > lr) lr = o->group_lr[g];
    const double bias_correction = c->use_bias_correction
        ? sqrt(1.0 - pow(beta2, k_step + 1)) / (1.0 - pow(beta1, k_step + 1)) : 1.0;
    const double dlr = d * lr * bias_correction;
    double d_numerator = o->scalars[S_DNUM] * beta3;
    double delta_numerator = 0.0, d_denom = 0.0;
    const int64_t sp = c->slice_p;
    const float wd_coupled = (c->weight_decay != 0 && !c->decouple) ? (float)c->weight_decay : 0.0f;

    for (int64_t k = 0; k < o->n_slots; k++) {
        const OptimParam *p = &o->slots[k].p;
        if (!p->grad) continue;
        const int64_t ns = sliced(p->n, sp);
        float *s = optim_buf(o, k, "s"), *p0 = optim_buf(o, k, "p0");
        float *m = beta1 > 0 ? optim_buf(o, k, "exp_avg") : NULL, *v = optim_buf(o, k, "exp_avg_sq");
        float *x = p->param;
        const float *gr = p->grad;
        if (!o->param_init[k]) {
            for (int64_t j = 0; j < ns; j++) p0[j] = x[j * sp];
            o->param_init[k] = 1;
        }
        const double group_lr = o->group_lr[o->slots[k].group];
        if (!(group_lr > 0.0)) continue;
        NumCtx nc = {gr, x, p0, sp, wd_coupled};
        delta_numerator += (d / d0) * dlr * optim_chunked_sum(ns, num_chunk, &nc);
        const float a1 = (float)(d * (1 - beta1)), b1 = (float)beta1;
        const float a2 = (float)(d * d * (1 - beta2)), b2 = (float)beta2;
        #pragma omp parallel for schedule(static) if (p->n > 32768)
        for (int64_t i = 0; i < p->n; i++) {
            float g = gr[i];
            if (wd_coupled != 0.0f) g = g + wd_coupled * x[i];
            if (m) m[i] = m[i] * b1 + a1 * g;
            v[i] = v[i] * b2 + a2 * g * g;
        }
        const float b3 = (float)beta3, as = (float)(c->safeguard_warmup ? (d / d0) * d : (d / d0) * dlr);
        #pragma omp parallel for schedule(static) if (ns > 32768)
        for (int64_t j = 0; j < ns; j++) {
            float g = gr[j * sp];
            if (wd_coupled != 0.0f) g = g + wd_coupled * x[j * sp];
            s[j] = s[j] * b3 + as * g;
        }
        d_denom += optim_sum_abs(s, ns);
    }
    if (d_denom == 0.0) return 0;

    double global_num = d_numerator, d_hat = d;
    if (lr > 0.0) {
        global_num = d_numerator + delta_numerator;
        d_hat = c->d_coef * global_num / d_denom;
        if (d == d0) d = d > d_hat ? d : d_hat;
        d_max = d_max > d_hat ? d_max : d_hat;
        double grown = d * c->growth_rate;
        d = d_max < grown ? d_max : grown;
    }
    o->scalars[S_DNUM] = global_num;
    o->scalars[S_DDEN] = d_denom;
    o->scalars[S_D] = d;
    o->scalars[S_DMAX] = d_max;
    o->scalars[S_DHAT] = d_hat;

    for (int64_t k = 0; k < o->n_slots; k++) {
        const OptimParam *p = &o->slots[k].p;
        if (!p->grad) continue;
        o->param_step[k]++;
        float *m = beta1 > 0 ? optim_buf(o, k, "exp_avg") : NULL, *v = optim_buf(o, k, "exp_avg_sq");
        float *x = p->param;
        const float *gr = p->grad;
        const float deps = (float)(d * c->eps);
        const float wd_dec = (c->weight_decay != 0 && c->decouple) ? (float)(-c->weight_decay * dlr) : 0.0f;
        const float neg_dlr = (float)(-dlr), neg_dlr_d = (float)(-dlr * d);
        #pragma omp parallel for schedule(static) if (p->n > 32768)
        for (int64_t i = 0; i < p->n; i++) {
            float denom = sqrtf(v[i]) + deps;
            if (wd_dec != 0.0f) x[i] = x[i] + wd_dec * x[i];
            if (m) {
                x[i] = x[i] + neg_dlr * (m[i] / denom);
            } else {
                float g = gr[i];
                if (wd_coupled != 0.0f) g = g + wd_coupled * x[i];
                x[i] = x[i] + neg_dlr_d * (g / denom);
            }
        }
    }
    o->scalars[S_K] = k_step + 1;
    return 1;
}
