// checkpoint.c — see checkpoint.h. (ModelFiles must not be moved after model_files_open: the
// components' map_ctx point at its layout fields.)
#include "models/checkpoint.h"
#include "base/file.h"
#include "io/ckpt.h"
#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define HINT_PATH "check the model path: give a .safetensors/.ckpt file or a diffusers folder (with model_index.json)"
#define HINT_NOT_YET "sdlora trains SD1.x LoRAs for now (SD1.4/1.5 and their fine-tunes); use an SD1.x base model"
#define MAX_CONFIG_BYTES (16u << 20)

static const char *component_names[MODEL_N_COMPONENTS] = {"UNet", "text encoder", "VAE"};
static const char *component_dirs[MODEL_N_COMPONENTS] = {"unet", "text_encoder", "vae"};

const char *model_component_name(ModelComponent c) {
    return (unsigned)c < MODEL_N_COMPONENTS ? component_names[c] : "?";
}

const char *model_form_name(ModelForm f) {
    switch (f) {
    case MODEL_FORM_SAFETENSORS: return "single-file .safetensors";
    case MODEL_FORM_CKPT: return "single-file .ckpt";
    case MODEL_FORM_DIFFUSERS: return "diffusers folder";
    }
    return "?";
}

void model_files_close(ModelFiles *mf) {
    if (!mf) return;
    st_close(&mf->single);
    for (int c = 0; c < MODEL_N_COMPONENTS; c++) {
        st_close(&mf->parts[c]);
        free(mf->comp[c].config_json);
        free(mf->comp[c].weights_path);
    }
    free(mf->path);
    memset(mf, 0, sizeof *mf);
}

static const char *extension(const char *path) {
    const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');
    return dot && (!slash || dot > slash) ? dot : "";
}

// Opens a weights file by its extension: .safetensors, or a torch zip (.ckpt .pt .pth .bin).
static SdlStatus open_weights(SafeTensors *st, const char *path, ModelForm *form) {
    const char *ext = extension(path);
    if (strcasecmp(ext, ".safetensors") == 0) {
        if (form) *form = MODEL_FORM_SAFETENSORS;
        return st_open(st, path);
    }
    if (strcasecmp(ext, ".ckpt") == 0 || strcasecmp(ext, ".pt") == 0 || strcasecmp(ext, ".pth") == 0 ||
        strcasecmp(ext, ".bin") == 0) {
        if (form) *form = MODEL_FORM_CKPT;
        return ckpt_open(st, path);
    }
    return sdl_fail(SDL_ERR_ARG, path, HINT_PATH,
                    "unknown model file extension '%s' (sdlora reads .safetensors, .ckpt, .pt, .pth, .bin, or a diffusers folder)", ext);
}

static void shape_str(char *buf, size_t cap, const StTensor *t) {
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < t->ndim && n < cap; d++) n += (size_t)snprintf(buf + n, cap - n, d ? ", %lld" : "%lld", (long long)t->shape[d]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
}

static int has_prefix(const SafeTensors *st, const char *prefix) {
    size_t n = strlen(prefix);
    for (int64_t i = 0; i < st->n_tensors; i++)
        if (strncmp(st->tensors[i].name, prefix, n) == 0) return 1;
    return 0;
}

static const StTensor *find_containing(const SafeTensors *st, const char *prefix, const char *part) {
    size_t n = strlen(prefix);
    for (int64_t i = 0; i < st->n_tensors; i++)
        if (strncmp(st->tensors[i].name, prefix, n) == 0 && strstr(st->tensors[i].name + n, part)) return &st->tensors[i];
    return NULL;
}

static const StTensor *find_lora_key(const SafeTensors *st) {
    for (int64_t i = 0; i < st->n_tensors; i++) {
        const char *k = st->tensors[i].name;
        if (strncmp(k, "lora_unet_", 10) == 0 || strncmp(k, "lora_te", 7) == 0 || strstr(k, ".lora_down.") ||
            strstr(k, ".lora_up.") || strstr(k, ".lora_A.") || strstr(k, ".lora_B.") || strstr(k, ".hada_w1_a"))
            return &st->tensors[i];
    }
    return NULL;
}

static SdlStatus unsupported(const char *file, const char *family, const StTensor *t, const char *why) {
    char sb[96] = "";
    if (t) shape_str(sb, sizeof sb, t);
    if (t)
        return sdl_fail(SDL_ERR_UNSUPPORTED, file, HINT_NOT_YET, "%s models are not supported yet (detected from tensor '%s' with shape %s%s%s)",
                        family, t->name, sb, why ? ": " : "", why ? why : "");
    return sdl_fail(SDL_ERR_UNSUPPORTED, file, HINT_NOT_YET, "%s models are not supported yet (detected from %s)", family, why);
}

