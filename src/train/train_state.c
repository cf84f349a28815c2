// train_state.c — see train_state.h.
#include "train/train_state.h"
#include "base/atomic_file.h"
#include "base/log.h"
#include "lora/lora_file.h"
#include "io/safetensors.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <dirent.h>
#include <unistd.h>

#define STATE_VERSION 1

SdlStatus train_state_remove(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT ? SDL_OK : sdl_fail(SDL_ERR_IO, dir, "check permissions", "cannot open: %s", strerror(errno));
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path); // state folders hold plain files only
    }
    closedir(d);
    if (rmdir(dir) != 0) return sdl_fail(SDL_ERR_IO, dir, "remove it by hand", "cannot remove: %s", strerror(errno));
    return SDL_OK;
}

// scalars[3] must live until the writer saves (it borrows the data).
static void add_rng(StWriter *w, const char *prefix, const Rng *r, int64_t scalars[3]) {
    char name[64];
    int64_t n = RNG_MT_N, three = 3, one = 1;
    scalars[0] = r->index, scalars[1] = (int64_t)r->seed, scalars[2] = r->has_next_normal;
    snprintf(name, sizeof name, "%s.state", prefix);
    st_writer_add(w, name, ST_U32, 1, &n, r->state);
    snprintf(name, sizeof name, "%s.scalars", prefix);
    st_writer_add(w, name, ST_I64, 1, &three, scalars);
    snprintf(name, sizeof name, "%s.next_normal", prefix);
    st_writer_add(w, name, ST_F64, 1, &one, &r->next_normal);
}

static SdlStatus read_exact(const SafeTensors *st, const char *name, StDtype dt, int64_t numel, void *dst) {
    const StTensor *t = st_find(st, name);
    if (!t || t->dtype != dt || t->numel != numel)
        return sdl_fail(SDL_ERR_FORMAT, st->path, "the state folder is damaged or from another version; start without --resume",
                        "tensor '%s' is missing or has the wrong type/size", name);
    memcpy(dst, t->data, (size_t)numel * st_dtype_size(dt));
    return SDL_OK;
}

static SdlStatus read_rng(const SafeTensors *st, const char *prefix, Rng *r) {
    char name[64];
    int64_t sc[3];
    snprintf(name, sizeof name, "%s.state", prefix);
    SDL_TRY(read_exact(st, name, ST_U32, RNG_MT_N, r->state));
    snprintf(name, sizeof name, "%s.scalars", prefix);
    SDL_TRY(read_exact(st, name, ST_I64, 3, sc));
    snprintf(name, sizeof name, "%s.next_normal", prefix);
    SDL_TRY(read_exact(st, name, ST_F64, 1, &r->next_normal));
    r->index = (int)sc[0], r->seed = (uint64_t)sc[1], r->has_next_normal = (int)sc[2];
    return SDL_OK;
}

static SdlStatus write_trainer_file(const char *path, const TrainProgress *p) {
    StWriter *w = st_writer_new();
    int64_t sc_noise[3];
    add_rng(w, "noise_rng", &p->noise_rng, sc_noise);
    int64_t n = 624, one = 1, nl = p->n_losses;
    int64_t py_index = p->py.index;
    st_writer_add(w, "py_random.state", ST_U32, 1, &n, p->py.mt);
    st_writer_add(w, "py_random.index", ST_I64, 1, &one, &py_index);
    if (nl) st_writer_add_f32(w, "loss_recorder.losses", 1, &nl, p->losses);
    int64_t counters[6] = {p->global_step, p->epoch, p->next_batch, p->batches_per_epoch, p->seed, p->losses_filled};
    int64_t six = 6;
    st_writer_add(w, "progress", ST_I64, 1, &six, counters);
    st_writer_add(w, "loss_recorder.total", ST_F64, 1, &one, &p->loss_total);
    char v[16];
    snprintf(v, sizeof v, "%d", STATE_VERSION);
    st_writer_set_metadata(w, "sdlora.format", "train_state");
    st_writer_set_metadata(w, "sdlora.version", v);
    SdlStatus s = st_writer_save(w, path);
    st_writer_free(w);
    return s;
}

