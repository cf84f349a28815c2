// optim_lion.c — Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms") as
// lion_pytorch 0.2.3: p *= 1 − lr·wd; p −= lr·sign(β1·m + (1 − β1)·g); m = β2·m + (1 − β2)·g.
// The update uses β1 and the momentum uses β2 (defaults 0.9, 0.99). sign(0) = 0 as torch.sign.
// decoupled_weight_decay divides wd by the constructor lr (kohya's --learning_rate).
#include "train/optim_internal.h"

SdlStatus optim_lion_init(Optimizer *o) {
    for (int64_t k = 0; k < o->n_slots; k++)
        optim_add_buf(o, k, "exp_avg", ST_F32, o->slots[k].p.ndim, o->slots[k].p.shape);
    return SDL_OK;
}

int optim_lion_step(Optimizer *o) {
    const OptimConfig *c = &o->cfg;
    for (int64_t k = 0; k < o->n_slots; k++) {
        const OptimParam *p = &o->slots[k].p;
        if (!p->grad) continue;
        double lr = o->group_lr[o->slots[k].group];
        double wd = c->weight_decay;
        if (c->decoupled_weight_decay) wd /= c->initial_lr;
        o->param_init[k] = 1;
        o->param_step[k]++;
        float *m = optim_buf(o, k, "exp_avg");
        const float decay = (float)(1.0 - lr * wd), neg_lr = (float)(-lr);
        const float b1 = (float)c->beta1, one_b1 = (float)(1.0 - c->beta1);
        const float b2 = (float)c->beta2, one_b2 = (float)(1.0 - c->beta2);
        float *x = p->param;
        const float *g = p->grad;
        #pragma omp parallel for schedule(static) if (p->n > 32768)
        for (int64_t i = 0; i < p->n; i++) {
            x[i] = x[i] * decay;
            float u = m[i] * b1 + one_b1 * g[i];
            float s = u > 0.0f ? 1.0f : (u < 0.0f ? -1.0f : 0.0f);
            x[i] = x[i] + neg_lr * s;
            m[i] = m[i] * b2 + one_b2 * g[i];
        }
    }
    return 1;
}
