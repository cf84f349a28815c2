// init_model.c — `sdlora init-model`: writes an SD1-architecture model with random weights in
// the real on-disk layouts, so that tests and benchmarks have a base model without downloading
// one. `--preset tiny` is the end-to-end test model (a training step in milliseconds);
// `--preset sd15` is full size, for benchmarks only (never commit it).
//
// Layouts: a diffusers folder (model_index.json, unet/, text_encoder/, vae/ with config.json and
// safetensors weights, scheduler/scheduler_config.json (SD1.5's PNDM config), tokenizer/ with
// CLIP's vocab.json and merges.txt written from the embedded vocabulary, so diffusers can build
// a whole pipeline from it), or a single-file .safetensors with LDM keys (model.diffusion_model.*,
// first_stage_model.*, cond_stage_model.transformer.text_model.*), which also carries each
// component's config.json in its metadata (models/model_meta.h) so that sizes other than SD1's
// can be run from it.
//
// Random init, per tensor (documented in docs/models.md):
//   - weights of linears and convs (ndim >= 2): normal(0, 1/sqrt(fan_in)), fan_in = in·kh·kw,
//     which keeps each layer's output variance near its input's, so activations stay finite
//     and non-trivial through the residual stacks;
//   - CLIP token and position embeddings: normal(0, 0.02), transformers' initializer_range;
//   - norms (every name containing "norm"): gamma 1, beta 0;
//   - other biases: normal(0, 0.02), small but non-zero so that bias gradients are exercised.
// Every tensor draws from its own generator seeded with (seed, diffusers name), so a tensor's
// values depend only on the seed and its name: both formats hold bit-identical weights, and
// the same seed always gives byte-identical files.
//
// Memory: tensors are generated straight into one buffer of the output dtype (the writer
// streams from it), so writing needs about the output's size: one component at a time for a
// folder (UNet 3.4 GB fp32 / 1.7 GB fp16 for sd15), the whole model for a single file (4.3 GB
// fp32 / 2.1 GB fp16).
#include "cli/cli.h"
#include "cli/options.h"
#include "base/atomic_file.h"
#include "base/clock.h"
#include "base/half.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/rng.h"
#include "io/safetensors.h"
#include "models/clip_text.h"
#include "models/clip_tokenizer.h"
#include "models/ldm_keys.h"
#include "models/model_meta.h"
#include "models/unet.h"
#include "models/vae.h"
#include <cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

// The embedded CLIP merges (models/clip_vocab_data.c), for tokenizer/merges.txt.
extern const unsigned char sdl_clip_vocab_gz[];
extern const uint64_t sdl_clip_vocab_gz_size;

typedef struct {
    char *name;                 // diffusers / transformers name (seeds the values)
    char *key;                  // key in the output file
    int ndim;
    int64_t shape[PARAM_MAX_DIMS];
    int64_t numel;
} TensorSpec;

typedef struct {
    TensorSpec *t;
    int64_t n;
} SpecList;

typedef struct {
    UnetConfig unet;
    ClipTextConfig te;
    VaeConfig vae;
} ModelConfigs;

static void specs_free(SpecList *l) {
    for (int64_t i = 0; i < l->n; i++) free(l->t[i].name), free(l->t[i].key);
    free(l->t);
    memset(l, 0, sizeof *l);
}

// Copies a component's parameter table into l, naming each tensor by its file key: the table
// name for a diffusers folder, the LDM key (through models/ldm_keys.h) for a single file.
static SdlStatus specs_from_table(SpecList *l, const ParamTable *t, ParamKeyMap map, void *ctx, const char *prefix) {
    l->t = calloc((size_t)(t->n ? t->n : 1), sizeof *l->t);
    if (!l->t) return sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory");
    for (int64_t i = 0; i < t->n; i++) {
        const ParamEntry *e = &t->entries[i];
        TensorSpec *s = &l->t[l->n++];
        char key[512];
        if (map) {
            if (!map(e->name, key, sizeof key, ctx))
                return sdl_fail(SDL_ERR_FORMAT, NULL, NULL, "no single-file key for '%s'", e->name);
        } else snprintf(key, sizeof key, "%s%s", prefix, e->name);
        s->name = strdup(e->name), s->key = strdup(key);
        if (!s->name || !s->key) return sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory");
        s->ndim = e->ndim, s->numel = e->numel;
        memcpy(s->shape, e->shape, sizeof s->shape);
        // LDM stores the VAE's mid-block attention projections as 1x1 convs (diffusers: linears)
        if (map == ldm_vae_key && strstr(e->name, "mid_block.attentions.") && e->ndim == 2 &&
            !strstr(e->name, "group_norm"))
            s->ndim = 4, s->shape[2] = s->shape[3] = 1;
    }
    return SDL_OK;
}

