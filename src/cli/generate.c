// generate.c — `sdlora generate`: text-to-image with a base model and any number of LoRAs,
// written as PNGs that AUTOMATIC1111's PNG Info reads.
//
//   sdlora generate --model M [--vae V] [--lora FILE[:W] …] [--lora_dir D] --prompt P
//                   [--negative_prompt N] [--width --height --steps --cfg_scale --seed --sampler
//                    --batch_size --n_iter --clip_skip --v_parameterization --vae_tiling] --out DIR
//
// LoRAs come from --lora (repeatable; FILE or FILE:WEIGHT) and from <lora:NAME:W> tags in the
// prompt, resolved as --lora_dir/NAME.safetensors (or a file of that stem in a subfolder) and
// removed from the text the encoder sees. They are merged into the loaded weights
// (lora/lora_apply.h); the model files are never written.
//
// Output: DIR/<number:05>-<seed>.png, numbered after the highest number already in DIR as
// A1111 does; each written atomically with a "parameters" text chunk in A1111's layout
// (sample/pipeline.h gen_infotext). Image k of the run (k = iter·batch + i) has seed + k.
// "Model hash" is A1111's: the first 10 hex digits of the sha256 of the model file, cached
// in ~/.cache/sdlora/model_hashes.tsv (by path, size and mtime) since hashing a 2–7 GB file
// takes seconds; a diffusers folder has no file hash, so it is left out.
#include "cli/cli.h"
#include "cli/options.h"
#include "base/atomic_file.h"
#include "base/clock.h"
#include "base/file.h"
#include "base/log.h"
#include "base/mem.h"
#include "io/image.h"
#include "lora/lora_apply.h"
#include "lora/sha256.h"
#include "models/sd_model.h"
#include "sample/dynamic_prompts.h"
#include "sample/pipeline.h"
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_LORAS 64

typedef struct {
    char *path;         // resolved file (owned)
    char *name;         // the name Lora hashes uses: the tag's name or the file stem (owned)
    float te, unet;
    int from_tag;       // <lora:…> in the prompt (else --lora)
    char hash[65];      // addnet hash
} LoraUse;

// ---- small path helpers ----

static char *path_join2(const char *a, const char *b) {
    size_t n = strlen(a) + strlen(b) + 2;
    char *s = malloc(n);
    SDL_ASSERT(s);
    snprintf(s, n, "%s%s%s", a, (*a && a[strlen(a) - 1] != '/') ? "/" : "", b);
    return s;
}

// The file name without folder and extension ("/x/my_lora.safetensors" → "my_lora"); a folder
// keeps its whole name.
static char *stem_of(const char *path) {
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    const char *b = path;
    for (size_t i = 0; i < n; i++)
        if (path[i] == '/') b = path + i + 1;
    size_t len = (size_t)(path + n - b);
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        const char *dot = NULL;
        for (const char *p = b; p < path + n; p++)
            if (*p == '.') dot = p;
        if (dot && dot > b) len = (size_t)(dot - b);
    }
    char *s = malloc(len + 1);
    SDL_ASSERT(s);
    memcpy(s, b, len);
    s[len] = 0;
    return s;
}

