// optim_sgd.c — SGDNesterov as kohya builds it: torch.optim.SGD(nesterov=True, momentum=0.9
// unless given). torch's rule (Sutskever et al. 2013 formulation): g += wd·p; the momentum
// buffer is g itself on the first step, then buf = μ·buf + (1 − dampening)·g; Nesterov uses
// g + μ·buf; p -= lr·that.
#include "train/optim_internal.h"

SdlStatus optim_sgd_init(Optimizer *o) {
    for (int64_t k = 0; k < o->n_slots; k++)
        optim_add_buf(o, k, "momentum_buffer", ST_F32, o->slots[k].p.ndim, o->slots[k].p.shape);
    return SDL_OK;
}

int optim_sgd_step(Optimizer *o) {
    const OptimConfig *c = &o->cfg;
    for (int64_t k = 0; k < o->n_slots; k++) {
        const OptimParam *p = &o->slots[k].p;
        if (!p->grad) continue;
        double lr = o->group_lr[o->slots[k].group];
        float *buf = optim_buf(o, k, "momentum_buffer");
        const int first = !o->param_init[k]; // torch: momentum_buffer is None
        o->param_init[k] = 1;
        o->param_step[k]++;
        const float wd = (float)c->weight_decay, mu = (float)c->momentum, damp = (float)(1.0 - c->dampening);
        const float neg_lr = (float)(-lr);
        float *x = p->param;
        const float *gr = p->grad;
        #pragma omp parallel for schedule(static) if (p->n > 32768)
        for (int64_t i = 0; i < p->n; i++) {
            float g = gr[i];
            if (wd != 0.0f) g = g + wd * x[i];
            buf[i] = first ? g : buf[i] * mu + damp * g;
            g = g + mu * buf[i];
            x[i] = x[i] + neg_lr * g;
        }
    }
    return 1;
}
