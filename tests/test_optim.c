// test_optim.c — optimizers, clipping and LR schedules against the torch references
// (goldens from tools/oracle/make_optim_goldens.py), plus --optimizer_args parsing, bit-exact
// state save/load, and AdamW8bit's quantiser and its distance from fp32 AdamW.
//
// Tolerances (max |got − ref| ≤ rtol · max |ref| per tensor, after every one of 10 steps):
//   AdamW, Lion, SGDNesterov  1e-6: a handful of float32 roundings per element per step, in
//                             torch's operation order; ≤ ~1 ulp drift per step over 10 steps.
//   Adafactor, Prodigy, DAdaptAdam 1e-5: these also use reductions (RMS, row/col means, dot
//                             products, L1 norms) that torch sums in float32 and we in double;
//                             the d estimates of Prodigy/DAdapt amplify those into the step size.
//   schedules 1e-12 relative: the same double formulas as Python.
// Goldens: tests/golden/optim (run from the repo root) or $SDLORA_GOLDEN_DIR/optim.
// SDLORA_GOLDEN_VERBOSE=1 prints each case's worst error as a fraction of its tolerance.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "harness.h"
#include "io/safetensors.h"
#include "train/lr_schedule.h"
#include "train/optim.h"
#include "train/optim_internal.h"

#define NP 4
#define STEPS 10

static int verbose(void) { const char *v = getenv("SDLORA_GOLDEN_VERBOSE"); return v && *v == '1'; }

static int open_golden(SafeTensors *st, const char *name) {
    char path[1024], rel[256];
    snprintf(rel, sizeof rel, "optim/%s.safetensors", name);
    golden_path(path, sizeof path, rel);
    if (st_open(st, path) != SDL_OK) {
        CHECKF(0, "golden %s missing or unreadable (run from the repo root or set SDLORA_GOLDEN_DIR)", path);
        return 0;
    }
    return 1;
}

static const StTensor *need(const SafeTensors *st, const char *name) {
    const StTensor *t = st_find(st, name);
    if (!t) { fprintf(stderr, "golden tensor %s missing\n", name); abort(); }
    return t;
}

static void load_f32(const SafeTensors *st, const char *name, float *dst) {
    SDL_ASSERT(st_tensor_to_f32(st, need(st, name), dst) == SDL_OK);
}

static double load_f64_at(const SafeTensors *st, const char *name, int64_t i) {
    const StTensor *t = need(st, name);
    double v;
    SDL_ASSERT(t->dtype == ST_F64 && i < t->numel);
    memcpy(&v, (const char *)t->data + i * 8, 8);
    return v;
}

// The four golden parameters: bias (16,), weight (16, 12), conv (4, 3, 3, 3), up (8, 4, 1, 1).
typedef struct {
    OptimParam p[NP];
    float *param[NP], *grad[NP];
} Params;

static const int64_t SHAPES[NP][4] = {{16}, {16, 12}, {4, 3, 3, 3}, {8, 4, 1, 1}};
static const int NDIM[NP] = {1, 2, 4, 4};

static void params_init(Params *ps, const SafeTensors *in) {
    for (int i = 0; i < NP; i++) {
        OptimParam *p = &ps->p[i];
        memset(p, 0, sizeof *p);
        p->ndim = NDIM[i];
        p->n = 1;
        for (int d = 0; d < p->ndim; d++) { p->shape[d] = SHAPES[i][d]; p->n *= SHAPES[i][d]; }
        ps->param[i] = alloc_floats(p->n);
        ps->grad[i] = alloc_floats(p->n);
        p->param = ps->param[i];
        p->grad = ps->grad[i];
        char name[32];
        snprintf(name, sizeof name, "init.%d", i);
        load_f32(in, name, ps->param[i]);
    }
}

static void params_free(Params *ps) {
    for (int i = 0; i < NP; i++) { free(ps->param[i]); free(ps->grad[i]); }
}

static void load_grads(Params *ps, const SafeTensors *in, int step) {
    char name[32];
    for (int i = 0; i < NP; i++) {
        snprintf(name, sizeof name, "grad.%d.%d", step, i);
        load_f32(in, name, ps->grad[i]);
    }
}

// Splits the golden's ';'-separated args into argv.
static int split_args(const char *text, char buf[][96], const char **argv) {
    int n = 0;
    const char *p = text;
    while (*p && n < 16) {
        const char *e = strchr(p, ';');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        memcpy(buf[n], p, len);
        buf[n][len] = 0;
        argv[n] = buf[n];
        n++;
        if (!e) break;
        p = e + 1;
    }
    return n;
}