// The tensors of component c. single: LDM keys; else the component's own names.
static SdlStatus component_specs(SpecList *l, const ModelConfigs *mc, ModelComponent c, int single) {
    SdlStatus s = SDL_OK;
    memset(l, 0, sizeof *l);
    if (c == MODEL_UNET) {
        Unet u;
        s = unet_build(&u, &mc->unet); // the table without storage: sd15 needs no 3.4 GB here
        if (s != SDL_OK) return s;
        LdmUnetLayout lay = {.n_levels = mc->unet.n_levels, .layers_per_block = (int)mc->unet.layers_per_block[0]};
        for (int i = 0; i < mc->unet.n_levels; i++) lay.attn[i] = mc->unet.down_cross[i];
        s = specs_from_table(l, &u.params, single ? ldm_unet_key : NULL, &lay, "");
        unet_free(&u);
    } else if (c == MODEL_TEXT_ENCODER) {
        ClipText m;
        clip_text_init(&m, &mc->te);
        LdmClipLayout lay = {0};
        s = specs_from_table(l, &m.params, single ? ldm_clip_key : NULL, &lay, "");
        clip_text_free(&m);
    } else {
        Vae v;
        memset(&v, 0, sizeof v);
        s = vae_init(&v, &mc->vae);
        LdmVaeLayout lay = {.n_levels = (int)mc->vae.n_levels};
        if (s == SDL_OK) s = specs_from_table(l, &v.params, single ? ldm_vae_key : NULL, &lay, "");
        vae_free(&v);
    }
    return s;
}

static uint32_t tensor_seed(uint64_t seed, const char *name) {
    uint64_t h = 1469598103934665603ull; // FNV-1a
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) h = (h ^ *p) * 1099511628211ull;
    h ^= seed * 0x9E3779B97F4A7C15ull;
    return (uint32_t)(h ^ (h >> 32)); // the generator takes 32 bits (rng.h)
}

// Fills one tensor (its values in fp32 in tmp[numel]) by the rules in the header comment.
static void init_tensor(const TensorSpec *s, uint64_t seed, float *tmp) {
    size_t n = (size_t)s->numel;
    if (strstr(s->name, "norm")) {
        float v = strstr(s->name, ".weight") ? 1.0f : 0.0f;
        for (size_t i = 0; i < n; i++) tmp[i] = v;
        return;
    }
    double std = 0.02;
    if (s->ndim >= 2 && !strstr(s->name, "text_model.embeddings.")) {
        int64_t fan_in = s->numel / s->shape[0];
        std = 1.0 / sqrt((double)fan_in);
    }
    Rng r;
    rng_seed(&r, tensor_seed(seed, s->name));
    rng_randn_fill(&r, tmp, n);
    for (size_t i = 0; i < n; i++) tmp[i] = (float)(tmp[i] * std);
}

