// lora_file.c — kohya LoRA .safetensors save and load (see lora_file.h).
#include "lora/lora_file.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/half.h"
#include "base/log.h"
#include "lora/sha256.h"

void lora_sshs_hashes(const void *file, size_t size, char model_hash[65], char legacy_hash[9]) {
    const unsigned char *b = file;
    uint64_t n = 0;
    for (int i = 0; i < 8 && (size_t)i < size; i++) n |= (uint64_t)b[i] << (8 * i);
    size_t start = 8 + n <= size ? (size_t)(8 + n) : size;
    sha256_hex(b + start, size - start, model_hash);
    // addnet_hash_legacy: sha256 of bytes [0x100000, 0x110000) (empty below 1 MiB)
    size_t lo = 0x100000 < size ? 0x100000 : size, hi = 0x110000 < size ? 0x110000 : size;
    char full[65];
    sha256_hex(b + lo, hi - lo, full);
    memcpy(legacy_hash, full, 8);
    legacy_hash[8] = 0;
}

typedef struct {
    void *buf; // converted tensors, per module: down, up, alpha
} SaveBufs;

// Adds every tensor (converted into bufs->buf) to w.
static int add_tensors(const LoraNetwork *net, StWriter *w, LoraSaveDtype dt, SaveBufs *bufs) {
    StDtype sd = dt == LORA_SAVE_FP16 ? ST_F16 : dt == LORA_SAVE_BF16 ? ST_BF16 : ST_F32;
    size_t es = st_dtype_size(sd);
    if (!bufs->buf) {
        bufs->buf = malloc((net->n_params + (size_t)net->n + 1) * es);
        if (!bufs->buf) return 0;
        unsigned char *p = bufs->buf;
        for (int64_t i = 0; i < net->n; i++) {
            const LoraModule *m = &net->mods[i];
            size_t nd = (size_t)(m->rank * m->in * m->k * m->k), nu = (size_t)(m->out * m->rank);
            const float *src[3] = {m->down, m->up, &m->alpha};
            size_t cnt[3] = {nd, nu, 1};
            for (int t = 0; t < 3; t++) {
                if (sd == ST_F16) fp32_to_fp16_array((uint16_t *)(void *)p, src[t], cnt[t]);
                else if (sd == ST_BF16) fp32_to_bf16_array((uint16_t *)(void *)p, src[t], cnt[t]);
                else memcpy(p, src[t], cnt[t] * 4);
                p += cnt[t] * es;
            }
        }
    }
    const unsigned char *p = bufs->buf;
    for (int64_t i = 0; i < net->n; i++) {
        const LoraModule *m = &net->mods[i];
        char key[256];
        int64_t dshape[4] = {m->rank, m->in, m->k, m->k}, ushape[4] = {m->out, m->rank, 1, 1};
        int nd = m->is_conv ? 4 : 2;
        snprintf(key, sizeof key, "%s.lora_down.weight", m->name);
        st_writer_add(w, key, sd, nd, dshape, p);
        p += (size_t)(m->rank * m->in * m->k * m->k) * es;
        snprintf(key, sizeof key, "%s.lora_up.weight", m->name);
        st_writer_add(w, key, sd, nd, ushape, p);
        p += (size_t)(m->out * m->rank) * es;
        snprintf(key, sizeof key, "%s.alpha", m->name);
        st_writer_add(w, key, sd, 0, NULL, p);
        p += es;
    }
    return 1;
}

