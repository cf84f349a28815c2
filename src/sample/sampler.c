// sampler.c — the sampler loop and the update rule of each diffusers 0.31 scheduler.
// Every rule cites the scheduler method it reproduces; the formulas are those of
// reference/sd-formats.md §5.4 written in diffusers' variables. Per-element arithmetic is
// float32 as in diffusers (which steps float32 tensors); scalar coefficients are computed in
// double from the float32 σ/ᾱ tables and rounded once.
#include "sample/sampler.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------- kohya names

static const char *const KOHYA_NAMES =
    "ddim, pndm, lms, k_lms, euler, k_euler, euler_a, k_euler_a, heun, dpm_2, k_dpm_2, "
    "dpm_2_a, k_dpm_2_a, dpmsolver, dpmsolver++, dpmsingle";

const char *sampler_kohya_names(void) { return KOHYA_NAMES; }

static int name_eq(const char *a, const char *b) {
    for (; *a && *b; a++, b++)
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b)) return 0;
    return *a == *b;
}

SdlStatus sampler_config_kohya(const char *name, int v_param, SamplerConfig *out) {
    // kohya get_my_scheduler: cls(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
    // beta_schedule="scaled_linear", **extra) — everything else is the class default, NOT SD's
    // scheduler_config.json (so DDIM/PNDM use steps_offset 0, DDIM set_alpha_to_one=True,
    // PNDM runs its Runge-Kutta warm-up, the k-samplers use "linspace"). Then
    // `if config.clip_sample is False: config.clip_sample = True` — which switches on x₀
    // clamping for Heun (DDIM's default is already True).
    SamplerConfig c = {0};
    c.prediction = v_param ? PRED_V : PRED_EPSILON;
    c.spacing = SPACING_LINSPACE;
    c.clip_sample_range = 1.0;
    c.dpmsolver_pp = 1;
    c.final_sigma_zero = 1;
    c.lower_order_final = 1;
    if (!name) name = "";
    if (name_eq(name, "ddim")) {
        c.kind = SAMPLER_DDIM; c.spacing = SPACING_LEADING;
        c.set_alpha_to_one = 1; c.clip_sample = 1;
    } else if (name_eq(name, "pndm")) {
        c.kind = SAMPLER_PNDM; c.spacing = SPACING_LEADING;
    } else if (name_eq(name, "lms") || name_eq(name, "k_lms")) {
        c.kind = SAMPLER_LMS;
    } else if (name_eq(name, "euler") || name_eq(name, "k_euler")) {
        c.kind = SAMPLER_EULER;
    } else if (name_eq(name, "euler_a") || name_eq(name, "k_euler_a")) {
        c.kind = SAMPLER_EULER_A;
    } else if (name_eq(name, "heun")) {
        c.kind = SAMPLER_HEUN; c.clip_sample = 1;
    } else if (name_eq(name, "dpm_2") || name_eq(name, "k_dpm_2")) {
        c.kind = SAMPLER_DPM2;
    } else if (name_eq(name, "dpm_2_a") || name_eq(name, "k_dpm_2_a")) {
        c.kind = SAMPLER_DPM2_A;
    } else if (name_eq(name, "dpmsolver++")) {
        c.kind = SAMPLER_DPM_MULTI;
    } else if (name_eq(name, "dpmsolver")) {
        // diffusers ≥ 0.26 refuses algorithm "dpmsolver" with final_sigmas_type "zero" (its
        // ε-form first-order step computes 0·∞ at σ = 0) and asks for "sigma_min".
        c.kind = SAMPLER_DPM_MULTI; c.dpmsolver_pp = 0; c.final_sigma_zero = 0;
    } else if (name_eq(name, "dpmsingle")) {
        // lower_order_final defaults False but set_timesteps turns it on with final σ = 0.
        c.kind = SAMPLER_DPM_SINGLE;
    } else {
        return sdl_fail(SDL_ERR_ARG, NULL, "valid samplers (case-insensitive): ddim, pndm, lms, k_lms, euler, "
                        "k_euler, euler_a, k_euler_a, heun, dpm_2, k_dpm_2, dpm_2_a, k_dpm_2_a, dpmsolver, "
                        "dpmsolver++, dpmsingle", "unknown sampler '%s'", name);
    }
    *out = c;
    return SDL_OK;
}

// ---------------------------------------------------------------- plans

void sampler_plan_free(SamplerPlan *p) {
    free(p->timesteps);
    free(p->sigmas);
    free(p->sigmas_interpol);
    memset(p, 0, sizeof *p);
}

static double f32(double v) { return (double)(float)v; }

static int is_sigma_space(SamplerKind k) {
    return k == SAMPLER_LMS || k == SAMPLER_EULER || k == SAMPLER_EULER_A || k == SAMPLER_HEUN ||
           k == SAMPLER_DPM2 || k == SAMPLER_DPM2_A;
}