static Optimizer *make_opt(const char *kind_name, const char *args_text, Params *ps, double lr0, double lr1) {
    OptimKind kind;
    SDL_ASSERT(optim_kind_parse(kind_name, &kind) == SDL_OK);
    OptimConfig cfg;
    optim_config_default(&cfg, kind, 1.0);
    char buf[16][96];
    const char *argv[16];
    int n = split_args(args_text, buf, argv);
    if (optim_config_parse_args(&cfg, argv, n) != SDL_OK) { sdl_error_print(stderr); return NULL; }
    OptimGroup groups[2] = {{ps->p, 2, lr0, "group0"}, {ps->p + 2, 2, lr1, "group1"}};
    Optimizer *opt = NULL;
    if (optim_create(&opt, &cfg, groups, 2) != SDL_OK) { sdl_error_print(stderr); return NULL; }
    return opt;
}

// Runs one golden case; `override_kind`/`extra_args` let AdamW8bit replay the AdamW golden.
static void run_golden_case(const char *case_name, const char *override_kind, const char *extra_args, double rtol) {
    SafeTensors in, gd;
    if (!open_golden(&in, "inputs")) return;
    if (!open_golden(&gd, case_name)) { st_close(&in); return; }
    const char *kind = override_kind ? override_kind : st_metadata_get(&gd, "optimizer");
    char args[512];
    snprintf(args, sizeof args, "%s%s%s", st_metadata_get(&gd, "args"),
             extra_args && *st_metadata_get(&gd, "args") ? ";" : "", extra_args ? extra_args : "");
    Params ps;
    params_init(&ps, &in);
    Optimizer *opt = make_opt(kind, args, &ps, load_f64_at(&gd, "group_lr", 0), load_f64_at(&gd, "group_lr", 1));
    CHECKF(opt != NULL, "%s: optimizer creation failed", case_name);
    if (!opt) { params_free(&ps); st_close(&in); st_close(&gd); return; }
    const int has_proxy = st_find(&gd, "proxy_lr") != NULL;
    const int has_d = !strncmp(kind, "Prodigy", 7) || !strncmp(kind, "DAdapt", 6);
    double worst = 0;
    float *ref = alloc_floats(1024);
    for (int s = 0; s < STEPS; s++) {
        load_grads(&ps, &in, s);
        SDL_ASSERT(optim_step(opt, load_f64_at(&gd, "lr", s)) == SDL_OK);
        for (int i = 0; i < NP; i++) {
            char name[32];
            snprintf(name, sizeof name, "param.%d.%d", s, i);
            load_f32(&gd, name, ref);
            double err = max_abs_diff(ps.param[i], ref, ps.p[i].n), scale = max_abs(ref, ps.p[i].n);
            double ratio = err / (rtol * scale + 1e-30);
            if (ratio > worst) worst = ratio;
            CHECKF(err <= rtol * scale, "%s step %d param %d: max|diff| %.3g > %.1g * max|ref| %.3g", case_name, s + 1, i,
                   err, rtol, scale);
        }
        if (has_d) {
            double d = optim_d(opt), dref = load_f64_at(&gd, "d", s);
            CHECKF(fabs(d - dref) <= rtol * fabs(dref), "%s step %d: d %.9g vs torch %.9g", case_name, s + 1, d, dref);
            // the running numerator (Prodigy d_numerator, DAdaptAdam numerator_weighted)
            double num = NAN, nref = load_f64_at(&gd, "d_numerator", s);
            for (int j = 0; j < OPTIM_MAX_SCALARS && opt->scalar_names[j]; j++)
                if (!strcmp(opt->scalar_names[j], "d_numerator") || !strcmp(opt->scalar_names[j], "numerator_weighted"))
                    num = opt->scalars[j];
            CHECKF(fabs(num - nref) <= rtol * fabs(nref), "%s step %d: numerator %.9g vs torch %.9g", case_name, s + 1, num,
                   nref);
        }
        if (has_proxy) {
            for (int g = 0; g < 2; g++) {
                double lr = optim_group_lr(opt, g, 1e-3), lref = load_f64_at(&gd, "proxy_lr", s * 2 + g);
                CHECKF(fabs(lr - lref) <= 1e-6 * fabs(lref), "%s step %d group %d: proxy lr %.9g vs %.9g", case_name,
                       s + 1, g, lr, lref);
            }
        }
    }
    if (verbose()) fprintf(stderr, "  %-22s %-10s worst error %.3f of tolerance %.0e\n", case_name, kind, worst, rtol);
    free(ref);
    optim_free(opt);
    params_free(&ps);
    st_close(&in);
    st_close(&gd);
}