// Generates every tensor of l into one buffer of dtype dt and adds them to w. *buf receives the
// buffer (the writer borrows it until saved; free with mem_free).
static void add_tensors(StWriter *w, const SpecList *l, StDtype dt, uint64_t seed, void **buf) {
    size_t esz = st_dtype_size(dt), total = 0;
    int64_t biggest = 1;
    for (int64_t i = 0; i < l->n; i++) total += (size_t)l->t[i].numel * esz, biggest = l->t[i].numel > biggest ? l->t[i].numel : biggest;
    unsigned char *out = mem_alloc(MEM_OTHER, total + 1);
    float *tmp = dt == ST_F32 ? NULL : mem_alloc(MEM_SCRATCH, (size_t)biggest * sizeof(float));
    size_t off = 0;
    for (int64_t i = 0; i < l->n; i++) {
        const TensorSpec *s = &l->t[i];
        size_t n = (size_t)s->numel;
        float *f = dt == ST_F32 ? (float *)(out + off) : tmp;
        init_tensor(s, seed, f);
        if (dt == ST_F16) fp32_to_fp16_array((uint16_t *)(out + off), f, n);
        else if (dt == ST_BF16)
            for (size_t k = 0; k < n; k++) ((uint16_t *)(out + off))[k] = fp32_to_bf16(f[k]);
        st_writer_add(w, s->key, dt, s->ndim, s->shape, out + off);
        off += n * esz;
    }
    mem_free(tmp);
    *buf = out;
}

// ---- files of a diffusers folder -------------------------------------------------------

static char *path_join(const char *a, const char *b) {
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", a, b);
    return p;
}

static SdlStatus make_dir(const char *path) {
    if (mkdir(path, 0777) == 0 || errno == EEXIST) {
        struct stat sb;
        if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) return SDL_OK;
        return sdl_fail(SDL_ERR_IO, path, "remove it or choose another --out", "exists and is not a folder");
    }
    return sdl_fail(SDL_ERR_IO, path, "check the path and its permissions", "cannot create the folder: %s", strerror(errno));
}

// Writes text (with a final newline) to dir/name atomically.
static SdlStatus write_text(const char *dir, const char *name, const char *text) {
    if (!text) return sdl_fail(SDL_ERR_OOM, dir, NULL, "out of memory");
    char *p = path_join(dir, name);
    if (!p) return sdl_fail(SDL_ERR_OOM, dir, NULL, "out of memory");
    size_t n = strlen(text);
    char *buf = malloc(n + 2);
    SdlStatus s = buf ? SDL_OK : sdl_fail(SDL_ERR_OOM, p, NULL, "out of memory");
    if (s == SDL_OK) {
        memcpy(buf, text, n);
        buf[n] = '\n';
        s = atomic_write_file(p, buf, n + 1);
    }
    free(buf);
    free(p);
    return s;
}

// SD1.5's scheduler/scheduler_config.json (runwayml/stable-diffusion-v1-5): PNDM with the
// scaled-linear betas the model was trained with; training reads the betas from it.
static const char *SCHEDULER_JSON =
    "{\n"
    "  \"_class_name\": \"PNDMScheduler\",\n"
    "  \"_diffusers_version\": \"0.31.0\",\n"
    "  \"beta_end\": 0.012,\n"
    "  \"beta_schedule\": \"scaled_linear\",\n"
    "  \"beta_start\": 0.00085,\n"
    "  \"clip_sample\": false,\n"
    "  \"num_train_timesteps\": 1000,\n"
    "  \"prediction_type\": \"epsilon\",\n"
    "  \"set_alpha_to_one\": false,\n"
    "  \"skip_prk_steps\": true,\n"
    "  \"steps_offset\": 1,\n"
    "  \"timestep_spacing\": \"leading\",\n"
    "  \"trained_betas\": null\n"
    "}";

static const char *MODEL_INDEX_JSON =
    "{\n"
    "  \"_class_name\": \"StableDiffusionPipeline\",\n"
    "  \"_diffusers_version\": \"0.31.0\",\n"
    "  \"feature_extractor\": [null, null],\n"
    "  \"requires_safety_checker\": false,\n"
    "  \"safety_checker\": [null, null],\n"
    "  \"scheduler\": [\"diffusers\", \"PNDMScheduler\"],\n"
    "  \"text_encoder\": [\"transformers\", \"CLIPTextModel\"],\n"
    "  \"tokenizer\": [\"transformers\", \"CLIPTokenizer\"],\n"
    "  \"unet\": [\"diffusers\", \"UNet2DConditionModel\"],\n"
    "  \"vae\": [\"diffusers\", \"AutoencoderKL\"]\n"
    "}";

