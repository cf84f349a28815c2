// test_samplers.c — src/sample/{schedule,sampler} against diffusers 0.31's schedulers.
//
// Goldens: tools/oracle/make_sampler_goldens.py runs each scheduler (configured as kohya's
// get_my_scheduler does) with a fake denoiser, out = 0.7·x + 0.2·tanh(x) + (0.05·t/1000)·x
// + field, evaluated here with the same formula in float32; the initial noise and every
// ancestral noise come from a torch.Generator that base/rng replays bit for bit.
//
// Tolerances (fixed before the results):
//   * final and intermediate latents: max|got − ref| ≤ 1e-4 absolute (latents are O(1..4));
//     diffusers steps float32 tensors with float32 σ/ᾱ scalars, sdlora rounds double
//     coefficients once, and tanh differs by an ulp: ~1e-7 per step over ≤ 50 calls.
//     PSNR over the reference's range is printed and must be ≥ 40 dB.
//   * integer timesteps exactly; fractional ones (Euler-family linspace, Karras, DPM2
//     midpoints) within 2e-4 (diffusers rounds them to float32, ulp 6e-5 near 1000, and
//     computes log σ in float32);
//   * σ's within 1e-6 relative (float32 tables agreeing to 1 ulp: torch's `** 0.5` is not a
//     correctly rounded sqrt); ᾱ bit for bit (same float32 linspace and double cumprod);
//     sigma_to_t within 1e-4 (1 ulp of log σ over the smallest log-σ step, see below).
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "io/safetensors.h"
#include "sample/sampler.h"
#include "sample/schedule.h"

static const char *gpath(char *buf, size_t cap, const char *name) {
    char rel[512];
    snprintf(rel, sizeof rel, "samplers/%s", name);
    return golden_path(buf, cap, rel);
}

static double *read_f64(const SafeTensors *st, const char *name, int64_t *n) {
    const StTensor *t = st_find(st, name);
    CHECKF(t != NULL && t->dtype == ST_F64, "golden %s missing or not F64", name);
    if (!t || t->dtype != ST_F64) return NULL;
    double *v = calloc((size_t)t->numel + 1, sizeof(double));
    memcpy(v, t->data, t->nbytes);
    *n = t->numel;
    return v;
}

static float *read_f32(const SafeTensors *st, const char *name, int64_t *n) {
    const StTensor *t = st_find(st, name);
    CHECKF(t != NULL, "golden %s missing", name);
    if (!t) return NULL;
    float *v = alloc_floats(t->numel);
    CHECK(st_tensor_to_f32(st, t, v) == SDL_OK);
    if (n) *n = t->numel;
    return v;
}

typedef struct { const float *field; } Fake;

static SdlStatus fake_model(void *ctx, float *out, const float *x, double t, int64_t n) {
    const Fake *f = ctx;
    float c = (float)(0.05 * t / 1000.0);
    for (int64_t i = 0; i < n; i++) out[i] = 0.7f * x[i] + 0.2f * tanhf(x[i]) + c * x[i] + f->field[i];
    return SDL_OK;
}

typedef struct { float *calls[3]; int64_t n; } Trace;

static void on_step(void *ctx, int64_t call, int64_t n_calls, const float *x, int64_t n) {
    Trace *tr = ctx;
    if (call < 3) memcpy(tr->calls[call], x, (size_t)n * sizeof(float));
}

static double psnr(const float *a, const float *ref, int64_t n) {
    double lo = ref[0], hi = ref[0], se = 0;
    for (int64_t i = 0; i < n; i++) {
        lo = fmin(lo, ref[i]); hi = fmax(hi, ref[i]);
        se += ((double)a[i] - ref[i]) * ((double)a[i] - ref[i]);
    }
    double mse = se / (double)n;
    return mse == 0 ? INFINITY : 10.0 * log10((hi - lo) * (hi - lo) / mse);
}

static int is_integer(double v) { return v == floor(v); }