// PNDM's call list (PNDMScheduler.set_timesteps). asc = _timesteps ascending, n of them.
static int64_t pndm_timesteps(const SamplerConfig *cfg, const double *asc, int64_t n, int64_t steps,
                              double *out) {
    int64_t k = 0;
    if (cfg->skip_prk_steps) {
        // concat(_t[:-1], _t[-2:-1], _t[-1:])[::-1]: the second-highest t is evaluated twice.
        out[k++] = asc[n - 1];
        if (n >= 2) out[k++] = asc[n - 2];
        for (int64_t i = n - 2; i >= 0; i--) out[k++] = asc[i];
        return k;
    }
    // prk = (_t[-4:].repeat(2) + tile([0, T//N//2], 4))[:-1].repeat(2)[1:-1][::-1]
    int64_t half = SCHED_TRAIN_STEPS / steps / 2;
    double a[8], b[14], c[12];
    for (int i = 0; i < 4; i++) { a[2 * i] = asc[n - 4 + i]; a[2 * i + 1] = asc[n - 4 + i] + (double)half; }
    for (int i = 0; i < 7; i++) b[2 * i] = b[2 * i + 1] = a[i];
    for (int i = 0; i < 12; i++) c[i] = b[i + 1];
    for (int i = 11; i >= 0; i--) out[k++] = c[i];
    for (int64_t i = n - 4; i >= 0; i--) out[k++] = asc[i];   // plms = _t[:-3][::-1]
    return k;
}

