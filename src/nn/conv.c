// conv.c — Conv2d module forward/backward with the LoRA hook. The adapter's up projection is a
// 1x1 conv, i.e. one GEMM per image over the (r, OH·OW) activation. Dropout masks: lora.h.
#include "nn/conv.h"
#include "base/profile.h"
#include "ops/gemm.h"
#include "ops/tensor.h"

Conv2d conv_module(const float *w, const float *b, int64_t in, int64_t out, int64_t k, int64_t stride, int64_t pad) {
    return (Conv2d){.w = w, .b = b, .in = in, .out = out, .k = k, .stride = stride,
                    .pad_top = pad, .pad_bottom = pad, .pad_left = pad, .pad_right = pad};
}

Conv2dDims conv_module_dims(const Conv2d *m, int64_t N, int64_t H, int64_t W) {
    return (Conv2dDims){.N = N, .IC = m->in, .H = H, .W = W, .OC = m->out, .KH = m->k, .KW = m->k,
                        .stride = m->stride, .pad_top = m->pad_top, .pad_bottom = m->pad_bottom,
                        .pad_left = m->pad_left, .pad_right = m->pad_right};
}

static Conv2dDims lora_down_dims(const Conv2d *m, int64_t N, int64_t H, int64_t W) {
    Conv2dDims d = conv_module_dims(m, N, H, W);
    d.OC = m->lora->rank;
    return d;
}

size_t conv_module_work_floats(const Conv2d *m, int64_t N, int64_t H, int64_t W) {
    Conv2dDims d = conv_module_dims(m, N, H, W);
    size_t base = conv2d_work_floats(&d);
    if (!m->lora) return base;
    Conv2dDims dd = lora_down_dims(m, N, H, W);
    size_t down = conv2d_work_floats(&dd);
    size_t ohw = (size_t)(conv2d_out_h(&d) * conv2d_out_w(&d));
    // backward: dh (N, r, OHW) + the adapter's input grad (N, in, H, W) + the down conv's work
    size_t lora = (size_t)(N * m->lora->rank) * ohw + (size_t)(N * m->in * H * W) + down;
    return base > lora ? base : lora;
}

void conv_module_forward(const Conv2d *m, float *out, const float *inp, int64_t N, int64_t H, int64_t W, float *work) {
    Conv2dDims d = conv_module_dims(m, N, H, W);
    conv2d_forward(out, inp, half_weight_get(m->w, &m->w16), m->b, &d, work);
    const LoraAdapter *a = m->lora;
    if (!a) return;
    PROF_SCOPE(PROF_LORA);
    Conv2dDims dd = lora_down_dims(m, N, H, W);
    conv2d_forward(a->h, inp, a->down, NULL, &dd, work);             // h (N, r, OH, OW)
    int64_t ohw = conv2d_out_h(&d) * conv2d_out_w(&d), r = a->rank;
    if (lora_dropout_active(a)) lora_dropout_apply(a, a->h, N, 1, ohw); // rank masks broadcast over pixels
    for (int64_t n = 0; n < N; n++)                                  // out[n] += s · up (out, r) @ h[n] (r, OHW)
        gemm(false, false, m->out, ohw, r, a->scale, a->up, r, a->h + n * r * ohw, ohw, 1.0f, out + n * m->out * ohw, ohw);
}

void conv_module_backward(const Conv2d *m, float *dinp, const float *dout, const float *inp,
                          int64_t N, int64_t H, int64_t W, float *work) {
    Conv2dDims d = conv_module_dims(m, N, H, W);
    // the weight is read only for dinp: a 16-bit one is widened only then
    conv2d_backward(dinp, m->dw, m->db, dout, inp, dinp ? half_weight_get(m->w, &m->w16) : m->w, &d, work);
    const LoraAdapter *a = m->lora;
    if (!a || (!dinp && !a->ddown && !a->dup)) return;
    PROF_SCOPE(PROF_LORA);
    int64_t ohw = conv2d_out_h(&d) * conv2d_out_w(&d), r = a->rank;
    if (a->dup)
        for (int64_t n = 0; n < N; n++) // dup (out, r) += s · dout[n] (out, OHW) @ h[n]ᵀ (h saved after the masks)
            gemm(false, true, m->out, r, ohw, a->scale, dout + n * m->out * ohw, ohw, a->h + n * r * ohw, ohw, 1.0f, a->dup, r);
    if (!dinp && !a->ddown) return;
    float *dh = work;                                  // (N, r, OHW)
    float *dinp_lora = dh + N * r * ohw;               // (N, in, H, W)
    float *down_work = dinp_lora + N * m->in * H * W;
    for (int64_t n = 0; n < N; n++) // dh[n] = s · upᵀ (r, out) @ dout[n] (out, OHW)
        gemm(true, false, r, ohw, m->out, a->scale, a->up, r, dout + n * m->out * ohw, ohw, 0.0f, dh + n * r * ohw, ohw);
    if (lora_dropout_active(a)) lora_dropout_apply(a, dh, N, 1, ohw); // the forward's masks
    Conv2dDims dd = lora_down_dims(m, N, H, W);
    conv2d_backward(dinp ? dinp_lora : NULL, a->ddown, NULL, dh, inp, a->down, &dd, down_work);
    if (dinp) add_into(dinp, dinp_lora, N * m->in * H * W);
}
