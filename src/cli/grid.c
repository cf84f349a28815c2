// grid.c — `sdlora grid`: an X/Y comparison grid, as users compare epochs and weights with
// A1111's X/Y/Z plot: one image per (x, y) value pair, everything else fixed, composed into
// one labelled PNG.
//
//   sdlora grid --model M [--vae V] --prompt P [--negative_prompt N] [--lora FILE[:W] …]
//               --x_type T --x_values V [--y_type T --y_values V]
//               [--width --height --steps --cfg_scale --seed --sampler --clip_skip
//                --v_parameterization --vae_tiling --wildcard_dir --title --font_scale] --out FILE.png
//
// Axis types and their values (comma-separated; "double quotes" keep a comma inside a value):
//   lora         LoRA files, FILE or FILE:WEIGHT (e.g. the epochs of one run); "none" = no LoRA
//   lora_weight  weights of the axis LoRA, or of every --lora LoRA when no axis is lora
//   seed         seeds; -1 = a random one
//   cfg, steps   numbers; ranges as A1111 writes them: 1-5, 1-9 (+2), 4-8 [3], 0.5-1 (+0.25)
//   sampler      kohya or A1111 names (euler_a, "DPM++ 2M Karras")
//   prompt_sr    A1111's Prompt S/R: the first value is searched for in the prompt and negative
//                prompt; each value (the first included) replaces it
// --lora files apply to every cell. The seed is fixed over the grid (--seed -1 draws one).
// Dynamic prompt syntax is expanded per cell with the cell's seed (linked), so cells that share
// a seed share the prompt. LoRAs are merged into the loaded weights and restored exactly
// between cells (lora/lora_apply.h); cells are generated with the LoRA axis outermost, so each
// LoRA is merged once. The PNG is written atomically with a "parameters" chunk: the first
// cell's A1111 infotext plus "Script: X/Y/Z plot, X Type: …, X Values: …" as A1111 adds.
#include "cli/cli.h"
#include "cli/options.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "io/image.h"
#include "io/json.h"
#include "lora/lora_apply.h"
#include "models/sd_model.h"
#include "sample/dynamic_prompts.h"
#include "sample/grid_image.h"
#include "sample/pipeline.h"
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_FIXED_LORAS 64
#define MAX_AXIS_VALUES 256
#define MAX_CELLS 1024

typedef enum { AX_NONE, AX_LORA, AX_LORA_WEIGHT, AX_SEED, AX_CFG, AX_STEPS, AX_SAMPLER, AX_PROMPT_SR } AxisType;

static const struct { const char *name, *a1111; AxisType type; } axis_names[] = {
    {"lora", "LoRA", AX_LORA},          {"lora_weight", "LoRA weight", AX_LORA_WEIGHT},
    {"seed", "Seed", AX_SEED},          {"cfg", "CFG Scale", AX_CFG},
    {"steps", "Steps", AX_STEPS},       {"sampler", "Sampler", AX_SAMPLER},
    {"prompt_sr", "Prompt S/R", AX_PROMPT_SR},
};
#define N_AXIS_NAMES (sizeof axis_names / sizeof axis_names[0])
#define AXIS_CHOICES "lora, lora_weight, seed, cfg, steps, sampler, prompt_sr"

typedef struct {
    AxisType type;
    const char *option;   // "x" or "y", for messages
    const char *spec;     // the values as given
    int n;
    char *text[MAX_AXIS_VALUES];   // each value, trimmed (ranges expanded)
    char *label[MAX_AXIS_VALUES];
    double num[MAX_AXIS_VALUES];   // lora_weight, cfg, steps; lora: its weight
    uint64_t seed[MAX_AXIS_VALUES];
    char *path[MAX_AXIS_VALUES];   // lora: the file, NULL for "none"
    SamplerConfig sampler[MAX_AXIS_VALUES];
} Axis;

typedef struct {
    char *path;
    float w;
} FixedLora;