static void test_adamw(void) {
    run_golden_case("AdamW", NULL, NULL, 1e-6);
    run_golden_case("AdamW__args", NULL, NULL, 1e-6);
}
static void test_lion(void) { run_golden_case("Lion", NULL, NULL, 1e-6); }
static void test_sgd_nesterov(void) { run_golden_case("SGDNesterov", NULL, NULL, 1e-6); }
static void test_adafactor(void) {
    run_golden_case("Adafactor", NULL, NULL, 1e-5);
    run_golden_case("Adafactor__fixed", NULL, NULL, 1e-5);
    run_golden_case("Adafactor__scaled", NULL, NULL, 1e-5);
}
static void test_prodigy(void) {
    run_golden_case("Prodigy", NULL, NULL, 1e-5);
    run_golden_case("Prodigy__variant", NULL, NULL, 1e-5);
}
static void test_dadapt_adam(void) {
    run_golden_case("DAdaptAdam", NULL, NULL, 1e-5);
    run_golden_case("DAdaptAdam__variant", NULL, NULL, 1e-5);
}
// AdamW8bit keeps fp32 moments below min_8bit_size (bnb's rule): then it is AdamW in bnb's
// algebraically equal form, within the AdamW tolerance of torch.
static void test_adamw8bit_small_tensors_are_fp32(void) { run_golden_case("AdamW", "AdamW8bit", NULL, 1e-6); }

// ---- AdamW8bit quantiser ----

static void test_q8_maps(void) {
    for (int sgn = 0; sgn < 2; sgn++) {
        const float *m = q8_map(sgn);
        int has0 = 0, has1 = 0;
        for (int i = 0; i < 256; i++) {
            if (i) CHECKF(m[i] > m[i - 1], "map %d not strictly increasing at %d", sgn, i);
            has0 |= m[i] == 0.0f;
            has1 |= m[i] == 1.0f;
            CHECKF(q8_quantize(m, m[i]) == i, "map %d: code %d does not round-trip", sgn, i);
        }
        CHECK(has0 && has1);
        CHECK(sgn ? fabsf(m[0] + 0.99296875f) < 1e-6f : m[0] == 0.0f);
        // nearest code, brute force, and the error bound: half the top-decade gap
        const double bound = sgn ? 0.45 / 64 : 0.45 / 128;
        Rng r;
        rng_seed(&r, 7 + (uint64_t)sgn);
        double worst = 0;
        for (int t = 0; t < 20000; t++) {
            float x = rng_rand_float(&r) * (sgn ? 2.0f : 1.0f) - (sgn ? 1.0f : 0.0f);
            uint8_t q = q8_quantize(m, x);
            float best = INFINITY;
            for (int i = 0; i < 256; i++) if (fabsf(m[i] - x) < best) best = fabsf(m[i] - x);
            CHECKF(fabsf(m[q] - x) == best, "q8_quantize(%g) = %g, nearest is %g away", x, m[q], best);
            if (fabsf(m[q] - x) > worst) worst = fabsf(m[q] - x);
        }
        CHECKF(worst <= bound + 1e-7, "map %d: worst rounding error %g > %g", sgn, worst, bound);
    }
}

static void test_q8_blocks_roundtrip(void) {
    const int64_t n = 1000; // 3 full blocks and a partial one
    float *x = alloc_randn(n, 1.0f, 11), *y = alloc_floats(n);
    for (int64_t i = 0; i < n; i++) x[i] *= (float)pow(10.0, (double)(i / Q8_BLOCK) - 2); // a scale per block
    float *xs = alloc_floats(n);
    for (int64_t i = 0; i < n; i++) xs[i] = x[i] * x[i]; // unsigned data
    uint8_t codes[1000];
    float absmax[4];
    for (int sgn = 0; sgn < 2; sgn++) {
        const float *src = sgn ? x : xs;
        q8_quantize_blocks(codes, absmax, src, n, sgn);
        q8_dequantize_blocks(y, codes, absmax, n, sgn);
        for (int64_t b = 0; b < 4; b++) {
            int64_t o = b * Q8_BLOCK, len = n - o < Q8_BLOCK ? n - o : Q8_BLOCK;
            float amax = (float)max_abs(src + o, len);
            CHECK(absmax[b] == amax);
            // half the top-decade gap, plus two float roundings (x/absmax, code·absmax) ≤ 2⁻²⁴·absmax each
            double bound = (sgn ? 0.45 / 64 : 0.45 / 128) * amax + 2 * 0x1p-24 * amax;
            double err = max_abs_diff(y + o, src + o, len);
            CHECKF(err <= bound, "signed=%d block %lld: error %g > %g", sgn, (long long)b, err, bound);
            for (int64_t j = 0; j < len; j++)
                if (src[o + j] == amax) CHECK(y[o + j] == amax); // +absmax is exact (code 1.0)
        }
    }
    // all-zero block stays zero
    memset(xs, 0, (size_t)n * sizeof(float));
    q8_quantize_blocks(codes, absmax, xs, n, 1);
    q8_dequantize_blocks(y, codes, absmax, n, 1);
    CHECK(max_abs(y, n) == 0.0);
    free(x); free(y); free(xs);
}

// Half the distance from code `c` to its farther neighbour: the stored value x satisfied
// |x − map[c]| ≤ this (it was rounded to the nearest code), times the block absmax.
static double q8_half_gap(const float *map, int c) {
    double lo = c > 0 ? (double)map[c] - map[c - 1] : 0, hi = c < 255 ? (double)map[c + 1] - map[c] : 0;
    return 0.5 * (lo > hi ? lo : hi);
}