static const char *TOKENIZER_CONFIG_JSON =
    "{\n"
    "  \"add_prefix_space\": false,\n"
    "  \"bos_token\": \"<|startoftext|>\",\n"
    "  \"clean_up_tokenization_spaces\": true,\n"
    "  \"do_lower_case\": true,\n"
    "  \"eos_token\": \"<|endoftext|>\",\n"
    "  \"errors\": \"replace\",\n"
    "  \"model_max_length\": 77,\n"
    "  \"pad_token\": \"<|endoftext|>\",\n"
    "  \"tokenizer_class\": \"CLIPTokenizer\",\n"
    "  \"unk_token\": \"<|endoftext|>\"\n"
    "}";

static const char *SPECIAL_TOKENS_JSON =
    "{\n"
    "  \"bos_token\": \"<|startoftext|>\",\n"
    "  \"eos_token\": \"<|endoftext|>\",\n"
    "  \"pad_token\": \"<|endoftext|>\",\n"
    "  \"unk_token\": \"<|endoftext|>\"\n"
    "}";

// tokenizer/merges.txt: transformers' header line, then the CLIP_N_MERGES merges of the
// embedded vocabulary file (its lines 2.., the first being its own header).
static SdlStatus write_merges(const char *dir) {
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return sdl_fail(SDL_ERR_OOM, dir, NULL, "zlib init failed");
    size_t cap = 1 << 22, len = 0;
    char *text = malloc(cap);
    int zr = Z_OK;
    z.next_in = (Bytef *)sdl_clip_vocab_gz;
    z.avail_in = (uInt)sdl_clip_vocab_gz_size;
    size_t lines = 0;
    while (text && zr == Z_OK && lines <= CLIP_N_MERGES + 1) { // only the first lines are needed
        if (cap - len < (1 << 16)) {
            char *t = realloc(text, cap *= 2);
            if (!t) { free(text), text = NULL; break; }
            text = t;
        }
        z.next_out = (Bytef *)text + len;
        z.avail_out = (uInt)(cap - len);
        zr = inflate(&z, Z_NO_FLUSH);
        size_t got = cap - len - z.avail_out;
        for (size_t i = len; i < len + got; i++) lines += text[i] == '\n';
        len += got;
    }
    inflateEnd(&z);
    if (!text) return sdl_fail(SDL_ERR_OOM, dir, NULL, "out of memory");
    if (zr != Z_OK && zr != Z_STREAM_END) {
        free(text);
        return sdl_fail(SDL_ERR_FORMAT, dir, "rebuild sdlora", "the embedded CLIP vocabulary does not inflate");
    }
    // keep lines 2 .. CLIP_N_MERGES + 1
    char *start = memchr(text, '\n', len), *end = start;
    for (size_t k = 0; end && k < CLIP_N_MERGES; k++) end = memchr(end + 1, '\n', len - (size_t)(end + 1 - text));
    SdlStatus s;
    if (!start || !end) s = sdl_fail(SDL_ERR_FORMAT, dir, "rebuild sdlora", "the embedded CLIP vocabulary is short");
    else {
        static const char header[] = "#version: 0.2";
        size_t body = (size_t)(end - start) + 1; // "\n" + merges + "\n"
        char *out = malloc(sizeof header + body);
        if (!out) s = sdl_fail(SDL_ERR_OOM, dir, NULL, "out of memory");
        else {
            memcpy(out, header, sizeof header - 1);
            memcpy(out + sizeof header - 1, start, body);
            char *p = path_join(dir, "merges.txt");
            s = p ? atomic_write_file(p, out, sizeof header - 1 + body) : sdl_fail(SDL_ERR_OOM, dir, NULL, "out of memory");
            free(p);
            free(out);
        }
    }
    free(text);
    return s;
}

