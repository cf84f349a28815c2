// unet.h — the SD1.x/SD2.x denoising UNet (diffusers UNet2DConditionModel semantics), forward
// and backward, built from a UnetConfig, with its parameters named by the diffusers keys.
//
//   t_emb = timestep_embedding(t, C0, flip_sin_to_cos, freq_shift)        (B, C0)
//   temb  = linear_2(silu(linear_1(t_emb)))                                (B, E)   "time_embedding"
//   h = conv_in(latents); push h
//   down_blocks.i: per layer resnet (+ transformer) -> push; downsampler (not last) -> push
//   mid_block: resnet, transformer, resnet
//   up_blocks.i: per layer h = resnet(cat[h, pop()]) (+ transformer); upsampler (not last)
//   eps = conv_out(silu(conv_norm_out(h)))
// Every resnet receives silu(temb) (computed once here); every transformer the context.
//
// Life cycle: unet_init (modules + ParamTable, weights zeroed) -> load the weights
// (unet_load_safetensors or param_table_load on u->params) -> optionally attach LoRA adapters
// to the modules unet_visit_modules lists, and/or request parameter grads -> unet_plan(B, H, W,
// Tctx) -> unet_forward / unet_backward, any number of times. Re-plan after attaching adapters
// or to change the shapes. forward keeps copies of its inputs for backward.
//
// Gradient checkpointing (u->checkpointing = 1 before unet_plan): forward keeps only each
// step's output (the next step's input, and the skip tensors); the internals a step saves for
// its backward (norm statistics, attention q/k/v/o, GEGLU inputs, LoRA h, ...) are planned in
// one region that every step shares. Backward re-runs a step's forward into that region just
// before its backward (the last step's are still there after forward). Same numbers, bit for
// bit (the recomputed forward is the same computation on the same inputs, LoRA dropout masks
// included); about one more forward of compute.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "base/error.h"
#include "base/mem.h"
#include "models/params.h"
#include "models/unet_config.h"
#include "nn/resblock.h"
#include "nn/transformer.h"
#include "nn/updown.h"

typedef enum { UNET_STEP_RESNET, UNET_STEP_ATTN, UNET_STEP_DOWN, UNET_STEP_UP } UnetStepKind;

// One block of the forward sequence (resnet, transformer, down- or upsampler). The input of
// step k is the output of step k-1 (conv_in's output for k = 0); up-block resnets first
// concatenate a skip tensor onto it.
typedef struct {
    UnetStepKind kind;
    char name[64];           // diffusers prefix, e.g. "up_blocks.1.attentions.2"
    void *mod;               // ResBlock / Transformer2D / Downsample2D / Upsample2D
    int64_t in_c, skip_c;    // input channels (without the skip), concatenated skip channels
    int64_t out_c;
    int pop;                 // skip index concatenated onto the input, or -1
    int push;                // skip index this step's output becomes, or -1
    int64_t H, W, OH, OW;    // input and output size (set by unet_plan)
    float *out;              // (B, out_c, OH, OW), activations arena
} UnetStep;

typedef struct {
    const float **w; // the module field that receives the tensor's storage
    float **grad;    // the module field for its gradient
    float *owned;    // gradient buffer allocated by unet_param_grad (freed by unet_free)
    HalfWeight *half; // a Linear/Conv2d weight: the module's 16-bit slot; NULL for other tensors
} UnetParamSlot;

typedef struct {
    UnetConfig cfg;
    ParamTable params;            // one entry per checkpoint tensor (diffusers keys)
    ParamDtype weight_dtype;      // storage of the Linear/Conv2d weights (set before unet_allocate);
                                  // norms and biases stay fp32
    float *wbuf;                  // 16-bit weights: where one is widened before use (MEM_SCRATCH)
    UnetParamSlot *slots;         // params.n, parallel to params.entries
    float **param_ptrs;           // params.n: each entry's dst (its storage after unet_allocate)

    Conv2d conv_in;               // (C0, in, 3, 3)
    Linear time_linear_1;         // (E, C0)
    Linear time_linear_2;         // (E, E)
    NormModule norm_out;          // GroupNorm(groups, C0)
    Conv2d conv_out;              // (out, C0, 3, 3)
    ResBlock *resnets;            // owned arrays of the blocks, in forward order
    Transformer2D *attns;
    Downsample2D *downs;
    Upsample2D *ups;
    int n_resnets, n_attns, n_downs, n_ups;
    UnetStep *steps;
    int n_steps, n_skips;         // skip 0 is conv_in's output
    int *need;                    // n_steps + 1 flags for backward (see unet_backward)
    int checkpointing;            // set before unet_plan: recompute step internals in backward (above)

    // ---- plan (unet_plan) ----
    int64_t B, H, W, T;
    int planned, planned_checkpointing;
    Arena acts, scratch;
    size_t act_bytes, scratch_bytes;
    size_t step_bytes;            // checkpointing: the shared step region (part of act_bytes), else 0
    int region_step;              // checkpointing: the step whose internals the region holds, -1 none
    float *latents, *timesteps, *context; // copies of the inputs: (B, in, H, W), (B), (B, T, ctx)
    float *t_emb;                 // (B, C0) sinusoidal embedding
    float *temb_h, *temb_a;       // (B, E) linear_1 output, silu of it
    float *temb, *temb_act;       // (B, E) linear_2 output, silu of it (the resnets' input)
    float *h0;                    // (B, C0, H, W) conv_in output
    float *out_mean, *out_rstd;   // (B, groups) conv_norm_out statistics
    float **skips;                // n_skips pointers into the activations
    // scratch: gradient ping-pong, concat buffers, skip grads, time-embedding grads, work
    float *g0, *g1, *cat, *dcat, **dskips, *dtemb_act, *dtemb_tmp, *work;
    float *recomp;                // checkpointing: the output of a recomputed step (discarded)
} Unet;