SdlStatus sampler_plan(const SamplerConfig *cfg, int64_t steps, SamplerPlan *p) {
    memset(p, 0, sizeof *p);
    if (steps < 1 || steps > SCHED_TRAIN_STEPS)
        return sdl_fail(SDL_ERR_ARG, NULL, "use 1 to 1000 sampling steps",
                        "invalid number of sampling steps %lld", (long long)steps);
    if (cfg->kind < 0 || cfg->kind >= SAMPLER_KIND_COUNT)
        return sdl_fail(SDL_ERR_ARG, NULL, NULL, "invalid sampler kind %d", (int)cfg->kind);
    if (cfg->kind == SAMPLER_PNDM && !cfg->skip_prk_steps && steps < 4)
        return sdl_fail(SDL_ERR_ARG, NULL, "use at least 4 steps with pndm",
                        "pndm's Runge-Kutta warm-up needs at least 4 steps, got %lld", (long long)steps);
    if ((cfg->kind == SAMPLER_HEUN || cfg->kind == SAMPLER_DPM2 || cfg->kind == SAMPLER_DPM2_A ||
         cfg->kind == SAMPLER_DPM_SINGLE) && steps < 2)
        return sdl_fail(SDL_ERR_ARG, NULL, "use at least 2 steps with this sampler",
                        "this sampler needs at least 2 steps, got %lld", (long long)steps);
    const NoiseSchedule *S = noise_schedule_sd();
    const int64_t cap = 2 * steps + 16;
    p->timesteps = calloc((size_t)cap, sizeof(double));
    p->sigmas = calloc((size_t)cap, sizeof(double));
    p->sigmas_interpol = calloc((size_t)cap, sizeof(double));
    double *base = calloc((size_t)cap, sizeof(double));
    if (!p->timesteps || !p->sigmas || !p->sigmas_interpol || !base) {
        free(base); sampler_plan_free(p);
        return sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory for a sampler plan");
    }
    SamplerKind k = cfg->kind;
    p->init_noise_sigma = 1.0;
    if (k == SAMPLER_DDIM) {
        p->n_calls = spacing_timesteps(cfg->spacing, steps, cfg->steps_offset, 0, p->timesteps);
    } else if (k == SAMPLER_PNDM) {
        int64_t n = spacing_timesteps(cfg->spacing, steps, cfg->steps_offset, 0, base);
        double asc[SCHED_TRAIN_STEPS + 1];
        for (int64_t i = 0; i < n; i++) asc[i] = base[n - 1 - i];
        p->n_calls = pndm_timesteps(cfg, asc, n, steps, p->timesteps);
    } else if (is_sigma_space(k)) {
        int64_t n = spacing_timesteps(cfg->spacing, steps, cfg->steps_offset, 1, base);
        double *sg = p->sigmas;
        for (int64_t i = 0; i < n; i++) sg[i] = schedule_t_to_sigma(S, base[i]);
        if (cfg->use_karras_sigmas && k != SAMPLER_EULER_A) {
            // _convert_to_karras(in_sigmas = the interpolated σ's): σmin = last, σmax = first.
            karras_sigmas(sg[n - 1], sg[0], n, 7.0, sg);
            for (int64_t i = 0; i < n; i++) {
                double t = schedule_sigma_to_t(S, sg[i]);
                base[i] = (k == SAMPLER_DPM2 || k == SAMPLER_DPM2_A) ? np_round(t) : t;
            }
        }
        for (int64_t i = 0; i < n; i++) { sg[i] = f32(sg[i]); base[i] = f32(base[i]); }
        sg[n] = 0.0;
        p->n_sigmas = n + 1;
        // init_noise_sigma: σmax for linspace/trailing, √(σmax² + 1) for leading.
        p->init_noise_sigma = cfg->spacing == SPACING_LEADING ? sqrt(sg[0] * sg[0] + 1.0) : sg[0];
        double *si = p->sigmas_interpol;
        if (k == SAMPLER_HEUN) {
            // timesteps = [t0, t1, t1, ..., t_{n-1}, t_{n-1}]: the corrector at σ_{i+1}.
            int64_t c = 0;
            p->timesteps[c++] = base[0];
            for (int64_t i = 1; i < n; i++) { p->timesteps[c++] = base[i]; p->timesteps[c++] = base[i]; }
            p->n_calls = c;
        } else if (k == SAMPLER_DPM2) {
            // sigmas_interpol = exp(lerp(log σ_i, log σ_{i-1}, 0.5)) (torch lerp with w = 0.5 is
            // end − (end − start)·0.5); the last one (σ_n = 0) is 0.
            for (int64_t i = 1; i < n; i++) {
                double a = log(sg[i]), b = log(sg[i - 1]);
                si[i] = f32(exp(b - (b - a) * 0.5));
            }
            si[0] = NAN; si[n] = 0.0;
            int64_t c = 0;
            p->timesteps[c++] = base[0];
            for (int64_t i = 1; i < n; i++) {
                p->timesteps[c++] = f32(schedule_sigma_to_t(S, si[i]));
                p->timesteps[c++] = base[i];
            }
            p->n_calls = c;
        } else if (k == SAMPLER_DPM2_A) {
            // σ_up/σ_down per step (to σ_{i+1}); sigmas_interpol = exp(lerp(log σ_i, log σ_down_i, .5)),
            // the last two set to 0.
            for (int64_t i = 0; i < n; i++) {
                double s = sg[i], s1 = sg[i + 1];
                double up = f32(sqrt(s1 * s1 * (s * s - s1 * s1) / (s * s)));
                double down = f32(sqrt(s1 * s1 - up * up));
                double a = log(s), b = log(down);
                si[i] = (i >= n - 1) ? 0.0 : f32(exp(b - (b - a) * 0.5));
            }
            si[n] = 0.0;
            int64_t c = 0;
            p->timesteps[c++] = base[0];
            for (int64_t i = 1; i < n; i++) {
                p->timesteps[c++] = f32(schedule_sigma_to_t(S, si[i - 1]));
                p->timesteps[c++] = base[i];
            }
            p->n_calls = c;
        } else {
            memcpy(p->timesteps, base, (size_t)n * sizeof(double));
            p->n_calls = n;
        }
    } else { // DPM-Solver multistep / single-step
        int64_t n = 0;
        const int64_t T = SCHED_TRAIN_STEPS;
        if (cfg->spacing == SPACING_LINSPACE || k == SAMPLER_DPM_SINGLE) {
            // np.linspace(0, T−1, N+1).round()[::-1][:-1]
            for (int64_t i = 0; i < steps; i++) base[i] = np_round(np_linspace_at(0, (double)(T - 1), steps + 1, steps - i));
            n = steps;
        } else if (cfg->spacing == SPACING_LEADING) {
            int64_t ratio = T / (steps + 1);
            for (int64_t i = 0; i < steps; i++) base[i] = (double)((steps - i) * ratio + cfg->steps_offset);
            n = steps;
        } else {
            n = spacing_timesteps(SPACING_TRAILING, steps, 0, 0, base);
        }
        double *sg = p->sigmas;
        if (cfg->use_karras_sigmas) {
            karras_sigmas(S->sigmas[0], S->sigmas[T - 1], n, 7.0, sg);
            for (int64_t i = 0; i < n; i++) base[i] = np_round(schedule_sigma_to_t(S, sg[i]));
        } else {
            for (int64_t i = 0; i < n; i++) sg[i] = S->sigmas[(int64_t)base[i]];
        }
        for (int64_t i = 0; i < n; i++) sg[i] = f32(sg[i]);
        sg[n] = cfg->final_sigma_zero ? 0.0 : S->sigmas[0];
        p->n_sigmas = n + 1;
        memcpy(p->timesteps, base, (size_t)n * sizeof(double));
        p->n_calls = n;
    }
    free(base);
    if (!(k == SAMPLER_DPM2 || k == SAMPLER_DPM2_A)) { free(p->sigmas_interpol); p->sigmas_interpol = NULL; }
    if (p->n_sigmas == 0) { free(p->sigmas); p->sigmas = NULL; }
    return SDL_OK;
}

// ---------------------------------------------------------------- helpers

typedef struct {
    const SamplerConfig *cfg;
    int64_t n;
    SamplerModelFn model;
    void *model_ctx;
    Rng *rng;
    SamplerStepFn on_step;
    void *step_ctx;
    int64_t n_calls;
    float *xin, *out, *d0, *tmp;   // scratch [n] each
} Run;

// out = model(x·scale, t)
static SdlStatus call_model(Run *r, const float *x, double scale, double t) {
    if (scale == 1.0) {
        memcpy(r->xin, x, (size_t)r->n * sizeof(float));
    } else {
        // scale_model_input: sample / ((σ² + 1) ** 0.5), a float32 division.
        float div = (float)(1.0 / scale);
        for (int64_t i = 0; i < r->n; i++) r->xin[i] = x[i] / div;
    }
    return r->model(r->model_ctx, r->out, r->xin, t, r->n);
}

