// optim.c — the optimizer front end: kohya names, --optimizer_args parsing (Python literals),
// creation with all state allocated up front, the step dispatch, zero_grad, gradient clipping,
// deterministic reductions and the safetensors state file. The update rules live in one file
// per optimizer (optim_adamw.c, optim_adamw8bit.c, optim_adafactor.c, optim_lion.c,
// optim_sgd.c, optim_prodigy.c, optim_dadapt.c).
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "base/log.h"
#include "base/mem.h"
#include "train/optim_internal.h"

// ---- names ----

static const struct { const char *name; const char *cls; } KINDS[OPTIM_KIND_COUNT] = {
    [OPTIM_ADAMW] = {"AdamW", "torch.optim.adamw.AdamW"},
    [OPTIM_ADAMW8BIT] = {"AdamW8bit", "bitsandbytes.optim.adamw.AdamW8bit"},
    [OPTIM_ADAFACTOR] = {"Adafactor", "transformers.optimization.Adafactor"},
    [OPTIM_LION] = {"Lion", "lion_pytorch.lion_pytorch.Lion"},
    [OPTIM_SGD_NESTEROV] = {"SGDNesterov", "torch.optim.sgd.SGD"},
    [OPTIM_PRODIGY] = {"Prodigy", "prodigyopt.prodigy.Prodigy"},
    [OPTIM_DADAPT_ADAM] = {"DAdaptAdam", "dadaptation.dadapt_adam.DAdaptAdam"},
};

const char *optim_kind_name(OptimKind kind) { return kind < OPTIM_KIND_COUNT ? KINDS[kind].name : "?"; }
const char *optim_kind_class(OptimKind kind) { return kind < OPTIM_KIND_COUNT ? KINDS[kind].cls : "?"; }

SdlStatus optim_kind_parse(const char *name, OptimKind *out) {
    if (!name || !*name) { *out = OPTIM_ADAMW; return SDL_OK; } // kohya: empty → AdamW
    for (int k = 0; k < OPTIM_KIND_COUNT; k++)
        if (strcasecmp(name, KINDS[k].name) == 0) { *out = (OptimKind)k; return SDL_OK; }
    return sdl_fail(SDL_ERR_ARG, NULL,
                    "supported: AdamW, AdamW8bit, Adafactor, Lion, SGDNesterov, Prodigy, DAdaptAdam (case-insensitive)",
                    "--optimizer_type %s is not supported", name);
}

void optim_config_default(OptimConfig *c, OptimKind kind, double learning_rate) {
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->initial_lr = learning_rate;
    c->beta1 = 0.9;
    c->beta2 = 0.999;
    c->eps = 1e-8;
    switch (kind) {
    case OPTIM_ADAMW:     // torch.optim.AdamW defaults; kohya passes no overrides
    case OPTIM_ADAMW8BIT: // bnb.optim.AdamW8bit: the same, plus min_8bit_size 4096
        c->weight_decay = 1e-2;
        c->min_8bit_size = 4096;
        break;
    case OPTIM_ADAFACTOR: // transformers.optimization.Adafactor
        c->eps = 1e-30;
        c->eps2 = 1e-3;
        c->clip_threshold = 1.0;
        c->decay_rate = -0.8;
        c->scale_parameter = 1;
        c->relative_step = 1;
        break;
    case OPTIM_LION: // lion_pytorch.Lion
        c->beta2 = 0.99;
        break;
    case OPTIM_SGD_NESTEROV: // torch.optim.SGD(nesterov=True); kohya injects momentum=0.9
        c->momentum = 0.0;
        break;
    case OPTIM_PRODIGY: // prodigyopt.Prodigy
        c->d0 = 1e-6;
        c->d_coef = 1.0;
        c->growth_rate = INFINITY;
        c->decouple = 1;
        c->slice_p = 1;
        break;
    case OPTIM_DADAPT_ADAM: // dadaptation.DAdaptAdam
        c->d0 = 1e-6;
        c->growth_rate = INFINITY;
        break;
    default: break;
    }
}

int optim_config_uses_relative_step(const OptimConfig *c) { return c->kind == OPTIM_ADAFACTOR && c->relative_step; }

// ---- Python literals (kohya: key, value = arg.split("="); value = ast.literal_eval(value)) ----

typedef enum { PY_NONE, PY_BOOL, PY_INT, PY_FLOAT, PY_STR } PyAtomKind;
typedef struct { PyAtomKind kind; double num; char str[64]; } PyAtom;
typedef struct { int is_seq; char open; int n; PyAtom items[4]; } PyValue;

static char *trim(char *s) {
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) s[--n] = 0;
    return s;
}

static int parse_atom(char *s, PyAtom *a) {
    s = trim(s);
    if (!*s) return 0;
    if (!strcmp(s, "None")) { a->kind = PY_NONE; return 1; }
    if (!strcmp(s, "True")) { a->kind = PY_BOOL; a->num = 1; return 1; }
    if (!strcmp(s, "False")) { a->kind = PY_BOOL; a->num = 0; return 1; }
    size_t n = strlen(s);
    if (n >= 2 && (s[0] == '\'' || s[0] == '"') && s[n - 1] == s[0]) {
        if (n - 2 >= sizeof a->str) return 0;
        a->kind = PY_STR;
        memcpy(a->str, s + 1, n - 2);
        a->str[n - 2] = 0;
        return 1;
    }
    // Decimal numbers only: strtod would also take inf/nan/hex, which literal_eval rejects.
    int is_float = 0;
    for (const char *p = s; *p; p++) {
        if (*p == '.' || *p == 'e' || *p == 'E') is_float = 1;
        else if (!isdigit((unsigned char)*p) && *p != '+' && *p != '-') return 0;
    }
    char *end;
    double v = strtod(s, &end);
    if (*end || end == s) return 0;
    a->kind = is_float ? PY_FLOAT : PY_INT;
    a->num = v;
    return 1;
}

