// lr_schedule.h — kohya's --lr_scheduler choices (train_util.get_scheduler_fix with the lambdas
// of transformers.optimization): constant, constant_with_warmup, linear, cosine,
// cosine_with_restarts, polynomial, adafactor.
//
// The schedule is a multiplier m(s) of each group's base lr (torch LambdaLR: lr = base_lr·m(s)).
// Steps: T = max_train_steps × num_processes (kohya does NOT multiply by
// gradient_accumulation_steps — that factor is commented out in get_scheduler_fix), and accelerate
// steps the scheduler num_processes times per optimizer step, so optimizer step k (0-based, the
// global_step before it) uses m(k × num_processes): lr_schedule_at_step does that.
// Warmup: --lr_warmup_steps is an int step count, or a float < 1 / "N%" meaning int(ratio·T).
#pragma once
#include <stdint.h>
#include "base/error.h"

typedef enum {
    LRS_CONSTANT = 0,
    LRS_CONSTANT_WITH_WARMUP,
    LRS_LINEAR,
    LRS_COSINE,
    LRS_COSINE_WITH_RESTARTS,
    LRS_POLYNOMIAL,
    LRS_ADAFACTOR,       // transformers.AdafactorSchedule: a proxy; the optimizer computes its lr
    LRS_KIND_COUNT
} LrSchedKind;

typedef struct {
    int is_ratio;        // 1: value is a fraction of T
    double value;        // steps (integral) or ratio
} LrWarmup;

typedef struct {
    LrSchedKind kind;
    int64_t warmup_steps;    // W, resolved
    int64_t training_steps;  // T = max_train_steps × num_processes
    int64_t num_processes;
    double num_cycles;       // cosine_with_restarts (--lr_scheduler_num_cycles, default 1)
    double power;            // polynomial (--lr_scheduler_power, default 1)
    double lr_end;           // polynomial: 1e-7 (transformers' default; kohya passes none)
    double lr_init;          // polynomial: the optimizer's default lr (= --learning_rate)
    double adafactor_initial_lr; // "adafactor:<lr>": what the proxy reports before step 1
} LrSchedule;

// kohya's int_or_float for --lr_warmup_steps: "N%" → ratio N/100; a number < 1 → ratio; a
// number ≥ 1 must be an integer step count. Anything else → SDL_ERR_ARG.
SdlStatus lr_warmup_parse(const char *text, LrWarmup *out);
// name: one of the kinds above ("adafactor" or "adafactor:<lr>"). Errors (SDL_ERR_ARG) as kohya
// raises them: constant/adafactor with a nonzero warmup ("does not require num_warmup_steps"),
// polynomial with learning_rate ≤ lr_end, unknown names.
SdlStatus lr_schedule_init(LrSchedule *s, const char *name, LrWarmup warmup, int64_t max_train_steps,
                           int64_t num_processes, double num_cycles, double power, double learning_rate);
const char *lr_schedule_name(LrSchedKind kind);
// m(s) at scheduler step s (transformers' lambda). LRS_ADAFACTOR returns 1 (the lr is unused).
double lr_schedule_multiplier(const LrSchedule *s, int64_t step);
// The multiplier optimizer step k (0-based) uses: m(k × num_processes).
double lr_schedule_at_step(const LrSchedule *s, int64_t optimizer_step);