// tokenizer/: vocab.json (every id's string, as transformers' CLIP vocab.json), merges.txt
// and the two small configs CLIPTokenizer.from_pretrained reads.
static SdlStatus write_tokenizer(const char *dir) {
    SDL_TRY(make_dir(dir));
    ClipTokenizer *tok = NULL;
    SDL_TRY(clip_tokenizer_load(&tok));
    cJSON *v = cJSON_CreateObject();
    for (int32_t id = 0; v && id < CLIP_VOCAB_SIZE; id++) cJSON_AddNumberToObject(v, clip_token_str(tok, id), id);
    char *text = v ? cJSON_PrintUnformatted(v) : NULL;
    cJSON_Delete(v);
    clip_tokenizer_free(tok);
    SdlStatus s = write_text(dir, "vocab.json", text);
    free(text);
    if (s == SDL_OK) s = write_merges(dir);
    if (s == SDL_OK) s = write_text(dir, "tokenizer_config.json", TOKENIZER_CONFIG_JSON);
    if (s == SDL_OK) s = write_text(dir, "special_tokens_map.json", SPECIAL_TOKENS_JSON);
    return s;
}

static const char *torch_dtype_name(StDtype dt) {
    return dt == ST_F16 ? "float16" : dt == ST_BF16 ? "bfloat16" : "float32";
}

static SdlStatus write_diffusers(const char *out, const ModelConfigs *mc, StDtype dt, uint64_t seed, int64_t *n_params) {
    static const char *dirs[MODEL_N_COMPONENTS] = {"unet", "text_encoder", "vae"};
    static const char *files[MODEL_N_COMPONENTS] = {"diffusion_pytorch_model.safetensors", "model.safetensors",
                                                    "diffusion_pytorch_model.safetensors"};
    SDL_TRY(make_dir(out));
    SdlStatus s = SDL_OK;
    for (int c = 0; c < MODEL_N_COMPONENTS && s == SDL_OK; c++) {
        char *dir = path_join(out, dirs[c]), *file = dir ? path_join(dir, files[c]) : NULL;
        if (!file) s = sdl_fail(SDL_ERR_OOM, out, NULL, "out of memory");
        if (s == SDL_OK) s = make_dir(dir);
        SpecList l;
        memset(&l, 0, sizeof l);
        if (s == SDL_OK) s = component_specs(&l, mc, (ModelComponent)c, 0);
        if (s == SDL_OK) {
            // one component at a time: memory is the largest component, not the model
            StWriter *w = st_writer_new();
            void *buf = NULL;
            add_tensors(w, &l, dt, seed, &buf);
            st_writer_set_metadata(w, "format", "pt"); // transformers refuses other formats
            s = st_writer_save(w, file);
            st_writer_free(w);
            mem_free(buf);
            for (int64_t i = 0; i < l.n; i++) *n_params += l.t[i].numel;
        }
        specs_free(&l);
        if (s == SDL_OK) {
            char *json = c == MODEL_UNET ? model_meta_unet_json(&mc->unet, 1)
                         : c == MODEL_TEXT_ENCODER ? model_meta_text_encoder_json(&mc->te, torch_dtype_name(dt), 1)
                                                   : model_meta_vae_json(&mc->vae, 1);
            s = write_text(dir, "config.json", json);
            free(json);
        }
        free(file);
        free(dir);
    }
    char *sched = path_join(out, "scheduler"), *tokdir = path_join(out, "tokenizer");
    if (s == SDL_OK && (!sched || !tokdir)) s = sdl_fail(SDL_ERR_OOM, out, NULL, "out of memory");
    if (s == SDL_OK) s = make_dir(sched);
    if (s == SDL_OK) s = write_text(sched, "scheduler_config.json", SCHEDULER_JSON);
    if (s == SDL_OK) s = write_tokenizer(tokdir);
    // last: a folder without model_index.json is not mistaken for a complete model
    if (s == SDL_OK) s = write_text(out, "model_index.json", MODEL_INDEX_JSON);
    free(sched), free(tokdir);
    return s;
}