static int is_file(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

// Finds "<name>.safetensors" under dir, in subfolders too (A1111 lists LoRAs recursively).
static char *find_lora(const char *dir, const char *name, int depth) {
    char *direct = malloc(strlen(dir) + strlen(name) + 16);
    SDL_ASSERT(direct);
    sprintf(direct, "%s/%s.safetensors", dir, name);
    if (is_file(direct)) return direct;
    free(direct);
    if (depth <= 0) return NULL;
    DIR *d = opendir(dir);
    if (!d) return NULL;
    char *found = NULL;
    for (struct dirent *e; !found && (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char *sub = path_join2(dir, e->d_name);
        struct stat sb;
        if (stat(sub, &sb) == 0 && S_ISDIR(sb.st_mode)) found = find_lora(sub, name, depth - 1);
        free(sub);
    }
    closedir(d);
    return found;
}

static SdlStatus mkdir_p(const char *path) {
    if (!*path) return sdl_fail(SDL_ERR_ARG, "--out", "give a folder name", "empty path");
    char *p = strdup(path);
    SDL_ASSERT(p);
    for (char *s = p + 1;; s++) {
        if (*s == '/' || !*s) {
            char c = *s;
            *s = 0;
            if (mkdir(p, 0777) != 0 && errno != EEXIST) {
                int e = errno;
                free(p);
                return sdl_fail(SDL_ERR_IO, path, "check that the output folder's parent exists and is writable",
                                "cannot create the folder: %s", strerror(e));
            }
            *s = c;
            if (!c) break;
        }
    }
    free(p);
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return sdl_fail(SDL_ERR_IO, path, "give --out a folder, not a file", "not a folder");
    return SDL_OK;
}

// A1111 get_next_sequence_number: 1 + the largest leading number of "<number>-…" names in dir.
static int64_t next_image_number(const char *dir) {
    int64_t best = -1;
    DIR *d = opendir(dir);
    if (!d) return 0;
    for (struct dirent *e; (e = readdir(d));) {
        const char *s = e->d_name;
        size_t n = 0;
        while (s[n] >= '0' && s[n] <= '9') n++;
        if (n == 0 || n > 15 || (s[n] != '-' && s[n] != '.' && s[n] != 0)) continue;
        int64_t v = strtoll(s, NULL, 10);
        if (v > best) best = v;
    }
    closedir(d);
    return best + 1;
}

// ---- model hash (A1111: sha256 of the whole file, first 10 hex), with a small cache ----

static SdlStatus sha256_file(const char *path, char hex[65]) {
    void *map;
    size_t size;
    SDL_TRY(file_map_readonly(path, "a model file", &map, &size));
    Sha256 s;
    sha256_init(&s);
    const size_t chunk = (size_t)64 << 20;
    for (size_t o = 0; o < size; o += chunk) {
        size_t n = size - o < chunk ? size - o : chunk;
        sha256_update(&s, (const char *)map + o, n);
        madvise((char *)map + o, n, MADV_DONTNEED); // hashing should not keep the file resident
    }
    unsigned char d[32];
    sha256_final(&s, d);
    for (int i = 0; i < 32; i++) sprintf(hex + 2 * i, "%02x", d[i]);
    munmap(map, size);
    return SDL_OK;
}

static char *hash_cache_path(void) {
    const char *x = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    char buf[PATH_MAX];
    if (x && *x) snprintf(buf, sizeof buf, "%s/sdlora", x);
    else if (home && *home) snprintf(buf, sizeof buf, "%s/.cache/sdlora", home);
    else return NULL;
    if (mkdir_p(buf) != SDL_OK) { sdl_error_clear(); return NULL; }
    return path_join2(buf, "model_hashes.tsv");
}

// Lines: sha256 \t size \t mtime (ns) \t absolute path.
static void model_hash(const char *path, char hex[65]) {
    hex[0] = 0;
    struct stat sb;
    char abs[PATH_MAX];
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode) || !realpath(path, abs)) return;
    long long mt = (long long)sb.st_mtim.tv_sec * 1000000000ll + sb.st_mtim.tv_nsec;
    char *cache = hash_cache_path(), *text = NULL;
    size_t len = 0;
    if (cache && file_read_text(cache, 64u << 20, NULL, &text, &len) == SDL_OK) {
        for (char *line = text, *next; line && *line; line = next) {
            next = strchr(line, '\n');
            if (next) *next++ = 0;
            char h[65], p[PATH_MAX];
            long long size, m;
            if (sscanf(line, "%64[0-9a-f]\t%lld\t%lld\t%4095[^\n]", h, &size, &m, p) == 4 && size == (long long)sb.st_size &&
                m == mt && strcmp(p, abs) == 0) {
                memcpy(hex, h, 65);
            }
        }
        free(text);
        text = NULL;
    }
    sdl_error_clear();
    if (hex[0]) { free(cache); return; }
    double t0 = time_now();
    log_info("hashing %s for the PNG metadata (once; cached)", path);
    if (sha256_file(path, hex) != SDL_OK) { hex[0] = 0; sdl_error_clear(); free(cache); return; }
    log_debug("sha256 in %.1f s", time_now() - t0);
    if (cache) { // append: rewrite the whole file atomically
        char *old = NULL;
        size_t olen = 0;
        if (file_read_text(cache, 64u << 20, NULL, &old, &olen) != SDL_OK) old = NULL, olen = 0;
        sdl_error_clear();
        size_t cap = olen + strlen(abs) + 128;
        char *all = malloc(cap);
        SDL_ASSERT(all);
        int n = snprintf(all, cap, "%.*s%s\t%lld\t%lld\t%s\n", (int)olen, old ? old : "", hex, (long long)sb.st_size, mt, abs);
        if (atomic_write_file(cache, all, (size_t)n) != SDL_OK) sdl_error_clear();
        free(all), free(old);
    }
    free(cache);
}