static int usage_error(const char *opt, const char *hint, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int usage_error(const char *opt, const char *hint, const char *fmt, ...) {
    fprintf(stderr, "error: grid: --%s: ", opt);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n  hint: %s\n", hint);
    return 1;
}

static char *xstrndup(const char *s, size_t n) {
    char *d = strndup(s, n);
    SDL_ASSERT(d);
    return d;
}

// A1111 reads axis values with Python's csv module and strips them: commas separate, "…"
// quotes ("" inside is one "), empty values are dropped. Returns the count, -1 on a bad quote.
static int split_values(const char *s, char **out, int max) {
    int n = 0;
    size_t len = strlen(s);
    char *buf = malloc(len + 1);
    SDL_ASSERT(buf);
    for (size_t i = 0; i <= len;) {
        size_t k = 0;
        while (i < len && s[i] == ' ') i++;
        if (i < len && s[i] == '"') {
            for (i++;; i++) {
                if (i >= len) { free(buf); return -1; }
                if (s[i] == '"') {
                    if (s[i + 1] == '"') { buf[k++] = '"'; i++; continue; }
                    i++;
                    break;
                }
                buf[k++] = s[i];
            }
        }
        while (i < len && s[i] != ',') buf[k++] = s[i++];
        i++; // past the comma (or the end)
        while (k > 0 && isspace((unsigned char)buf[k - 1])) k--;
        size_t a = 0;
        while (a < k && isspace((unsigned char)buf[a])) a++;
        if (k > a) {
            if (n == max) { free(buf); return max + 1; }
            out[n++] = xstrndup(buf + a, k - a);
        }
    }
    free(buf);
    return n;
}

// A number with an optional sign; *end past it (and past spaces). false when none there.
static bool read_number(const char *s, const char **end, double *v) {
    char *e;
    errno = 0;
    *v = strtod(s, &e);
    if (e == s || errno || !isfinite(*v)) return false;
    while (*e == ' ') e++;
    *end = e;
    return true;
}

// A1111's ranges: "A-B", "A-B (+S)", "A-B (-S)", "A-B [N]" (N values evenly spaced; integer
// axes truncate them). Returns the number of values written, 0 when `s` is not a range.
static int expand_range(const char *s, bool integer, double *vals, int max) {
    const char *p = s, *q;
    double a, b, step = 1;
    long count = 0;
    while (*p == ' ') p++;
    if (!read_number(p, &q, &a) || *q != '-') return 0;
    // "-1" alone is a number, not a range: a range needs a number before its '-'
    p = q + 1;
    while (*p == ' ') p++;
    if (!read_number(p, &q, &b)) return 0;
    if (*q == '(') {
        if (!read_number(q + 1, &q, &step) || *q != ')' || step == 0) return -1;
        q++;
    } else if (*q == '[') {
        char *e;
        count = strtol(q + 1, &e, 10);
        if (e == q + 1 || *e != ']' || count < 1) return -1;
        q = e + 1;
    }
    while (*q == ' ') q++;
    if (*q) return 0;
    int n = 0;
    if (count > 0) {
        for (long i = 0; i < count; i++) {
            if (n == max) return max + 1;
            double v = count == 1 ? a : a + (b - a) * (double)i / (double)(count - 1);
            vals[n++] = integer ? trunc(v) : v;
        }
        return n;
    }
    if ((b - a) / step < 0) return -1;
    long k = (long)floor((b - a) / step + 1e-9) + 1;
    for (long i = 0; i < k; i++) {
        if (n == max) return max + 1;
        vals[n++] = a + step * (double)i;
    }
    return n;
}

static uint64_t random_seed(void) {
    uint32_t r = (uint32_t)(time_now() * 1e6);
    FILE *f = fopen("/dev/urandom", "rb");
    if (f) {
        if (fread(&r, sizeof r, 1, f) != 1) r = (uint32_t)(time_now() * 1e6);
        fclose(f);
    }
    return r;
}

// Seed text: a whole number 0..2^64−1, or -1 for a random one.
static bool parse_seed(const char *s, uint64_t *out) {
    while (*s == ' ') s++;
    if (strcmp(s, "-1") == 0) { *out = random_seed(); return true; }
    if (!isdigit((unsigned char)*s)) return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end) return false;
    *out = v;
    return true;
}

// "FILE" or "FILE:WEIGHT" (weight after the last ':' when it is a number).
static char *split_lora_weight(const char *arg, float *w) {
    const char *c = strrchr(arg, ':');
    *w = 1.0f;
    if (c) {
        char *end;
        double v = strtod(c + 1, &end);
        if (end != c + 1 && !*end && isfinite(v)) {
            *w = (float)v;
            return xstrndup(arg, (size_t)(c - arg));
        }
    }
    return xstrndup(arg, strlen(arg));
}

