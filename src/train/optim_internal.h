// optim_internal.h — what the optimizer files share: the Optimizer struct, the state-buffer
// registry (every buffer is allocated at optim_create in MEM_OPTIMIZER, so the memory plan knows
// the size before step 1, and save/load walk one list), deterministic reductions, and the
// per-optimizer entry points (one file each: optim_adamw.c, optim_adamw8bit.c, …).
#pragma once
#include "base/mem.h"
#include "io/safetensors.h"
#include "train/optim.h"

#define OPTIM_STATE_NAME 24
#define OPTIM_MAX_SCALARS 8

typedef struct {
    char name[OPTIM_STATE_NAME]; // "exp_avg", "state1", …
    int64_t param;               // flat parameter index
    StDtype dtype;               // ST_F32 or ST_U8
    int ndim;
    int64_t shape[OPTIM_MAX_DIMS];
    int64_t numel;
    void *data;                  // MEM_OPTIMIZER, zeroed at creation
} OptimBuf;

typedef struct {
    OptimParam p;
    int64_t group;
    int first_buf;               // index of its first OptimBuf (its buffers are consecutive)
    int n_bufs;
} OptimSlot;

struct Optimizer {
    OptimConfig cfg;
    OptimGroup *groups;          // copies; .params points into `slots`-independent copies
    int64_t n_groups;
    OptimSlot *slots;            // every parameter, groups in order
    int64_t n_slots;
    OptimBuf *bufs;
    int n_bufs, cap_bufs;
    int64_t *param_step;         // per parameter: steps taken (torch state['step'])
    uint8_t *param_init;         // per parameter: state initialised (torch: state not empty)
    double *param_lr;            // per parameter: lr used at its last step (Adafactor's proxy)
    double scalars[OPTIM_MAX_SCALARS];
    const char *scalar_names[OPTIM_MAX_SCALARS]; // NULL-terminated prefix in use
    int64_t step_count;
    double last_lr;              // the lr argument of the last step
    double *group_lr;            // scratch: this step's lr per group
};

// Registers a zeroed state buffer for parameter `param` (call from the *_init functions).
void *optim_add_buf(Optimizer *o, int64_t param, const char *name, StDtype dtype, int ndim, const int64_t *shape);
// The buffer `name` of parameter `param` (asserts it exists).
void *optim_buf(const Optimizer *o, int64_t param, const char *name);
// Deterministic double-precision reductions over float data: fixed chunks summed in parallel,
// partial sums added in chunk order — the same bits for any thread count.
double optim_sum_sq(const float *x, int64_t n);
double optim_sum_abs(const float *x, int64_t n);
double optim_dot(const float *a, const float *b, int64_t n);
// Runs f(ctx, begin, end) over fixed chunks of [0, n) in parallel and returns the sum of the
// results in chunk order (the building block of the functions above).
double optim_chunked_sum(int64_t n, double (*f)(void *ctx, int64_t begin, int64_t end), void *ctx);

// Per-optimizer hooks: init registers buffers and scalar names; step does the update with the
// per-group lrs in o->group_lr and returns 1 if it updated parameters (Prodigy/DAdaptAdam return
// 0 when every gradient is zero, as the references return early).
SdlStatus optim_adamw_init(Optimizer *o);
int optim_adamw_step(Optimizer *o);
SdlStatus optim_adamw8bit_init(Optimizer *o);
int optim_adamw8bit_step(Optimizer *o);
SdlStatus optim_adafactor_init(Optimizer *o);
int optim_adafactor_step(Optimizer *o);
SdlStatus optim_lion_init(Optimizer *o);
int optim_lion_step(Optimizer *o);
SdlStatus optim_sgd_init(Optimizer *o);
int optim_sgd_step(Optimizer *o);
SdlStatus optim_prodigy_init(Optimizer *o);
int optim_prodigy_step(Optimizer *o);
SdlStatus optim_dadapt_init(Optimizer *o);
int optim_dadapt_step(Optimizer *o);

// AdamW8bit's quantiser, exposed for tests/test_optim.c.
#define Q8_BLOCK 256
const float *q8_map(int is_signed);           // 256 sorted code values in [-1, 1] / [0, 1]
uint8_t q8_quantize(const float *map, float x); // index of the code nearest to x (x in map range)
// Quantises x[n] blockwise (absmax[ceil(n/Q8_BLOCK)]) and back.
void q8_quantize_blocks(uint8_t *codes, float *absmax, const float *x, int64_t n, int is_signed);
void q8_dequantize_blocks(float *x, const uint8_t *codes, const float *absmax, int64_t n, int is_signed);
