// optim_adafactor.c — Adafactor (Shazeer & Stern 2018) as transformers.optimization.Adafactor,
// which kohya uses with relative_step=True by default.
//
// Per parameter, per step t (transformers' order):
//   RMS = ‖p‖/sqrt(n) (before the update);  lr_t = relative_step ? min(warmup_init ? 1e-6·t : 1e-2, 1/sqrt(t)) : lr
//   lr_t *= scale_parameter ? max(eps2, RMS) : 1;  β2t = 1 − t^decay_rate
//   u = g² + eps1;  factored (ndim ≥ 2, over the LAST TWO dims, batched over the leading ones):
//     R = β2t·R + (1−β2t)·mean_cols(u);  C = β2t·C + (1−β2t)·mean_rows(u)
//     u = g · rsqrt(R / mean(R)) · rsqrt(C)         (row/col outer product, per leading index)
//   else V = β2t·V + (1−β2t)·u;  u = g · rsqrt(V)
//   u /= max(1, RMS(u)/clip_threshold);  u *= lr_t
//   beta1 given: m = β1·m + (1−β1)·u; u = m
//   p += p·(−wd·lr_t);  p −= u
// A 4-D conv weight (O, I, kh, kw) is therefore factored as O·I separate kh×kw matrices — that is
// what transformers does (state shapes (O, I, kh) and (O, I, kw)), so we do the same.
// torch keeps RMS as a float32 tensor, so when it wins the max the lr is a float32 product.
#include <math.h>
#include "train/optim_internal.h"

static int factored(const OptimParam *p) { return p->ndim >= 2; }

SdlStatus optim_adafactor_init(Optimizer *o) {
    if (!o->cfg.relative_step && !(o->cfg.initial_lr >= 0))
        return sdl_fail(SDL_ERR_ARG, NULL, NULL, "Adafactor with relative_step=False needs a learning rate");
    for (int64_t k = 0; k < o->n_slots; k++) {
        const OptimParam *p = &o->slots[k].p;
        if (o->cfg.has_adafactor_beta1) optim_add_buf(o, k, "exp_avg", ST_F32, p->ndim, p->shape);
        if (factored(p)) {
            // row: shape[:-1]; col: shape[:-2] + shape[-1:]
            int64_t col[OPTIM_MAX_DIMS];
            for (int d = 0; d < p->ndim - 2; d++) col[d] = p->shape[d];
            col[p->ndim - 2] = p->shape[p->ndim - 1];
            optim_add_buf(o, k, "exp_avg_sq_row", ST_F32, p->ndim - 1, p->shape);
            optim_add_buf(o, k, "exp_avg_sq_col", ST_F32, p->ndim - 1, col);
        } else {
            optim_add_buf(o, k, "exp_avg_sq", ST_F32, p->ndim, p->shape);
        }
    }
    return SDL_OK;
}

int optim_adafactor_step(Optimizer *o) {
    const OptimConfig *c = &o->cfg;
    float *scratch = NULL;
    int64_t scratch_n = 0;
    for (int64_t k = 0; k < o->n_slots; k++) {
        const OptimParam *p = &o->slots[k].p;
        if (!p->grad) continue;
        o->param_init[k] = 1;
        int64_t t = ++o->param_step[k];
        const int64_t n = p->n;
        float *x = p->param;
        const float *g = p->grad;
        if (n > scratch_n) {
            mem_free(scratch);
            scratch = mem_alloc(MEM_SCRATCH, (size_t)n * sizeof(float));
            scratch_n = n;
        }
        float *u = scratch;

        // lr (Adafactor._get_lr)
        float rms_p = (float)sqrt(optim_sum_sq(x, n) / (double)n);
        double rel = o->group_lr[o->slots[k].group];
        if (c->relative_step) {
            double min_step = c->warmup_init ? 1e-6 * (double)t : 1e-2;
            double inv = 1.0 / sqrt((double)t);
            rel = min_step < inv ? min_step : inv;
        }
        double lr = rel;
        if (c->scale_parameter) {
            // Python max(eps2, RMS) keeps eps2 unless the float32 tensor RMS is larger
            if ((double)rms_p > c->eps2) lr = (double)(rms_p * (float)rel);
            else lr = c->eps2 * rel;
        }
        o->param_lr[k] = lr;
        const double beta2t = 1.0 - pow((double)t, c->decay_rate);
        const float b2 = (float)beta2t, one_b2 = (float)(1.0 - beta2t), eps1 = (float)c->eps;

        if (factored(p)) {
            const int64_t C = p->shape[p->ndim - 1], R = p->shape[p->ndim - 2], B = n / (R * C);
            float *row = optim_buf(o, k, "exp_avg_sq_row"), *col = optim_buf(o, k, "exp_avg_sq_col");
            for (int64_t b = 0; b < B; b++) {
                const float *gb = g + b * R * C;
                float *rb = row + b * R, *cb = col + b * C;
                // row means (over the last dim) and column means (over rows) of g² + eps1
                #pragma omp parallel for schedule(static) if (R * C > 32768)
                for (int64_t r = 0; r < R; r++) {
                    double s = 0;
                    for (int64_t j = 0; j < C; j++) s += (double)(gb[r * C + j] * gb[r * C + j] + eps1);
                    rb[r] = rb[r] * b2 + one_b2 * (float)(s / (double)C);
                }
                #pragma omp parallel for schedule(static) if (R * C > 32768)
                for (int64_t j = 0; j < C; j++) {
                    double s = 0;
                    for (int64_t r = 0; r < R; r++) s += (double)(gb[r * C + j] * gb[r * C + j] + eps1);
                    cb[j] = cb[j] * b2 + one_b2 * (float)(s / (double)R);
                }
                double rs = 0;
                for (int64_t r = 0; r < R; r++) rs += rb[r];
                const float row_mean = (float)(rs / (double)R);
                #pragma omp parallel for schedule(static) if (R * C > 32768)
                for (int64_t r = 0; r < R; r++) {
                    float rf = 1.0f / sqrtf(rb[r] / row_mean);
                    for (int64_t j = 0; j < C; j++) u[b * R * C + r * C + j] = rf * (1.0f / sqrtf(cb[j])) * gb[r * C + j];
                }
            }
        } else {
            float *v = optim_buf(o, k, "exp_avg_sq");
            #pragma omp parallel for schedule(static) if (n > 32768)
            for (int64_t i = 0; i < n; i++) {
                v[i] = v[i] * b2 + one_b2 * (g[i] * g[i] + eps1);
                u[i] = (1.0f / sqrtf(v[i])) * g[i];
            }
        }
        // clip by RMS(u) / clip_threshold, then scale by lr
        float rms_u = (float)sqrt(optim_sum_sq(u, n) / (double)n);
        float div = rms_u / (float)c->clip_threshold;
        if (div < 1.0f) div = 1.0f;
        const float lr_f = (float)lr;
        float *m = c->has_adafactor_beta1 ? optim_buf(o, k, "exp_avg") : NULL;
        const float b1 = (float)c->adafactor_beta1, one_b1 = (float)(1.0 - c->adafactor_beta1);
        const float wd = (float)(-c->weight_decay * lr);
        #pragma omp parallel for schedule(static) if (n > 32768)
        for (int64_t i = 0; i < n; i++) {
            float ui = (u[i] / div) * lr_f;
            if (m) { m[i] = m[i] * b1 + one_b1 * ui; ui = m[i]; }
            if (wd != 0.0f) x[i] = x[i] + wd * x[i];
            x[i] = x[i] - ui;
        }
    }
    mem_free(scratch);
    return 1;
}