// Family checks on a single-file checkpoint's keys (sd-formats.md §6.e).
static SdlStatus detect_single(ModelFiles *mf, const char *file) {
    const SafeTensors *st = &mf->single;
    const StTensor *t;
    if ((t = find_lora_key(st)))
        return sdl_fail(SDL_ERR_ARG, file, "give the base model (SD1.x checkpoint) as the model; a LoRA to continue from goes to --network_weights",
                        "this is a LoRA file, not a Stable Diffusion model (it has LoRA tensors such as '%s')", t->name);
    if ((t = find_containing(st, "conditioner.embedders.", "")))
        return unsupported(file, "SDXL", t, NULL);
    if ((t = find_containing(st, LDM_UNET_PREFIX "label_emb.", "")))
        return unsupported(file, "SDXL", t, NULL);
    if ((t = find_containing(st, "cond_stage_model.model.", "")))
        return unsupported(file, "SD2.x", t, "an OpenCLIP text encoder");
    if (!has_prefix(st, LDM_UNET_PREFIX)) {
        if (st->n_tensors == 0)
            return sdl_fail(SDL_ERR_FORMAT, file, HINT_PATH, "the file holds no tensors");
        if (has_prefix(st, "down_blocks.") || has_prefix(st, "text_model.") || has_prefix(st, "encoder.down_blocks."))
            return sdl_fail(SDL_ERR_FORMAT, file, "give the diffusers folder (the one with model_index.json), not one component's weights file",
                            "this is a single diffusers component (UNet, text encoder or VAE weights), not a whole model");
        if (has_prefix(st, "encoder.down.") || has_prefix(st, "decoder.up."))
            return sdl_fail(SDL_ERR_FORMAT, file, "give the full SD1.x checkpoint as the model; a separate VAE goes to --vae",
                            "this is a standalone VAE, not a whole Stable Diffusion model");
        return sdl_fail(SDL_ERR_FORMAT, file, HINT_PATH,
                        "this is not a Stable Diffusion checkpoint: none of its %lld tensors is under '" LDM_UNET_PREFIX "' (first: '%s')",
                        (long long)st->n_tensors, st->tensors[0].name);
    }
    if ((t = find_containing(st, LDM_UNET_PREFIX, "attn2.to_k.weight")) && t->ndim == 2) {
        mf->context_dim = (int)t->shape[1];
        if (t->shape[1] == 1024) return unsupported(file, "SD2.x", t, "1024-wide text context");
        if (t->shape[1] == 2048) return unsupported(file, "SDXL", t, "2048-wide text context");
    }
    if ((t = st_find(st, LDM_UNET_PREFIX "input_blocks.0.0.weight")) && t->ndim == 4) {
        mf->in_channels = (int)t->shape[1];
        mf->is_inpaint = t->shape[1] == 9;
    }
    const char *pt = st_metadata_get(st, "modelspec.prediction_type");
    if (st_find(st, "v_pred") || (pt && strcmp(pt, "v") == 0)) mf->prediction = MODEL_PRED_V;
    else if (pt && strcmp(pt, "epsilon") == 0) mf->prediction = MODEL_PRED_EPSILON;
    return SDL_OK;
}

static SdlStatus open_single(ModelFiles *mf, const char *path) {
    SDL_TRY(open_weights(&mf->single, path, &mf->form));
    SDL_TRY(detect_single(mf, path));
    SDL_TRY(ldm_unet_layout_from_tensors(&mf->unet_layout, &mf->single, path));
    SDL_TRY(ldm_vae_layout_from_tensors(&mf->vae_layout, &mf->single, path));
    ldm_clip_layout_from_tensors(&mf->clip_layout, &mf->single);
    static const char *prefixes[MODEL_N_COMPONENTS] = {LDM_UNET_PREFIX, LDM_CLIP_PREFIX, LDM_VAE_PREFIX};
    static const ParamKeyMap maps[MODEL_N_COMPONENTS] = {ldm_unet_key, ldm_clip_key, ldm_vae_key};
    void *ctx[MODEL_N_COMPONENTS] = {&mf->unet_layout, &mf->clip_layout, &mf->vae_layout};
    for (int c = 0; c < MODEL_N_COMPONENTS; c++) {
        mf->comp[c].src = &mf->single;
        mf->comp[c].prefix = prefixes[c];
        mf->comp[c].map = maps[c];
        mf->comp[c].map_ctx = ctx[c];
        if (!(mf->comp[c].weights_path = strdup(path))) return sdl_fail(SDL_ERR_OOM, path, NULL, "out of memory");
    }
    return SDL_OK;
}