// "0.9,0.99", "(0.9, 0.99)", "[1, 2]" → a sequence; a single atom otherwise.
static int parse_value(const char *text, PyValue *v) {
    char buf[256];
    if (strlen(text) >= sizeof buf) return 0;
    strcpy(buf, text);
    char *s = trim(buf);
    memset(v, 0, sizeof *v);
    size_t n = strlen(s);
    if (n && (s[0] == '(' || s[0] == '[')) {
        char close = s[0] == '(' ? ')' : ']';
        if (s[n - 1] != close) return 0;
        v->is_seq = 1;
        v->open = s[0];
        s[n - 1] = 0;
        s++;
        if (!*trim(s)) return 1; // () / []
    }
    if (strchr(s, ',')) { v->is_seq = 1; if (!v->open) v->open = '('; }
    char *save = NULL;
    int trailing_comma = n && s[strlen(s) - 1] == ',';
    for (char *tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (v->n == 4 || !parse_atom(tok, &v->items[v->n])) return 0;
        v->n++;
    }
    (void)trailing_comma; // "0.9," is a 1-tuple in Python; strtok drops the empty tail as Python does
    return v->n > 0;
}

// Python's repr of a float: the shortest round-tripping digits, fixed notation for exponents in
// [-4, 16), else "1e-05" style; always a ".0" on integral values.
static void py_float_repr(double x, char *out, size_t cap) {
    if (isinf(x)) { snprintf(out, cap, x > 0 ? "inf" : "-inf"); return; }
    if (isnan(x)) { snprintf(out, cap, "nan"); return; }
    char digits[40];
    int prec = 1;
    for (; prec <= 17; prec++) {
        snprintf(digits, sizeof digits, "%.*e", prec - 1, x);
        if (strtod(digits, NULL) == x) break;
    }
    int exp10 = atoi(strchr(digits, 'e') + 1);
    if (exp10 >= -4 && exp10 < 16) {
        int decimals = prec - 1 - exp10;
        if (decimals < 1) decimals = 1;
        snprintf(out, cap, "%.*f", decimals, x);
        // drop trailing zeros past the first decimal
        char *dot = strchr(out, '.');
        char *e = out + strlen(out) - 1;
        while (e > dot + 1 && *e == '0') *e-- = 0;
    } else {
        char mant[32];
        snprintf(mant, sizeof mant, "%.*e", prec - 1, x);
        char *e = strchr(mant, 'e');
        *e = 0;
        snprintf(out, cap, "%se%c%02d", mant, exp10 < 0 ? '-' : '+', abs(exp10));
    }
}

static void py_atom_str(const PyAtom *a, char *out, size_t cap, int in_seq) {
    switch (a->kind) {
    case PY_NONE: snprintf(out, cap, "None"); break;
    case PY_BOOL: snprintf(out, cap, a->num != 0 ? "True" : "False"); break;
    case PY_INT: snprintf(out, cap, "%.0f", a->num); break;
    case PY_FLOAT: py_float_repr(a->num, out, cap); break;
    case PY_STR: snprintf(out, cap, in_seq ? "'%s'" : "%s", a->str); break;
    }
}

static void py_value_str(const PyValue *v, char *out, size_t cap) {
    if (!v->is_seq) { py_atom_str(&v->items[0], out, cap, 0); return; }
    size_t len = 0;
    len += (size_t)snprintf(out + len, cap - len, "%c", v->open);
    for (int i = 0; i < v->n && len < cap; i++) {
        char one[64];
        py_atom_str(&v->items[i], one, sizeof one, 1);
        len += (size_t)snprintf(out + len, cap - len, "%s%s", i ? ", " : "", one);
    }
    if (len < cap) snprintf(out + len, cap - len, "%s", v->open == '[' ? "]" : (v->n == 1 ? ",)" : ")"));
}

// ---- the key table ----

typedef enum { K_FLOAT, K_INT, K_BOOL, K_PAIR, K_OPT_FLOAT, K_IGNORED } KeyType;
typedef struct {
    const char *key;
    KeyType type;
    size_t off, off2;   // field offsets (K_PAIR: second; K_OPT_FLOAT: the has_ flag)
    unsigned kinds;     // bit per OptimKind that accepts the key
} KeySpec;

