// linear.c — Linear module forward/backward with the LoRA hook (see lora.h for the math).
#include "nn/linear.h"
#include "ops/gemm.h"
#include "ops/linear.h"

size_t linear_module_work_floats(const Linear *m, int64_t M) {
    return m->lora ? (size_t)(M * m->lora->rank) : 0; // dh
}

void linear_module_forward(const Linear *m, float *out, const float *inp, int64_t M) {
    linear_forward(out, inp, m->w, m->b, M, m->in, m->out);
    const LoraAdapter *a = m->lora;
    if (!a) return;
    int64_t r = a->rank;
    gemm(false, true, M, r, m->in, 1.0f, inp, m->in, a->down, m->in, 0.0f, a->h, r);       // h (M, r) = inp @ downᵀ
    gemm(false, true, M, m->out, r, a->scale, a->h, r, a->up, r, 1.0f, out, m->out);       // out += s · h @ upᵀ
}

void linear_module_backward(const Linear *m, float *dinp, const float *dout, const float *inp, int64_t M, float *work) {
    linear_backward(dinp, m->dw, m->db, dout, inp, m->w, M, m->in, m->out);
    const LoraAdapter *a = m->lora;
    if (!a || (!dinp && !a->ddown && !a->dup)) return;
    int64_t r = a->rank;
    if (a->dup) // dup (out, r) += s · doutᵀ @ h
        gemm(true, false, m->out, r, M, a->scale, dout, m->out, a->h, r, 1.0f, a->dup, r);
    if (!dinp && !a->ddown) return;
    float *dh = work;                                                                       // (M, r)
    gemm(false, false, M, r, m->out, a->scale, dout, m->out, a->up, r, 0.0f, dh, r);        // dh = s · dout @ up
    if (a->ddown) gemm(true, false, r, m->in, M, 1.0f, dh, r, inp, m->in, 1.0f, a->ddown, m->in); // ddown += dhᵀ @ inp
    if (dinp) gemm(false, false, M, m->in, r, 1.0f, dh, r, a->down, m->in, 1.0f, dinp, m->in);    // dinp += dh @ down
}