static void report(Run *r, int64_t call, const float *x) {
    if (r->on_step) r->on_step(r->step_ctx, call, r->n_calls, x, r->n);
}

static SdlStatus need_rng(Run *r) {
    if (!r->rng) return sdl_fail(SDL_ERR_ARG, NULL, NULL, "this sampler needs a random generator");
    return SDL_OK;
}

static void clamp_x0(const SamplerConfig *cfg, float *x0, int64_t n) {
    if (!cfg->clip_sample) return;
    float lim = (float)cfg->clip_sample_range;
    for (int64_t i = 0; i < n; i++) x0[i] = x0[i] < -lim ? -lim : (x0[i] > lim ? lim : x0[i]);
}

static double input_scale(double sigma) { return 1.0 / sqrt(sigma * sigma + 1.0); }

// ---------------------------------------------------------------- DDIM

static SdlStatus run_ddim(Run *r, const SamplerPlan *p, int64_t steps, float *x) {
    // DDIMScheduler.step: prev = t − T//N; x₀ (clamped if clip_sample); ε unchanged
    // (use_clipped_model_output=False); x' = √ᾱ_prev·x₀ + √(1−ᾱ_prev−σ²)·ε + σ·z.
    const SamplerConfig *c = r->cfg;
    const NoiseSchedule *S = noise_schedule_sd();
    const int64_t n = r->n;
    float *x0 = r->d0, *eps = r->tmp;
    for (int64_t k = 0; k < p->n_calls; k++) {
        int64_t t = (int64_t)p->timesteps[k];
        SDL_TRY(call_model(r, x, 1.0, (double)t));
        int64_t prev = t - SCHED_TRAIN_STEPS / steps;
        double at = S->alphas_cumprod[t];
        double ap = prev >= 0 ? S->alphas_cumprod[prev] : (c->set_alpha_to_one ? 1.0 : S->alphas_cumprod[0]);
        float sa = (float)sqrt(at), sb = (float)sqrt(1.0 - at);
        for (int64_t i = 0; i < n; i++) {
            float o = r->out[i];
            if (c->prediction == PRED_V) { x0[i] = sa * x[i] - sb * o; eps[i] = sa * o + sb * x[i]; }
            else { x0[i] = (x[i] - sb * o) / sa; eps[i] = o; }
        }
        clamp_x0(c, x0, n);
        double var = ((1.0 - ap) / (1.0 - at)) * (1.0 - at / ap);
        double std = c->eta * sqrt(var);
        float ca = (float)sqrt(ap), cd = (float)sqrt(1.0 - ap - std * std);
        for (int64_t i = 0; i < n; i++) x[i] = ca * x0[i] + cd * eps[i];
        if (c->eta > 0) {
            SDL_TRY(need_rng(r));
            rng_randn_fill(r->rng, r->tmp, (size_t)n);
            float fs = (float)std;
            for (int64_t i = 0; i < n; i++) x[i] = x[i] + fs * r->tmp[i];
        }
        report(r, k, x);
    }
    return SDL_OK;
}

// ---------------------------------------------------------------- PNDM

// PNDMScheduler._get_prev_sample (formula (9) of the PNDM paper).
static void pndm_prev(Run *r, float *dst, const float *sample, int64_t t, int64_t prev_t,
                      const float *mo) {
    const NoiseSchedule *S = noise_schedule_sd();
    double at = S->alphas_cumprod[t];
    double ap = prev_t >= 0 ? S->alphas_cumprod[prev_t] : (r->cfg->set_alpha_to_one ? 1.0 : S->alphas_cumprod[0]);
    double bt = 1.0 - at, bp = 1.0 - ap;
    float sc = (float)sqrt(ap / at);
    double denom = at * sqrt(bp) + sqrt(at * bt * ap);
    float mc = (float)((ap - at) / denom);
    float va = (float)sqrt(at), vb = (float)sqrt(bt);
    for (int64_t i = 0; i < r->n; i++) {
        float e = mo[i];
        if (r->cfg->prediction == PRED_V) e = va * e + vb * sample[i];
        dst[i] = sc * sample[i] - mc * e;
    }
}