static void run_case(const char *casename) {
    char path[700], file[200];
    snprintf(file, sizeof file, "%.150s.safetensors", casename);
    SafeTensors st;
    if (st_open(&st, gpath(path, sizeof path, file)) != SDL_OK) {
        CHECKF(0, "cannot open %s", path);
        return;
    }
    const char *name = st_metadata_get(&st, "sampler");
    int v = atoi(st_metadata_get(&st, "v_param"));
    int64_t steps = atoll(st_metadata_get(&st, "steps"));
    SamplerConfig cfg;
    CHECK(sampler_config_kohya(name, v, &cfg) == SDL_OK);
    cfg.eta = atof(st_metadata_get(&st, "eta"));
    cfg.use_karras_sigmas = atoi(st_metadata_get(&st, "karras"));
    if (atoi(st_metadata_get(&st, "skip_prk_steps"))) cfg.skip_prk_steps = 1;
    cfg.steps_offset = atoll(st_metadata_get(&st, "steps_offset"));
    const char *sp = st_metadata_get(&st, "spacing");
    if (!strcmp(sp, "leading")) cfg.spacing = SPACING_LEADING;
    if (!strcmp(sp, "trailing")) cfg.spacing = SPACING_TRAILING;
    if (strstr(casename, "_sd_")) { cfg.set_alpha_to_one = 0; cfg.clip_sample = 0; } // SD's scheduler_config

    // schedule
    SamplerPlan plan;
    CHECK(sampler_plan(&cfg, steps, &plan) == SDL_OK);
    int64_t nt = 0, ns = 0;
    double *ts = read_f64(&st, "timesteps", &nt), *sg = read_f64(&st, "sigmas", &ns);
    CHECKF(nt == plan.n_calls, "%s: %lld model calls, diffusers %lld", casename, (long long)plan.n_calls, (long long)nt);
    double terr = 0, serr = 0;
    for (int64_t i = 0; ts && i < nt && i < plan.n_calls; i++) {
        double e = fabs(plan.timesteps[i] - ts[i]);
        if (is_integer(ts[i]) && is_integer(plan.timesteps[i])) CHECKF(e == 0, "%s: t[%lld] %g vs %g", casename, (long long)i, plan.timesteps[i], ts[i]);
        terr = fmax(terr, e);
    }
    CHECKF(terr <= 2e-4, "%s: timestep error %g", casename, terr);
    CHECKF(ns == plan.n_sigmas, "%s: %lld sigmas, diffusers %lld", casename, (long long)plan.n_sigmas, (long long)ns);
    for (int64_t i = 0; sg && i < ns && i < plan.n_sigmas; i++) {
        double e = fabs(plan.sigmas[i] - sg[i]) / fmax(fabs(sg[i]), 1e-30);
        if (sg[i] == 0) e = fabs(plan.sigmas[i]);
        serr = fmax(serr, e);
    }
    CHECKF(serr <= 1e-6, "%s: sigma relative error %g", casename, serr);
    sampler_plan_free(&plan);

    // run
    int64_t n = 0;
    float *x = read_f32(&st, "x_init", &n);
    float *field = read_f32(&st, "field", NULL);
    float *ref = read_f32(&st, "final", NULL);
    Rng rng;
    rng_seed(&rng, (uint64_t)atoll(st_metadata_get(&st, "seed")));
    float *noise = alloc_floats(n);
    rng_randn_fill(&rng, noise, (size_t)n);  // the pipeline's randn latents, same generator
    CHECKF(max_abs_diff(noise, x, n) == 0, "%s: initial noise differs from torch", casename);
    free(noise);
    Trace tr = {{alloc_floats(n), alloc_floats(n), alloc_floats(n)}, n};
    Fake fk = {field};
    SdlStatus s = sampler_run(&cfg, steps, x, n, fake_model, &fk, &rng, on_step, &tr);
    CHECKF(s == SDL_OK, "%s: sampler_run failed", casename);
    double err = max_abs_diff(x, ref, n), p = psnr(x, ref, n);
    double ierr = 0;
    for (int k = 0; k < 3; k++) {
        char nm[32];
        snprintf(nm, sizeof nm, "x_call%d", k);
        float *ik = read_f32(&st, nm, NULL);
        if (ik) { ierr = fmax(ierr, max_abs_diff(tr.calls[k], ik, n)); free(ik); }
    }
    printf("  %-26s calls %3lld  final max|err| %.2e  PSNR %6.1f dB  first-calls max|err| %.2e  t %.1e  sigma %.1e\n",
           casename, (long long)nt, err, p, ierr, terr, serr);
    CHECKF(err <= 1e-4, "%s: final latent error %g", casename, err);
    CHECKF(ierr <= 1e-4, "%s: intermediate latent error %g", casename, ierr);
    CHECKF(p >= 40.0, "%s: PSNR %g dB", casename, p);
    for (int k = 0; k < 3; k++) free(tr.calls[k]);
    free(x); free(field); free(ref); free(ts); free(sg);
    st_close(&st);
}