static SdlStatus write_single(const char *out, const ModelConfigs *mc, StDtype dt, uint64_t seed, int64_t *n_params) {
    SpecList l[MODEL_N_COMPONENTS];
    memset(l, 0, sizeof l);
    void *buf[MODEL_N_COMPONENTS] = {0};
    SdlStatus s = SDL_OK;
    StWriter *w = st_writer_new();
    for (int c = 0; c < MODEL_N_COMPONENTS && s == SDL_OK; c++) {
        s = component_specs(&l[c], mc, (ModelComponent)c, 1);
        if (s == SDL_OK) add_tensors(w, &l[c], dt, seed, &buf[c]);
        for (int64_t i = 0; i < l[c].n; i++) *n_params += l[c].t[i].numel;
    }
    char *j[3] = {model_meta_unet_json(&mc->unet, 0), model_meta_text_encoder_json(&mc->te, torch_dtype_name(dt), 0),
                  model_meta_vae_json(&mc->vae, 0)};
    if (s == SDL_OK && (!j[0] || !j[1] || !j[2])) s = sdl_fail(SDL_ERR_OOM, out, NULL, "out of memory");
    if (s == SDL_OK) {
        st_writer_set_metadata(w, "format", "pt");
        st_writer_set_metadata(w, MODEL_META_UNET_KEY, j[0]);
        st_writer_set_metadata(w, MODEL_META_TEXT_ENCODER_KEY, j[1]);
        st_writer_set_metadata(w, MODEL_META_VAE_KEY, j[2]);
        st_writer_set_metadata(w, "modelspec.prediction_type", "epsilon");
        s = st_writer_save(w, out);
    }
    st_writer_free(w);
    for (int c = 0; c < MODEL_N_COMPONENTS; c++) mem_free(buf[c]), specs_free(&l[c]), free(j[c]);
    return s;
}