#define B(k) (1u << (k))
#define F(f) offsetof(OptimConfig, f)
#define ADAMS (B(OPTIM_ADAMW) | B(OPTIM_ADAMW8BIT))
#define DADAPTS (B(OPTIM_PRODIGY) | B(OPTIM_DADAPT_ADAM))
static const KeySpec KEYS[] = {
    {"betas", K_PAIR, F(beta1), F(beta2), ADAMS | B(OPTIM_LION) | DADAPTS},
    {"eps", K_FLOAT, F(eps), 0, ADAMS | DADAPTS},
    {"eps", K_PAIR, F(eps), F(eps2), B(OPTIM_ADAFACTOR)},
    {"weight_decay", K_FLOAT, F(weight_decay), 0, 0x7Fu},
    {"amsgrad", K_BOOL, F(amsgrad), 0, ADAMS},
    {"foreach", K_IGNORED, 0, 0, B(OPTIM_ADAMW) | B(OPTIM_SGD_NESTEROV)},
    {"fused", K_IGNORED, 0, 0, B(OPTIM_ADAMW) | B(OPTIM_SGD_NESTEROV)},
    {"min_8bit_size", K_INT, F(min_8bit_size), 0, B(OPTIM_ADAMW8BIT)},
    {"percentile_clipping", K_INT, 0, 0, B(OPTIM_ADAMW8BIT)},   // checked: must be 100
    {"block_wise", K_BOOL, 0, 0, B(OPTIM_ADAMW8BIT)},           // checked: must be True
    {"is_paged", K_IGNORED, 0, 0, B(OPTIM_ADAMW8BIT)},          // paging is a CUDA memory detail
    {"optim_bits", K_IGNORED, 0, 0, B(OPTIM_ADAMW8BIT)},        // AdamW8bit forces 8 bits
    {"clip_threshold", K_FLOAT, F(clip_threshold), 0, B(OPTIM_ADAFACTOR)},
    {"decay_rate", K_FLOAT, F(decay_rate), 0, B(OPTIM_ADAFACTOR)},
    {"beta1", K_OPT_FLOAT, F(adafactor_beta1), F(has_adafactor_beta1), B(OPTIM_ADAFACTOR)},
    {"scale_parameter", K_BOOL, F(scale_parameter), 0, B(OPTIM_ADAFACTOR)},
    {"relative_step", K_BOOL, F(relative_step), 0, B(OPTIM_ADAFACTOR)},
    {"warmup_init", K_BOOL, F(warmup_init), 0, B(OPTIM_ADAFACTOR)},
    {"use_triton", K_IGNORED, 0, 0, B(OPTIM_LION)},
    {"decoupled_weight_decay", K_BOOL, F(decoupled_weight_decay), 0, B(OPTIM_LION)},
    {"momentum", K_FLOAT, F(momentum), 0, B(OPTIM_SGD_NESTEROV)},
    {"dampening", K_FLOAT, F(dampening), 0, B(OPTIM_SGD_NESTEROV)},
    {"beta3", K_OPT_FLOAT, F(beta3), F(has_beta3), B(OPTIM_PRODIGY)},
    {"decouple", K_BOOL, F(decouple), 0, DADAPTS},
    {"use_bias_correction", K_BOOL, F(use_bias_correction), 0, DADAPTS},
    {"safeguard_warmup", K_BOOL, F(safeguard_warmup), 0, B(OPTIM_PRODIGY)},
    {"d0", K_FLOAT, F(d0), 0, DADAPTS},
    {"d_coef", K_FLOAT, F(d_coef), 0, B(OPTIM_PRODIGY)},
    {"growth_rate", K_FLOAT, F(growth_rate), 0, DADAPTS},
    {"fsdp_in_use", K_BOOL, 0, 0, DADAPTS},                      // checked: must be False
    {"slice_p", K_INT, F(slice_p), 0, B(OPTIM_PRODIGY)},
    {"log_every", K_IGNORED, 0, 0, B(OPTIM_DADAPT_ADAM)},        // logging only
};

static int is_number(const PyAtom *a) { return a->kind == PY_INT || a->kind == PY_FLOAT || a->kind == PY_BOOL; }

static SdlStatus bad_value(const OptimConfig *c, const char *key, const char *text, const char *want) {
    return sdl_fail(SDL_ERR_ARG, NULL, "write values as Python literals, e.g. betas=0.9,0.99 or relative_step=False",
                    "--optimizer_args %s=%s for %s: %s", key, text, optim_kind_name(c->kind), want);
}

static SdlStatus apply_key(OptimConfig *c, const KeySpec *k, const PyValue *v, const char *text) {
    char *base = (char *)c;
    const PyAtom *a = &v->items[0];
    switch (k->type) {
    case K_FLOAT:
        if (v->is_seq || !is_number(a)) return bad_value(c, k->key, text, "expected a number");
        *(double *)(base + k->off) = a->num;
        break;
    case K_INT:
        if (v->is_seq || (a->kind != PY_INT && a->kind != PY_BOOL)) return bad_value(c, k->key, text, "expected an integer");
        if (!strcmp(k->key, "percentile_clipping")) {
            if (a->num != 100) return bad_value(c, k->key, text, "only 100 (no clipping) is supported");
        } else {
            *(int64_t *)(base + k->off) = (int64_t)a->num;
        }
        break;
    case K_BOOL:
        if (v->is_seq || !is_number(a)) return bad_value(c, k->key, text, "expected True or False");
        if (!strcmp(k->key, "block_wise")) {
            if (a->num == 0) return bad_value(c, k->key, text, "only block_wise=True is supported");
        } else if (!strcmp(k->key, "fsdp_in_use")) {
            if (a->num != 0) return bad_value(c, k->key, text, "FSDP is not supported");
        } else {
            *(int *)(base + k->off) = a->num != 0;
        }
        break;
    case K_PAIR:
        if (!v->is_seq || v->n != 2 || !is_number(&v->items[0]) || !is_number(&v->items[1]))
            return bad_value(c, k->key, text, "expected two numbers");
        *(double *)(base + k->off) = v->items[0].num;
        *(double *)(base + k->off2) = v->items[1].num;
        break;
    case K_OPT_FLOAT:
        if (v->is_seq || (a->kind != PY_NONE && !is_number(a))) return bad_value(c, k->key, text, "expected a number or None");
        *(int *)(base + k->off2) = a->kind != PY_NONE;
        if (a->kind != PY_NONE) *(double *)(base + k->off) = a->num;
        break;
    case K_IGNORED: break;
    }
    return SDL_OK;
}