// AdamW8bit against our fp32 AdamW (itself checked against torch) on a 64×80 weight (20 blocks),
// 20 steps at lr 1e-3 with weight decay, gradients whose row scale spans two decades (so blocks
// mix large and small moments: the hard case for a per-block absmax).
// Bound, per element, derived as we go (interval arithmetic, no fitted constants):
//   Em, Ev bound |stored 8-bit moment − fp32 moment|. A step computes m8' = β1·m̃8 + (1−β1)·g,
//   so |m8' − m'| ≤ β1·Em (v: β2·Ev); storing rounds m8' to the nearest code, adding at most half
//   the gap around the chosen code × absmax:  Em ← β1·Em + halfgap(code)·absmax1 (v likewise).
//   The update m/(sqrt(v)+eps·c2) then differs by at most the largest corner deviation over
//   m ∈ [m' ± β1·Em], v ∈ [v' ± β2·Ev]; D ← D·(1 − lr·wd) + lr·c2/c1 · that + 8·2⁻²⁴·|p| (the two
//   paths' float roundings). Every element must satisfy |p8 − p32| ≤ D.
static void test_adamw8bit_vs_fp32(void) {
    const int64_t R = 64, C = 80, n = R * C;
    float *p0 = alloc_randn(n, 0.5f, 21), *a = alloc_floats(n), *b = alloc_floats(n), *g = alloc_floats(n);
    double *Em = calloc((size_t)n, sizeof(double)), *Ev = calloc((size_t)n, sizeof(double)), *D = calloc((size_t)n, sizeof(double));
    memcpy(a, p0, (size_t)n * 4);
    memcpy(b, p0, (size_t)n * 4);
    OptimParam pa = {a, g, n, 2, {R, C}}, pb = {b, g, n, 2, {R, C}};
    OptimConfig c32, c8;
    optim_config_default(&c32, OPTIM_ADAMW, 1e-3);
    optim_config_default(&c8, OPTIM_ADAMW8BIT, 1e-3);
    const double lr = 1e-3, b1 = c32.beta1, b2 = c32.beta2, eps = c32.eps, wd = c32.weight_decay;
    OptimGroup ga = {&pa, 1, lr, NULL}, gb = {&pb, 1, lr, NULL};
    Optimizer *o32 = NULL, *o8 = NULL;
    CHECK(optim_create(&o32, &c32, &ga, 1) == SDL_OK);
    CHECK(optim_create(&o8, &c8, &gb, 1) == SDL_OK);
    if (!o32 || !o8) return;
    CHECK(optim_state_bytes(o8) == (size_t)(2 * n + 2 * 4 * ((n + 255) / 256)));
    CHECK(optim_state_bytes(o32) == (size_t)(8 * n));
    const float *map1 = q8_map(1), *map2 = q8_map(0);
    const float *m32 = optim_buf(o32, 0, "exp_avg"), *v32 = optim_buf(o32, 0, "exp_avg_sq");
    const uint8_t *q1 = optim_buf(o8, 0, "state1"), *q2 = optim_buf(o8, 0, "state2");
    const float *a1 = optim_buf(o8, 0, "absmax1"), *a2 = optim_buf(o8, 0, "absmax2");
    int64_t violations = 0;
    double worst = 0;
    for (int s = 0; s < 20; s++) {
        fill_randn(g, n, 1.0f, 100 + (uint64_t)s);
        for (int64_t i = 0; i < n; i++) g[i] *= 0.01f * (float)pow(10.0, (double)((i / C) % 3) - 1.0);
        CHECK(optim_step(o32, 1.0) == SDL_OK);
        CHECK(optim_step(o8, 1.0) == SDL_OK);
        const double c1 = 1 - pow(b1, s + 1), c2 = sqrt(1 - pow(b2, s + 1)), e = eps * c2;
        for (int64_t i = 0; i < n; i++) {
            const double am = b1 * Em[i], av = b2 * Ev[i], m = m32[i], v = v32[i];
            const double u = m / (sqrt(v) + e);
            double du = 0;
            for (int cm = -1; cm <= 1; cm += 2)
                for (int cv = -1; cv <= 1; cv += 2) {
                    double vv = v + cv * av;
                    double d = fabs((m + cm * am) / (sqrt(vv > 0 ? vv : 0) + e) - u);
                    if (d > du) du = d;
                }
            // float slop: a few roundings of p and of the step (|step| ≤ lr·c2/c1·(|u| + du))
            D[i] = D[i] * (1 - lr * wd) + lr * c2 / c1 * du + 8 * 0x1p-24 * (fabs(a[i]) + lr * c2 / c1 * (fabs(u) + du));
            Em[i] = b1 * Em[i] + q8_half_gap(map1, q1[i]) * a1[i / Q8_BLOCK];
            Ev[i] = b2 * Ev[i] + q8_half_gap(map2, q2[i]) * a2[i / Q8_BLOCK];
            double diff = fabs((double)b[i] - a[i]);
            if (diff > D[i] && violations++ < 3)
                fprintf(stderr, "  step %d elem %lld: |p8-p32| %.3g > bound %.3g (p %.3g, u %.3g, du %.3g)\n", s + 1,
                        (long long)i, diff, D[i], (double)a[i], u, du);
            if (diff / D[i] > worst) worst = diff / D[i];
        }
    }
    double diff2 = 0, move2 = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)b[i] - a[i], m = (double)a[i] - p0[i];
        diff2 += d * d;
        move2 += m * m;
    }
    if (verbose())
        fprintf(stderr, "  AdamW8bit vs fp32: ‖Δ‖/‖movement‖ = %.4f; worst |Δ|/bound = %.3f\n", sqrt(diff2 / move2), worst);
    CHECKF(violations == 0, "AdamW8bit: %lld elements outside their error bound (worst %.3f of it)", (long long)violations, worst);
    optim_free(o32);
    optim_free(o8);
    free(p0); free(a); free(b); free(g); free(Em); free(Ev); free(D);
}

