// lr_schedule.c — the LR multipliers of transformers.optimization (4.46, the same lambdas as the
// 4.54 kohya pins), wired as kohya's get_scheduler_fix wires them: cosine gets transformers'
// default num_cycles 0.5, cosine_with_restarts gets --lr_scheduler_num_cycles, polynomial gets
// --lr_scheduler_power and lr_end 1e-7. Arithmetic in double as Python's floats.
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "train/lr_schedule.h"

static const char *NAMES[LRS_KIND_COUNT] = {
    "constant", "constant_with_warmup", "linear", "cosine", "cosine_with_restarts", "polynomial", "adafactor",
};

const char *lr_schedule_name(LrSchedKind kind) { return kind < LRS_KIND_COUNT ? NAMES[kind] : "?"; }

SdlStatus lr_warmup_parse(const char *text, LrWarmup *out) {
    const char *hint = "give a step count (10), a ratio of the training steps (0.05) or a percentage (5%)";
    char *end;
    if (!text || !*text) return sdl_fail(SDL_ERR_ARG, NULL, hint, "--lr_warmup_steps is empty");
    size_t n = strlen(text);
    if (text[n - 1] == '%') {
        double v = strtod(text, &end);
        if (end != text + n - 1 || end == text || !isfinite(v) || v < 0)
            return sdl_fail(SDL_ERR_ARG, NULL, hint, "--lr_warmup_steps %s is not a valid percentage", text);
        out->is_ratio = 1;
        out->value = v / 100.0;
        return SDL_OK;
    }
    double v = strtod(text, &end);
    if (*end || end == text || !isfinite(v) || v < 0)
        return sdl_fail(SDL_ERR_ARG, NULL, hint, "--lr_warmup_steps %s is not a number", text);
    if (v < 1) { out->is_ratio = 1; out->value = v; return SDL_OK; }
    // kohya: float(value) >= 1 → int(value), which rejects "1.5"
    for (const char *p = text; *p; p++)
        if (!isdigit((unsigned char)*p) && !(p == text && *p == '+'))
            return sdl_fail(SDL_ERR_ARG, NULL, hint, "--lr_warmup_steps %s: a value >= 1 must be a whole number of steps", text);
    out->is_ratio = 0;
    out->value = v;
    return SDL_OK;
}

SdlStatus lr_schedule_init(LrSchedule *s, const char *name, LrWarmup warmup, int64_t max_train_steps,
                           int64_t num_processes, double num_cycles, double power, double learning_rate) {
    memset(s, 0, sizeof *s);
    if (num_processes < 1) num_processes = 1;
    s->num_processes = num_processes;
    s->training_steps = max_train_steps * num_processes;
    s->warmup_steps = warmup.is_ratio ? (int64_t)(warmup.value * (double)s->training_steps) : (int64_t)warmup.value;
    s->num_cycles = num_cycles;
    s->power = power;
    s->lr_end = 1e-7;
    s->lr_init = learning_rate;
    const char *nm = name && *name ? name : "constant";
    int found = 0;
    if (!strncmp(nm, "adafactor", 9) && (nm[9] == 0 || nm[9] == ':')) {
        s->kind = LRS_ADAFACTOR;
        s->adafactor_initial_lr = nm[9] == ':' ? strtod(nm + 10, NULL) : learning_rate;
        found = 1;
    }
    for (int k = 0; !found && k < LRS_ADAFACTOR; k++)
        if (!strcmp(nm, NAMES[k])) { s->kind = (LrSchedKind)k; found = 1; }
    if (!found)
        return sdl_fail(SDL_ERR_ARG, NULL,
                        "use constant, constant_with_warmup, linear, cosine, cosine_with_restarts, polynomial or adafactor",
                        "--lr_scheduler %s is not supported", nm);
    if ((s->kind == LRS_CONSTANT || s->kind == LRS_ADAFACTOR) && s->warmup_steps != 0)
        return sdl_fail(SDL_ERR_ARG, NULL, "use constant_with_warmup, or --lr_warmup_steps 0",
                        "%s does not require `num_warmup_steps` (got %lld). Set None or 0.", NAMES[s->kind],
                        (long long)s->warmup_steps);
    if (s->kind == LRS_POLYNOMIAL && !(learning_rate > s->lr_end))
        return sdl_fail(SDL_ERR_ARG, NULL, "raise --learning_rate above 1e-7",
                        "lr_end (1e-07) must be smaller than initial lr (%g)", learning_rate);
    return SDL_OK;
}

double lr_schedule_multiplier(const LrSchedule *s, int64_t step) {
    const int64_t W = s->warmup_steps, T = s->training_steps;
    const double cur = (double)step;
    if (s->kind == LRS_CONSTANT || s->kind == LRS_ADAFACTOR) return 1.0;
    if (step < W) return cur / (double)(W > 1 ? W : 1);
    const double span = (double)(T - W > 1 ? T - W : 1);
    const double progress = (double)(step - W) / span;
    switch (s->kind) {
    case LRS_CONSTANT_WITH_WARMUP: return 1.0;
    case LRS_LINEAR: {
        double v = (double)(T - step) / span;
        return v > 0.0 ? v : 0.0;
    }
    case LRS_COSINE: {
        double v = 0.5 * (1.0 + cos(M_PI * 0.5 * 2.0 * progress)); // num_cycles 0.5
        return v > 0.0 ? v : 0.0;
    }
    case LRS_COSINE_WITH_RESTARTS: {
        if (progress >= 1.0) return 0.0;
        double v = 0.5 * (1.0 + cos(M_PI * fmod(s->num_cycles * progress, 1.0)));
        return v > 0.0 ? v : 0.0;
    }
    case LRS_POLYNOMIAL: {
        if (step > T) return s->lr_end / s->lr_init;
        double decay_steps = (double)(T - W > 0 ? T - W : 1);
        double pct_remaining = 1.0 - (double)(step - W) / decay_steps;
        double decay = (s->lr_init - s->lr_end) * pow(pct_remaining, s->power) + s->lr_end;
        return decay / s->lr_init;
    }
    default: return 1.0;
    }
}

double lr_schedule_at_step(const LrSchedule *s, int64_t optimizer_step) {
    return lr_schedule_multiplier(s, optimizer_step * s->num_processes);
}