static SdlStatus run_pndm(Run *r, const SamplerPlan *p, int64_t steps, float *x) {
    const int64_t n = r->n, T = SCHED_TRAIN_STEPS;
    const int64_t n_prk = r->cfg->skip_prk_steps ? 0 : 12;
    float *ets = calloc((size_t)(4 * n), sizeof(float));     // ring of the last 4 outputs
    float *cur_sample = calloc((size_t)n, sizeof(float));
    float *cur_mo = calloc((size_t)n, sizeof(float));
    float *mo = r->tmp;
    if (!ets || !cur_sample || !cur_mo) {
        free(ets); free(cur_sample); free(cur_mo);
        return sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory in pndm");
    }
    int64_t n_ets = 0;
#define ET(j) (ets + (size_t)(((n_ets - 1 - (j)) % 4 + 4) % 4) * (size_t)n)  // j = 0: newest
    SdlStatus st = SDL_OK;
    for (int64_t counter = 0; counter < p->n_calls; counter++) {
        int64_t targ = (int64_t)p->timesteps[counter];
        st = call_model(r, x, 1.0, (double)targ);
        if (st != SDL_OK) break;
        const float *m = r->out;
        if (counter < n_prk) {
            // step_prk: RK4 over [t, t − T/N] with the half step T//N//2.
            int64_t diff = (counter % 2) ? 0 : T / steps / 2;
            int64_t prev_t = targ - diff;
            int64_t t = (int64_t)p->timesteps[counter / 4 * 4];
            int ph = (int)(counter % 4);
            if (ph == 0) {
                for (int64_t i = 0; i < n; i++) cur_mo[i] = 0.0f + (float)(1.0 / 6.0) * m[i];
                memcpy(ets + (size_t)(n_ets % 4) * (size_t)n, m, (size_t)n * sizeof(float));
                n_ets++;
                memcpy(cur_sample, x, (size_t)n * sizeof(float));
                memcpy(mo, m, (size_t)n * sizeof(float));
            } else if (ph == 1 || ph == 2) {
                for (int64_t i = 0; i < n; i++) cur_mo[i] += (float)(1.0 / 3.0) * m[i];
                memcpy(mo, m, (size_t)n * sizeof(float));
            } else {
                for (int64_t i = 0; i < n; i++) { mo[i] = cur_mo[i] + (float)(1.0 / 6.0) * m[i]; cur_mo[i] = 0.0f; }
            }
            pndm_prev(r, x, cur_sample, t, prev_t, mo);
        } else {
            // step_plms: Adams-Bashforth on the stored ε's (orders 1..4).
            int64_t t = targ, prev_t = targ - T / steps;
            if (counter != 1) {
                memcpy(ets + (size_t)(n_ets % 4) * (size_t)n, m, (size_t)n * sizeof(float));
                n_ets++;
            } else {
                prev_t = targ;
                t = targ + T / steps;
            }
            int64_t ne = n_ets < 4 ? n_ets : 4;
            const float *src = x;
            if (ne == 1 && counter == 0) {
                memcpy(mo, m, (size_t)n * sizeof(float));
                memcpy(cur_sample, x, (size_t)n * sizeof(float));
            } else if (ne == 1 && counter == 1) {
                const float *e1 = ET(0);
                for (int64_t i = 0; i < n; i++) mo[i] = (m[i] + e1[i]) / 2.0f;
                src = cur_sample;
            } else if (ne == 2) {
                const float *e1 = ET(0), *e2 = ET(1);
                for (int64_t i = 0; i < n; i++) mo[i] = (3.0f * e1[i] - e2[i]) / 2.0f;
            } else if (ne == 3) {
                const float *e1 = ET(0), *e2 = ET(1), *e3 = ET(2);
                for (int64_t i = 0; i < n; i++) mo[i] = (23.0f * e1[i] - 16.0f * e2[i] + 5.0f * e3[i]) / 12.0f;
            } else {
                const float *e1 = ET(0), *e2 = ET(1), *e3 = ET(2), *e4 = ET(3);
                for (int64_t i = 0; i < n; i++)
                    mo[i] = (float)(1.0 / 24.0) * (55.0f * e1[i] - 59.0f * e2[i] + 37.0f * e3[i] - 9.0f * e4[i]);
            }
            pndm_prev(r, x, src, t, prev_t, mo);
        }
        report(r, counter, x);
    }
#undef ET
    free(ets); free(cur_sample); free(cur_mo);
    return st;
}

// ---------------------------------------------------------------- LMS

// ∫_{σ_i}^{σ_{i+1}} Π_{k≠j, k<order} (τ − σ_{i−k})/(σ_{i−j} − σ_{i−k}) dτ. diffusers uses
// scipy quad (epsrel 1e-4) on this polynomial of degree ≤ 3; 3-point Gauss-Legendre is
// exact for degree ≤ 5.
static double lms_coeff(const double *sg, int64_t order, int64_t i, int64_t j) {
    static const double gx[3] = {-0.7745966692414834, 0.0, 0.7745966692414834};
    static const double gw[3] = {5.0 / 9.0, 8.0 / 9.0, 5.0 / 9.0};
    double a = sg[i], b = sg[i + 1], sum = 0.0;
    for (int q = 0; q < 3; q++) {
        double tau = 0.5 * (b - a) * gx[q] + 0.5 * (a + b), prod = 1.0;
        for (int64_t k = 0; k < order; k++) {
            if (k == j) continue;
            prod *= (tau - sg[i - k]) / (sg[i - j] - sg[i - k]);
        }
        sum += gw[q] * prod;
    }
    return sum * 0.5 * (b - a);
}

