// test_objective.c — the training objective (src/train/objective.c) against torch running
// kohya's step math (goldens from tools/oracle/make_objective_goldens.py), plus
// finite-difference checks of dL/dpred for every loss type and weighting.
//
// Tolerances (max |got − ref| ≤ rtol · max |ref| per tensor):
//   schedule: ᾱ bit-exact (same float32 roundings), all_snr and the zero-terminal-SNR ᾱ 1e-6
//             (torch's vectorised sqrt/div may differ by an ulp here and there).
//   noise, noisy latents, targets 1e-6: the same draws (bit-exact Rng / PyRandom), then a few
//             float32 roundings per element; the std of the pyramid noise and the |mean| of
//             the adaptive offset are sums torch does in float32 and we in double.
//   timesteps: exact.
//   loss, per-sample loss, dL/dpred 1e-6 against a float64 reference: we evaluate in double
//             from the float32 inputs and round once.
//   finite differences: 1e-6 relative per coordinate (+1e-10 absolute); the loss is a double
//             function of the float inputs and the steps are exact, so only the O(h⁴) stencil
//             error and double rounding remain.
// Goldens: tests/golden/objective (run from the repo root) or $SDLORA_GOLDEN_DIR/objective.
#include <stdlib.h>
#include <string.h>
#include "gradcheck.h"
#include "harness.h"
#include "io/safetensors.h"
#include "sample/schedule.h"
#include "train/objective.h"

static int open_golden(SafeTensors *st, const char *name) {
    char path[1024], rel[256];
    snprintf(rel, sizeof rel, "objective/%s.safetensors", name);
    golden_path(path, sizeof path, rel);
    if (st_open(st, path) != SDL_OK) {
        CHECKF(0, "golden %s missing or unreadable (run from the repo root or set SDLORA_GOLDEN_DIR)", path);
        return 0;
    }
    return 1;
}

// An I64 golden tensor into out (n values); a missing tensor is a failed CHECK.
static int golden_i64(const SafeTensors *st, const char *name, int64_t *out, int64_t n) {
    const StTensor *t = st_find(st, name);
    CHECKF(t && t->dtype == ST_I64 && t->numel == n, "golden %s missing or not I64[%lld]", name, (long long)n);
    if (!t || t->dtype != ST_I64 || t->numel != n) return 0;
    memcpy(out, t->data, (size_t)n * 8);
    return 1;
}

