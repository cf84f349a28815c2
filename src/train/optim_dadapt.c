// optim_dadapt.c — D-Adaptation Adam (Defazio & Mishchenko 2023, "Learning-Rate-Free Learning by
// D-Adaptation") as dadaptation 3.2's DAdaptAdam.
//
// One step (dlr = d·lr·bias_correction with the d from before this step; r = layer_scale = 1):
//   per parameter (group lr > 0): num_acc += dlr·<g, s / (sqrt(v) + eps)>   (old s and v)
//     m = β1·m + dlr(1−β1)·g;  v = β2·v + (1−β2)·g²;  s = sqrt(β2)·s + dlr(1−sqrt(β2))·g;  sk_l1 += ‖s‖₁
//   num_w = sqrt(β2)·num_w + (1−sqrt(β2))·num_acc
//   sk_l1 == 0 → return (num_w is not kept, as in the reference)
//   d̂ = num_w / ((1−sqrt(β2))·sk_l1);  d = max(d, min(d̂, d·growth_rate))
//   per parameter: p −= m / (sqrt(v) + eps)   (decoupled wd first: p −= p·wd·dlr)
// m already carries dlr, so the final step has no lr factor. Coupled weight decay (the default
// decouple=False) adds wd·p to the gradient, on the fly here (the reference does it in p.grad).
#include <math.h>
#include "train/optim_internal.h"

enum { S_D, S_NUMW, S_K, S_DHAT, S_SKL1 };

SdlStatus optim_dadapt_init(Optimizer *o) {
    static const char *names[] = {"d", "numerator_weighted", "k", "d_hat", "sk_l1"};
    for (int i = 0; i < 5; i++) o->scalar_names[i] = names[i];
    o->scalars[S_D] = o->scalars[S_DHAT] = o->cfg.d0;
    for (int64_t k = 0; k < o->n_slots; k++) {
        const OptimParam *p = &o->slots[k].p;
        optim_add_buf(o, k, "s", ST_F32, p->ndim, p->shape);
        optim_add_buf(o, k, "exp_avg", ST_F32, p->ndim, p->shape);
        optim_add_buf(o, k, "exp_avg_sq", ST_F32, p->ndim, p->shape);
    }
    return SDL_OK;
}

typedef struct { const float *g, *x, *s, *v; float wd, eps; } NumCtx;
static double num_chunk(void *ctx, int64_t b, int64_t e) {
    const NumCtx *c = ctx;
    double acc = 0;
    for (int64_t i = b; i < e; i++) {
        float g = c->g[i];
        if (c->wd != 0.0f) g = g + c->wd * c->x[i];
        float denom = sqrtf(c->v[i]) + c->eps;
        acc += (double)g * (double)(c->s[i] / denom);
    }
    return acc;
}

int optim_dadapt_step(Optimizer *o) {
    const OptimConfig *c = &o->cfg;
    const double beta1 = c->beta1, beta2 = c->beta2, k_step = o->scalars[S_K];
    double d = o->scalars[S_D];
    double lr = 0;
    for (int64_t g = 0; g < o->n_groups; g++) if (o->group_lr[g] > lr) lr = o->group_lr[g];
    const double bias_correction = c->use_bias_correction
        ? sqrt(1.0 - pow(beta2, k_step + 1)) / (1.0 - pow(beta1, k_step + 1)) : 1.0;
    const double dlr = d * lr * bias_correction;
    const double sqrt_beta2 = pow(beta2, 0.5);
    const float wd_coupled = (c->weight_decay != 0 && !c->decouple) ? (float)c->weight_decay : 0.0f;
    double numerator_acum = 0.0, sk_l1 = 0.0;

    for (int64_t k = 0; k < o->n_slots; k++) {
        const OptimParam *p = &o->slots[k].p;
        if (!p->grad) continue;
        o->param_init[k] = 1;
        if (!(o->group_lr[o->slots[k].group] > 0.0)) continue;
        float *s = optim_buf(o, k, "s"), *m = optim_buf(o, k, "exp_avg"), *v = optim_buf(o, k, "exp_avg_sq");
        float *x = p->param;
        const float *gr = p->grad;
        NumCtx nc = {gr, x, s, v, wd_coupled, (float)c->eps};
        numerator_acum += dlr * optim_chunked_sum(p->n, num_chunk, &nc);
        const float a1 = (float)(dlr * (1 - beta1)), b1 = (float)beta1;
        const float a2 = (float)(1 - beta2), b2 = (float)beta2;
        const float as = (float)(dlr * (1 - sqrt_beta2)), bs = (float)sqrt_beta2;
        #pragma omp parallel for schedule(static) if (p->n > 32768)
        for (int64_t i = 0; i < p->n; i++) {
            float g = gr[i];
            if (wd_coupled != 0.0f) g = g + wd_coupled * x[i];
            m[i] = m[i] * b1 + a1 * g;
            v[i] = v[i] * b2 + a2 * g * g;
            s[i] = s[i] * bs + as * g;
        }
        sk_l1 += optim_sum_abs(s, p->n);
    }
    const double numerator_weighted = sqrt_beta2 * o->scalars[S_NUMW] + (1 - sqrt_beta2) * numerator_acum;
    if (sk_l1 == 0.0) return 0;
    double d_hat = d;
    if (lr > 0.0) {
        d_hat = numerator_weighted / ((1 - sqrt_beta2) * sk_l1);
        double grown = d * c->growth_rate;
        double cand = d_hat < grown ? d_hat : grown;
        d = d > cand ? d : cand;
    }
    o->scalars[S_NUMW] = numerator_weighted;
    o->scalars[S_D] = d;
    o->scalars[S_DHAT] = d_hat;
    o->scalars[S_SKL1] = sk_l1;

    for (int64_t k = 0; k < o->n_slots; k++) {
        const OptimParam *p = &o->slots[k].p;
        if (!p->grad) continue;
        o->param_step[k]++;
        float *m = optim_buf(o, k, "exp_avg"), *v = optim_buf(o, k, "exp_avg_sq");
        float *x = p->param;
        const float eps = (float)c->eps;
        const float wd_dec = (c->weight_decay != 0 && c->decouple) ? (float)(-c->weight_decay * dlr) : 0.0f;
        #pragma omp parallel for schedule(static) if (p->n > 32768)
        for (int64_t i = 0; i < p->n; i++) {
            float denom = sqrtf(v[i]) + eps;
            if (wd_dec != 0.0f) x[i] = x[i] + wd_dec * x[i];
            x[i] = x[i] + -1.0f * (m[i] / denom);
        }
    }
    o->scalars[S_K] = k_step + 1;
    return 1;
}