// kohya records its optimizer_kwargs dict: insertion order, a repeated key keeps its first
// position and takes the last value.
typedef struct { int n; char key[32][48]; char val[32][160]; } ArgList;

static void record_arg(ArgList *l, const char *key, const char *value_str) {
    int i = 0;
    while (i < l->n && strcmp(l->key[i], key)) i++;
    if (i == l->n) {
        if (l->n == 32) return;
        l->n++;
        snprintf(l->key[i], sizeof l->key[i], "%s", key);
    }
    snprintf(l->val[i], sizeof l->val[i], "%s", value_str);
}

SdlStatus optim_config_parse_args(OptimConfig *c, const char *const *args, int n_args) {
    const char *oname = optim_kind_name(c->kind);
    int has_momentum = 0, has_relative_step = 0;
    ArgList list;
    list.n = 0;
    for (int i = 0; i < n_args; i++) {
        const char *arg = args[i];
        const char *eq = strchr(arg, '=');
        // kohya splits on every '=' and unpacks two values: none or several is an error there too
        if (!eq || strchr(eq + 1, '='))
            return sdl_fail(SDL_ERR_ARG, NULL, "write each item as key=value, e.g. weight_decay=0.01",
                            "--optimizer_args item '%s' for %s is not key=value", arg, oname);
        char key[64];
        size_t kn = (size_t)(eq - arg);
        if (kn >= sizeof key) kn = sizeof key - 1;
        memcpy(key, arg, kn);
        key[kn] = 0;
        // Python would reject "key " as an unknown keyword; GUI configs split on spaces, so
        // trimming cannot change the meaning of a working kohya command.
        char *k = trim(key);
        PyValue v;
        if (!parse_value(eq + 1, &v))
            return bad_value(c, k, eq + 1, "not a Python literal (number, True/False, None, 'string' or a tuple)");
        if (!strcmp(k, "lr"))
            return sdl_fail(SDL_ERR_ARG, NULL, "set the learning rate with --learning_rate / --unet_lr / --text_encoder_lr",
                            "--optimizer_args lr=… for %s: kohya passes lr itself (the optimizer would get it twice)", oname);
        if (!strcmp(k, "nesterov") && c->kind == OPTIM_SGD_NESTEROV)
            return sdl_fail(SDL_ERR_ARG, NULL, "remove nesterov=…; SGDNesterov always uses Nesterov momentum",
                            "--optimizer_args nesterov=… for SGDNesterov: kohya passes nesterov=True itself");
        const KeySpec *spec = NULL;
        for (size_t j = 0; j < sizeof KEYS / sizeof KEYS[0]; j++)
            if (!strcmp(KEYS[j].key, k) && (KEYS[j].kinds & B(c->kind))) { spec = &KEYS[j]; break; }
        if (!spec) {
            char known[512] = "";
            size_t len = 0;
            for (size_t j = 0; j < sizeof KEYS / sizeof KEYS[0]; j++)
                if ((KEYS[j].kinds & B(c->kind)) && len < sizeof known)
                    len += (size_t)snprintf(known + len, sizeof known - len, "%s%s", len ? ", " : "", KEYS[j].key);
            char hint[640];
            snprintf(hint, sizeof hint, "%s accepts: %s", oname, known);
            return sdl_fail(SDL_ERR_ARG, NULL, hint, "--optimizer_args: unknown key '%s' for optimizer %s", k, oname);
        }
        SDL_TRY(apply_key(c, spec, &v, eq + 1));
        if (!strcmp(k, "momentum")) has_momentum = 1;
        if (!strcmp(k, "relative_step")) has_relative_step = 1;
        char vs[160];
        py_value_str(&v, vs, sizeof vs);
        record_arg(&list, k, vs);
    }
    // kohya's fix-ups (train_util.get_optimizer), recorded as kohya records them
    if (c->kind == OPTIM_SGD_NESTEROV && !has_momentum) {
        c->momentum = 0.9;
        record_arg(&list, "momentum", "0.9");
    }
    if (c->kind == OPTIM_ADAFACTOR) {
        if (!has_relative_step) { c->relative_step = 1; record_arg(&list, "relative_step", "True"); }
        if (!c->relative_step && c->warmup_init) { c->relative_step = 1; record_arg(&list, "relative_step", "True"); }
    }
    size_t len = 0;
    c->args_text[0] = 0;
    for (int i = 0; i < list.n && len < sizeof c->args_text; i++)
        len += (size_t)snprintf(c->args_text + len, sizeof c->args_text - len, "%s%s=%s", i ? "," : "", list.key[i], list.val[i]);
    // the references' own argument checks
    if (c->kind != OPTIM_ADAFACTOR && c->kind != OPTIM_SGD_NESTEROV &&
        !(c->beta1 >= 0 && c->beta1 < 1 && c->beta2 >= 0 && c->beta2 <= 1 && (c->kind == OPTIM_LION || c->beta2 < 1)))
        return sdl_fail(SDL_ERR_ARG, NULL, "betas must lie in [0, 1)", "--optimizer_args betas=(%g, %g) for %s is out of range",
                        c->beta1, c->beta2, oname);
    if (c->kind == OPTIM_SGD_NESTEROV && (c->momentum <= 0 || c->dampening != 0))
        return sdl_fail(SDL_ERR_ARG, NULL, "use momentum > 0 and dampening=0",
                        "SGDNesterov: Nesterov momentum requires a momentum and zero dampening (momentum=%g, dampening=%g)",
                        c->momentum, c->dampening);
    if ((c->kind == OPTIM_PRODIGY || c->kind == OPTIM_DADAPT_ADAM) && !(c->d0 > 0))
        return sdl_fail(SDL_ERR_ARG, NULL, "d0 must be > 0", "%s: invalid d0 %g", oname, c->d0);
    if (c->kind == OPTIM_PRODIGY && c->slice_p < 1)
        return sdl_fail(SDL_ERR_ARG, NULL, "slice_p must be >= 1", "Prodigy: invalid slice_p %" PRId64, c->slice_p);
    if (c->kind == OPTIM_ADAFACTOR && c->warmup_init && !c->relative_step)
        return sdl_fail(SDL_ERR_ARG, NULL, NULL, "Adafactor: warmup_init=True requires relative_step=True");
    return SDL_OK;
}