// --check: opens what was written as any user model is opened and loads each component with
// its configuration (models/model_meta.h); every tensor must be claimed (no unknown tensors) and
// every parameter present (a missing one fails the load).
static SdlStatus check_written(const char *path) {
    ModelFiles mf;
    memset(&mf, 0, sizeof mf);
    SdlStatus s = model_files_open(&mf, path);
    LoadReport rep[MODEL_N_COMPONENTS];
    memset(rep, 0, sizeof rep);
    if (s == SDL_OK) {
        UnetConfig uc;
        Unet u;
        memset(&u, 0, sizeof u);
        s = model_meta_unet_config(&mf, &uc);
        if (s == SDL_OK) s = unet_init(&u, &uc);
        if (s == SDL_OK) s = model_files_load(&mf, MODEL_UNET, &u.params, &rep[MODEL_UNET]);
        unet_free(&u);
    }
    if (s == SDL_OK) {
        ClipTextConfig tc;
        s = model_meta_text_encoder_config(&mf, &tc);
        if (s == SDL_OK) {
            ClipText m;
            clip_text_init(&m, &tc);
            s = model_files_load(&mf, MODEL_TEXT_ENCODER, &m.params, &rep[MODEL_TEXT_ENCODER]);
            clip_text_free(&m);
        }
    }
    if (s == SDL_OK) {
        VaeConfig vc;
        Vae v;
        memset(&v, 0, sizeof v);
        s = model_meta_vae_config(&mf, &vc);
        if (s == SDL_OK) s = vae_init(&v, &vc);
        if (s == SDL_OK) s = model_files_load(&mf, MODEL_VAE, &v.params, &rep[MODEL_VAE]);
        vae_free(&v);
    }
    for (int c = 0; c < MODEL_N_COMPONENTS && s == SDL_OK; c++) {
        printf("check: %s: %lld tensors loaded, %lld unknown\n", model_component_name((ModelComponent)c),
               (long long)rep[c].loaded, (long long)rep[c].unknown);
        if (rep[c].unknown)
            s = sdl_fail(SDL_ERR_FORMAT, path, "this is a bug in sdlora init-model: please report it",
                         "the %s has %lld tensors its model does not know", model_component_name((ModelComponent)c),
                         (long long)rep[c].unknown);
    }
    model_files_close(&mf);
    return s;
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

// The parent folder of path must exist: sdlora creates the output, never its parents (a typo
// in the path should not scatter folders).
static SdlStatus check_parent(const char *path) {
    char *p = strdup(path);
    if (!p) return sdl_fail(SDL_ERR_OOM, path, NULL, "out of memory");
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/') p[--n] = 0; // "out/" names the folder out
    char *slash = strrchr(p, '/');
    const char *parent = slash ? (slash == p ? "/" : (*slash = 0, p)) : ".";
    struct stat sb;
    SdlStatus s = SDL_OK;
    if (stat(parent, &sb) != 0 || !S_ISDIR(sb.st_mode))
        s = sdl_fail(SDL_ERR_IO, path, "create the parent folder first, or check the path for typos",
                     "the parent folder '%s' does not exist", parent);
    free(p);
    return s;
}

int cmd_init_model(int argc, char **argv) {
    const char *preset = NULL, *out = NULL, *format = NULL, *dtype = "float";
    int seed = 0;
    bool check = false;
    const OptSpec specs[] = {
        {.name = "preset", .type = OPT_STRING, .dst = &preset, .required = true, .choices = "tiny|sd15",
         .help = "tiny: the end-to-end test model; sd15: full SD1.5 size (benchmarks only: 4.3 GB in fp32)"},
        {.name = "seed", .type = OPT_INT, .dst = &seed, .min = 0, .max = INT_MAX,
         .help = "random seed of the weights (the same seed gives byte-identical files)"},
        {.name = "out", .type = OPT_STRING, .dst = &out, .required = true,
         .help = "output: a folder (diffusers) or a .safetensors file (single-file); its parent must exist"},
        {.name = "format", .type = OPT_STRING, .dst = &format, .choices = "diffusers|single-file",
         .help = "default: single-file when --out ends in .safetensors, else diffusers"},
        {.name = "dtype", .type = OPT_STRING, .dst = &dtype, .choices = "float|fp16|bf16",
         .help = "dtype of the stored weights (default float = fp32)"},
        {.name = "check", .type = OPT_FLAG, .dst = &check,
         .help = "then open the written model and load every component (no tensor may be unknown or missing)"},
    };
    OptsResult r = opts_parse("init-model", "sdlora init-model --preset tiny|sd15 --seed S --out PATH [--format diffusers|single-file] [--dtype float|fp16|bf16] [--check]",
                              specs, (int)(sizeof specs / sizeof specs[0]), argc, argv);
    if (r != OPTS_OK) return r == OPTS_HELP ? 0 : 1;
    int single = format ? strcmp(format, "single-file") == 0 : ends_with(out, ".safetensors");
    if (single && !ends_with(out, ".safetensors")) {
        fprintf(stderr, "error: %s: a single-file model must be a .safetensors file\n  hint: name it like model.safetensors\n", out);
        return 1;
    }
    StDtype dt = strcmp(dtype, "fp16") == 0 ? ST_F16 : strcmp(dtype, "bf16") == 0 ? ST_BF16 : ST_F32;
    ModelConfigs mc;
    if (strcmp(preset, "tiny") == 0) {
        mc.unet = unet_config_tiny(), mc.te = clip_text_config_tiny(), mc.vae = vae_config_tiny();
        // the UNet attends to the text encoder's states: its context width is the encoder's
        mc.unet.cross_attention_dim = mc.te.hidden_size;
    } else {
        mc.unet = unet_config_sd15(), mc.te = clip_text_config_sd15(), mc.vae = vae_config_sd();
    }
    struct stat sb;
    SdlStatus s = check_parent(out);
    if (s == SDL_OK && stat(out, &sb) == 0 && single == !!S_ISDIR(sb.st_mode))
        s = sdl_fail(SDL_ERR_IO, out, "remove it or choose another --out", single ? "is a folder, but a single file was asked for"
                                                                             : "is a file, but a diffusers folder was asked for");
    double t0 = time_now();
    int64_t n_params = 0;
    if (s == SDL_OK)
        s = single ? write_single(out, &mc, dt, (uint64_t)seed, &n_params) : write_diffusers(out, &mc, dt, (uint64_t)seed, &n_params);
    double t1 = time_now();
    if (s == SDL_OK && check) s = check_written(out);
    if (s != SDL_OK) sdl_die_last();
    char mb[32];
    printf("wrote %s model (%s, %.1f M parameters, %s weights, seed %d) to %s in %.2f s; peak memory %s\n", preset,
           single ? "single-file" : "diffusers", (double)n_params / 1e6, dtype, seed, out, t1 - t0,
           mem_format_bytes(mb, sizeof mb, mem_process_peak_rss()));
    return 0;
}
