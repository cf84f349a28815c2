// resblock.h — ResnetBlock2D (the UNet's and the VAE's residual block, diffusers semantics),
// plus the small pieces every nn/ block shares: a norm module (GroupNorm / LayerNorm weights
// with optional grads), the parameter/module visitor that drives naming, loading and LoRA
// attachment, and LoRA activation planning for Linear/Conv2d modules.
//
// ResnetBlock2D, channels in -> out, optional time embedding:
//   h   = conv1(silu(norm1(x)))                          norm1 GroupNorm(groups, in, eps)
//   h  += time_emb_proj(temb_act)[:, :, None, None]      only when temb_dim > 0
//   y   = conv2(silu(norm2(h)))                          (dropout p=0 is the identity)
//   out = y + (conv_shortcut(x) if in != out else x)     output_scale_factor 1
// temb_act is silu(temb) (N, temb_dim): diffusers applies SiLU to temb inside every block; the
// caller computes it once and shares it (the UNet), or passes NULL (the VAE, temb_dim 0).
//
// Memory: forward saves the GroupNorm statistics and h (norm2's input); silu(norm(.)) outputs
// are recomputed in backward (one cheap elementwise pass each) instead of being stored.
// The caller keeps x (and temb_act) alive and unchanged from forward to backward.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "base/mem.h"
#include "nn/conv.h"
#include "nn/linear.h"

// ---- shared by the nn/ blocks -----------------------------------------------------------

// GroupNorm (groups > 0) or LayerNorm over the last dim (groups == 0), always affine.
typedef struct {
    const float *w, *b; // (C)
    float *dw, *db;      // (C) or NULL when frozen
    int64_t C, groups;
    float eps;
} NormModule;

typedef enum { BLOCK_MODULE_LINEAR, BLOCK_MODULE_CONV2D } BlockModuleKind;

// Walks a block's parameters and modules, in a fixed order, under a name prefix. Names are the
// checkpoint keys (diffusers), e.g. "down_blocks.0.resnets.0.conv1.weight". The same walk
// adds entries to a model's ParamTable, binds the storage to the modules afterwards (the slot
// `w`), enables gradients (the slot `grad`) and lists LoRA attachment points.
typedef struct BlockVisitor BlockVisitor;
struct BlockVisitor {
    // One tensor: full name, shape, the module field holding its data pointer and the field
    // for its gradient (NULL = frozen). May be NULL.
    void (*param)(BlockVisitor *v, const char *name, int ndim, const int64_t *shape, const float **w, float **grad);
    // One Linear/Conv2d module: its path (the weight name without ".weight") and the diffusers
    // class of the block holding it ("ResnetBlock2D", "Transformer2DModel", "Downsample2D",
    // "Upsample2D", ...) — kohya picks LoRA targets by that class. May be NULL.
    void (*module)(BlockVisitor *v, const char *path, BlockModuleKind kind, void *module, const char *block_class);
    void *ctx;
};

// Visit helpers: "<prefix>.<name>.weight" (and ".bias" when has_bias), then the module.
void block_visit_linear(BlockVisitor *v, const char *prefix, const char *name, Linear *m, int has_bias,
                        const char *block_class);
void block_visit_conv(BlockVisitor *v, const char *prefix, const char *name, Conv2d *m, const char *block_class);
void block_visit_norm(BlockVisitor *v, const char *prefix, const char *name, NormModule *m);

// Whether backward must produce anything for this module's own parameters (weights, bias or a
// trainable LoRA adapter).
int linear_wants_grad(const Linear *m);
int conv_wants_grad(const Conv2d *m);
int norm_wants_grad(const NormModule *m);
// Whether the module's backward reads its forward input (for dw or a trainable LoRA down):
// blocks recompute cheap inputs (norm outputs, transposes) only then.
int linear_needs_input(const Linear *m);
int conv_needs_input(const Conv2d *m);
// Plans the activation a LoRA adapter saves (lora->h) when the module has one; no-op otherwise.
void linear_plan_lora(Linear *m, Arena *acts, int64_t M);
void conv_plan_lora(Conv2d *m, Arena *acts, int64_t N, int64_t H, int64_t W);

// ---- ResnetBlock2D ------------------------------------------------------------------------

typedef struct {
    float *mean1, *rstd1; // (N, groups)
    float *h;             // (N, out, H, W): conv1 output + time embedding = norm2's input
    float *mean2, *rstd2; // (N, groups)
} ResBlockSaved;

typedef struct {
    NormModule norm1;      // GroupNorm(groups, in)
    Conv2d conv1;          // (out, in, 3, 3), pad 1
    Linear time_emb_proj;  // (out, temb_dim); unused when temb_dim == 0
    NormModule norm2;      // GroupNorm(groups, out)
    Conv2d conv2;          // (out, out, 3, 3), pad 1
    Conv2d conv_shortcut;  // (out, in, 1, 1) when in != out
    int64_t in, out, temb_dim;
    int has_shortcut;
    ResBlockSaved s;       // set by resblock_plan
} ResBlock;

// temb_dim 0: no time embedding (VAE). Weight pointers stay NULL until bound by a visitor.
void resblock_init(ResBlock *m, int64_t in, int64_t out, int64_t temb_dim, int64_t groups, float eps);
// Parameters: norm1, conv1, time_emb_proj, norm2, conv2, conv_shortcut (diffusers names).
void resblock_visit(ResBlock *m, const char *prefix, BlockVisitor *v);
int resblock_wants_grad(const ResBlock *m);
// Saved activations (and LoRA activations) for input (N, in, H, W), from the arena.
void resblock_plan(ResBlock *m, Arena *acts, int64_t N, int64_t H, int64_t W);
// Floats of work memory forward and backward need.
size_t resblock_work_floats(const ResBlock *m, int64_t N, int64_t H, int64_t W);
// out (N, out, H, W) from x (N, in, H, W) and temb_act (N, temb_dim) or NULL.
void resblock_forward(ResBlock *m, float *out, const float *x, const float *temb_act, int64_t N, int64_t H,
                      int64_t W, float *work);
// dx (N, in, H, W) = (NULL: not needed); dtemb_act (N, temb_dim) += (NULL: not needed);
// parameter and LoRA grads +=.
void resblock_backward(ResBlock *m, float *dx, float *dtemb_act, const float *dout, const float *x,
                       const float *temb_act, int64_t N, int64_t H, int64_t W, float *work);