// ---- state save/load: continuing from a saved state is bit-identical ----

static void test_state_resume(void) {
    static const char *kinds[] = {"AdamW", "AdamW8bit", "Adafactor", "Lion", "SGDNesterov", "Prodigy", "DAdaptAdam"};
    static const char *args[] = {"amsgrad=True", "min_8bit_size=1000", "beta1=0.9", "weight_decay=0.1", "", "", "decouple=True;weight_decay=0.01"};
    // bias, weight, conv, and a 100×200 weight (several reduction chunks, 8-bit blocks)
    const int64_t shapes[4][4] = {{16}, {16, 12}, {4, 3, 3, 3}, {100, 200}};
    const int nd[4] = {1, 2, 4, 2};
    char path[256];
    snprintf(path, sizeof path, "/tmp/sdlora_test_optim_%d.safetensors", (int)getpid());
    for (int k = 0; k < 7; k++) {
        Params a, b;
        for (int i = 0; i < 4; i++) {
            OptimParam *p = &a.p[i];
            memset(p, 0, sizeof *p);
            p->ndim = nd[i];
            p->n = 1;
            for (int d = 0; d < nd[i]; d++) { p->shape[d] = shapes[i][d]; p->n *= shapes[i][d]; }
            a.param[i] = alloc_randn(p->n, 0.3f, 40 + (uint64_t)i);
            a.grad[i] = alloc_floats(p->n);
            p->param = a.param[i];
            p->grad = a.grad[i];
            b.p[i] = *p;
            b.param[i] = alloc_floats(p->n);
            b.grad[i] = alloc_floats(p->n);
            b.p[i].param = b.param[i];
            b.p[i].grad = b.grad[i];
        }
        // Prodigy/DAdaptAdam require one lr for all groups
        const double lr1 = k >= 5 ? 1e-2 : 5e-3;
        Optimizer *oa = make_opt(kinds[k], args[k], &a, 1e-2, lr1);
        CHECKF(oa != NULL, "%s: create", kinds[k]);
        if (!oa) continue;
        for (int s = 0; s < 8; s++) {
            if (s == 5) {
                CHECK(optim_save_state(oa, path) == SDL_OK);
                for (int i = 0; i < 4; i++) memcpy(b.param[i], a.param[i], (size_t)a.p[i].n * 4);
            }
            for (int i = 0; i < 4; i++) fill_randn(a.grad[i], a.p[i].n, 0.1f, 1000 + (uint64_t)(s * 4 + i));
            CHECK(optim_step(oa, 1.0 - 0.05 * s) == SDL_OK);
        }
        Optimizer *ob = make_opt(kinds[k], args[k], &b, 1e-2, lr1);
        CHECK(ob != NULL);
        if (!ob) continue;
        SdlStatus st = optim_load_state(ob, path);
        CHECKF(st == SDL_OK, "%s: load failed", kinds[k]);
        if (st != SDL_OK) sdl_error_print(stderr);
        CHECK(optim_step_count(ob) == 5);
        for (int s = 5; s < 8; s++) {
            for (int i = 0; i < 4; i++) fill_randn(b.grad[i], b.p[i].n, 0.1f, 1000 + (uint64_t)(s * 4 + i));
            CHECK(optim_step(ob, 1.0 - 0.05 * s) == SDL_OK);
        }
        for (int i = 0; i < 4; i++)
            CHECKF(!memcmp(a.param[i], b.param[i], (size_t)a.p[i].n * 4), "%s: resumed param %d differs", kinds[k], i);
        CHECK(optim_d(oa) == optim_d(ob));
        // a different optimizer refuses this state
        if (k == 0) {
            Optimizer *oc = make_opt("Lion", "", &b, 1e-2, 5e-3);
            CHECK(optim_load_state(oc, path) == SDL_ERR_ARG);
            optim_free(oc);
            // different shapes: the error names both
            Params c = b;
            c.p[3].shape[0] = 200; c.p[3].shape[1] = 100;
            Optimizer *od = make_opt("AdamW", "amsgrad=True", &c, 1e-2, 5e-3);
            CHECK(optim_load_state(od, path) == SDL_ERR_SHAPE);
            CHECK(strstr(sdl_last_error()->reason, "100, 200") && strstr(sdl_last_error()->reason, "200, 100"));
            optim_free(od);
        }
        optim_free(oa);
        optim_free(ob);
        for (int i = 0; i < 4; i++) { free(a.param[i]); free(a.grad[i]); free(b.param[i]); free(b.grad[i]); }
    }
    unlink(path);
}