// Applies "key=value key=value" (the oracle's config text: fields that differ from defaults).
static void parse_config(ObjectiveConfig *c, const char *text) {
    *c = objective_config_default();
    char *copy = strdup(text ? text : ""), *save = NULL;
    for (char *tok = strtok_r(copy, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(tok, '=');
        SDL_ASSERT(eq);
        *eq = 0;
        const char *k = tok, *v = eq + 1;
        double x = atof(v);
        if (!strcmp(k, "noise_offset")) c->noise_offset = x;
        else if (!strcmp(k, "noise_offset_random_strength")) c->noise_offset_random_strength = x != 0;
        else if (!strcmp(k, "adaptive_noise_scale")) c->adaptive_noise_scale = x;
        else if (!strcmp(k, "multires_noise_iterations")) c->multires_noise_iterations = (int64_t)x;
        else if (!strcmp(k, "multires_noise_discount")) c->multires_noise_discount = x;
        else if (!strcmp(k, "ip_noise_gamma")) c->ip_noise_gamma = x;
        else if (!strcmp(k, "ip_noise_gamma_random_strength")) c->ip_noise_gamma_random_strength = x != 0;
        else if (!strcmp(k, "min_timestep")) c->min_timestep = (int64_t)x;
        else if (!strcmp(k, "max_timestep")) c->max_timestep = (int64_t)x;
        else if (!strcmp(k, "v_parameterization")) c->v_parameterization = x != 0;
        else if (!strcmp(k, "zero_terminal_snr")) c->zero_terminal_snr = x != 0;
        else if (!strcmp(k, "loss_type")) SDL_ASSERT(loss_type_parse(v, &c->loss_type) == SDL_OK);
        else if (!strcmp(k, "huber_schedule")) SDL_ASSERT(huber_schedule_parse(v, &c->huber_schedule) == SDL_OK);
        else if (!strcmp(k, "huber_c")) c->huber_c = x;
        else if (!strcmp(k, "huber_scale")) c->huber_scale = x;
        else if (!strcmp(k, "min_snr_gamma")) c->min_snr_gamma = x;
        else if (!strcmp(k, "scale_v_pred_loss_like_noise_pred")) c->scale_v_pred_loss_like_noise_pred = x != 0;
        else if (!strcmp(k, "v_pred_like_loss")) c->v_pred_like_loss = x;
        else if (!strcmp(k, "debiased_estimation_loss")) c->debiased_estimation_loss = x != 0;
        else { fprintf(stderr, "unknown config key %s\n", k); abort(); }
    }
    free(copy);
}

static void test_schedule(void) {
    SafeTensors g;
    if (!open_golden(&g, "schedule")) return;
    TrainSchedule s, z;
    train_schedule_init(&s, false);
    train_schedule_init(&z, true);
    float *ac = golden_tensor(&g, "alphas_cumprod", NULL), *snr = golden_tensor(&g, "all_snr", NULL);
    float *acz = golden_tensor(&g, "alphas_cumprod_ztsnr", NULL);
    CHECK(memcmp(s.alphas_cumprod, ac, sizeof s.alphas_cumprod) == 0);
    CHECK(check_close("all_snr", s.all_snr, snr, 1000, 0, 1e-6));
    CHECK(check_close("alphas_cumprod (zero terminal SNR)", z.alphas_cumprod, acz, 1000, 0, 1e-6));
    CHECK(z.alphas_cumprod[999] == 0.0f && acz[999] == 0.0f);
    // the first ᾱ is kept and the SNR weights stay those of the original schedule
    CHECK(fabsf(z.alphas_cumprod[0] - s.alphas_cumprod[0]) <= 1e-7f);
    CHECK(memcmp(z.all_snr, s.all_snr, sizeof s.all_snr) == 0);
    // the same table the samplers use
    const NoiseSchedule *ns = noise_schedule_sd();
    int same = 1;
    for (int i = 0; i < 1000; i++) same &= (double)s.alphas_cumprod[i] == ns->alphas_cumprod[i];
    CHECK(same);
    free(ac), free(snr), free(acz);
    st_close(&g);
}

static void test_noise_goldens(void) {
    SafeTensors g;
    if (!open_golden(&g, "noise")) return;
    const char *cases = st_metadata_get(&g, "cases");
    SDL_ASSERT(cases);
    char *list = strdup(cases), *save = NULL;
    int n_cases = 0;
    for (char *name = strtok_r(list, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
        char key[256];
        snprintf(key, sizeof key, "%s.config", name);
        ObjectiveConfig c;
        parse_config(&c, st_metadata_get(&g, key));
        snprintf(key, sizeof key, "%s.seed", name);
        uint64_t seed = strtoull(st_metadata_get(&g, key), NULL, 10);
        snprintf(key, sizeof key, "%s.shape", name);
        long long B, C, H, W;
        SDL_ASSERT(sscanf(st_metadata_get(&g, key), "%lld,%lld,%lld,%lld", &B, &C, &H, &W) == 4);
        int64_t n = B * C * H * W, per = C * H * W;
        snprintf(key, sizeof key, "%s.latents", name);
        float *lat = golden_tensor(&g, key, NULL);
        float *noise = alloc_floats(n), *noisy = alloc_floats(n), *target = alloc_floats(n);
        int64_t t[16], tref[16];
        SDL_ASSERT(B <= 16);
        TrainSchedule s;
        train_schedule_init(&s, c.zero_terminal_snr);
        Rng rng;
        PyRandom py;
        rng_seed(&rng, seed);
        py_random_seed(&py, seed);
        objective_make_noise(&c, noise, lat, B, C, H, W, &rng, &py);
        objective_sample_timesteps(&c, t, B, &rng);
        objective_add_noise(&c, &s, noisy, lat, noise, t, B, per, &rng);
        objective_target(&c, &s, target, lat, noise, t, B, per);
        const char *parts[3] = {"noise", "noisy", "target"};
        const float *got[3] = {noise, noisy, target};
        if (!c.v_parameterization) CHECKF(memcmp(target, noise, (size_t)n * 4) == 0, "%s: epsilon target", name);
        for (int p = 0; p < (c.v_parameterization ? 3 : 2); p++) {
            snprintf(key, sizeof key, "%s.%s", name, parts[p]);
            float *ref = golden_tensor(&g, key, NULL);
            if (ref) CHECKF(check_close(key, got[p], ref, n, 0, 1e-6), "case %s", name);
            free(ref);
        }
        snprintf(key, sizeof key, "%s.t", name);
        if (golden_i64(&g, key, tref, B))
            for (int64_t b = 0; b < B; b++) CHECKF(t[b] == tref[b], "%s: t[%lld] %lld vs %lld", name, (long long)b, (long long)t[b], (long long)tref[b]);
        // the noise really is perturbed (the case tests something): compare to a plain randn
        if (c.noise_offset != 0 || c.multires_noise_iterations > 0) {
            float *plain = alloc_floats(n);
            Rng r2;
            rng_seed(&r2, seed);
            rng_randn_fill(&r2, plain, (size_t)n);
            CHECKF(max_abs_diff(plain, noise, n) > 1e-3, "%s: the noise is plain randn", name);
            free(plain);
        }
        free(lat), free(noise), free(noisy), free(target);
        n_cases++;
    }
    CHECK(n_cases >= 9);
    free(list);
    st_close(&g);
}

typedef struct {
    const ObjectiveConfig *c;
    const TrainSchedule *s;
    float *pred;
    const float *target, *weights;
    const int64_t *t;
    int64_t B, per;
} LossCtx;

static double loss_of(void *ctx) {
    LossCtx *l = ctx;
    return objective_loss(l->c, l->s, l->pred, l->target, l->t, l->weights, l->B, l->per, NULL, NULL);
}

// dL/dpred by finite differences of the (double-precision) loss, for one configuration: every
// coordinate, step 2^-10; pred lies on a 2^-12 grid, so x ± k·step is exact in float32 and the
// stencil sees exactly the steps it divides by. |pred − target| is kept ≥ 0.01 (no kink of l1 inside the stencil) except for
// a few exact zeros, where l1's derivative is sign(0) = 0 and the central difference is 0 too;
// d spans 0.01..3 so huber's quadratic and linear regions are both sampled.
static int gradcheck_config(const char *name, const ObjectiveConfig *c) {
    const int64_t B = 4, per = 24, n = B * per;
    float *pred = alloc_randn(n, 1, 11), *target = alloc_floats(n), *dpred = alloc_floats(n);
    float *mag = alloc_randn(n, 1, 12);
    for (int64_t i = 0; i < n; i++) pred[i] = roundf(pred[i] * 4096.0f) / 4096.0f;
    for (int64_t i = 0; i < n; i++) {
        float d = (0.01f + fabsf(mag[i])) * (i % 2 ? 1.0f : -1.0f) * (i % 3 ? 1.0f : 0.05f);
        if (fabsf(d) < 0.01f) d = d < 0 ? -0.01f : 0.01f;
        target[i] = i % 17 == 0 ? pred[i] : pred[i] - d;
    }
    int64_t t[4] = {0, 37, 512, 999};
    float w[4] = {1.0f, 0.5f, 2.0f, 1.5f};
    TrainSchedule s;
    train_schedule_init(&s, c->zero_terminal_snr);
    objective_loss(c, &s, pred, target, t, w, B, per, dpred, NULL);
    LossCtx lc = {c, &s, pred, target, w, t, B, per};
    int ok = gradcheck_coords(name, loss_of, &lc, pred, dpred, n, 1.0f / 1024, 1e-10, 1e-6, (int)n, 5);
    free(pred), free(target), free(dpred), free(mag);
    return ok;
}

static void test_loss_goldens(void) {
    SafeTensors g;
    if (!open_golden(&g, "loss")) return;
    int64_t n, B = 4;
    float *pred = golden_tensor(&g, "pred", &n), *target = golden_tensor(&g, "target", NULL);
    float *weights = golden_tensor(&g, "weights", NULL);
    int64_t t[4];
    golden_i64(&g, "t", t, B);
    int64_t per = n / B;
    float *dpred = alloc_floats(n), per_sample[4];
    char *list = strdup(st_metadata_get(&g, "cases")), *save = NULL;
    int n_cases = 0, types_seen = 0;
    for (char *name = strtok_r(list, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
        char key[256];
        snprintf(key, sizeof key, "%s.config", name);
        ObjectiveConfig c;
        parse_config(&c, st_metadata_get(&g, key));
        types_seen |= 1 << c.loss_type;
        TrainSchedule s;
        train_schedule_init(&s, c.zero_terminal_snr);
        float loss = (float)objective_loss(&c, &s, pred, target, t, weights, B, per, dpred, per_sample);
        snprintf(key, sizeof key, "%s.loss", name);
        float *ref_loss = golden_tensor(&g, key, NULL);
        snprintf(key, sizeof key, "%s.per_sample", name);
        float *ref_per = golden_tensor(&g, key, NULL);
        snprintf(key, sizeof key, "%s.dpred", name);
        float *ref_d = golden_tensor(&g, key, NULL);
        if (ref_loss && ref_per && ref_d) {
            CHECKF(check_close("loss", &loss, ref_loss, 1, 0, 1e-6), "case %s", name);
            CHECKF(check_close("per_sample", per_sample, ref_per, B, 0, 1e-6), "case %s", name);
            CHECKF(check_close("dpred", dpred, ref_d, n, 0, 1e-6), "case %s", name);
        }
        // the same configuration by finite differences (independent of torch)
        CHECKF(gradcheck_config(name, &c), "case %s", name);
        free(ref_loss), free(ref_per), free(ref_d);
        n_cases++;
    }
    CHECK(n_cases >= 15);
    CHECK(types_seen == 0xF); // l2, l1, huber, smooth_l1
    free(list), free(pred), free(target), free(weights), free(dpred);
    st_close(&g);
}

// Weightings multiply per sample: the loss with weights w equals Σ w_b · loss_b / B, and the
// post-processing factor at t is what objective_post_weight reports.
static void test_loss_structure(void) {
    const int64_t B = 3, per = 10;
    float *pred = alloc_randn(B * per, 1, 3), *target = alloc_randn(B * per, 1, 4), per_sample[3], unweighted[3];
    float w[3] = {0.5f, 1.0f, 3.0f};
    int64_t t[3] = {10, 400, 990};
    ObjectiveConfig c = objective_config_default();
    c.min_snr_gamma = 5, c.debiased_estimation_loss = true;
    TrainSchedule s;
    train_schedule_init(&s, false);
    double L = objective_loss(&c, &s, pred, target, t, w, B, per, NULL, per_sample);
    ObjectiveConfig plain = objective_config_default();
    objective_loss(&plain, &s, pred, target, t, NULL, B, per, NULL, unweighted);
    double sum = 0;
    for (int b = 0; b < 3; b++) {
        double expect = w[b] * objective_post_weight(&c, &s, t[b]) * unweighted[b];
        CHECKF(fabs(per_sample[b] - expect) <= 1e-6 * fabs(expect), "sample %d: %g vs %g", b, per_sample[b], expect);
        sum += per_sample[b];
    }
    CHECK(fabs(L - sum / 3) <= 1e-6 * fabs(L));
    // min_snr_gamma (eps): min(snr, 5)/snr < 1 at low t, = 1 at high t
    ObjectiveConfig m = objective_config_default();
    m.min_snr_gamma = 5;
    CHECK(objective_post_weight(&m, &s, 10) < 0.1 && objective_post_weight(&m, &s, 990) == 1.0);
    CHECK(objective_post_weight(&plain, &s, 10) == 1.0);
    // huber_c schedules at the ends: exponential c(0) = scale, c(1000) = huber_c·scale; snr → huber_c at t = 999
    ObjectiveConfig h = objective_config_default();
    h.loss_type = LOSS_HUBER, h.huber_schedule = HUBER_EXPONENTIAL, h.huber_c = 0.1, h.huber_scale = 2;
    CHECK(fabs(objective_huber_c(&h, &s, 0) - 2.0) < 1e-12);
    h.huber_schedule = HUBER_SNR;
    CHECK(objective_huber_c(&h, &s, 999) < 0.11 && objective_huber_c(&h, &s, 0) > 0.9);
    h.loss_type = LOSS_L2;
    CHECK(objective_huber_c(&h, &s, 0) == 0);
    free(pred), free(target);
}

// Features that are off draw nothing: after a plain make_noise + timesteps + add_noise the
// generator is exactly where randn(n) + randint(B) leave it.
static void test_draw_order(void) {
    const int64_t B = 2, n = 2 * 4 * 4 * 4;
    float *lat = alloc_randn(n, 1, 9), *noise = alloc_floats(n), *noisy = alloc_floats(n), *ref = alloc_floats(n);
    int64_t t[2], tref[2];
    ObjectiveConfig c = objective_config_default();
    TrainSchedule s;
    train_schedule_init(&s, false);
    Rng a, b;
    rng_seed(&a, 5), rng_seed(&b, 5);
    objective_make_noise(&c, noise, lat, B, 4, 4, 4, &a, NULL);
    objective_sample_timesteps(&c, t, B, &a);
    objective_add_noise(&c, &s, noisy, lat, noise, t, B, n / B, NULL);
    rng_randn_fill(&b, ref, (size_t)n);
    rng_randint_fill(&b, tref, 2, 0, 1000);
    CHECK(memcmp(noise, ref, (size_t)n * 4) == 0 && t[0] == tref[0] && t[1] == tref[1]);
    CHECK(rng_u32(&a) == rng_u32(&b));
    // t outside [min, max) never drawn; min >= max gives max
    c.min_timestep = 100, c.max_timestep = 103;
    int ok = 1;
    for (int i = 0; i < 200; i++) {
        objective_sample_timesteps(&c, t, B, &a);
        ok &= t[0] >= 100 && t[0] < 103 && t[1] >= 100 && t[1] < 103;
    }
    CHECK(ok);
    c.min_timestep = 600, c.max_timestep = 500;
    objective_sample_timesteps(&c, t, B, &a);
    CHECK(t[0] == 500 && t[1] == 500);
    free(lat), free(noise), free(noisy), free(ref);
}

static void test_parse(void) {
    LossType lt;
    HuberSchedule hs;
    CHECK(loss_type_parse("smooth_l1", &lt) == SDL_OK && lt == LOSS_SMOOTH_L1);
    CHECK(loss_type_parse("huber", &lt) == SDL_OK && lt == LOSS_HUBER);
    CHECK(loss_type_parse("mse", &lt) == SDL_ERR_ARG && strstr(sdl_last_error()->hint, "smooth_l1"));
    CHECK(huber_schedule_parse("exponential", &hs) == SDL_OK && hs == HUBER_EXPONENTIAL);
    CHECK(huber_schedule_parse("cosine", &hs) == SDL_ERR_ARG && strstr(sdl_last_error()->hint, "constant"));
    CHECK(strcmp(loss_type_name(LOSS_L1), "l1") == 0 && strcmp(huber_schedule_name(HUBER_SNR), "snr") == 0);
    ObjectiveConfig c = objective_config_default();
    CHECK(c.max_timestep == 1000 && c.huber_c == 0.1 && c.huber_scale == 1.0 && c.multires_noise_discount == 0.3 &&
          c.loss_type == LOSS_L2 && c.huber_schedule == HUBER_SNR);
}

int main(void) {
    RUN(test_schedule);
    RUN(test_noise_goldens);
    RUN(test_loss_goldens);
    RUN(test_loss_structure);
    RUN(test_draw_order);
    RUN(test_parse);
    return test_finish();
}