// The writer of the final file: kohya hashes a file holding only the ss_* metadata, so that one is
// serialised first (in memory) for sshs_model_hash / sshs_legacy_hash, then the real writer gets
// all metadata plus the hashes. bufs holds the converted tensors until the caller frees it.
static SdlStatus final_writer(const LoraNetwork *net, LoraSaveDtype dtype, const char *const *meta_keys,
                              const char *const *meta_values, int64_t n_meta, const char *path, SaveBufs *bufs,
                              char hash_out[65], StWriter **out) {
    *out = NULL;
    StWriter *w = st_writer_new();
    if (!add_tensors(net, w, dtype, bufs)) {
        st_writer_free(w);
        return sdl_fail(SDL_ERR_OOM, path, NULL, "no memory for the LoRA tensors");
    }
    for (int64_t i = 0; i < n_meta; i++)
        if (strncmp(meta_keys[i], "ss_", 3) == 0) st_writer_set_metadata(w, meta_keys[i], meta_values[i]);
    void *tmp = NULL;
    size_t tmp_size = 0;
    SdlStatus st = st_writer_to_memory(w, &tmp, &tmp_size);
    st_writer_free(w);
    if (st != SDL_OK) return st;
    char model_hash[65], legacy[9];
    lora_sshs_hashes(tmp, tmp_size, model_hash, legacy);
    free(tmp);
    if (hash_out) memcpy(hash_out, model_hash, 65);
    w = st_writer_new();
    add_tensors(net, w, dtype, bufs);
    for (int64_t i = 0; i < n_meta; i++) st_writer_set_metadata(w, meta_keys[i], meta_values[i]);
    st_writer_set_metadata(w, "sshs_model_hash", model_hash);
    st_writer_set_metadata(w, "sshs_legacy_hash", legacy);
    *out = w;
    return SDL_OK;
}

SdlStatus lora_save_to_memory(const LoraNetwork *net, LoraSaveDtype dtype, const char *const *meta_keys,
                              const char *const *meta_values, int64_t n_meta, void **out, size_t *size) {
    SaveBufs bufs = {0};
    StWriter *w;
    SdlStatus st = final_writer(net, dtype, meta_keys, meta_values, n_meta, NULL, &bufs, NULL, &w);
    if (st == SDL_OK) st = st_writer_to_memory(w, out, size);
    st_writer_free(w);
    free(bufs.buf);
    return st;
}

SdlStatus lora_save(const LoraNetwork *net, const char *path, LoraSaveDtype dtype, const char *const *meta_keys,
                    const char *const *meta_values, int64_t n_meta, char hash_out[65]) {
    SaveBufs bufs = {0};
    StWriter *w;
    SdlStatus st = final_writer(net, dtype, meta_keys, meta_values, n_meta, path, &bufs, hash_out, &w);
    if (st == SDL_OK) st = st_writer_save(w, path);
    st_writer_free(w);
    free(bufs.buf);
    return st;
}

// ---- load -------------------------------------------------------------------------------------