// ---- --optimizer_args ----

static SdlStatus parse(OptimConfig *c, const char *kind, const char *a0, const char *a1, const char *a2) {
    OptimKind k;
    SDL_ASSERT(optim_kind_parse(kind, &k) == SDL_OK);
    optim_config_default(c, k, 1e-4);
    const char *argv[3] = {a0, a1, a2};
    int n = a2 ? 3 : a1 ? 2 : a0 ? 1 : 0;
    return optim_config_parse_args(c, argv, n);
}

static void test_optimizer_args(void) {
    OptimConfig c;
    OptimKind k;
    CHECK(optim_kind_parse("adamw8BIT", &k) == SDL_OK && k == OPTIM_ADAMW8BIT);
    CHECK(optim_kind_parse("", &k) == SDL_OK && k == OPTIM_ADAMW);
    CHECK(optim_kind_parse("dadaptadam", &k) == SDL_OK && k == OPTIM_DADAPT_ADAM);
    CHECK(optim_kind_parse("PagedAdamW8bit", &k) == SDL_ERR_ARG);

    CHECK(parse(&c, "AdamW", NULL, NULL, NULL) == SDL_OK);
    CHECK(c.beta1 == 0.9 && c.beta2 == 0.999 && c.eps == 1e-8 && c.weight_decay == 0.01 && !strcmp(c.args_text, ""));
    CHECK(parse(&c, "AdamW", "weight_decay=0.1", "betas=0.9,0.99", NULL) == SDL_OK);
    CHECK(c.weight_decay == 0.1 && c.beta1 == 0.9 && c.beta2 == 0.99);
    CHECKF(!strcmp(c.args_text, "weight_decay=0.1,betas=(0.9, 0.99)"), "%s", c.args_text);
    char desc[600];
    optim_config_describe(&c, desc, sizeof desc);
    CHECKF(!strcmp(desc, "torch.optim.adamw.AdamW(weight_decay=0.1,betas=(0.9, 0.99))"), "%s", desc);
    CHECK(parse(&c, "AdamW", "betas=(0.8, 0.95)", "eps=1e-6", "weight_decay = 1") == SDL_OK);
    CHECK(c.beta1 == 0.8 && c.beta2 == 0.95 && c.eps == 1e-6 && c.weight_decay == 1.0);
    CHECKF(!strcmp(c.args_text, "betas=(0.8, 0.95),eps=1e-06,weight_decay=1"), "%s", c.args_text);
    CHECK(parse(&c, "AdamW", "weight_decay=0.1", "weight_decay=0.2", NULL) == SDL_OK && c.weight_decay == 0.2);
    CHECKF(!strcmp(c.args_text, "weight_decay=0.2"), "%s", c.args_text);
    // kohya's fix-ups
    CHECK(parse(&c, "SGDNesterov", NULL, NULL, NULL) == SDL_OK && c.momentum == 0.9 && !strcmp(c.args_text, "momentum=0.9"));
    CHECK(parse(&c, "Adafactor", NULL, NULL, NULL) == SDL_OK && c.relative_step && !strcmp(c.args_text, "relative_step=True"));
    CHECK(optim_config_uses_relative_step(&c));
    CHECK(parse(&c, "Adafactor", "scale_parameter=False", "relative_step=False", "warmup_init=True") == SDL_OK);
    CHECK(c.relative_step && c.warmup_init && !c.scale_parameter); // warmup_init forces relative_step
    CHECK(parse(&c, "Adafactor", "eps=1e-30,1e-3", "beta1=None", "relative_step=False") == SDL_OK);
    CHECK(c.eps == 1e-30 && c.eps2 == 1e-3 && !c.has_adafactor_beta1 && !c.relative_step);
    CHECKF(!strcmp(c.args_text, "eps=(1e-30, 0.001),beta1=None,relative_step=False"), "%s", c.args_text);
    CHECK(parse(&c, "Prodigy", "d_coef=2", "beta3=None", "growth_rate=1e999") == SDL_OK);
    CHECK(c.d_coef == 2 && !c.has_beta3 && isinf(c.growth_rate) && c.decouple && c.d0 == 1e-6);
    CHECK(parse(&c, "Prodigy", "decouple=False", "use_bias_correction=True", "safeguard_warmup=True") == SDL_OK);
    CHECK(!c.decouple && c.use_bias_correction && c.safeguard_warmup);
    CHECK(parse(&c, "DAdaptAdam", "decouple=True", "log_every=10", NULL) == SDL_OK && c.decouple);
    CHECK(parse(&c, "Lion", "betas=0.95,0.98", NULL, NULL) == SDL_OK && c.beta1 == 0.95 && c.beta2 == 0.98 && c.weight_decay == 0);
    CHECK(parse(&c, "AdamW8bit", "min_8bit_size=16384", "percentile_clipping=100", "block_wise=True") == SDL_OK);
    CHECK(c.min_8bit_size == 16384);

    // errors name the key and the optimizer
    CHECK(parse(&c, "AdamW", "foo=1", NULL, NULL) == SDL_ERR_ARG);
    CHECK(strstr(sdl_last_error()->reason, "foo") && strstr(sdl_last_error()->reason, "AdamW"));
    CHECK(strstr(sdl_last_error()->hint, "betas"));
    CHECK(parse(&c, "AdamW", "relative_step=False", NULL, NULL) == SDL_ERR_ARG); // Adafactor's key
    CHECK(strstr(sdl_last_error()->reason, "relative_step"));
    CHECK(parse(&c, "Lion", "eps=1e-8", NULL, NULL) == SDL_ERR_ARG);
    CHECK(parse(&c, "AdamW", "betas=0.9", NULL, NULL) == SDL_ERR_ARG);
    CHECK(strstr(sdl_last_error()->reason, "betas") && strstr(sdl_last_error()->reason, "two numbers"));
    CHECK(parse(&c, "AdamW", "weight_decay=abc", NULL, NULL) == SDL_ERR_ARG);
    CHECK(parse(&c, "AdamW", "weight_decay=inf", NULL, NULL) == SDL_ERR_ARG); // literal_eval rejects names
    CHECK(parse(&c, "AdamW", "weight_decay", NULL, NULL) == SDL_ERR_ARG);
    CHECK(parse(&c, "AdamW", "a=b=c", NULL, NULL) == SDL_ERR_ARG);
    CHECK(parse(&c, "AdamW", "lr=1e-3", NULL, NULL) == SDL_ERR_ARG);
    CHECK(parse(&c, "AdamW", "betas=1.0,0.999", NULL, NULL) == SDL_ERR_ARG);
    CHECK(parse(&c, "AdamW", "amsgrad=None", NULL, NULL) == SDL_ERR_ARG);
    CHECK(parse(&c, "SGDNesterov", "nesterov=True", NULL, NULL) == SDL_ERR_ARG);
    CHECK(parse(&c, "SGDNesterov", "momentum=0", NULL, NULL) == SDL_ERR_ARG);
    CHECK(parse(&c, "Prodigy", "slice_p=1.5", NULL, NULL) == SDL_ERR_ARG);
    CHECK(parse(&c, "Prodigy", "fsdp_in_use=True", NULL, NULL) == SDL_ERR_ARG);
    CHECK(parse(&c, "AdamW8bit", "percentile_clipping=95", NULL, NULL) == SDL_ERR_ARG);

    // Prodigy/DAdaptAdam: groups must share an lr (or have 0), as the references require
    float x[4] = {0}, g[4] = {0};
    OptimParam p = {x, g, 4, 1, {4}};
    OptimGroup groups[2] = {{&p, 1, 1.0, "te"}, {&p, 1, 0.5, "unet"}};
    Optimizer *o = NULL;
    CHECK(parse(&c, "Prodigy", NULL, NULL, NULL) == SDL_OK);
    CHECK(optim_create(&o, &c, groups, 2) == SDL_ERR_ARG && o == NULL);
    groups[1].lr = 0.0;
    CHECK(optim_create(&o, &c, groups, 2) == SDL_OK);
    optim_free(o);
    // a shape that does not match n
    OptimParam bad = {x, g, 4, 2, {3, 2}};
    OptimGroup gbad = {&bad, 1, 1.0, NULL};
    CHECK(parse(&c, "AdamW", NULL, NULL, NULL) == SDL_OK);
    CHECK(optim_create(&o, &c, &gbad, 1) == SDL_ERR_SHAPE);
}