// ---------------------------------------------------------------- diffusers folders

static int is_file(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static int is_dir(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

// Reads a small text file whole (NUL-terminated) into *out.
static SdlStatus read_text(const char *path, char **out) {
    return file_read_text(path, MAX_CONFIG_BYTES, "a config file is a few KB; check that this is the right file", out, NULL);
}

static SdlStatus read_json(const char *path, char **text, cJSON **json) {
    SDL_TRY(read_text(path, text));
    *json = cJSON_Parse(*text);
    if (!*json || !cJSON_IsObject(*json)) {
        cJSON_Delete(*json);
        *json = NULL;
        free(*text);
        *text = NULL;
        return sdl_fail(SDL_ERR_FORMAT, path, "the file is damaged; re-download the model folder", "not a valid JSON object");
    }
    return SDL_OK;
}

static char *join(const char *a, const char *b) {
    char *s = NULL;
    return asprintf(&s, "%s/%s", a, b) < 0 ? NULL : s;
}

// The weights file of one component, in the order diffusers prefers.
static SdlStatus find_component_weights(const char *dir, ModelComponent c, char **out) {
    static const char *unet_vae[] = {"diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.fp16.safetensors",
                                     "diffusion_pytorch_model.bin", "diffusion_pytorch_model.fp16.bin", NULL};
    static const char *te[] = {"model.safetensors", "model.fp16.safetensors", "pytorch_model.bin", "pytorch_model.fp16.bin", NULL};
    const char **names = c == MODEL_TEXT_ENCODER ? te : unet_vae;
    *out = NULL;
    for (int i = 0; names[i]; i++) {
        char *p = join(dir, names[i]);
        if (!p) return sdl_fail(SDL_ERR_OOM, dir, NULL, "out of memory");
        if (is_file(p)) {
            *out = p;
            return SDL_OK;
        }
        free(p);
    }
    for (int i = 0; names[i]; i++) {
        char idx[128];
        snprintf(idx, sizeof idx, "%s.index.json", names[i]);
        char *p = join(dir, idx);
        int sharded = p && is_file(p);
        free(p);
        if (sharded)
            return sdl_fail(SDL_ERR_UNSUPPORTED, dir, "merge the shards into one file (or use a single-file checkpoint)",
                            "the %s weights are sharded (%s), which sdlora does not read yet", component_names[c], idx);
    }
    return sdl_fail(SDL_ERR_NOT_FOUND, dir, "the diffusers folder is incomplete; re-download it",
                    "no %s weights file (%s or %s)", component_names[c], names[0], names[2]);
}

static int json_int(const cJSON *obj, const char *key, int *v) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (cJSON_IsArray(j)) j = cJSON_GetArrayItem(j, 0); // cross_attention_dim may be per-block
    if (!cJSON_IsNumber(j)) return 0;
    *v = (int)j->valuedouble;
    return 1;
}

static SdlStatus open_diffusers(ModelFiles *mf, const char *dir) {
    mf->form = MODEL_FORM_DIFFUSERS;
    char *index_path = join(dir, "model_index.json");
    if (!index_path) return sdl_fail(SDL_ERR_OOM, dir, NULL, "out of memory");
    char *text = NULL;
    cJSON *json = NULL;
    SdlStatus status = SDL_OK;
    if (is_file(index_path)) {
        status = read_json(index_path, &text, &json);
        if (status == SDL_OK) {
            const cJSON *cls = cJSON_GetObjectItemCaseSensitive(json, "_class_name");
            const cJSON *te2 = cJSON_GetObjectItemCaseSensitive(json, "text_encoder_2");
            if (cJSON_IsString(cls) && strstr(cls->valuestring, "XL"))
                status = sdl_fail(SDL_ERR_UNSUPPORTED, index_path, HINT_NOT_YET, "SDXL models are not supported yet (detected from _class_name \"%s\")",
                                  cls->valuestring);
            else if (te2 && cJSON_IsArray(te2) && cJSON_IsString(cJSON_GetArrayItem(te2, 0)))
                status = sdl_fail(SDL_ERR_UNSUPPORTED, index_path, HINT_NOT_YET, "SDXL models are not supported yet (detected from the text_encoder_2 component)");
        }
        cJSON_Delete(json);
        free(text);
        json = NULL, text = NULL;
    } else {
        char *unet = join(dir, "unet");
        if (!unet || !is_dir(unet))
            status = sdl_fail(SDL_ERR_FORMAT, dir, HINT_PATH, "this folder is not a diffusers model: it has neither model_index.json nor a unet/ folder");
        free(unet);
    }
    free(index_path);
    SDL_TRY(status);

    for (int c = 0; c < MODEL_N_COMPONENTS; c++) {
        ModelComponentFiles *cf = &mf->comp[c];
        char *cdir = join(dir, component_dirs[c]);
        if (!cdir) return sdl_fail(SDL_ERR_OOM, dir, NULL, "out of memory");
        if (!is_dir(cdir)) {
            status = sdl_fail(SDL_ERR_NOT_FOUND, dir, "the diffusers folder is incomplete; re-download it", "no %s/ folder", component_dirs[c]);
            free(cdir);
            return status;
        }
        char *cfg_path = join(cdir, "config.json");
        status = cfg_path ? read_json(cfg_path, &cf->config_json, &json) : sdl_fail(SDL_ERR_OOM, dir, NULL, "out of memory");
        if (status == SDL_OK) {
            int v;
            if (c == MODEL_UNET) {
                if (json_int(json, "cross_attention_dim", &v)) {
                    mf->context_dim = v;
                    if (v == 1024) status = sdl_fail(SDL_ERR_UNSUPPORTED, cfg_path, HINT_NOT_YET, "SD2.x models are not supported yet (detected from cross_attention_dim 1024)");
                    if (v == 2048) status = sdl_fail(SDL_ERR_UNSUPPORTED, cfg_path, HINT_NOT_YET, "SDXL models are not supported yet (detected from cross_attention_dim 2048)");
                }
                if (json_int(json, "in_channels", &v)) mf->in_channels = v, mf->is_inpaint = v == 9;
            }
            if (c == MODEL_TEXT_ENCODER && json_int(json, "hidden_size", &v) && v == 1024)
                status = sdl_fail(SDL_ERR_UNSUPPORTED, cfg_path, HINT_NOT_YET, "SD2.x models are not supported yet (detected from the 1024-wide text encoder)");
        }
        cJSON_Delete(json);
        json = NULL;
        free(cfg_path);
        if (status == SDL_OK) status = find_component_weights(cdir, (ModelComponent)c, &cf->weights_path);
        free(cdir);
        if (status == SDL_OK) status = open_weights(&mf->parts[c], cf->weights_path, NULL);
        SDL_TRY(status);
        cf->src = &mf->parts[c];
        cf->prefix = "";
    }

    char *sched = join(dir, "scheduler/scheduler_config.json");
    if (sched && is_file(sched) && read_json(sched, &text, &json) == SDL_OK) {
        const cJSON *pt = cJSON_GetObjectItemCaseSensitive(json, "prediction_type");
        if (cJSON_IsString(pt)) mf->prediction = strcmp(pt->valuestring, "v_prediction") == 0 ? MODEL_PRED_V
                                               : strcmp(pt->valuestring, "epsilon") == 0    ? MODEL_PRED_EPSILON
                                                                                          : MODEL_PRED_UNKNOWN;
        cJSON_Delete(json);
        free(text);
    }
    free(sched);
    return SDL_OK;
}

SdlStatus model_files_open(ModelFiles *mf, const char *path) {
    memset(mf, 0, sizeof *mf);
    struct stat sb;
    if (stat(path, &sb) != 0) {
        int e = errno;
        return sdl_fail(SDL_ERR_IO, path, HINT_PATH, "cannot open the model: %s", strerror(e));
    }
    if (!(mf->path = strdup(path))) return sdl_fail(SDL_ERR_OOM, path, NULL, "out of memory");
    SdlStatus status = S_ISDIR(sb.st_mode) ? open_diffusers(mf, path) : open_single(mf, path);
    if (status != SDL_OK) model_files_close(mf);
    return status;
}

SdlStatus model_files_load(const ModelFiles *mf, ModelComponent c, ParamTable *t, LoadReport *report) {
    SDL_ASSERT((unsigned)c < MODEL_N_COMPONENTS && mf->comp[c].src);
    const ModelComponentFiles *cf = &mf->comp[c];
    return param_table_load(t, cf->src, cf->prefix, cf->map, cf->map_ctx, component_names[c], report);
}