void optim_config_describe(const OptimConfig *c, char *buf, size_t cap) {
    snprintf(buf, cap, "%s(%s)", optim_kind_class(c->kind), c->args_text);
}

// ---- deterministic reductions ----

#define CHUNK 8192

double optim_chunked_sum(int64_t n, double (*f)(void *ctx, int64_t begin, int64_t end), void *ctx) {
    if (n <= 0) return 0.0;
    int64_t nc = (n + CHUNK - 1) / CHUNK;
    if (nc == 1) return f(ctx, 0, n);
    double stack_part[64];
    double *part = nc <= 64 ? stack_part : mem_alloc(MEM_SCRATCH, (size_t)nc * sizeof(double));
    #pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < nc; c++) {
        int64_t b = c * CHUNK, e = b + CHUNK < n ? b + CHUNK : n;
        part[c] = f(ctx, b, e);
    }
    double s = 0.0;
    for (int64_t c = 0; c < nc; c++) s += part[c];
    if (part != stack_part) mem_free(part);
    return s;
}

typedef struct { const float *a, *b; } Pair;
static double sumsq_f(void *ctx, int64_t b, int64_t e) {
    const float *x = ((Pair *)ctx)->a; double s = 0;
    for (int64_t i = b; i < e; i++) s += (double)x[i] * x[i];
    return s;
}
static double sumabs_f(void *ctx, int64_t b, int64_t e) {
    const float *x = ((Pair *)ctx)->a; double s = 0;
    for (int64_t i = b; i < e; i++) s += fabs((double)x[i]);
    return s;
}
static double dot_f(void *ctx, int64_t b, int64_t e) {
    const Pair *p = ctx; double s = 0;
    for (int64_t i = b; i < e; i++) s += (double)p->a[i] * p->b[i];
    return s;
}
double optim_sum_sq(const float *x, int64_t n) { Pair p = {x, NULL}; return optim_chunked_sum(n, sumsq_f, &p); }
double optim_sum_abs(const float *x, int64_t n) { Pair p = {x, NULL}; return optim_chunked_sum(n, sumabs_f, &p); }
double optim_dot(const float *a, const float *b, int64_t n) { Pair p = {a, b}; return optim_chunked_sum(n, dot_f, &p); }

// ---- creation, registry ----

void *optim_add_buf(Optimizer *o, int64_t param, const char *name, StDtype dtype, int ndim, const int64_t *shape) {
    if (o->n_bufs == o->cap_bufs) {
        o->cap_bufs = o->cap_bufs ? 2 * o->cap_bufs : 64;
        o->bufs = realloc(o->bufs, (size_t)o->cap_bufs * sizeof *o->bufs);
        SDL_ASSERT(o->bufs);
    }
    OptimBuf *b = &o->bufs[o->n_bufs];
    memset(b, 0, sizeof *b);
    SDL_ASSERT(strlen(name) < OPTIM_STATE_NAME && ndim >= 1 && ndim <= OPTIM_MAX_DIMS);
    strcpy(b->name, name);
    b->param = param;
    b->dtype = dtype;
    b->ndim = ndim;
    b->numel = 1;
    for (int d = 0; d < ndim; d++) { b->shape[d] = shape[d]; b->numel *= shape[d]; }
    b->data = mem_calloc(MEM_OPTIMIZER, (size_t)b->numel * st_dtype_size(dtype) + 1);
    OptimSlot *s = &o->slots[param];
    if (s->n_bufs == 0) s->first_buf = o->n_bufs;
    SDL_ASSERT(s->first_buf + s->n_bufs == o->n_bufs); // a parameter's buffers are consecutive
    s->n_bufs++;
    o->n_bufs++;
    return b->data;
}