// ---- clip_grad_norm vs torch.nn.utils.clip_grad_norm_ ----

static void test_clip_grad_norm(void) {
    SafeTensors in;
    if (!open_golden(&in, "inputs")) return;
    Params ps;
    params_init(&ps, &in);
    OptimConfig c;
    optim_config_default(&c, OPTIM_ADAMW, 1e-4);
    OptimGroup grp = {ps.p, NP, 1.0, NULL};
    Optimizer *o = NULL;
    CHECK(optim_create(&o, &c, &grp, 1) == SDL_OK);
    float ref[256];
    char name[48];
    for (int big = 0; big < 2; big++) {
        const char *cs = big ? "big" : "small";
        for (int i = 0; i < NP; i++) { snprintf(name, sizeof name, "clip.%s.in.%d", cs, i); load_f32(&in, name, ps.grad[i]); }
        double norm = optim_clip_grad_norm(o, 1.0);
        snprintf(name, sizeof name, "clip.%s.norm", cs);
        load_f32(&in, name, ref);
        CHECKF(fabs(norm - ref[0]) <= 1e-6 * ref[0], "%s: norm %.9g vs torch %.9g", cs, norm, ref[0]);
        for (int i = 0; i < NP; i++) {
            snprintf(name, sizeof name, "clip.%s.out.%d", cs, i);
            load_f32(&in, name, ref);
            check_close(name, ps.grad[i], ref, ps.p[i].n, 0, big ? 1e-6 : 0); // unclipped: untouched
        }
    }
    optim_zero_grad(o);
    for (int i = 0; i < NP; i++) CHECK(max_abs(ps.grad[i], ps.p[i].n) == 0.0);
    CHECK(optim_clip_grad_norm(o, 1.0) == 0.0); // zero grads: norm 0, nothing scaled, no NaN
    optim_free(o);
    params_free(&ps);
    st_close(&in);
}