static void shape_str(char *dst, size_t cap, int ndim, const int64_t *shape) {
    size_t o = (size_t)snprintf(dst, cap, "(");
    for (int i = 0; i < ndim && o < cap; i++)
        o += (size_t)snprintf(dst + o, cap - o, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (o < cap) snprintf(dst + o, cap - o, ")");
}

// Equal after dropping trailing 1s.
static int same_shape(int na, const int64_t *a, int nb, const int64_t *b) {
    while (na > 0 && a[na - 1] == 1) na--;
    while (nb > 0 && b[nb - 1] == 1) nb--;
    if (na != nb) return 0;
    for (int i = 0; i < na; i++)
        if (a[i] != b[i]) return 0;
    return 1;
}

static SdlStatus load_tensor(const SafeTensors *st, const char *key, float *dst, int ndim, const int64_t *shape) {
    const StTensor *t = st_find(st, key);
    if (!t)
        return sdl_fail(SDL_ERR_NOT_FOUND, st->path, "the file is for another network (rank, LoCon or model); check --network_dim / conv_dim, or use --dim_from_weights",
                        "tensor %s is missing", key);
    if (!same_shape(t->ndim, t->shape, ndim, shape)) {
        char a[128], b[128];
        shape_str(a, sizeof a, t->ndim, t->shape);
        shape_str(b, sizeof b, ndim, shape);
        return sdl_fail(SDL_ERR_SHAPE, st->path, "match --network_dim / conv_dim to the file, or use --dim_from_weights",
                        "%s has shape %s in the file but the network expects %s", key, a, b);
    }
    return st_tensor_to_f32(st, t, dst);
}

static int known_suffix(const char *key, const char *suffix) {
    size_t n = strlen(key), s = strlen(suffix);
    return n > s && strcmp(key + n - s, suffix) == 0;
}

SdlStatus lora_load_st(LoraNetwork *net, const SafeTensors *st, LoraLoadReport *rep) {
    LoraLoadReport r = {0};
    // LyCORIS algorithms this network cannot represent
    for (int64_t i = 0; i < st->n_tensors; i++) {
        const char *k = st->tensors[i].name;
        if (strstr(k, ".lora_mid.") || strstr(k, ".hada_") || strstr(k, ".lokr_") || known_suffix(k, ".dora_scale"))
            return sdl_fail(SDL_ERR_UNSUPPORTED, st->path, "only plain LoRA / LoCon (lora_down, lora_up, alpha) files can be loaded into a LoRA network",
                            "tensor %s belongs to a LyCORIS algorithm (Tucker/LoHa/LoKr/DoRA)", k);
    }
    for (int64_t i = 0; i < net->n; i++) {
        LoraModule *m = &net->mods[i];
        char key[256];
        int nd = m->is_conv ? 4 : 2;
        int64_t ds[4] = {m->rank, m->in, m->k, m->k}, us[4] = {m->out, m->rank, 1, 1};
        snprintf(key, sizeof key, "%s.lora_down.weight", m->name);
        SdlStatus s = load_tensor(st, key, m->down, nd, ds);
        if (s != SDL_OK) return s;
        snprintf(key, sizeof key, "%s.lora_up.weight", m->name);
        s = load_tensor(st, key, m->up, nd, us);
        if (s != SDL_OK) return s;
        r.tensors_used += 2;
        snprintf(key, sizeof key, "%s.alpha", m->name);
        const StTensor *a = st_find(st, key);
        float alpha = (float)m->rank; // kohya and every consumer: a missing alpha means scale 1
        if (a) {
            if (a->numel != 1) return sdl_fail(SDL_ERR_SHAPE, st->path, NULL, "%s has %lld elements, expected a scalar", key, (long long)a->numel);
            s = st_tensor_to_f32(st, a, &alpha);
            if (s != SDL_OK) return s;
            r.tensors_used++;
        } else {
            r.alpha_missing++;
        }
        if (alpha != m->alpha && fabsf(alpha - m->alpha) > 1e-3f * fabsf(m->alpha))
            log_warn("%s: %s alpha %g in the file, %g configured: using the file's", st->path, m->name, (double)alpha,
                     (double)m->alpha);
        m->alpha = alpha;
        r.modules++;
    }
    r.unknown = st->n_tensors - r.tensors_used;
    if (r.unknown > 0) {
        // name the first few keys no module claimed
        int shown = 0;
        for (int64_t i = 0; i < st->n_tensors && shown < 5; i++) {
            const char *k = st->tensors[i].name;
            const char *dot = strchr(k, '.');
            char mod[192];
            size_t len = dot ? (size_t)(dot - k) : strlen(k);
            if (len >= sizeof mod) len = sizeof mod - 1;
            memcpy(mod, k, len), mod[len] = 0;
            if (!lora_network_find(net, mod)) {
                log_warn("%s: tensor %s is not used by this network", st->path, k);
                shown++;
            }
        }
        log_warn("%s: %lld tensors not used by this network", st->path, (long long)r.unknown);
    }
    lora_network_set_multiplier(net, net->cfg.multiplier); // scales from the loaded alphas
    if (rep) *rep = r;
    return SDL_OK;
}

SdlStatus lora_load(LoraNetwork *net, const char *path, LoraLoadReport *rep) {
    SafeTensors st;
    SdlStatus s = st_open(&st, path);
    if (s != SDL_OK) return s;
    s = lora_load_st(net, &st, rep);
    st_close(&st);
    return s;
}
