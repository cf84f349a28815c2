// network.h — the LoRA network: kohya's networks.lora (LoRANetwork / LoRAModule) over sdlora's
// UNet and CLIP text encoder, SD1.x/SD2.x.
//
// Targets (kohya create_modules): every Linear and Conv2d inside a Transformer2DModel block
// (proj_in, proj_out, attn1/attn2 to_q/to_k/to_v/to_out.0, ff.net.0.proj, ff.net.2); with
// conv_dim > 0 (LoCon) also every Linear/Conv2d inside ResnetBlock2D, Downsample2D and
// Upsample2D — 3x3 convs at conv_dim/conv_alpha, time_emb_proj and the 1x1 conv_shortcut at
// network_dim/network_alpha. conv_in, conv_out and time_embedding are never targeted. Text
// encoder: CLIPAttention k/v/q/out_proj and CLIPMLP fc1/fc2. Names: "lora_unet_" / "lora_te_" +
// the diffusers / transformers module path with '.' replaced by '_'. Order: text encoder
// modules first (transformers order), then the UNet in unet_visit_modules order.
//
// Per module: rank r, alpha (0 → r), scale = multiplier · alpha / r. down (r, in[, k, k]) is
// initialised as kohya does — kaiming_uniform_(a = √5) = U(−1/√fan_in, 1/√fan_in) — and up is
// zero. Initialisation draws from a torch-compatible Rng in module order, and per module as
// kohya's LoRAModule.__init__ consumes torch's generator: r·fan_in draws (nn.Linear/Conv2d
// default init of lora_down, discarded), out·r draws (lora_up's default init, discarded), then
// r·fan_in draws for kaiming_uniform_(lora_down). So a network seeded like torch.manual_seed(S)
// right before kohya's create_network has bit-identical lora_down weights when the module order
// is the same (checked for the text encoder; kohya's UNet module order is its own
// named_modules order, which sdlora does not reproduce).
//
// Life cycle: lora_network_create (modules + one MEM_TRAINABLE block) → init or load weights →
// optionally lora_network_enable_grads → lora_network_attach (sets module->lora) →
// unet_unplan + unet_plan (the UNet plans every attached adapter's h) and
// lora_network_plan_te(B, T) (the CLIP encoder does not: the network allocates its h) →
// forward/backward → lora_network_detach.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "base/error.h"
#include "base/rng.h"
#include "io/safetensors.h"
#include "models/clip_text.h"
#include "models/unet.h"
#include "nn/lora.h"
#include "train/optim.h"

typedef struct {
    int64_t network_dim;    // --network_dim (kohya default 4)
    float network_alpha;    // --network_alpha (default 1; 0 → rank)
    int64_t conv_dim;       // network_args conv_dim; 0: no LoCon
    float conv_alpha;       // network_args conv_alpha (kohya default 1 when conv_dim is given)
    float multiplier;       // 1.0 in training
    int train_unet, train_te; // --network_train_unet_only → train_te 0; …_text_encoder_only → train_unet 0
    float dropout, rank_dropout, module_dropout; // --network_dropout, network_args; training only, each in [0, 1)
} LoraNetworkConfig;

LoraNetworkConfig lora_network_config_default(void); // dim 4, alpha 1, no conv, multiplier 1, both

typedef struct {
    char name[192];         // kohya name, e.g. "lora_unet_down_blocks_0_attentions_0_proj_in"
    int is_te;              // 1: text encoder module, 0: UNet
    int is_conv;            // Conv2d target (weights 4-D) vs Linear
    Linear *lin;            // the target module (one of lin / conv)
    Conv2d *conv;
    int64_t in, out, k;     // k = kernel size (1 for Linear)
    int64_t rank;
    float alpha;            // as saved in .alpha
    float *down, *up;       // (r, in[, k, k]), (out, r[, 1, 1]) in the network's MEM_TRAINABLE block
    float *ddown, *dup;     // in the MEM_GRADS block (NULL until lora_network_enable_grads)
    LoraAdapter ad;         // what the module's `lora` points to while attached
    int dropped;            // module_dropout skipped this module for the current step
} LoraModule;

typedef struct {
    LoraNetworkConfig cfg;
    LoraModule *mods;
    int64_t n, n_te, n_unet;
    float *params, *grads;  // one block each: per module down then up, in module order
    size_t n_params;        // floats
    int attached;
    float *te_h;            // MEM_ACTIVATIONS, the text-encoder adapters' h for the planned B·T
    int64_t te_rows;
} LoraNetwork;

// Builds the modules over u and/or te (either may be NULL; cfg.train_unet/train_te select too).
// A dropout probability outside [0, 1) is SDL_ERR_ARG.
// dims_from != NULL is kohya's --dim_from_weights (create_network_from_weights): the conv
// classes are targeted too, a module exists iff the file has its lora_down.weight, rank =
// lora_down's first dim, alpha = .alpha (missing → rank). The weights start zero.
SdlStatus lora_network_create(LoraNetwork *net, const LoraNetworkConfig *cfg, Unet *u, ClipText *te,
                              const SafeTensors *dims_from);
void lora_network_free(LoraNetwork *net); // detaches first

// kohya's init (see the header comment): down kaiming-uniform, up zero.
void lora_network_init_weights(LoraNetwork *net, Rng *rng);
// Allocates zeroed MEM_GRADS for every down/up (idempotent) and points the adapters at them.
void lora_network_enable_grads(LoraNetwork *net);
void lora_network_zero_grads(LoraNetwork *net);
void lora_network_set_multiplier(LoraNetwork *net, float multiplier); // updates every scale

// Sets / clears module->lora. Re-plan the models after either.
void lora_network_attach(LoraNetwork *net);
void lora_network_detach(LoraNetwork *net);
// Allocates the text-encoder adapters' h for batches of B sequences of T tokens (call after
// attach, with clip_text_plan's B and T).
void lora_network_plan_te(LoraNetwork *net, int64_t B, int64_t T);

// Training-time dropouts for one step (forward + backward, recomputes included); call before
// the forward and lora_network_step_end after the backward. Outside a step nothing drops.
// - module_dropout: each attached module is skipped (its module's lora set NULL) with
//   probability cfg.module_dropout, one rng_rand_float per module in order (kohya: torch.rand(1)
//   < p per module forward).
// - dropout / rank_dropout (nn/lora.h): one rng_u64 draw seeds the step; each adapter's mask
//   seed is a hash of it and the module index. kohya draws its masks from the CUDA generator, so
//   the masks cannot be bit-identical to kohya's; their distribution is.
// The Rng is not touched for a dropout whose probability is 0. unet_batch: images the UNet runs
// this step (its planned B); te_batch: sequences the text encoder runs (clip_text_plan's B =
// images × prompt chunks, as kohya's rank masks are per CLIP sequence). Either may be 0 when
// that model has no adapters or does not run; rank_dropout needs the right one (the Linear
// asserts that its rows divide into the batch).
void lora_network_step_begin(LoraNetwork *net, Rng *rng, int64_t unet_batch, int64_t te_batch);
// Re-attaches the skipped modules and turns the masks off.
void lora_network_step_end(LoraNetwork *net);

LoraModule *lora_network_find(LoraNetwork *net, const char *name);

// Optimizer parameters, kohya's prepare_optimizer_params order: per module lora_down.weight then
// lora_up.weight. which: 1 text encoder, 0 UNet. out must hold 2·(module count) entries; returns
// the count. Grads must be enabled.
int64_t lora_network_optim_params(const LoraNetwork *net, int which, OptimParam *out);
