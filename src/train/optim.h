// optim.h — the optimizers kohya's --optimizer_type exposes (AdamW, AdamW8bit, Adafactor, Lion,
// SGDNesterov, Prodigy, DAdaptAdam), its --optimizer_args parsing, gradient-norm clipping, and
// bit-exact state save/load through safetensors.
//
// Each optimizer follows the reference implementation kohya instantiates (train_util.get_optimizer),
// step for step: torch.optim.AdamW / SGD (torch 2.5 single-tensor CPU path), bitsandbytes
// AdamW8bit (our own blockwise 8-bit state, see optim_adamw8bit.c), transformers' Adafactor,
// lion_pytorch 0.2.3, prodigyopt 1.1.2, dadaptation 3.2. Per-element math is float32 as in torch;
// scalars (bias corrections, d estimates) are double as in Python; reductions (norms, dot
// products) are summed in double over fixed-size chunks, so results do not depend on the number
// of threads and a resumed run continues bit for bit.
//
// Learning rates: a group's lr at a step is `lr × group.lr` where `lr` is what optim_step gets.
// To reproduce torch's LambdaLR exactly pass lr = the schedule multiplier m(s) and set each
// group's `lr` to its base lr (kohya: --unet_lr / --text_encoder_lr, defaulting to
// --learning_rate): LambdaLR computes base_lr × m(s), the same product.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "base/error.h"

#define OPTIM_MAX_DIMS 8

typedef struct {
    float *param;                     // (shape) updated in place
    float *grad;                      // (shape) read only; NULL = no gradient this step: the
                                      // parameter is skipped, as torch skips p.grad is None
    int64_t n;                        // numel
    int ndim;                         // 0 is treated as 1-D
    int64_t shape[OPTIM_MAX_DIMS];    // PyTorch order; Adafactor factors the last two dims
} OptimParam;

typedef struct {
    const OptimParam *params;         // copied by optim_create
    int64_t n_params;
    double lr;                        // the group's base lr (see the header comment)
    const char *name;                 // "unet", "textencoder", … for logs; may be NULL
} OptimGroup;

typedef enum {
    OPTIM_ADAMW = 0,
    OPTIM_ADAMW8BIT,
    OPTIM_ADAFACTOR,
    OPTIM_LION,
    OPTIM_SGD_NESTEROV,
    OPTIM_PRODIGY,
    OPTIM_DADAPT_ADAM,
    OPTIM_KIND_COUNT
} OptimKind;

// Every hyperparameter of every optimizer; optim_config_default fills the reference defaults
// for one kind, optim_config_parse_args applies --optimizer_args on top.
typedef struct {
    OptimKind kind;
    double initial_lr;        // --learning_rate: Lion's decoupled_weight_decay divides by it
    double beta1, beta2;      // AdamW*, Lion, Prodigy, DAdaptAdam
    int has_beta3;            // Prodigy: beta3 given (default None → sqrt(beta2))
    double beta3;
    double eps;               // AdamW*, Prodigy, DAdaptAdam; Adafactor: eps[0] (1e-30)
    double eps2;              // Adafactor eps[1] (1e-3)
    double weight_decay;
    int amsgrad;              // AdamW
    double momentum, dampening; // SGDNesterov
    double clip_threshold, decay_rate; // Adafactor
    int has_adafactor_beta1;  // Adafactor beta1 (default None: no first moment)
    double adafactor_beta1;
    int scale_parameter, relative_step, warmup_init; // Adafactor
    double d0, d_coef, growth_rate; // Prodigy / DAdaptAdam
    int decouple, use_bias_correction, safeguard_warmup; // Prodigy / DAdaptAdam
    int64_t slice_p;          // Prodigy
    int decoupled_weight_decay; // Lion
    int64_t min_8bit_size;    // AdamW8bit: tensors with fewer elements keep fp32 state (bnb: 4096)
    // The user's --optimizer_args as kohya records them in ss_optimizer ("k=v,k=v", Python
    // str() of each value, kohya's injected defaults included).
    char args_text[512];
} OptimConfig;