// ---- LR schedules ----

static void test_schedules(void) {
    SafeTensors gd;
    if (!open_golden(&gd, "schedules")) return;
    char cases[1024];
    snprintf(cases, sizeof cases, "%s", st_metadata_get(&gd, "cases"));
    int n_cases = 0;
    char *save = NULL;
    for (char *cs = strtok_r(cases, ",", &save); cs; cs = strtok_r(NULL, ",", &save), n_cases++) {
        char key[128];
#define META(k) (snprintf(key, sizeof key, "%s.%s", cs, k), st_metadata_get(&gd, key))
        LrWarmup w;
        CHECK(lr_warmup_parse(META("warmup"), &w) == SDL_OK);
        double lr = strtod(META("lr"), NULL);
        LrSchedule s;
        SdlStatus st = lr_schedule_init(&s, META("scheduler"), w, strtoll(META("max_train_steps"), NULL, 10),
                                        strtoll(META("num_processes"), NULL, 10), strtod(META("num_cycles"), NULL),
                                        strtod(META("power"), NULL), lr);
        CHECKF(st == SDL_OK, "%s: init failed", cs);
        const StTensor *t = need(&gd, cs);
        for (int64_t k = 0; k < t->numel; k++) {
            double ref = load_f64_at(&gd, cs, k), got = lr * lr_schedule_at_step(&s, k);
            CHECKF(fabs(got - ref) <= 1e-12 * lr, "%s step %lld: lr %.17g vs transformers %.17g", cs, (long long)k, got, ref);
        }
#undef META
    }
    CHECK(n_cases == 12);
    st_close(&gd);

    LrWarmup w;
    CHECK(lr_warmup_parse("10", &w) == SDL_OK && !w.is_ratio && w.value == 10);
    CHECK(lr_warmup_parse("0.25", &w) == SDL_OK && w.is_ratio && w.value == 0.25);
    CHECK(lr_warmup_parse("5%", &w) == SDL_OK && w.is_ratio && w.value == 0.05);
    CHECK(lr_warmup_parse("1.5", &w) == SDL_ERR_ARG);
    CHECK(lr_warmup_parse("abc", &w) == SDL_ERR_ARG);
    CHECK(lr_warmup_parse("-1", &w) == SDL_ERR_ARG);
    LrSchedule s;
    LrWarmup w5 = {0, 5}, w0 = {0, 0};
    CHECK(lr_schedule_init(&s, "constant", w5, 100, 1, 1, 1, 1e-4) == SDL_ERR_ARG);
    CHECK(strstr(sdl_last_error()->reason, "does not require"));
    CHECK(lr_schedule_init(&s, "cosine_annealing", w0, 100, 1, 1, 1, 1e-4) == SDL_ERR_ARG);
    CHECK(lr_schedule_init(&s, "polynomial", w0, 100, 1, 1, 1, 1e-8) == SDL_ERR_ARG);
    CHECK(lr_schedule_init(&s, "adafactor:0.001", w0, 100, 1, 1, 1, 1e-4) == SDL_OK && s.kind == LRS_ADAFACTOR &&
          s.adafactor_initial_lr == 0.001 && lr_schedule_at_step(&s, 7) == 1.0);
    CHECK(lr_schedule_init(&s, "adafactor", w5, 100, 1, 1, 1, 1e-4) == SDL_ERR_ARG);
}

int main(void) {
    RUN(test_adamw);
    RUN(test_lion);
    RUN(test_sgd_nesterov);
    RUN(test_adafactor);
    RUN(test_prodigy);
    RUN(test_dadapt_adam);
    RUN(test_adamw8bit_small_tensors_are_fp32);
    RUN(test_q8_maps);
    RUN(test_q8_blocks_roundtrip);
    RUN(test_adamw8bit_vs_fp32);
    RUN(test_state_resume);
    RUN(test_optimizer_args);
    RUN(test_clip_grad_norm);
    RUN(test_schedules);
    return test_finish();
}