static SdlStatus run_lms(Run *r, const SamplerPlan *p, float *x) {
    const int64_t n = r->n;
    float *ders = calloc((size_t)(4 * n), sizeof(float));   // ring: derivative of call i at i % 4
    if (!ders) return sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory in lms");
    for (int64_t i = 0; i < p->n_calls; i++) {
        double s = p->sigmas[i];
        SdlStatus st = call_model(r, x, input_scale(s), p->timesteps[i]);
        if (st != SDL_OK) { free(ders); return st; }
        pred_x0_sigma(r->d0, x, r->out, s, r->cfg->prediction, n);
        float *d = ders + (size_t)(i % 4) * (size_t)n, fs = (float)s;
        for (int64_t e = 0; e < n; e++) d[e] = (x[e] - r->d0[e]) / fs;
        int64_t order = i + 1 < 4 ? i + 1 : 4;
        for (int64_t j = 0; j < order; j++) {
            float cj = (float)lms_coeff(p->sigmas, order, i, j);
            const float *dj = ders + (size_t)((i - j) % 4) * (size_t)n;   // reversed(derivatives)
            for (int64_t e = 0; e < n; e++) x[e] += cj * dj[e];
        }
        report(r, i, x);
    }
    free(ders);
    return SDL_OK;
}

// ---------------------------------------------------------------- Euler, Euler a, Heun

static SdlStatus run_euler(Run *r, const SamplerPlan *p, float *x, int ancestral) {
    const int64_t n = r->n;
    for (int64_t i = 0; i < p->n_calls; i++) {
        double s = p->sigmas[i], s1 = p->sigmas[i + 1];
        SDL_TRY(call_model(r, x, input_scale(s), p->timesteps[i]));
        pred_x0_sigma(r->d0, x, r->out, s, r->cfg->prediction, n);
        float fs = (float)s;
        if (!ancestral) {
            // EulerDiscreteScheduler.step (s_churn 0): x' = x + (x − D)/σ·(σ' − σ).
            float dt = (float)(s1 - s);
            for (int64_t e = 0; e < n; e++) x[e] = x[e] + (x[e] - r->d0[e]) / fs * dt;
        } else {
            // EulerAncestralDiscreteScheduler.step: to σ_down, then + z·σ_up (z drawn every step).
            double up = f32(sqrt(s1 * s1 * (s * s - s1 * s1) / (s * s)));
            double down = f32(sqrt(s1 * s1 - up * up));
            float dt = (float)(down - s), fu = (float)up;
            for (int64_t e = 0; e < n; e++) x[e] = x[e] + (x[e] - r->d0[e]) / fs * dt;
            SDL_TRY(need_rng(r));
            rng_randn_fill(r->rng, r->tmp, (size_t)n);
            for (int64_t e = 0; e < n; e++) x[e] = x[e] + r->tmp[e] * fu;
        }
        report(r, i, x);
    }
    return SDL_OK;
}

static SdlStatus run_heun(Run *r, const SamplerPlan *p, float *x) {
    // HeunDiscreteScheduler: Euler predictor σ_j → σ_{j+1}, then the corrector evaluates at
    // σ_{j+1} and averages the two slopes. The last step (to σ = 0) is Euler only.
    const int64_t n = r->n;
    float *saved = r->tmp, *dprev = calloc((size_t)n, sizeof(float));
    if (!dprev) return sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory in heun");
    int64_t nsig = p->n_sigmas - 1;   // steps
    int64_t call = 0;
    SdlStatus st = SDL_OK;
    for (int64_t j = 0; j < nsig && st == SDL_OK; j++) {
        double s = p->sigmas[j], s1 = p->sigmas[j + 1];
        st = call_model(r, x, input_scale(s), p->timesteps[call]);
        if (st != SDL_OK) break;
        pred_x0_sigma(r->d0, x, r->out, s, r->cfg->prediction, n);
        clamp_x0(r->cfg, r->d0, n);
        float fs = (float)s, dt = (float)(s1 - s);
        for (int64_t e = 0; e < n; e++) {
            dprev[e] = (x[e] - r->d0[e]) / fs;
            saved[e] = x[e];
            x[e] = x[e] + dprev[e] * dt;
        }
        report(r, call++, x);
        if (j == nsig - 1) break;
        st = call_model(r, x, input_scale(s1), p->timesteps[call]);
        if (st != SDL_OK) break;
        pred_x0_sigma(r->d0, x, r->out, s1, r->cfg->prediction, n);
        clamp_x0(r->cfg, r->d0, n);
        float fs1 = (float)s1;
        for (int64_t e = 0; e < n; e++) {
            float d = (x[e] - r->d0[e]) / fs1;
            d = (dprev[e] + d) / 2.0f;
            x[e] = saved[e] + d * dt;
        }
        report(r, call++, x);
    }
    free(dprev);
    return st;
}

// ---------------------------------------------------------------- DPM2, DPM2 a