static SdlStatus write_json(const char *path, const TrainProgress *p) {
    char text[512];
    // kohya: current_epoch is 1-based, current_step the global step reached
    int n = snprintf(text, sizeof text,
                     "{\"current_epoch\": %lld, \"current_step\": %lld, \"sdlora\": {\"next_epoch\": %lld, "
                     "\"next_batch\": %lld, \"batches_per_epoch\": %lld, \"seed\": %lld}}\n",
                     (long long)(p->epoch + (p->next_batch > 0 ? 1 : 0)), (long long)p->global_step,
                     (long long)p->epoch, (long long)p->next_batch, (long long)p->batches_per_epoch,
                     (long long)p->seed);
    return atomic_write_file(path, text, (size_t)n);
}

SdlStatus train_state_save(const char *dir, const LoraNetwork *net, const Optimizer *opt, const TrainProgress *p) {
    char tmp[4096], old[4096], path[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", dir);
    snprintf(old, sizeof old, "%s.old", dir);
    SDL_TRY(train_state_remove(tmp));
    if (mkdir(tmp, 0777) != 0)
        return sdl_fail(SDL_ERR_IO, tmp, "check that the output folder is writable", "cannot create: %s", strerror(errno));
    const char *mk[] = {"format"}, *mv[] = {"pt"};
    snprintf(path, sizeof path, "%s/model.safetensors", tmp);
    SdlStatus s = lora_save(net, path, LORA_SAVE_FLOAT, mk, mv, 1, NULL);
    if (s == SDL_OK) snprintf(path, sizeof path, "%s/optimizer.safetensors", tmp), s = optim_save_state(opt, path);
    if (s == SDL_OK) snprintf(path, sizeof path, "%s/trainer.safetensors", tmp), s = write_trainer_file(path, p);
    if (s == SDL_OK) snprintf(path, sizeof path, "%s/train_state.json", tmp), s = write_json(path, p);
    if (s != SDL_OK) {
        train_state_remove(tmp);
        return s;
    }
    // swap in: the previous folder (if any) survives until the new one has its name
    SDL_TRY(train_state_remove(old));
    struct stat sb;
    if (stat(dir, &sb) == 0 && rename(dir, old) != 0)
        return sdl_fail(SDL_ERR_IO, dir, "check permissions", "cannot move the previous state aside: %s", strerror(errno));
    if (rename(tmp, dir) != 0)
        return sdl_fail(SDL_ERR_IO, dir, "check permissions", "cannot rename %s into place: %s", tmp, strerror(errno));
    return train_state_remove(old);
}

SdlStatus train_state_load(const char *dir, LoraNetwork *net, Optimizer *opt, TrainProgress *p) {
    char path[4200];
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return sdl_fail(SDL_ERR_NOT_FOUND, dir, "pass a folder written by --save_state (e.g. output/NAME-state)",
                        "--resume: no such state folder");
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    LoraLoadReport rep;
    SDL_TRY(lora_load(net, path, &rep));
    snprintf(path, sizeof path, "%s/optimizer.safetensors", dir);
    SDL_TRY(optim_load_state(opt, path));
    snprintf(path, sizeof path, "%s/trainer.safetensors", dir);
    SafeTensors st;
    SDL_TRY(st_open(&st, path));
    int64_t counters[6], py_index;
    SdlStatus s = read_exact(&st, "progress", ST_I64, 6, counters);
    if (s == SDL_OK) s = read_rng(&st, "noise_rng", &p->noise_rng);
    if (s == SDL_OK) s = read_exact(&st, "py_random.state", ST_U32, 624, p->py.mt);
    if (s == SDL_OK) s = read_exact(&st, "py_random.index", ST_I64, 1, &py_index);
    if (s == SDL_OK) s = read_exact(&st, "loss_recorder.total", ST_F64, 1, &p->loss_total);
    if (s == SDL_OK) {
        p->global_step = counters[0], p->epoch = counters[1], p->next_batch = counters[2];
        p->batches_per_epoch = counters[3], p->seed = counters[4], p->losses_filled = counters[5];
        p->py.index = (int)py_index;
        p->n_losses = p->batches_per_epoch;
        p->losses = calloc((size_t)(p->n_losses ? p->n_losses : 1), sizeof *p->losses);
        if (!p->losses) s = sdl_fail(SDL_ERR_OOM, path, NULL, "out of memory");
        else if (p->n_losses) s = read_exact(&st, "loss_recorder.losses", ST_F32, p->n_losses, p->losses);
    }
    st_close(&st);
    return s;
}
