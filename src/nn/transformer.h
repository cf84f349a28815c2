// transformer.h — the UNet's spatial transformer: diffusers Transformer2DModel (continuous
// input) holding BasicTransformerBlocks, as SD1.x/SD2.x use it.
//
// Transformer2DModel, x (N, C, H, W), context (N, Tctx, ctx_dim), inner = heads · head_dim:
//   g = GroupNorm(groups, C, eps 1e-6)(x)
//   SD1 (use_linear 0): t = tokens(proj_in(g))    proj_in  Conv1x1 C -> inner
//   SD2 (use_linear 1): t = proj_in(tokens(g))    proj_in  Linear  C -> inner
//   t = block_d(t, context) for d < depth          tokens: (N, C, HW) -> (N, HW, C)
//   SD1: y = proj_out(nchw(t)); SD2: y = nchw(proj_out(t))      proj_out inner -> C
//   out = y + x
// BasicTransformerBlock on t (N, T, dim), pre-norm, LayerNorm eps 1e-5:
//   t = attn1(norm1(t)) + t                  self-attention (to_q/k/v no bias, to_out.0 bias)
//   t = attn2(norm2(t), context) + t         cross-attention, K/V from the context
//   t = ff.net.2(geglu(ff.net.0.proj(norm3(t)))) + t     GEGLU, inner 4·dim
//
// Memory: forward saves the norm statistics, the residual stream between sub-blocks, the
// attention q/k/v/o/lse and the GEGLU input; LayerNorm/GroupNorm outputs, the GEGLU output and
// the layout transposes are recomputed in backward. The caller keeps x and the context alive
// and unchanged from forward to backward.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "nn/attention.h"
#include "nn/resblock.h" // NormModule, BlockVisitor, LoRA planning helpers

typedef struct {
    float *mean1, *rstd1, *mean2, *rstd2, *mean3, *rstd3; // (N, T)
    AttentionSaved a1, a2;
    float *x1, *x2;   // (N, T, dim): the stream after attn1 and after attn2
    float *f;         // (N, T, 2·ff_inner): ff.net.0.proj output (GEGLU input)
} BasicTransformerSaved;

typedef struct {
    NormModule norm1, norm2, norm3; // LayerNorm(dim)
    Attention attn1;                // self: q/k/v (inner, dim), out (dim, inner)
    Attention attn2;                // cross: q (inner, dim), k/v (inner, ctx_dim), out (dim, inner)
    Linear ff_proj;                 // ff.net.0.proj (2·ff_inner, dim)
    Linear ff_out;                  // ff.net.2 (dim, ff_inner)
    int64_t dim, ff_inner, ctx_dim;
    BasicTransformerSaved s;
} BasicTransformerBlock;

#define TRANSFORMER_MAX_DEPTH 64 // blocks per Transformer2D (SDXL uses 10)

typedef struct {
    float *mean, *rstd; // (N, groups)
    float **t;          // depth + 1 token tensors (N, HW, inner): t[0] after proj_in, t[d+1] after block d
                        // (the array is allocated by init, the tensors planned)
} Transformer2DSaved;

typedef struct {
    NormModule norm;                  // GroupNorm(groups, C, eps 1e-6)
    int use_linear;                   // 1: proj_in/proj_out Linear (SD2); 0: 1x1 Conv2d (SD1)
    Conv2d proj_in_conv, proj_out_conv; // (inner, C, 1, 1), (C, inner, 1, 1)
    Linear proj_in_lin, proj_out_lin;   // (inner, C), (C, inner)
    BasicTransformerBlock *blocks;    // depth, owned
    int depth;
    int64_t C, inner, heads, head_dim, ctx_dim;
    Transformer2DSaved s;
} Transformer2D;

// heads · (C / heads) is the inner width, as diffusers' blocks build it (head_dim = C / heads).
void transformer2d_init(Transformer2D *m, int64_t C, int64_t heads, int64_t ctx_dim, int depth, int64_t groups,
                        int use_linear);
void transformer2d_free(Transformer2D *m);
// Parameters in diffusers names: norm, proj_in, transformer_blocks.d.{norm1, attn1.to_q, ...,
// ff.net.2}, proj_out.
void transformer2d_visit(Transformer2D *m, const char *prefix, BlockVisitor *v);
int transformer2d_wants_grad(const Transformer2D *m);
// Saved activations for x (N, C, H, W) and a context of Tctx tokens.
void transformer2d_plan(Transformer2D *m, Arena *acts, int64_t N, int64_t H, int64_t W, int64_t Tctx);
size_t transformer2d_work_floats(const Transformer2D *m, int64_t N, int64_t H, int64_t W, int64_t Tctx);
// out (N, C, H, W); ctx (N, Tctx, ctx_dim).
void transformer2d_forward(Transformer2D *m, float *out, const float *x, const float *ctx, int64_t N, int64_t H,
                           int64_t W, int64_t Tctx, float *work);
// dx (N, C, H, W) = (NULL: not needed); dctx (N, Tctx, ctx_dim) += (NULL: not needed);
// parameter and LoRA grads +=.
void transformer2d_backward(Transformer2D *m, float *dx, float *dctx, const float *dout, const float *x,
                            const float *ctx, int64_t N, int64_t H, int64_t W, int64_t Tctx, float *work);

// The BasicTransformerBlock alone (the Transformer2D uses these; exposed for tests).
void basic_transformer_init(BasicTransformerBlock *m, int64_t dim, int64_t heads, int64_t head_dim, int64_t ctx_dim);
void basic_transformer_visit(BasicTransformerBlock *m, const char *prefix, BlockVisitor *v);
int basic_transformer_wants_grad(const BasicTransformerBlock *m);
void basic_transformer_plan(BasicTransformerBlock *m, Arena *acts, int64_t N, int64_t T, int64_t Tctx);
size_t basic_transformer_work_floats(const BasicTransformerBlock *m, int64_t N, int64_t T, int64_t Tctx);
// out (N, T, dim) from x (N, T, dim); out must not alias x.
void basic_transformer_forward(BasicTransformerBlock *m, float *out, const float *x, const float *ctx, int64_t N,
                               int64_t T, int64_t Tctx, float *work);
// In place on the residual stream: dt (N, T, dim) holds dL/d(out) on entry and dL/d(x) on
// return — or garbage when need_dx is 0 (then the block only produces its parameter grads and
// dctx +=).
void basic_transformer_backward(BasicTransformerBlock *m, float *dt, int need_dx, float *dctx, const float *x,
                                const float *ctx, int64_t N, int64_t T, int64_t Tctx, float *work);