static void test_goldens(void) {
    char path[700], line[200];
    FILE *f = fopen(gpath(path, sizeof path, "cases.txt"), "r");
    CHECKF(f != NULL, "cannot open %s", path);
    if (!f) return;
    int count = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0]) continue;
        run_case(line);
        count++;
    }
    fclose(f);
    CHECK(count >= 40);
}

static void test_schedule_tables(void) {
    char path[700];
    SafeTensors st;
    if (st_open(&st, gpath(path, sizeof path, "schedules.safetensors")) != SDL_OK) { CHECKF(0, "open %s", path); return; }
    const NoiseSchedule *S = noise_schedule_sd();
    int64_t n;
    double *ac = read_f64(&st, "alphas_cumprod", &n), *sg = read_f64(&st, "sigmas", &n);
    int exact = 1;
    double serr = 0;
    for (int64_t i = 0; ac && sg && i < SCHED_TRAIN_STEPS; i++) {
        if (S->alphas_cumprod[i] != ac[i]) exact = 0;
        serr = fmax(serr, fabs(S->sigmas[i] - sg[i]) / sg[i]);
    }
    CHECKF(exact, "alphas_cumprod not bit-exact with torch");
    CHECKF(serr <= 1e-6, "sigma table relative error %g", serr);
    free(ac); free(sg);
    // spacings
    static const int64_t steps_list[] = {1, 3, 7, 10, 30, 50, 1000};
    static const char *sps[] = {"leading", "trailing", "linspace"};
    double buf[1100];
    for (size_t a = 0; a < sizeof steps_list / sizeof *steps_list; a++)
        for (int b = 0; b < 3; b++)
            for (int off = 0; off < 2; off++) {
                char key[80];
                int64_t N = steps_list[a];
                snprintf(key, sizeof key, "ddim_%s_off%d_%lld", sps[b], off, (long long)N);
                double *ref = read_f64(&st, key, &n);
                int64_t got = spacing_timesteps((TimestepSpacing)b, N, off, 0, buf);
                CHECKF(got == n, "%s: %lld timesteps, diffusers %lld", key, (long long)got, (long long)n);
                for (int64_t i = 0; ref && i < n && i < got; i++) CHECKF(buf[i] == ref[i], "%s[%lld] %g vs %g", key, (long long)i, buf[i], ref[i]);
                free(ref);
                // Euler: float linspace, σ by interpolation
                snprintf(key, sizeof key, "euler_%s_off%d_%lld_t", sps[b], off, (long long)N);
                ref = read_f64(&st, key, &n);
                got = spacing_timesteps((TimestepSpacing)b, N, off, 1, buf);
                CHECKF(got == n, "%s count", key);
                for (int64_t i = 0; ref && i < n && i < got; i++) CHECKF(buf[i] == ref[i], "%s[%lld] %.9g vs %.9g", key, (long long)i, buf[i], ref[i]);
                free(ref);
                snprintf(key, sizeof key, "euler_%s_off%d_%lld_sigmas", sps[b], off, (long long)N);
                ref = read_f64(&st, key, &n);
                for (int64_t i = 0; ref && i < got; i++) {
                    double s = (double)(float)schedule_t_to_sigma(S, buf[i]);
                    CHECKF(fabs(s - ref[i]) <= 1e-6 * ref[i], "%s[%lld] %.9g vs %.9g", key, (long long)i, s, ref[i]);
                }
                free(ref);
            }
    double *sw = read_f64(&st, "sigma_sweep", &n), *swt = read_f64(&st, "sigma_sweep_t", &n);
    double terr = 0;
    for (int64_t i = 0; sw && swt && i < n; i++) terr = fmax(terr, fabs(schedule_sigma_to_t(S, sw[i]) - swt[i]));
    // σ tables agree to 1 float32 ulp (torch's `** 0.5` is not a correctly rounded sqrt), so
    // log σ may differ by 1 ulp (≤ 2.4e-7 for |log σ| < 4) over a log-σ step of ≥ 3.27e-3
    // per unit t: |Δt| ≤ 7.3e-5.
    CHECKF(terr <= 1e-4, "sigma_to_t error %g", terr);
    free(sw); free(swt);
    st_close(&st);
}

