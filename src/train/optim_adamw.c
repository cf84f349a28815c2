// optim_adamw.c — AdamW as torch.optim.AdamW (torch 2.5, single-tensor path, which CPU tensors
// take): decoupled weight decay p *= 1 - lr·wd; m = lerp(m, g, 1 - β1); v = β2·v + (1 - β2)·g²;
// p -= lr/(1 - β1^t) · m / (sqrt(v)/sqrt(1 - β2^t) + eps) (Loshchilov & Hutter 2019).
// Elementwise math in float32 in torch's operation order; scalars in double as Python has them.
#include <math.h>
#include "train/optim_internal.h"

SdlStatus optim_adamw_init(Optimizer *o) {
    for (int64_t k = 0; k < o->n_slots; k++) {
        const OptimParam *p = &o->slots[k].p;
        optim_add_buf(o, k, "exp_avg", ST_F32, p->ndim, p->shape);
        optim_add_buf(o, k, "exp_avg_sq", ST_F32, p->ndim, p->shape);
        if (o->cfg.amsgrad) optim_add_buf(o, k, "max_exp_avg_sq", ST_F32, p->ndim, p->shape);
    }
    return SDL_OK;
}

int optim_adamw_step(Optimizer *o) {
    const OptimConfig *c = &o->cfg;
    for (int64_t k = 0; k < o->n_slots; k++) {
        const OptimParam *p = &o->slots[k].p;
        if (!p->grad) continue;
        double lr = o->group_lr[o->slots[k].group];
        int64_t t = ++o->param_step[k];
        o->param_init[k] = 1;
        float *m = optim_buf(o, k, "exp_avg"), *v = optim_buf(o, k, "exp_avg_sq");
        float *vmax = c->amsgrad ? optim_buf(o, k, "max_exp_avg_sq") : NULL;
        const float decay = (float)(1.0 - lr * c->weight_decay);
        const float w = (float)(1.0 - c->beta1);              // lerp weight
        const float b2 = (float)c->beta2, one_b2 = (float)(1.0 - c->beta2);
        const double bc1 = 1.0 - pow(c->beta1, (double)t);
        const double bc2_sqrt = sqrt(1.0 - pow(c->beta2, (double)t));
        const float neg_step = (float)(-(lr / bc1)), bc2s = (float)bc2_sqrt, eps = (float)c->eps;
        float *x = p->param;
        const float *g = p->grad;
        #pragma omp parallel for schedule(static) if (p->n > 32768)
        for (int64_t i = 0; i < p->n; i++) {
            x[i] = x[i] * decay;
            // torch's lerp: weight < 0.5 → self + w·(end − self), else end − (end − self)·(1 − w)
            m[i] = w < 0.5f ? m[i] + w * (g[i] - m[i]) : g[i] - (g[i] - m[i]) * (1.0f - w);
            v[i] = v[i] * b2 + one_b2 * g[i] * g[i];
            float vv = v[i];
            if (vmax) { vmax[i] = vmax[i] > vv ? vmax[i] : vv; vv = vmax[i]; }
            float denom = sqrtf(vv) / bc2s + eps;
            x[i] = x[i] + neg_step * (m[i] / denom);
        }
    }
    return 1;
}