static SdlStatus run_dpm2(Run *r, const SamplerPlan *p, float *x, int ancestral) {
    // KDPM2(Ancestral)DiscreteScheduler: Euler half-step to the log-midpoint σ_mid, evaluate
    // there, then a full step from the saved x with the midpoint slope. Plain: σ_mid between
    // σ_j and σ_{j+1}, full step to σ_{j+1}. Ancestral: σ_mid between σ_j and σ_down, full
    // step to σ_down, + z·σ_up. The last step (to σ = 0) is one Euler step.
    const int64_t n = r->n;
    const double *sg = p->sigmas, *si = p->sigmas_interpol;
    float *saved = r->tmp;
    int64_t nsig = p->n_sigmas - 1, call = 0;
    for (int64_t j = 0; j < nsig; j++) {
        double s = sg[j], s1 = sg[j + 1];
        double mid = ancestral ? si[j] : si[j + 1];
        double up = 0, down = 0;
        if (ancestral) {
            up = f32(sqrt(s1 * s1 * (s * s - s1 * s1) / (s * s)));
            down = f32(sqrt(s1 * s1 - up * up));
        }
        SDL_TRY(call_model(r, x, input_scale(s), p->timesteps[call]));
        pred_x0_sigma(r->d0, x, r->out, s, r->cfg->prediction, n);
        float fs = (float)s, dt = (float)(mid - s);
        for (int64_t e = 0; e < n; e++) {
            float d = (x[e] - r->d0[e]) / fs;
            saved[e] = x[e];
            x[e] = x[e] + d * dt;
        }
        report(r, call++, x);
        if (j == nsig - 1) break;
        SDL_TRY(call_model(r, x, input_scale(mid), p->timesteps[call]));
        pred_x0_sigma(r->d0, x, r->out, mid, r->cfg->prediction, n);
        float fm = (float)mid, dt2 = (float)((ancestral ? down : s1) - s);
        for (int64_t e = 0; e < n; e++) {
            float d = (x[e] - r->d0[e]) / fm;
            x[e] = saved[e] + d * dt2;
        }
        if (ancestral) {
            SDL_TRY(need_rng(r));
            // saved (= r->tmp) is dead now; draw the noise into d0.
            rng_randn_fill(r->rng, r->d0, (size_t)n);
            float fu = (float)up;
            for (int64_t e = 0; e < n; e++) x[e] = x[e] + r->d0[e] * fu;
        }
        report(r, call++, x);
    }
    return SDL_OK;
}

// ---------------------------------------------------------------- DPM-Solver

typedef struct { double alpha, sigma, lambda; } Vp;

// _sigma_to_alpha_sigma_t: α = 1/√(σ²+1), σ_t = σ·α; λ = ln α − ln σ_t (+∞ at σ = 0).
static Vp vp_of(double sigma) {
    Vp v;
    v.alpha = 1.0 / sqrt(sigma * sigma + 1.0);
    v.sigma = sigma * v.alpha;
    v.lambda = log(v.alpha) - log(v.sigma);
    return v;
}

// convert_model_output: x₀ for dpmsolver++, ε for dpmsolver.
static void dpm_convert(const Run *r, float *dst, const float *x, const float *out, double sigma) {
    Vp v = vp_of(sigma);
    float a = (float)v.alpha, s = (float)v.sigma;
    const int pp = r->cfg->dpmsolver_pp, vpred = r->cfg->prediction == PRED_V;
    for (int64_t i = 0; i < r->n; i++) {
        if (pp) dst[i] = vpred ? a * x[i] - s * out[i] : (x[i] - s * out[i]) / a;
        else dst[i] = vpred ? a * out[i] + s * x[i] : out[i];
    }
}

// First order (DDIM-like) from σ_s to σ_t with model output m.
static void dpm_first(const Run *r, float *x, const float *src, const float *m, double s_sig, double t_sig) {
    Vp t = vp_of(t_sig), s = vp_of(s_sig);
    double h = t.lambda - s.lambda;
    float cx, cm;
    if (r->cfg->dpmsolver_pp) { cx = (float)(t.sigma / s.sigma); cm = (float)(t.alpha * (exp(-h) - 1.0)); }
    else { cx = (float)(t.alpha / s.alpha); cm = (float)(t.sigma * (exp(h) - 1.0)); }
    for (int64_t i = 0; i < r->n; i++) x[i] = cx * src[i] - cm * m[i];
}

// Second order, midpoint solver: from σ_s (sample `src`) to σ_t with D0 and D1 = (m0 − m1)/r0.
static void dpm_second(const Run *r, float *x, const float *src, const float *d0m, const float *m0,
                       const float *m1, double s_sig, double t_sig, double h, double r0) {
    Vp t = vp_of(t_sig), s = vp_of(s_sig);
    float cx, cm;
    if (r->cfg->dpmsolver_pp) { cx = (float)(t.sigma / s.sigma); cm = (float)(t.alpha * (exp(-h) - 1.0)); }
    else { cx = (float)(t.alpha / s.alpha); cm = (float)(t.sigma * (exp(h) - 1.0)); }
    float inv_r0 = (float)(1.0 / r0);
    for (int64_t i = 0; i < r->n; i++) {
        float d1 = inv_r0 * (m0[i] - m1[i]);
        x[i] = cx * src[i] - cm * d0m[i] - 0.5f * cm * d1;
    }
}