// ---- progress ----

typedef struct {
    int tty;
    int64_t image0, n_images;
} Progress;

static void progress(void *ctx, GenStage stage, int64_t done, int64_t total) {
    Progress *p = ctx;
    if (!p->tty || stage != GEN_STAGE_SAMPLE) return;
    fprintf(stderr, "\rimages %lld-%lld of %lld: step %lld/%lld ", (long long)p->image0 + 1,
            (long long)(p->image0 + p->n_images), (long long)p->n_images, (long long)done, (long long)total);
    if (done == total) fputc('\n', stderr);
}

// ---- the command ----

// "FILE" or "FILE:WEIGHT" (the weight after the last ':', when it is a number).
static int parse_lora_arg(const char *arg, char **file, float *w) {
    const char *c = strrchr(arg, ':');
    *w = 1.0f;
    if (c) {
        char *end;
        double v = strtod(c + 1, &end);
        if (end != c + 1 && !*end) {
            *w = (float)v;
            *file = strndup(arg, (size_t)(c - arg));
            return **file != 0;
        }
    }
    *file = strdup(arg);
    return **file != 0;
}

static int fail_opt(const char *opt, const char *hint, const char *fmt, const char *v) {
    fprintf(stderr, "error: generate: --%s: ", opt);
    fprintf(stderr, fmt, v);
    fprintf(stderr, "\n  hint: %s\n", hint);
    return 1;
}