static bool is_file(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

// The file name without folder and extension, for labels.
static char *file_stem(const char *path) {
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    const char *dot = strrchr(b, '.');
    return xstrndup(b, dot && dot > b ? (size_t)(dot - b) : strlen(b));
}

static char *fmt_label(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *fmt_label(const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return xstrndup(buf, strlen(buf));
}

static const char *num_text(char *buf, size_t cap, double v) {
    return gen_format_float(buf, cap, (float)(round(v * 1e6) / 1e6));
}

static void axis_free(Axis *ax) {
    for (int i = 0; i < ax->n; i++) free(ax->text[i]), free(ax->label[i]), free(ax->path[i]);
    ax->n = 0;
}

// Parses --<x|y>_type / _values. Returns 0 or prints the error and returns 1.
static int axis_parse(Axis *ax, const char *option, const char *type, const char *values, bool v_param) {
    memset(ax, 0, sizeof *ax);
    ax->option = option;
    ax->spec = values;
    char opt_t[16], opt_v[16];
    snprintf(opt_t, sizeof opt_t, "%s_type", option);
    snprintf(opt_v, sizeof opt_v, "%s_values", option);
    for (size_t i = 0; i < N_AXIS_NAMES; i++)
        if (strcasecmp(type, axis_names[i].name) == 0) ax->type = axis_names[i].type;
    if (ax->type == AX_NONE) return usage_error(opt_t, "use one of " AXIS_CHOICES, "unknown axis type '%s'", type);
    char *raw[MAX_AXIS_VALUES];
    int n = split_values(values, raw, MAX_AXIS_VALUES);
    if (n < 0) return usage_error(opt_v, "close the \"quote\"; values are comma-separated", "unclosed quote in '%s'", values);
    if (n == 0) return usage_error(opt_v, "give comma-separated values, e.g. --x_values 1,2,3", "no values in '%s'", values);
    if (n > MAX_AXIS_VALUES) return usage_error(opt_v, "use fewer values", "more than %d values", MAX_AXIS_VALUES);
    int status = 0;
    char nb[40];
    for (int i = 0; i < n && !status; i++) {
        const char *v = raw[i];
        bool integer = ax->type == AX_SEED || ax->type == AX_STEPS;
        if (ax->type == AX_SEED || ax->type == AX_STEPS || ax->type == AX_CFG || ax->type == AX_LORA_WEIGHT) {
            double vals[MAX_AXIS_VALUES];
            int k = expand_range(v, integer, vals, MAX_AXIS_VALUES);
            if (k < 0) { status = usage_error(opt_v, "write ranges as 1-5, 1-9 (+2), 10-1 (-3) or 4-8 [3]", "bad range '%s'", v); break; }
            uint64_t one_seed = 0;
            bool single_seed = false;
            if (k == 0) { // a single value
                const char *end;
                if (ax->type == AX_SEED) {
                    if (!parse_seed(v, &one_seed)) {
                        status = usage_error(opt_v, "seeds are whole numbers from 0 to 18446744073709551615, or -1 for random",
                                             "not a seed: '%s'", v);
                        break;
                    }
                    single_seed = true;
                } else if (!read_number(v, &end, &vals[0]) || *end) {
                    status = usage_error(opt_v, "give numbers, e.g. 1,2,3 or a range 1-3", "not a number: '%s'", v);
                    break;
                }
                k = 1;
            } else if (ax->type == AX_SEED && (vals[0] < 0 || vals[k - 1] < 0)) {
                status = usage_error(opt_v, "seeds in a range must be >= 0", "bad seed range '%s'", v);
                break;
            }
            for (int j = 0; j < k; j++) {
                if (ax->n == MAX_AXIS_VALUES) { status = usage_error(opt_v, "use fewer values", "more than %d values", MAX_AXIS_VALUES); break; }
                int m = ax->n;
                double x = vals[j];
                if (ax->type == AX_SEED) {
                    ax->seed[m] = single_seed ? one_seed : (uint64_t)x;
                    ax->label[m] = fmt_label("Seed: %llu", (unsigned long long)ax->seed[m]);
                    ax->text[m] = fmt_label("%llu", (unsigned long long)ax->seed[m]);
                } else if (ax->type == AX_STEPS) {
                    if (x < 1 || x > 1000 || x != floor(x)) { status = usage_error(opt_v, "steps are whole numbers from 1 to 1000", "bad steps '%s'", v); break; }
                    ax->num[m] = x;
                    ax->label[m] = fmt_label("Steps: %d", (int)x);
                    ax->text[m] = fmt_label("%d", (int)x);
                } else if (ax->type == AX_CFG) {
                    if (x < 0 || x > 100) { status = usage_error(opt_v, "CFG scales are from 0 to 100", "bad CFG scale '%s'", v); break; }
                    ax->num[m] = x;
                    ax->label[m] = fmt_label("CFG: %s", num_text(nb, sizeof nb, x));
                    ax->text[m] = fmt_label("%s", num_text(nb, sizeof nb, x));
                } else {
                    ax->num[m] = x;
                    ax->label[m] = fmt_label("weight %s", num_text(nb, sizeof nb, x));
                    ax->text[m] = fmt_label("%s", num_text(nb, sizeof nb, x));
                }
                ax->n++;
            }
        } else {
            int m = ax->n++;
            ax->text[m] = xstrndup(v, strlen(v));
            if (ax->type == AX_SAMPLER) {
                if (gen_sampler_config(v, v_param, &ax->sampler[m]) != SDL_OK) {
                    status = usage_error(opt_v, sdl_last_error()->hint[0] ? sdl_last_error()->hint : "see `sdlora generate --help`",
                                         "%s", sdl_last_error()->reason);
                    break;
                }
                ax->label[m] = fmt_label("%s%s", gen_sampler_a1111_name(&ax->sampler[m]),
                                         ax->sampler[m].use_karras_sigmas ? " Karras" : "");
            } else if (ax->type == AX_LORA) {
                if (strcasecmp(v, "none") == 0) {
                    ax->num[m] = 0;
                    ax->label[m] = fmt_label("no LoRA");
                    continue;
                }
                float w;
                ax->path[m] = split_lora_weight(v, &w);
                ax->num[m] = w;
                if (!is_file(ax->path[m])) {
                    status = usage_error(opt_v, "give LoRA .safetensors files separated by commas (FILE or FILE:WEIGHT), or none",
                                         "no such LoRA file: '%s'", ax->path[m]);
                    break;
                }
                char *stem = file_stem(ax->path[m]);
                ax->label[m] = w == 1.0f ? fmt_label("%s", stem) : fmt_label("%s: %s", stem, num_text(nb, sizeof nb, w));
                free(stem);
            } else { // prompt S/R: the label is the replacement
                ax->label[m] = xstrndup(v, strlen(v));
            }
        }
    }
    for (int i = 0; i < n; i++) free(raw[i]);
    if (status) axis_free(ax);
    return status;
}

// Replaces every `find` in s by `repl` (malloc'ed).
static char *replace_all(const char *s, const char *find, const char *repl) {
    size_t fl = strlen(find), rl = strlen(repl), n = 0;
    if (fl == 0) return xstrndup(s, strlen(s));
    for (const char *p = s; (p = strstr(p, find)); p += fl) n++;
    size_t len = strlen(s) + n * rl + 1;
    char *out = malloc(len), *o = out;
    SDL_ASSERT(out);
    for (const char *p = s, *hit; ; p = hit + fl) {
        hit = strstr(p, find);
        size_t k = hit ? (size_t)(hit - p) : strlen(p);
        memcpy(o, p, k);
        o += k;
        if (!hit) break;
        memcpy(o, repl, rl);
        o += rl;
    }
    *o = 0;
    return out;
}

// ", Key: value" with A1111's quoting (a value holding ',', ':', '"' or a newline is a JSON string).
static void info_append(JsonBuf *b, const char *key, const char *value) {
    json_buf_puts(b, ", ");
    json_buf_puts(b, key);
    json_buf_puts(b, ": ");
    if (strpbrk(value, ",:\"\n")) json_buf_string(b, value);
    else json_buf_puts(b, value);
}

static const char *axis_a1111_name(AxisType t) {
    for (size_t i = 0; i < N_AXIS_NAMES; i++)
        if (axis_names[i].type == t) return axis_names[i].a1111;
    return "";
}

// What one cell uses.
typedef struct {
    uint64_t seed;
    double cfg;
    int64_t steps;
    SamplerConfig sampler;
    int lora;          // index into the lora axis, -1 when that axis is absent
    double weight;     // lora_weight axis value, NAN when absent
    const char *sr;    // prompt S/R replacement or NULL
} CellCfg;

static void cell_apply(CellCfg *c, const Axis *ax, int i) {
    switch (ax->type) {
    case AX_LORA: c->lora = i; break;
    case AX_LORA_WEIGHT: c->weight = ax->num[i]; break;
    case AX_SEED: c->seed = ax->seed[i]; break;
    case AX_CFG: c->cfg = ax->num[i]; break;
    case AX_STEPS: c->steps = (int64_t)ax->num[i]; break;
    case AX_SAMPLER: c->sampler = ax->sampler[i]; break;
    case AX_PROMPT_SR: c->sr = ax->text[i]; break;
    case AX_NONE: break;
    }
}

static bool same_lora_state(const CellCfg *a, const CellCfg *b) {
    return a->lora == b->lora && ((isnan(a->weight) && isnan(b->weight)) || a->weight == b->weight);
}

// Restores the base weights and merges what `c` asks for.
static SdlStatus apply_loras(LoraMerge *m, SdModel *sd, const FixedLora *fixed, int n_fixed, const Axis *lx, const CellCfg *c) {
    lora_merge_restore(m);
    bool weight_for_fixed = c->lora < 0 && !isnan(c->weight);
    for (int i = 0; i < n_fixed; i++) {
        float w = weight_for_fixed ? (float)c->weight : fixed[i].w;
        SDL_TRY(lora_apply_file(m, &sd->unet, &sd->te, fixed[i].path, w, w, NULL));
    }
    if (c->lora >= 0 && lx->path[c->lora]) {
        float w = isnan(c->weight) ? (float)lx->num[c->lora] : (float)c->weight;
        SDL_TRY(lora_apply_file(m, &sd->unet, &sd->te, lx->path[c->lora], w, w, NULL));
    }
    return SDL_OK;
}

// Everything the generation needs once the options are checked.
typedef struct {
    const char *model, *vae, *prompt, *negative, *out, *title, *sampler_name;
    Axis *ax;                 // ax[0] = x, ax[1] = y (type AX_NONE when absent)
    int n_axes, nx, ny;
    const FixedLora *fixed;
    int n_fixed;
    DynPrompts *dp;           // NULL when the prompts have no dynamic syntax
    uint64_t seed;
    double cfg;
    int64_t steps, width, height;
    int clip_skip, font_scale;
    bool v_param, tiling;
    SamplerConfig sampler;
} GridJob;

static bool lora_axis(AxisType t) { return t == AX_LORA || t == AX_LORA_WEIGHT; }

static CellCfg cell_cfg(const GridJob *j, int col, int row) {
    CellCfg c = {.seed = j->seed, .cfg = j->cfg, .steps = j->steps, .sampler = j->sampler, .lora = -1, .weight = NAN};
    cell_apply(&c, &j->ax[0], col);
    if (j->n_axes == 2) cell_apply(&c, &j->ax[1], row);
    return c;
}

// The prompt (or negative prompt) of a cell: Prompt S/R, then dynamic prompts with its seed.
static SdlStatus cell_text(const GridJob *j, const CellCfg *c, const char *text, const char *what, char **out) {
    *out = NULL;
    const Axis *sr = j->ax[0].type == AX_PROMPT_SR ? &j->ax[0] : j->n_axes == 2 && j->ax[1].type == AX_PROMPT_SR ? &j->ax[1] : NULL;
    char *t = sr ? replace_all(text, sr->text[0], c->sr) : xstrndup(text, strlen(text));
    if (!j->dp) { *out = t; return SDL_OK; }
    SdlStatus s = dynprompt_expand(j->dp, t, c->seed, what, out);
    free(t);
    return s;
}

// The grid PNG's "parameters": the first cell's infotext (what A1111 stores for a grid) plus
// the plot's axes as A1111's X/Y/Z plot script adds them.
static char *grid_infotext(const GridJob *j, const char *prompt0, const char *neg0) {
    CellCfg c0 = cell_cfg(j, 0, 0);
    char *model_name = file_stem(j->model);
    GenInfo info = {prompt0, neg0, c0.steps, gen_sampler_a1111_name(&c0.sampler), c0.sampler.use_karras_sigmas ? "Karras" : NULL,
                    c0.cfg, c0.seed, j->width, j->height, NULL, model_name, NULL, NULL, j->clip_skip, NULL,
                    "sdlora " SDLORA_VERSION};
    char *base = gen_infotext(&info);
    JsonBuf b;
    json_buf_init(&b);
    json_buf_puts(&b, base ? base : "");
    info_append(&b, "Script", "X/Y/Z plot");
    for (int a = 0; a < j->n_axes; a++) {
        char key[16];
        snprintf(key, sizeof key, "%c Type", a ? 'Y' : 'X');
        info_append(&b, key, axis_a1111_name(j->ax[a].type));
        snprintf(key, sizeof key, "%c Values", a ? 'Y' : 'X');
        info_append(&b, key, j->ax[a].spec);
    }
    free(base), free(model_name);
    if (b.oom) { json_buf_free(&b); return NULL; }
    return b.data;
}

static SdlStatus run_grid(const GridJob *j) {
    SdModel sd;
    SDL_TRY(sd_model_load(&sd, j->model, j->vae, SD_LOAD_ALL));
    GridJob job = *j;
    Axis *ax = job.ax;
    if (sd.v_prediction && !job.v_param) { // the model predicts v: configure every sampler for it
        gen_sampler_config(job.sampler_name, 1, &job.sampler);
        for (int a = 0; a < job.n_axes; a++)
            for (int i = 0; ax[a].type == AX_SAMPLER && i < ax[a].n; i++) gen_sampler_config(ax[a].text[i], 1, &ax[a].sampler[i]);
    }
    const int nx = job.nx, ny = job.ny;
    LoraMerge merge = {0};
    GenModels gm = {&sd.unet, &sd.te, sd.tokenizer, &sd.vae};
    Image *cells = calloc((size_t)(nx * ny), sizeof *cells);
    float *pixels = mem_alloc(MEM_OTHER, (size_t)(3 * job.width * job.height) * sizeof(float));
    char *prompt0 = NULL, *neg0 = NULL;
    SDL_ASSERT(cells);
    // The LoRA axis outermost, so each LoRA state is merged once.
    bool y_outer = job.n_axes == 2 && (lora_axis(ax[1].type) || !lora_axis(ax[0].type));
    const Axis *lx = ax[0].type == AX_LORA ? &ax[0] : &ax[1];
    CellCfg cur = {0};
    SdlStatus s = SDL_OK;
    double t0 = time_now();
    for (int k = 0; k < nx * ny && s == SDL_OK; k++) {
        int col = y_outer ? k % nx : k / ny, row = y_outer ? k / nx : k % ny;
        CellCfg c = cell_cfg(&job, col, row);
        if (k == 0 || !same_lora_state(&c, &cur)) {
            s = apply_loras(&merge, &sd, job.fixed, job.n_fixed, lx, &c);
            if (s != SDL_OK) break;
            cur = c;
        }
        char *p = NULL, *neg = NULL;
        s = cell_text(&job, &c, job.prompt, "--prompt", &p);
        if (s == SDL_OK) s = cell_text(&job, &c, job.negative, "--negative_prompt", &neg);
        if (s == SDL_OK) {
            log_info("grid: image %d of %d: %s%s%s", k + 1, nx * ny, ax[0].label[col], job.n_axes == 2 ? ", " : "",
                     job.n_axes == 2 ? ax[1].label[row] : "");
            GenParams gp = gen_params_default();
            gp.prompt = p, gp.negative_prompt = neg, gp.width = job.width, gp.height = job.height, gp.steps = c.steps;
            gp.cfg_scale = c.cfg, gp.seed = c.seed, gp.batch_size = 1, gp.sampler = c.sampler, gp.clip_skip = job.clip_skip;
            gp.tiling.mode = job.tiling ? VAE_TILING_ON : VAE_TILING_AUTO;
            s = gen_txt2img(&gm, &gp, pixels, NULL, NULL, NULL);
        }
        Image *img = &cells[row * nx + col];
        if (s == SDL_OK) s = image_alloc(img, job.width, job.height);
        if (s == SDL_OK) image_from_tensor(img, pixels);
        if (row == 0 && col == 0) prompt0 = p, neg0 = neg;
        else free(p), free(neg);
    }
    if (s == SDL_OK) {
        log_info("grid: %d images in %.1f s", nx * ny, time_now() - t0);
        const char *xl[MAX_AXIS_VALUES], *yl[MAX_AXIS_VALUES];
        for (int i = 0; i < nx; i++) xl[i] = ax[0].label[i];
        for (int i = 0; job.n_axes == 2 && i < ny; i++) yl[i] = ax[1].label[i];
        GridSpec spec = {.nx = nx, .ny = ny, .cell_w = job.width, .cell_h = job.height, .x_labels = xl,
                         .y_labels = job.n_axes == 2 ? yl : NULL, .title = job.title, .scale = job.font_scale};
        Image grid;
        s = grid_render(&grid, &spec, cells);
        if (s == SDL_OK) {
            char *text = grid_infotext(&job, prompt0, neg0);
            const char *keys[1] = {"parameters"}, *vals[1] = {text};
            s = text ? image_save_png(&grid, job.out, keys, vals, 1) : sdl_fail(SDL_ERR_OOM, job.out, NULL, "out of memory");
            if (s == SDL_OK) {
                printf("%s\n", job.out);
                log_info("grid: wrote %s (%lldx%lld)", job.out, (long long)grid.width, (long long)grid.height);
            }
            free(text);
            image_free(&grid);
        }
    }
    for (int i = 0; i < nx * ny; i++) image_free(&cells[i]);
    free(cells), free(prompt0), free(neg0);
    mem_free(pixels);
    lora_merge_free(&merge);
    sd_model_free(&sd);
    return s;
}

int cmd_grid(int argc, char **argv) {
    const char *model = NULL, *vae_path = NULL, *prompt = NULL, *negative = "", *out = NULL, *title = NULL;
    const char *x_type = NULL, *x_values = NULL, *y_type = NULL, *y_values = NULL, *wildcard_dir = NULL;
    const char *sampler = "euler_a", *seed_s = "-1", *lora_help_only = NULL;
    int width = 512, height = 512, steps = 30, clip_skip = 1, font_scale = 0;
    float cfg = 7.5f;
    bool v_param = false, tiling = false;
    const OptSpec specs[] = {
        {.name = "model", .alias = "pretrained_model_name_or_path", .type = OPT_STRING, .dst = &model, .required = true,
         .help = "base model: single-file .safetensors/.ckpt or diffusers folder"},
        {.name = "vae", .type = OPT_STRING, .dst = &vae_path, .help = "use this VAE instead of the model's"},
        {.name = "prompt", .type = OPT_STRING, .dst = &prompt, .required = true,
         .help = "the prompt (A1111 attention syntax; {a|b} and __wildcards__ expanded per cell)"},
        {.name = "negative_prompt", .type = OPT_STRING, .dst = &negative, .help = "what to steer away from (default empty)"},
        {.name = "x_type", .type = OPT_STRING, .dst = &x_type, .required = true, .help = "what varies across columns: " AXIS_CHOICES},
        {.name = "x_values", .type = OPT_STRING, .dst = &x_values, .required = true,
         .help = "comma-separated values (ranges: 1-5, 1-9 (+2), 0.5-1 [3]; lora: FILE[:W] or none)"},
        {.name = "y_type", .type = OPT_STRING, .dst = &y_type, .help = "what varies down the rows (optional)"},
        {.name = "y_values", .type = OPT_STRING, .dst = &y_values, .help = "values of the rows"},
        {.name = "lora", .type = OPT_STRING, .dst = &lora_help_only,
         .help = "FILE[:WEIGHT] a LoRA applied to every cell; repeat for several"},
        {.name = "width", .type = OPT_INT, .dst = &width, .min = 8, .max = 16384, .help = "image width (default 512)"},
        {.name = "height", .type = OPT_INT, .dst = &height, .min = 8, .max = 16384, .help = "image height (default 512)"},
        {.name = "steps", .type = OPT_INT, .dst = &steps, .min = 1, .max = 1000, .help = "sampling steps (default 30)"},
        {.name = "cfg_scale", .alias = "scale", .type = OPT_FLOAT, .dst = &cfg, .min = 0, .max = 100,
         .help = "classifier-free guidance scale (default 7.5)"},
        {.name = "seed", .type = OPT_STRING, .dst = &seed_s, .help = "seed of every cell (default -1: one random seed for the grid)"},
        {.name = "sampler", .alias = "sample_sampler", .type = OPT_STRING, .dst = &sampler,
         .help = "kohya or A1111 sampler name (default euler_a)"},
        {.name = "clip_skip", .type = OPT_INT, .dst = &clip_skip, .min = 1, .max = 12, .help = "CLIP skip (default 1)"},
        {.name = "v_parameterization", .type = OPT_FLAG, .dst = &v_param, .help = "the model predicts v (default: as the model says)"},
        {.name = "vae_tiling", .type = OPT_FLAG, .dst = &tiling, .help = "decode in tiles (less memory for large images)"},
        {.name = "wildcard_dir", .type = OPT_STRING, .dst = &wildcard_dir, .help = "folder of __name__ wildcard files (name.txt)"},
        {.name = "title", .type = OPT_STRING, .dst = &title, .help = "a title above the grid"},
        {.name = "font_scale", .type = OPT_INT, .dst = &font_scale, .min = 0, .max = 16,
         .help = "label text size: 1 = 6x12 px characters (default 0: from the image size)"},
        {.name = "out", .type = OPT_STRING, .dst = &out, .required = true, .help = "the grid PNG to write"},
    };
    const int n_specs = (int)(sizeof specs / sizeof specs[0]);
    const char *usage = "sdlora grid --model M --prompt P [--negative_prompt N] --x_type T --x_values V [--y_type T --y_values V] "
                        "[--lora FILE:W …] [--width --height --steps --cfg_scale --seed --sampler --clip_skip] --out FILE.png";
    // --lora repeats, which the simple option table does not do: take those out first
    const char *lora_args[MAX_FIXED_LORAS];
    int n_lora_args = 0;
    char **rest = malloc((size_t)(argc + 1) * sizeof *rest);
    SDL_ASSERT(rest);
    int nrest = 0;
    for (int i = 0; i < argc; i++) {
        const char *v = NULL;
        if (i > 0 && strcmp(argv[i], "--lora") == 0) {
            if (i + 1 >= argc) { free(rest); return usage_error("lora", "give FILE or FILE:WEIGHT after --lora", "missing value"); }
            v = argv[++i];
        } else if (i > 0 && strncmp(argv[i], "--lora=", 7) == 0) {
            v = argv[i] + 7;
        }
        if (!v) { rest[nrest++] = argv[i]; continue; }
        if (n_lora_args == MAX_FIXED_LORAS) { free(rest); return usage_error("lora", "merge some LoRAs first", "more than %d LoRAs", MAX_FIXED_LORAS); }
        lora_args[n_lora_args++] = v;
    }
    rest[nrest] = NULL;
    OptsResult r = opts_parse("grid", usage, specs, n_specs, nrest, rest);
    free(rest);
    if (r != OPTS_OK) return r == OPTS_HELP ? 0 : 1;

    // ---- everything cheap is checked before the model loads ----
    if (!y_type != !y_values) return usage_error(y_type ? "y_values" : "y_type", "give --y_type and --y_values together", "missing");
    GridJob job = {.model = model, .vae = vae_path, .prompt = prompt, .negative = negative, .out = out, .title = title,
                   .sampler_name = sampler, .n_axes = y_type ? 2 : 1, .cfg = cfg, .steps = steps, .width = width,
                   .height = height, .clip_skip = clip_skip, .font_scale = font_scale, .v_param = v_param, .tiling = tiling};
    if (!parse_seed(seed_s, &job.seed))
        return usage_error("seed", "give a whole number from 0 to 18446744073709551615, or -1 for a random seed", "not a seed: '%s'", seed_s);
    if (strcmp(seed_s, "-1") == 0) log_info("grid: seed %llu for every cell", (unsigned long long)job.seed);
    if (gen_sampler_config(sampler, v_param, &job.sampler) != SDL_OK)
        return usage_error("sampler", sdl_last_error()->hint, "%s", sdl_last_error()->reason);
    static Axis ax[2]; // large value tables: not on the stack
    job.ax = ax;
    FixedLora fixed[MAX_FIXED_LORAS];
    int status = 1, n_fixed = 0;
    if (axis_parse(&ax[0], "x", x_type, x_values, v_param)) return 1;
    if (job.n_axes == 2 && axis_parse(&ax[1], "y", y_type, y_values, v_param)) { axis_free(&ax[0]); return 1; }
    job.nx = ax[0].n;
    job.ny = job.n_axes == 2 ? ax[1].n : 1;
    if (job.n_axes == 2 && ax[0].type == ax[1].type) {
        usage_error("y_type", "vary two different things on the two axes", "both axes are '%s'", x_type);
        goto done;
    }
    if (job.nx * job.ny > MAX_CELLS) {
        usage_error("x_values", "use fewer values", "%d × %d = %d images is more than %d", job.nx, job.ny, job.nx * job.ny, MAX_CELLS);
        goto done;
    }
    for (int a = 0; a < job.n_axes; a++)
        if (ax[a].type == AX_PROMPT_SR && !strstr(prompt, ax[a].text[0]) && !strstr(negative, ax[a].text[0])) {
            usage_error(a ? "y_values" : "x_values", "the first Prompt S/R value is the text to replace: it must occur in the prompt",
                        "Prompt S/R did not find '%s' in the prompt or negative prompt", ax[a].text[0]);
            goto done;
        }
    for (int i = 0; i < n_lora_args; i++) {
        FixedLora *f = &fixed[n_fixed++];
        f->path = split_lora_weight(lora_args[i], &f->w);
        if (!is_file(f->path)) {
            fprintf(stderr, "error: %s: no such LoRA file (from --lora %s)\n  hint: give --lora FILE.safetensors[:WEIGHT]\n",
                    f->path, lora_args[i]);
            goto done;
        }
    }
    job.fixed = fixed, job.n_fixed = n_fixed;
    bool has_lora_axis = ax[0].type == AX_LORA || (job.n_axes == 2 && ax[1].type == AX_LORA);
    bool has_weight_axis = ax[0].type == AX_LORA_WEIGHT || (job.n_axes == 2 && ax[1].type == AX_LORA_WEIGHT);
    if (has_weight_axis && !has_lora_axis && n_fixed == 0) {
        usage_error("x_type", "add --lora FILE (or a lora axis) for the lora_weight axis to weigh", "lora_weight axis without a LoRA");
        goto done;
    }
    {
        GenPromptTags tags;
        if (gen_parse_prompt_tags(prompt, &tags) != SDL_OK) { sdl_error_print(stderr); goto done; }
        int tagged = tags.n_loras;
        gen_prompt_tags_free(&tags);
        if (tagged) {
            usage_error("prompt", "pass the LoRA as --lora FILE:WEIGHT, or vary it with --x_type lora", "<lora:…> tags are not read by grid");
            goto done;
        }
    }
    if (dynprompt_has_syntax(prompt) || dynprompt_has_syntax(negative)) {
        if (dynprompt_new(wildcard_dir, &job.dp) != SDL_OK || dynprompt_check(job.dp, prompt, "--prompt") != SDL_OK ||
            dynprompt_check(job.dp, negative, "--negative_prompt") != SDL_OK) {
            sdl_error_print(stderr);
            goto done;
        }
    }
    if (run_grid(&job) != SDL_OK) sdl_error_print(stderr);
    else status = 0;
done:
    for (int i = 0; i < n_fixed; i++) free(fixed[i].path);
    dynprompt_free(job.dp);
    for (int a = 0; a < job.n_axes; a++) axis_free(&ax[a]);
    return status;
}