static SdlStatus run_dpm(Run *r, const SamplerPlan *p, float *x, int single) {
    const int64_t n = r->n, N = p->n_calls;
    const double *sg = p->sigmas;
    float *m_prev = r->d0, *m_cur = r->tmp;
    float *saved = calloc((size_t)n, sizeof(float));
    if (!saved) return sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory in dpm-solver");
    int have_prev = 0, lower_order_nums = 0;
    int lof = r->cfg->lower_order_final || r->cfg->final_sigma_zero;   // singlestep forces it on
    for (int64_t i = 0; i < N; i++) {
        SdlStatus st = call_model(r, x, 1.0, p->timesteps[i]);
        if (st != SDL_OK) { free(saved); return st; }
        if (have_prev || i > 0) memcpy(m_prev, m_cur, (size_t)n * sizeof(float));
        have_prev = i > 0;
        dpm_convert(r, m_cur, x, r->out, sg[i]);
        if (!single) {
            // DPMSolverMultistepScheduler.step: first order for the first step and, with
            // lower_order_final && N < 15 or a final σ of 0, for the last.
            int lower_final = (i == N - 1) && ((r->cfg->lower_order_final && N < 15) || r->cfg->final_sigma_zero);
            if (lower_order_nums < 1 || lower_final) {
                dpm_first(r, x, x, m_cur, sg[i], sg[i + 1]);
            } else {
                double lt = vp_of(sg[i + 1]).lambda, l0 = vp_of(sg[i]).lambda, l1 = vp_of(sg[i - 1]).lambda;
                double h = lt - l0;
                dpm_second(r, x, x, m_cur, m_cur, m_prev, sg[i], sg[i + 1], h, (l0 - l1) / h);
            }
            if (lower_order_nums < 2) lower_order_nums++;
        } else {
            // DPMSolverSinglestepScheduler: order list [1, 2]*(N/2 − 1) + [1, 1] (N even) or
            // [1, 2]*(N//2) + [1] (lower_order_final); order 2 restarts from the sample saved
            // at the preceding order-1 step with D0 = the earlier output.
            int order;
            if (lof) order = (N % 2 == 0) ? ((i >= N - 2) ? 1 : (int)(i % 2) + 1) : ((i == N - 1) ? 1 : (int)(i % 2) + 1);
            else order = (int)(i % 2) + 1;
            if (order == 2 && !have_prev) order = 1;
            if (order == 1) {
                memcpy(saved, x, (size_t)n * sizeof(float));
                dpm_first(r, x, saved, m_cur, sg[i], sg[i + 1]);
            } else {
                double lt = vp_of(sg[i + 1]).lambda, l0 = vp_of(sg[i]).lambda, l1 = vp_of(sg[i - 1]).lambda;
                double h = lt - l1;
                dpm_second(r, x, saved, m_prev, m_cur, m_prev, sg[i - 1], sg[i + 1], h, (l0 - l1) / h);
            }
        }
        report(r, i, x);
    }
    free(saved);
    return SDL_OK;
}

// ---------------------------------------------------------------- driver

SdlStatus sampler_run(const SamplerConfig *cfg, int64_t steps, float *x, int64_t n,
                      SamplerModelFn model, void *model_ctx, Rng *rng,
                      SamplerStepFn on_step, void *step_ctx) {
    if (n <= 0) return sdl_fail(SDL_ERR_ARG, NULL, NULL, "sampler: empty latent");
    SamplerPlan plan;
    SDL_TRY(sampler_plan(cfg, steps, &plan));
    Run r = {cfg, n, model, model_ctx, rng, on_step, step_ctx, plan.n_calls, NULL, NULL, NULL, NULL};
    r.xin = malloc((size_t)n * sizeof(float));
    r.out = malloc((size_t)n * sizeof(float));
    r.d0 = malloc((size_t)n * sizeof(float));
    r.tmp = malloc((size_t)n * sizeof(float));
    SdlStatus st = SDL_OK;
    if (!r.xin || !r.out || !r.d0 || !r.tmp) {
        st = sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory for sampler buffers");
        goto done;
    }
    // prepare_latents: latents · init_noise_sigma (a float32 multiply).
    if (plan.init_noise_sigma != 1.0) {
        float s = (float)plan.init_noise_sigma;
        for (int64_t i = 0; i < n; i++) x[i] *= s;
    }
    switch (cfg->kind) {
    case SAMPLER_DDIM: st = run_ddim(&r, &plan, steps, x); break;
    case SAMPLER_PNDM: st = run_pndm(&r, &plan, steps, x); break;
    case SAMPLER_LMS: st = run_lms(&r, &plan, x); break;
    case SAMPLER_EULER: st = run_euler(&r, &plan, x, 0); break;
    case SAMPLER_EULER_A: st = run_euler(&r, &plan, x, 1); break;
    case SAMPLER_HEUN: st = run_heun(&r, &plan, x); break;
    case SAMPLER_DPM2: st = run_dpm2(&r, &plan, x, 0); break;
    case SAMPLER_DPM2_A: st = run_dpm2(&r, &plan, x, 1); break;
    case SAMPLER_DPM_MULTI: st = run_dpm(&r, &plan, x, 0); break;
    case SAMPLER_DPM_SINGLE: st = run_dpm(&r, &plan, x, 1); break;
    default: st = sdl_fail(SDL_ERR_ARG, NULL, NULL, "invalid sampler kind %d", (int)cfg->kind);
    }
done:
    free(r.xin); free(r.out); free(r.d0); free(r.tmp);
    sampler_plan_free(&plan);
    return st;
}