static void test_kohya_names(void) {
    static const struct { const char *name; SamplerKind kind; } map[] = {
        {"ddim", SAMPLER_DDIM}, {"pndm", SAMPLER_PNDM}, {"lms", SAMPLER_LMS}, {"k_lms", SAMPLER_LMS},
        {"euler", SAMPLER_EULER}, {"k_euler", SAMPLER_EULER}, {"euler_a", SAMPLER_EULER_A},
        {"K_EULER_A", SAMPLER_EULER_A}, {"heun", SAMPLER_HEUN}, {"dpm_2", SAMPLER_DPM2},
        {"k_dpm_2", SAMPLER_DPM2}, {"dpm_2_a", SAMPLER_DPM2_A}, {"k_dpm_2_a", SAMPLER_DPM2_A},
        {"dpmsolver", SAMPLER_DPM_MULTI}, {"DPMSolver++", SAMPLER_DPM_MULTI}, {"dpmsingle", SAMPLER_DPM_SINGLE},
    };
    for (size_t i = 0; i < sizeof map / sizeof *map; i++) {
        SamplerConfig c;
        CHECKF(sampler_config_kohya(map[i].name, 0, &c) == SDL_OK && c.kind == map[i].kind, "%s", map[i].name);
    }
    SamplerConfig c;
    CHECK(sampler_config_kohya("dpmsolver", 1, &c) == SDL_OK && !c.dpmsolver_pp && c.prediction == PRED_V);
    CHECK(sampler_config_kohya("ddim", 0, &c) == SDL_OK && c.clip_sample && c.set_alpha_to_one &&
          c.steps_offset == 0 && c.spacing == SPACING_LEADING);
    CHECK(sampler_config_kohya("heun", 0, &c) == SDL_OK && c.clip_sample);
    CHECK(sampler_config_kohya("pndm", 0, &c) == SDL_OK && !c.skip_prk_steps);
    sdl_error_clear();
    CHECK(sampler_config_kohya("dpm++2m", 0, &c) == SDL_ERR_ARG);
    CHECK(strstr(sdl_last_error()->reason, "dpm++2m") != NULL);
    CHECK(strstr(sdl_last_error()->hint, "k_dpm_2_a") != NULL && strstr(sdl_last_error()->hint, "dpmsingle") != NULL);
    CHECK(sampler_config_kohya(NULL, 0, &c) == SDL_ERR_ARG);
}

static SdlStatus failing_model(void *ctx, float *out, const float *x, double t, int64_t n) {
    return sdl_fail(SDL_ERR_NUMERIC, NULL, NULL, "model failed");
}

static void test_bad_args(void) {
    SamplerConfig c;
    SamplerPlan p;
    sampler_config_kohya("euler", 0, &c);
    CHECK(sampler_plan(&c, 0, &p) == SDL_ERR_ARG);
    CHECK(strstr(sdl_last_error()->reason, "steps") != NULL);
    CHECK(sampler_plan(&c, 1001, &p) == SDL_ERR_ARG);
    CHECK(sampler_plan(&c, 1000, &p) == SDL_OK && p.n_calls == 1000);
    sampler_plan_free(&p);
    sampler_config_kohya("pndm", 0, &c);
    CHECK(sampler_plan(&c, 3, &p) == SDL_ERR_ARG);
    float x[16] = {0};
    sampler_config_kohya("euler_a", 0, &c);
    CHECK(sampler_run(&c, 5, x, 16, fake_model, &(Fake){x}, NULL, NULL, NULL) == SDL_ERR_ARG); // no rng
    CHECK(sampler_run(&c, 5, x, 16, failing_model, NULL, NULL, NULL, NULL) == SDL_ERR_NUMERIC);
    float u[3] = {1, 2, 3}, k[3] = {2, 2, 5}, o[3];
    cfg_combine(o, u, k, 7.5, 3);
    CHECK(o[0] == 8.5f && o[1] == 2.0f && o[2] == 18.0f);
}

int main(void) {
    RUN(test_schedule_tables);
    RUN(test_kohya_names);
    RUN(test_bad_args);
    RUN(test_goldens);
    return test_finish();
}