void *optim_buf(const Optimizer *o, int64_t param, const char *name) {
    const OptimSlot *s = &o->slots[param];
    for (int i = 0; i < s->n_bufs; i++)
        if (!strcmp(o->bufs[s->first_buf + i].name, name)) return o->bufs[s->first_buf + i].data;
    SDL_ASSERT(!"optimizer state buffer missing");
    return NULL;
}

SdlStatus optim_create(Optimizer **out, const OptimConfig *cfg, const OptimGroup *groups, int64_t n_groups) {
    *out = NULL;
    if (cfg->kind >= OPTIM_KIND_COUNT) return sdl_fail(SDL_ERR_ARG, NULL, NULL, "unknown optimizer kind %d", (int)cfg->kind);
    Optimizer *o = calloc(1, sizeof *o);
    if (!o) return sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory creating the optimizer");
    o->cfg = *cfg;
    o->n_groups = n_groups;
    o->groups = calloc((size_t)(n_groups > 0 ? n_groups : 1), sizeof *o->groups);
    o->group_lr = calloc((size_t)(n_groups > 0 ? n_groups : 1), sizeof(double));
    for (int64_t g = 0; g < n_groups; g++) o->n_slots += groups[g].n_params;
    o->slots = calloc((size_t)(o->n_slots > 0 ? o->n_slots : 1), sizeof *o->slots);
    o->param_step = calloc((size_t)(o->n_slots > 0 ? o->n_slots : 1), sizeof(int64_t));
    o->param_init = calloc((size_t)(o->n_slots > 0 ? o->n_slots : 1), 1);
    o->param_lr = calloc((size_t)(o->n_slots > 0 ? o->n_slots : 1), sizeof(double));
    if (!o->groups || !o->group_lr || !o->slots || !o->param_step || !o->param_init || !o->param_lr) {
        optim_free(o);
        return sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory creating the optimizer");
    }
    int64_t k = 0;
    for (int64_t g = 0; g < n_groups; g++) {
        o->groups[g] = groups[g];
        o->groups[g].params = NULL; // the slots own the parameter list
        for (int64_t i = 0; i < groups[g].n_params; i++, k++) {
            OptimParam p = groups[g].params[i];
            if (p.ndim <= 0) { p.ndim = 1; p.shape[0] = p.n; }
            int64_t numel = 1;
            for (int d = 0; d < p.ndim && d < OPTIM_MAX_DIMS; d++) numel *= p.shape[d];
            if (p.ndim > OPTIM_MAX_DIMS || numel != p.n || p.n <= 0 || !p.param) {
                optim_free(o);
                return sdl_fail(SDL_ERR_SHAPE, NULL, NULL, "optimizer parameter %" PRId64 " of group %" PRId64
                                ": n = %" PRId64 " does not match its shape (%d dims, %" PRId64 " elements)",
                                i, g, p.n, p.ndim, numel);
            }
            o->slots[k].p = p;
            o->slots[k].group = g;
        }
    }
    if ((cfg->kind == OPTIM_PRODIGY || cfg->kind == OPTIM_DADAPT_ADAM) && n_groups > 1) {
        double lr0 = 0;
        for (int64_t g = 0; g < n_groups; g++) if (groups[g].lr > lr0) lr0 = groups[g].lr;
        for (int64_t g = 0; g < n_groups; g++)
            if (groups[g].lr != lr0 && groups[g].lr != 0) {
                optim_free(o);
                return sdl_fail(SDL_ERR_ARG, NULL, "give the text encoder and the U-Net the same lr (about 1.0), or 0 to freeze one",
                                "%s: groups have different learning rates (%g and %g); the reference raises "
                                "\"Setting different lr values in different parameter groups is only supported for values of 0\"",
                                optim_kind_name(cfg->kind), lr0, groups[g].lr);
            }
    }
    SdlStatus st = SDL_OK;
    switch (cfg->kind) {
    case OPTIM_ADAMW: st = optim_adamw_init(o); break;
    case OPTIM_ADAMW8BIT: st = optim_adamw8bit_init(o); break;
    case OPTIM_ADAFACTOR: st = optim_adafactor_init(o); break;
    case OPTIM_LION: st = optim_lion_init(o); break;
    case OPTIM_SGD_NESTEROV: st = optim_sgd_init(o); break;
    case OPTIM_PRODIGY: st = optim_prodigy_init(o); break;
    case OPTIM_DADAPT_ADAM: st = optim_dadapt_init(o); break;
    default: break;
    }
    if (st != SDL_OK) { optim_free(o); return st; }
    *out = o;
    return SDL_OK;
}

void optim_free(Optimizer *o) {
    if (!o) return;
    for (int i = 0; i < o->n_bufs; i++) mem_free(o->bufs[i].data);
    free(o->bufs);
    free(o->slots);
    free(o->groups);
    free(o->group_lr);
    free(o->param_step);
    free(o->param_init);
    free(o->param_lr);
    free(o);
}

SdlStatus optim_step(Optimizer *o, double lr) {
    if (!isfinite(lr) || lr < 0)
        return sdl_fail(SDL_ERR_NUMERIC, NULL, "check --learning_rate and the scheduler", "optimizer step with lr = %g", lr);
    for (int64_t g = 0; g < o->n_groups; g++) o->group_lr[g] = lr * o->groups[g].lr;
    o->last_lr = lr;
    int updated = 0;
    switch (o->cfg.kind) {
    case OPTIM_ADAMW: updated = optim_adamw_step(o); break;
    case OPTIM_ADAMW8BIT: updated = optim_adamw8bit_step(o); break;
    case OPTIM_ADAFACTOR: updated = optim_adafactor_step(o); break;
    case OPTIM_LION: updated = optim_lion_step(o); break;
    case OPTIM_SGD_NESTEROV: updated = optim_sgd_step(o); break;
    case OPTIM_PRODIGY: updated = optim_prodigy_step(o); break;
    case OPTIM_DADAPT_ADAM: updated = optim_dadapt_step(o); break;
    default: break;
    }
    if (updated) o->step_count++;
    return SDL_OK;
}