// --optimizer_type name → kind, case-insensitive. "" and NULL mean AdamW (kohya's default).
// Unknown names (or kohya names sdlora does not implement) → SDL_ERR_ARG listing the supported ones.
SdlStatus optim_kind_parse(const char *name, OptimKind *out);
const char *optim_kind_name(OptimKind kind);        // "AdamW", "AdamW8bit", "Adafactor", …
// The reference class kohya records in ss_optimizer, e.g. "torch.optim.adamw.AdamW".
const char *optim_kind_class(OptimKind kind);
void optim_config_default(OptimConfig *cfg, OptimKind kind, double learning_rate);
// Applies kohya-style "key=value" items (value = a Python literal: 1e-3, True, None, 0.9,0.99 or
// (0.9, 0.99)), then kohya's fix-ups (SGDNesterov: momentum 0.9 if absent; Adafactor:
// relative_step True if absent, warmup_init forces relative_step). An unknown key, a bad value
// or a value of the wrong type → SDL_ERR_ARG naming the key and the optimizer.
SdlStatus optim_config_parse_args(OptimConfig *cfg, const char *const *args, int n_args);
// "torch.optim.adamw.AdamW(weight_decay=0.1,betas=(0.9, 0.99))" as kohya's ss_optimizer.
void optim_config_describe(const OptimConfig *cfg, char *buf, size_t cap);
// Adafactor with relative_step: kohya ignores the lr and forces the "adafactor" scheduler.
int optim_config_uses_relative_step(const OptimConfig *cfg);

typedef struct Optimizer Optimizer;

// Copies the groups and parameter lists (not the tensors) and allocates all state up front
// (MEM_OPTIMIZER, zeroed). Validates shapes (numel == product of shape) and, for Prodigy and
// DAdaptAdam, that all groups share one lr or have lr 0 (the references raise otherwise).
SdlStatus optim_create(Optimizer **out, const OptimConfig *cfg, const OptimGroup *groups, int64_t n_groups);
void optim_free(Optimizer *opt);
// One optimizer step with group lrs lr × group.lr; reads grads, updates params in place.
SdlStatus optim_step(Optimizer *opt, double lr);
void optim_zero_grad(Optimizer *opt);               // zeros every grad buffer
size_t optim_state_bytes(const Optimizer *opt);     // optimizer state held in MEM_OPTIMIZER
int64_t optim_step_count(const Optimizer *opt);     // optim_step calls that updated parameters
const OptimConfig *optim_config(const Optimizer *opt);
// The lr the group used at the last step, as kohya logs it (lr/<group>): lr × group.lr; for
// Adafactor the lr its relative-step rule computed for the group's first parameter (the
// AdafactorSchedule proxy; `initial_lr` before the first step, as the proxy returns); for
// Prodigy/DAdaptAdam the plain lr (see optim_dlr for kohya's lr/d*lr).
double optim_group_lr(const Optimizer *opt, int64_t group, double initial_lr);
// Prodigy/DAdaptAdam: d × the group's lr (kohya's "lr/d*lr/<group>"); other optimizers: the lr.
double optim_dlr(const Optimizer *opt, int64_t group);
double optim_d(const Optimizer *opt);               // Prodigy/DAdaptAdam d estimate; 1 otherwise

// State file: one tensor per state buffer named "<param index>.<state name>" ("0.exp_avg",
// "3.exp_avg_sq_row", "5.state1" (u8 codes), "5.absmax1"), per-parameter counters
// ("param.step" I64, "param.init" U8, "param.lr" F64) and the optimizer's scalars ("scalar.d",
// F64), metadata sdlora.format=optimizer_state, sdlora.version, optimizer, step, args. Loading
// checks the optimizer name, parameter count and every shape (errors name both shapes).
SdlStatus optim_save_state(const Optimizer *opt, const char *path);
SdlStatus optim_load_state(Optimizer *opt, const char *path);

// torch.nn.utils.clip_grad_norm_ over every grad of the optimizer (error_if_nonfinite False):
// total = ‖all grads‖₂ (summed in double, rounded to float as torch's float32 norm);
// coef = max_norm / (total + 1e-6) in float32; grads *= coef when coef < 1. Returns total.
// max_norm <= 0 only measures.
double optim_clip_grad_norm(Optimizer *opt, double max_norm);
// The same over explicit buffers (grads[i] has n[i] floats; NULL entries are skipped).
double clip_grad_norm(float *const *grads, const int64_t *n, int64_t count, double max_norm);