// Builds the modules and the ParamTable (weights allocated in MEM_BASE_WEIGHTS, zeroed):
// unet_build (modules and table, no storage: enough to count or list parameters and modules)
// then unet_allocate. unet_init_dtype keeps every Linear/Conv2d weight in fp16 or bf16 (the
// frozen base weights of LoRA training: half the memory; each is widened to fp32 in a shared
// buffer just before use, so the math is fp32 on the rounded weights). Such a weight has no
// fp32 storage: unet_param returns NULL for it, and nothing may update it.
SdlStatus unet_init(Unet *u, const UnetConfig *cfg);
SdlStatus unet_init_dtype(Unet *u, const UnetConfig *cfg, ParamDtype weights);
SdlStatus unet_build(Unet *u, const UnetConfig *cfg);
void unet_allocate(Unet *u);
void unet_free(Unet *u);
// Fills the weights from a diffusers diffusion_pytorch_model.safetensors (keys as the table).
SdlStatus unet_load_safetensors(Unet *u, const char *path);
// unet_init from dir/config.json, then the weights from dir/diffusion_pytorch_model.safetensors.
SdlStatus unet_load_diffusers(Unet *u, const char *dir);

// A parameter's fp32 storage by name (NULL if unknown or stored 16-bit): tests perturb weights
// through it.
float *unet_param(Unet *u, const char *name);
// Requests the gradient of one parameter: allocates a zeroed MEM_GRADS buffer on the first call
// and returns it (backward accumulates into it). NULL if there is no such parameter.
float *unet_param_grad(Unet *u, const char *name);
void unet_enable_all_grads(Unet *u);
void unet_zero_grads(Unet *u); // the buffers unet_param_grad allocated

// LoRA attachment points: every Linear and Conv2d module with its diffusers path
// ("down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q", "conv_in", ...) and the
// diffusers class of the block holding it ("Transformer2DModel", "ResnetBlock2D", "Downsample2D",
// "Upsample2D", "TimestepEmbedding", "UNet2DConditionModel").
typedef void (*UnetModuleFn)(void *ctx, const char *path, BlockModuleKind kind, void *module, const char *block_class);
void unet_visit_modules(Unet *u, UnetModuleFn fn, void *ctx);

// Plans activations (MEM_ACTIVATIONS) and scratch (MEM_SCRATCH) for batch B, latents H x W and
// Tctx context tokens; H and W must be multiples of unet_size_multiple(). Sets act_bytes and
// scratch_bytes. Calling it again with the same shapes (and checkpointing flag) does nothing;
// after attaching or removing LoRA adapters, unet_unplan first (their saved activations are
// planned here).
SdlStatus unet_plan(Unet *u, int64_t B, int64_t H, int64_t W, int64_t Tctx);
void unet_unplan(Unet *u); // frees the activations and scratch
// eps (B, out, H, W) from latents (B, in, H, W), timesteps (B) and context (B, Tctx, ctx_dim).
void unet_forward(Unet *u, float *eps, const float *latents, const float *timesteps, const float *context);
// From deps (B, out, H, W) = dL/deps of the last forward: dlatents (B, in, H, W) = (may be NULL),
// dcontext (B, Tctx, ctx_dim) = (may be NULL), requested parameter grads and LoRA grads +=.
// Work nothing needs is skipped (below the lowest module that wants a gradient, when neither
// input gradient is requested). No gradient flows into the timesteps.
void unet_backward(Unet *u, float *dlatents, float *dcontext, const float *deps);