void optim_zero_grad(Optimizer *o) {
    for (int64_t k = 0; k < o->n_slots; k++)
        if (o->slots[k].p.grad) memset(o->slots[k].p.grad, 0, (size_t)o->slots[k].p.n * sizeof(float));
}

size_t optim_state_bytes(const Optimizer *o) {
    size_t s = 0;
    for (int i = 0; i < o->n_bufs; i++) s += (size_t)o->bufs[i].numel * st_dtype_size(o->bufs[i].dtype);
    return s;
}

int64_t optim_step_count(const Optimizer *o) { return o->step_count; }
const OptimConfig *optim_config(const Optimizer *o) { return &o->cfg; }

static int scalar_index(const Optimizer *o, const char *name) {
    for (int i = 0; i < OPTIM_MAX_SCALARS && o->scalar_names[i]; i++)
        if (!strcmp(o->scalar_names[i], name)) return i;
    return -1;
}

double optim_d(const Optimizer *o) {
    int i = scalar_index(o, "d");
    return i >= 0 ? o->scalars[i] : 1.0;
}

double optim_group_lr(const Optimizer *o, int64_t group, double initial_lr) {
    if (group < 0 || group >= o->n_groups) return 0.0;
    if (o->cfg.kind == OPTIM_ADAFACTOR) {
        // AdafactorSchedule.get_lr: opt._get_lr(group, state of the group's first parameter)
        for (int64_t k = 0; k < o->n_slots; k++)
            if (o->slots[k].group == group) return o->param_step[k] > 0 ? o->param_lr[k] : initial_lr;
        return initial_lr;
    }
    return o->last_lr * o->groups[group].lr;
}

double optim_dlr(const Optimizer *o, int64_t group) {
    if (group < 0 || group >= o->n_groups) return 0.0;
    return optim_d(o) * o->last_lr * o->groups[group].lr;
}

// ---- clipping ----

double clip_grad_norm(float *const *grads, const int64_t *n, int64_t count, double max_norm) {
    double sq = 0.0;
    for (int64_t i = 0; i < count; i++)
        if (grads[i]) sq += optim_sum_sq(grads[i], n[i]);
    // torch: per-tensor float32 norms, then the norm of those, all float32 tensors
    float total = (float)sqrt(sq);
    if (max_norm > 0) {
        float coef = (float)max_norm / (total + 1e-6f);
        if (coef < 1.0f) {
            for (int64_t i = 0; i < count; i++) {
                if (!grads[i]) continue;
                float *g = grads[i];
                int64_t m = n[i];
                #pragma omp parallel for schedule(static) if (m > 65536)
                for (int64_t j = 0; j < m; j++) g[j] *= coef;
            }
        }
    }
    return total;
}

double optim_clip_grad_norm(Optimizer *o, double max_norm) {
    float **g = malloc((size_t)(o->n_slots ? o->n_slots : 1) * sizeof *g);
    int64_t *n = malloc((size_t)(o->n_slots ? o->n_slots : 1) * sizeof *n);
    SDL_ASSERT(g && n);
    for (int64_t k = 0; k < o->n_slots; k++) { g[k] = o->slots[k].p.grad; n[k] = o->slots[k].p.n; }
    double r = clip_grad_norm(g, n, o->n_slots, max_norm);
    free(g);
    free(n);
    return r;
}

// ---- state file ----

#define STATE_FORMAT "optimizer_state"
#define STATE_VERSION "1"

SdlStatus optim_save_state(const Optimizer *o, const char *path) {
    StWriter *w = st_writer_new();
    if (!w) return sdl_fail(SDL_ERR_OOM, path, NULL, "out of memory saving the optimizer state");
    char name[64];
    for (int i = 0; i < o->n_bufs; i++) {
        const OptimBuf *b = &o->bufs[i];
        snprintf(name, sizeof name, "%" PRId64 ".%s", b->param, b->name);
        st_writer_add(w, name, b->dtype, b->ndim, b->shape, b->data);
    }
    int64_t np = o->n_slots;
    if (np > 0) {
        st_writer_add(w, "param.step", ST_I64, 1, &np, o->param_step);
        st_writer_add(w, "param.init", ST_U8, 1, &np, o->param_init);
        st_writer_add(w, "param.lr", ST_F64, 1, &np, o->param_lr);
    }
    int64_t one = 1;
    for (int i = 0; i < OPTIM_MAX_SCALARS && o->scalar_names[i]; i++) {
        snprintf(name, sizeof name, "scalar.%s", o->scalar_names[i]);
        st_writer_add(w, name, ST_F64, 1, &one, &o->scalars[i]);
    }
    char v[64];
    st_writer_set_metadata(w, "sdlora.format", STATE_FORMAT);
    st_writer_set_metadata(w, "sdlora.version", STATE_VERSION);
    st_writer_set_metadata(w, "optimizer", optim_kind_name(o->cfg.kind));
    snprintf(v, sizeof v, "%" PRId64, o->step_count);
    st_writer_set_metadata(w, "step", v);
    snprintf(v, sizeof v, "%" PRId64, o->n_slots);
    st_writer_set_metadata(w, "n_params", v);
    st_writer_set_metadata(w, "args", o->cfg.args_text);
    SdlStatus st = st_writer_save(w, path);
    st_writer_free(w);
    return st;
}