int cmd_generate(int argc, char **argv) {
    const char *model = NULL, *vae_path = NULL, *lora_dir = NULL, *prompt = NULL, *negative = "", *out = NULL;
    const char *sampler = "euler_a", *seed_s = "-1", *lora_help_only = NULL; // --lora is parsed below
    const char *wildcard_dir = NULL;
    int width = 512, height = 512, steps = 30, batch = 1, n_iter = 1, clip_skip = 1, vae_mb = 0;
    float cfg = 7.5f;
    bool v_param = false, tiling = false;
    const OptSpec specs[] = {
        {.name = "model", .alias = "pretrained_model_name_or_path", .type = OPT_STRING, .dst = &model, .required = true,
         .help = "base model: single-file .safetensors/.ckpt or diffusers folder"},
        {.name = "vae", .type = OPT_STRING, .dst = &vae_path, .help = "use this VAE instead of the model's (.safetensors or diffusers folder)"},
        {.name = "lora", .type = OPT_STRING, .dst = &lora_help_only,
         .help = "FILE[:WEIGHT] a LoRA/LoCon .safetensors applied at WEIGHT (default 1); repeat for several"},
        {.name = "lora_dir", .type = OPT_STRING, .dst = &lora_dir, .help = "folder where <lora:NAME:W> prompt tags find NAME.safetensors"},
        {.name = "prompt", .type = OPT_STRING, .dst = &prompt, .required = true,
         .help = "the prompt: A1111 syntax, (word:1.2), [word], BREAK, <lora:NAME:W>"},
        {.name = "negative_prompt", .type = OPT_STRING, .dst = &negative, .help = "what to steer away from (default empty)"},
        {.name = "width", .type = OPT_INT, .dst = &width, .min = 8, .max = 16384, .help = "image width in pixels (default 512)"},
        {.name = "height", .type = OPT_INT, .dst = &height, .min = 8, .max = 16384, .help = "image height in pixels (default 512)"},
        {.name = "steps", .type = OPT_INT, .dst = &steps, .min = 1, .max = 1000, .help = "sampling steps (default 30)"},
        {.name = "cfg_scale", .alias = "scale", .type = OPT_FLOAT, .dst = &cfg, .min = 0, .max = 100,
         .help = "classifier-free guidance scale (default 7.5)"},
        {.name = "seed", .type = OPT_STRING, .dst = &seed_s, .help = "seed of the first image (image k gets seed + k); -1 = random (default)"},
        {.name = "sampler", .alias = "sample_sampler", .type = OPT_STRING, .dst = &sampler,
         .help = "kohya name (euler_a, ddim, dpmsolver++, …) or A1111 name (\"Euler a\", \"DPM++ 2M Karras\"); default euler_a"},
        {.name = "batch_size", .type = OPT_INT, .dst = &batch, .min = 1, .max = 64, .help = "images per run (default 1)"},
        {.name = "n_iter", .type = OPT_INT, .dst = &n_iter, .min = 1, .max = 100000, .help = "runs (default 1): batch_size × n_iter images"},
        {.name = "clip_skip", .type = OPT_INT, .dst = &clip_skip, .min = 1, .max = 12, .help = "CLIP skip as A1111/kohya (default 1)"},
        {.name = "v_parameterization", .type = OPT_FLAG, .dst = &v_param, .help = "the model predicts v (SD2 768-v models); default: as the model says"},
        {.name = "wildcard_dir", .type = OPT_STRING, .dst = &wildcard_dir,
         .help = "folder of __name__ wildcard files (name.txt) for dynamic prompts {a|b} / {2::a|b} / __name__"},
        {.name = "vae_tiling", .type = OPT_FLAG, .dst = &tiling, .help = "decode in 512 px tiles (less memory for large images)"},
        {.name = "vae_memory_mb", .type = OPT_INT, .dst = &vae_mb, .min = 1, .max = 1 << 30,
         .help = "tile the decode when a whole one would need more than this (default: half the free memory)"},
        {.name = "out", .alias = "outdir", .type = OPT_STRING, .dst = &out, .required = true, .help = "output folder (created if missing)"},
    };
    const int n_specs = (int)(sizeof specs / sizeof specs[0]);
    const char *usage = "sdlora generate --model M [--lora FILE:W …] [--lora_dir D] --prompt P [--negative_prompt N] "
                        "[--width 512 --height 512 --steps 30 --cfg_scale 7.5 --seed S --sampler euler_a --batch_size 1 "
                        "--n_iter 1 --clip_skip 1] --out DIR";
    // --lora repeats, which the option table does not do: take those out first
    const char *lora_args[MAX_LORAS];
    int n_lora_args = 0;
    char **rest = malloc((size_t)(argc + 1) * sizeof *rest);
    SDL_ASSERT(rest);
    int nrest = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = NULL;
        if (i > 0 && strcmp(a, "--lora") == 0) {
            if (i + 1 >= argc) { free(rest); return fail_opt("lora", "give FILE or FILE:WEIGHT after --lora", "missing value%s", ""); }
            v = argv[++i];
        } else if (i > 0 && strncmp(a, "--lora=", 7) == 0) {
            v = a + 7;
        }
        if (v) {
            if (n_lora_args == MAX_LORAS) { free(rest); return fail_opt("lora", "merge some LoRAs first", "more than 64 LoRAs%s", ""); }
            lora_args[n_lora_args++] = v;
        } else {
            rest[nrest++] = argv[i];
        }
    }
    rest[nrest] = NULL;
    OptsResult r = opts_parse("generate", usage, specs, n_specs, nrest, rest);
    free(rest);
    if (r != OPTS_OK) return r == OPTS_HELP ? 0 : 1;

    // ---- check everything cheap before loading the model ----
    uint64_t seed;
    {
        char *end;
        errno = 0;
        long long sv = strtoll(seed_s, &end, 10);
        if (*seed_s && !*end && !errno && sv == -1) {
            FILE *f = fopen("/dev/urandom", "rb");
            uint32_t rnd = (uint32_t)time_now();
            if (f) { if (fread(&rnd, sizeof rnd, 1, f) != 1) rnd = (uint32_t)time_now(); fclose(f); }
            seed = rnd;
        } else {
            errno = 0;
            unsigned long long uv = strtoull(seed_s, &end, 10);
            if (!*seed_s || *end || errno || *seed_s == '-')
                return fail_opt("seed", "give a whole number from 0 to 18446744073709551615, or -1 for a random seed", "not a seed: '%s'", seed_s);
            seed = uv;
        }
    }
    SamplerConfig scfg;
    if (gen_sampler_config(sampler, v_param, &scfg) != SDL_OK) {
        const SdlError *e = sdl_last_error();
        fprintf(stderr, "error: generate: --sampler: %s\n  hint: %s\n", e->reason, e->hint);
        return 1;
    }
    GenPromptTags tags;
    if (gen_parse_prompt_tags(prompt, &tags) != SDL_OK) {
        const SdlError *e = sdl_last_error();
        fprintf(stderr, "error: generate: --prompt: %s\n  hint: %s\n", e->reason, e->hint);
        return 1;
    }
    GenPromptTags neg_tags = {0};
    if (gen_parse_prompt_tags(negative, &neg_tags) != SDL_OK) {
        const SdlError *e = sdl_last_error();
        fprintf(stderr, "error: generate: --negative_prompt: %s\n  hint: %s\n", e->reason, e->hint);
        gen_prompt_tags_free(&tags);
        return 1;
    }
    if (neg_tags.n_loras) log_warn("<lora:…> tags in the negative prompt are ignored (removed from its text)");
    LoraUse loras[2 * MAX_LORAS];
    int n_loras = 0, status = 1;
    // dynamic prompts: checked now (bad syntax, missing wildcard files), expanded per batch below
    DynPrompts *dyn = NULL;
    bool dynamic = dynprompt_has_syntax(tags.prompt) || dynprompt_has_syntax(neg_tags.prompt);
    if (dynamic) {
        if (dynprompt_new(wildcard_dir, &dyn) != SDL_OK || dynprompt_check(dyn, tags.prompt, "--prompt") != SDL_OK ||
            dynprompt_check(dyn, neg_tags.prompt, "--negative_prompt") != SDL_OK) {
            sdl_error_print(stderr);
            dynprompt_free(dyn);
            goto done;
        }
    }

    for (int i = 0; i < n_lora_args; i++) {
        LoraUse *l = &loras[n_loras];
        memset(l, 0, sizeof *l);
        float w;
        if (!parse_lora_arg(lora_args[i], &l->path, &w)) {
            free(l->path);
            fail_opt("lora", "give --lora FILE.safetensors or --lora FILE.safetensors:0.8", "empty value%s", "");
            goto done;
        }
        n_loras++;
        if (!is_file(l->path)) {
            fprintf(stderr, "error: %s: no such LoRA file (from --lora %s)\n  hint: check the path; give --lora FILE.safetensors[:WEIGHT]\n",
                    l->path, lora_args[i]);
            goto done;
        }
        l->name = stem_of(l->path);
        l->te = l->unet = w;
    }
    for (int i = 0; i < tags.n_loras && n_loras < 2 * MAX_LORAS; i++) {
        const GenLoraTag *t = &tags.loras[i];
        if (!lora_dir) {
            fprintf(stderr, "error: generate: --prompt: the prompt has <lora:%s:…> but no --lora_dir was given\n"
                            "  hint: add --lora_dir FOLDER holding %s.safetensors (or pass the file with --lora)\n", t->name, t->name);
            goto done;
        }
        char *path = find_lora(lora_dir, t->name, 3);
        if (!path) {
            fprintf(stderr, "error: %s/%s.safetensors: no such LoRA (from <lora:%s:…> in the prompt)\n"
                            "  hint: the name must be the file name without .safetensors, in --lora_dir or a subfolder of it\n",
                    lora_dir, t->name, t->name);
            goto done;
        }
        LoraUse *l = &loras[n_loras++];
        memset(l, 0, sizeof *l);
        l->path = path, l->name = strdup(t->name), l->te = t->te, l->unet = t->unet, l->from_tag = 1;
    }

    // ---- load and apply ----
    {
        SdModel sd;
        if (sd_model_load(&sd, model, vae_path, SD_LOAD_ALL) != SDL_OK) { sdl_error_print(stderr); goto done; }
        LoraMerge merge = {0};
        SdlStatus s = SDL_OK;
        if (v_param || sd.v_prediction) s = gen_sampler_config(sampler, 1, &scfg);
        for (int i = 0; i < n_loras && s == SDL_OK; i++) {
            LoraApplyReport rep;
            s = lora_apply_file(&merge, &sd.unet, &sd.te, loras[i].path, loras[i].te, loras[i].unet, &rep);
            if (s == SDL_OK) s = lora_file_addnet_hash(loras[i].path, loras[i].hash);
            if (s == SDL_OK)
                log_info("LoRA %s: %lld text-encoder and %lld UNet modules at ×%g / ×%g", loras[i].path, (long long)rep.te_modules,
                         (long long)rep.unet_modules, loras[i].te, loras[i].unet);
        }
        if (s == SDL_OK) s = mkdir_p(out);
        if (s != SDL_OK) {
            sdl_error_print(stderr);
            lora_merge_free(&merge);
            sd_model_free(&sd);
            goto done;
        }

        // infotext pieces: the prompt as given (+ tags for --lora files, so A1111 reproduces it)
        size_t plen = strlen(prompt) + 1;
        for (int i = 0; i < n_loras; i++) plen += strlen(loras[i].name) + 48;
        char *info_prompt = malloc(plen), *hashes = malloc(plen + 32 * (size_t)n_loras);
        SDL_ASSERT(info_prompt && hashes);
        size_t o = (size_t)snprintf(info_prompt, plen, "%s", prompt);
        char wbuf[40];
        for (int i = 0; i < n_loras; i++)
            if (!loras[i].from_tag)
                o += (size_t)snprintf(info_prompt + o, plen - o, "%s<lora:%s:%s>", o ? " " : "", loras[i].name,
                                      gen_format_float(wbuf, sizeof wbuf, loras[i].te));
        // Lora hashes: "name: hash12, …", names without ':' and ',' (A1111 remove_symbols), first mention wins
        size_t ho = 0;
        hashes[0] = 0;
        for (int i = 0; i < n_loras; i++) {
            char nm[256];
            size_t k = 0;
            for (const char *p = loras[i].name; *p && k < sizeof nm - 1; p++)
                if (*p != ':' && *p != ',') nm[k++] = *p;
            nm[k] = 0;
            int dup = 0;
            for (int j = 0; j < i && !dup; j++) dup = strcmp(loras[j].name, loras[i].name) == 0;
            if (!dup) ho += (size_t)sprintf(hashes + ho, "%s%s: %.12s", ho ? ", " : "", nm, loras[i].hash);
        }
        char mhash[65] = "", vhash[65] = "";
        model_hash(model, mhash);
        if (mhash[0]) mhash[10] = 0;
        if (vae_path) {
            model_hash(vae_path, vhash);
            if (vhash[0]) vhash[10] = 0;
        }
        char *model_name = stem_of(model), *vae_name = NULL;
        if (vae_path) {
            const char *b = strrchr(vae_path, '/');
            vae_name = strdup(b && b[1] ? b + 1 : vae_path);
        }

        GenModels gm = {&sd.unet, &sd.te, sd.tokenizer, &sd.vae};
        GenParams gp = gen_params_default();
        gp.prompt = tags.prompt, gp.negative_prompt = neg_tags.prompt;
        gp.width = width, gp.height = height, gp.steps = steps, gp.cfg_scale = cfg, gp.batch_size = batch;
        gp.sampler = scfg, gp.clip_skip = clip_skip;
        gp.tiling.mode = tiling ? VAE_TILING_ON : VAE_TILING_AUTO;
        gp.tiling.budget_bytes = (size_t)vae_mb << 20;
        const int64_t C = 3, px = (int64_t)width * height;
        float *images = mem_alloc(MEM_OTHER, (size_t)(batch * C * px) * sizeof(float));
        int64_t number = next_image_number(out);
        Progress pr = {isatty(2), 0, (int64_t)batch * n_iter};
        double t0 = time_now();
        int written = 0;
        for (int it = 0; it < n_iter && s == SDL_OK; it++) {
            gp.seed = seed + (uint64_t)it * (uint64_t)batch;
            pr.image0 = (int64_t)it * batch;
            // dynamic prompts: one expansion per batch, chosen by the batch's first seed (so a
            // seed reproduces its prompt); the infotext gets the same choices
            char *dyn_prompt = NULL, *dyn_neg = NULL, *dyn_info = NULL;
            if (dynamic) {
                s = dynprompt_expand(dyn, tags.prompt, gp.seed, "--prompt", &dyn_prompt);
                if (s == SDL_OK) s = dynprompt_expand(dyn, neg_tags.prompt, gp.seed, "--negative_prompt", &dyn_neg);
                if (s == SDL_OK) s = dynprompt_expand(dyn, info_prompt, gp.seed, "--prompt", &dyn_info);
                if (s != SDL_OK) break;
                gp.prompt = dyn_prompt, gp.negative_prompt = dyn_neg;
            }
            int tiled = 0;
            s = gen_txt2img(&gm, &gp, images, progress, &pr, &tiled);
            if (s != SDL_OK) {
                // the pipeline's messages name no file: say which option to change
                char why[sizeof sdl_last_error()->reason], hint[sizeof sdl_last_error()->hint];
                snprintf(why, sizeof why, "%s", sdl_last_error()->reason);
                snprintf(hint, sizeof hint, "%s", sdl_last_error()->hint);
                sdl_fail(s, "generate", hint, "%s", why);
                break;
            }
            for (int i = 0; i < batch && s == SDL_OK; i++) {
                Image img;
                s = image_alloc(&img, width, height);
                if (s != SDL_OK) break;
                image_from_tensor(&img, images + (size_t)i * C * px);
                GenInfo info = {dynamic ? dyn_info : info_prompt, dynamic ? dyn_neg : negative, steps, gen_sampler_a1111_name(&scfg),
                                scfg.use_karras_sigmas ? "Karras" : NULL, cfg, gp.seed + (uint64_t)i, width, height,
                                mhash[0] ? mhash : NULL, model_name, vhash[0] ? vhash : NULL, vae_name, clip_skip,
                                hashes[0] ? hashes : NULL, "sdlora " SDLORA_VERSION};
                char *text = gen_infotext(&info);
                char name[64];
                snprintf(name, sizeof name, "%05lld-%llu.png", (long long)number, (unsigned long long)(gp.seed + (uint64_t)i));
                char *path = path_join2(out, name);
                const char *keys[1] = {"parameters"}, *vals[1] = {text};
                s = image_save_png(&img, path, keys, vals, 1);
                if (s == SDL_OK) printf("%s\n", path), written++, number++;
                free(path), free(text);
                image_free(&img);
            }
            free(dyn_prompt), free(dyn_neg), free(dyn_info);
        }
        if (s == SDL_OK)
            log_info("wrote %d image%s to %s in %.1f s (seed %llu)", written, written == 1 ? "" : "s", out, time_now() - t0,
                     (unsigned long long)seed);
        else
            sdl_error_print(stderr);
        mem_free(images);
        dynprompt_free(dyn);
        free(info_prompt), free(hashes), free(model_name), free(vae_name);
        lora_merge_free(&merge);
        sd_model_free(&sd);
        if (s == SDL_OK) status = 0;
    }
done:
    for (int i = 0; i < n_loras; i++) free(loras[i].path), free(loras[i].name);
    gen_prompt_tags_free(&tags);
    gen_prompt_tags_free(&neg_tags);
    return status;
}