static SdlStatus load_tensor(const SafeTensors *sf, const char *path, const char *name, StDtype dtype, int ndim,
                             const int64_t *shape, void *dst, size_t bytes) {
    const StTensor *t = st_find(sf, name);
    if (!t)
        return sdl_fail(SDL_ERR_NOT_FOUND, path, "the state was saved with other trainable parameters; resume with the same network settings",
                        "optimizer state tensor '%s' is missing", name);
    int same = t->dtype == dtype && t->ndim == ndim;
    for (int d = 0; same && d < ndim; d++) same = t->shape[d] == shape[d];
    if (!same) {
        char want[128] = "", got[128] = "";
        size_t a = 0, b = 0;
        for (int d = 0; d < ndim; d++) a += (size_t)snprintf(want + a, sizeof want - a, "%s%" PRId64, d ? ", " : "", shape[d]);
        for (int d = 0; d < t->ndim; d++) b += (size_t)snprintf(got + b, sizeof got - b, "%s%" PRId64, d ? ", " : "", t->shape[d]);
        return sdl_fail(SDL_ERR_SHAPE, path, "resume with the same network settings (dim, modules) as the saved run",
                        "optimizer state tensor '%s' is %s (%s), expected %s (%s)", name, st_dtype_name(t->dtype), got,
                        st_dtype_name(dtype), want);
    }
    memcpy(dst, t->data, bytes);
    return SDL_OK;
}

SdlStatus optim_load_state(Optimizer *o, const char *path) {
    SafeTensors sf;
    SDL_TRY(st_open(&sf, path));
    SdlStatus st = SDL_OK;
    const char *fmt = st_metadata_get(&sf, "sdlora.format"), *ver = st_metadata_get(&sf, "sdlora.version");
    const char *oname = st_metadata_get(&sf, "optimizer"), *step = st_metadata_get(&sf, "step");
    const char *np = st_metadata_get(&sf, "n_params"), *args = st_metadata_get(&sf, "args");
    char name[64];
    if (!fmt || strcmp(fmt, STATE_FORMAT) || !ver) {
        st = sdl_fail(SDL_ERR_FORMAT, path, "pass the optimizer.safetensors of an sdlora state folder",
                      "not an sdlora optimizer state file (metadata sdlora.format is %s)", fmt ? fmt : "missing");
        goto done;
    }
    if (strcmp(ver, STATE_VERSION)) {
        st = sdl_fail(SDL_ERR_UNSUPPORTED, path, "this state was written by another sdlora version",
                      "optimizer state version %s, this sdlora reads version %s", ver, STATE_VERSION);
        goto done;
    }
    if (!oname || strcasecmp(oname, optim_kind_name(o->cfg.kind))) {
        st = sdl_fail(SDL_ERR_ARG, path, "resume with the --optimizer_type the state was saved with",
                      "the state is for optimizer %s, this run uses %s", oname ? oname : "?", optim_kind_name(o->cfg.kind));
        goto done;
    }
    if (!np || strtoll(np, NULL, 10) != o->n_slots) {
        st = sdl_fail(SDL_ERR_SHAPE, path, "resume with the same network settings as the saved run",
                      "the state holds %s parameters, this run trains %" PRId64, np ? np : "?", o->n_slots);
        goto done;
    }
    if (args && strcmp(args, o->cfg.args_text))
        log_warn("%s: optimizer args differ from the saved run ('%s' now, '%s' then); using the new ones", path,
                 o->cfg.args_text, args);
    for (int i = 0; i < o->n_bufs && st == SDL_OK; i++) {
        OptimBuf *b = &o->bufs[i];
        snprintf(name, sizeof name, "%" PRId64 ".%s", b->param, b->name);
        st = load_tensor(&sf, path, name, b->dtype, b->ndim, b->shape, b->data, (size_t)b->numel * st_dtype_size(b->dtype));
    }
    int64_t n = o->n_slots, one = 1;
    if (st == SDL_OK && n > 0) st = load_tensor(&sf, path, "param.step", ST_I64, 1, &n, o->param_step, (size_t)n * 8);
    if (st == SDL_OK && n > 0) st = load_tensor(&sf, path, "param.init", ST_U8, 1, &n, o->param_init, (size_t)n);
    if (st == SDL_OK && n > 0) st = load_tensor(&sf, path, "param.lr", ST_F64, 1, &n, o->param_lr, (size_t)n * 8);
    for (int i = 0; st == SDL_OK && i < OPTIM_MAX_SCALARS && o->scalar_names[i]; i++) {
        snprintf(name, sizeof name, "scalar.%s", o->scalar_names[i]);
        st = load_tensor(&sf, path, name, ST_F64, 1, &one, &o->scalars[i], sizeof(double));
    }
    if (st == SDL_OK) o->step_count = step ? strtoll(step, NULL, 10) : 0;
done:
    st_close(&sf);
    return st;
}
