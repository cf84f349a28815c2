// trainer_save.c — the files a run writes, named as kohya names them: LoRA files at epoch
// ends, every N steps and at the end; state folders beside them; and kohya's retention of the
// last N of each (save_last_n_epochs / _steps, and their _state variants).
#include "train/trainer_internal.h"
#include "base/clock.h"
#include "base/log.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void trainer_file_name(const Trainer *t, char kind, int64_t n, bool state, char *buf, size_t cap) {
    const char *name = t->output_name[0] ? t->output_name : kind == 'e' ? "epoch" : kind == 's' ? "at" : "last";
    char stem[512];
    if (kind == 'e') snprintf(stem, sizeof stem, "%s-%06lld", name, (long long)n);
    else if (kind == 's') snprintf(stem, sizeof stem, "%s-step%08lld", name, (long long)n);
    else snprintf(stem, sizeof stem, "%s", name);
    snprintf(buf, cap, "%s/%s%s", t->a->output_dir, stem, state ? "-state" : ".safetensors");
}

SdlStatus trainer_save_lora(Trainer *t, char kind, int64_t n, int64_t epoch_for_meta) {
    char path[4096];
    trainer_file_name(t, kind, n, false, path, sizeof path);
    // the run's keys plus the per-save ones (ss_training_finished_at, ss_steps, ss_epoch,
    // modelspec.*); with --no_metadata the builder keeps kohya's minimum set
    const char *const *k, *const *v;
    int64_t n_meta;
    SDL_TRY(train_meta_for_save(&t->meta, wall_time_now(), t->prog.global_step, epoch_for_meta, &k, &v, &n_meta));
    SDL_TRY(lora_save(&t->net, path, t->save_dtype, k, v, n_meta, NULL));
    log_info("saved %s", path);
    return SDL_OK;
}

SdlStatus trainer_save_state(Trainer *t, char kind, int64_t n) {
    char dir[4096];
    trainer_file_name(t, kind, n, true, dir, sizeof dir);
    SdlStatus s = train_state_save(dir, &t->net, t->opt, &t->prog);
    if (s == SDL_OK) log_info("saved state %s", dir);
    return s;
}

// Removes an old LoRA file or state folder (absent: nothing to do).
static void remove_path(const char *path, bool is_dir) {
    struct stat sb;
    if (stat(path, &sb) != 0) return;
    if (is_dir ? train_state_remove(path) != SDL_OK : unlink(path) != 0) {
        log_warn("could not remove %s (outside the save_last_n window)", path);
        return;
    }
    log_info("removed %s (outside the save_last_n window)", path);
}

void trainer_remove_old(Trainer *t, char kind, int64_t n_now) {
    const TrainArgs *a = t->a;
    char path[4096];
    for (int state = 0; state < 2; state++) {
        int64_t keep = kind == 'e' ? (state && a->save_last_n_epochs_state ? a->save_last_n_epochs_state : a->save_last_n_epochs)
                                   : (state && a->save_last_n_steps_state ? a->save_last_n_steps_state : a->save_last_n_steps);
        if (keep <= 0 || (state && !a->save_state)) continue;
        int64_t old;
        if (kind == 'e') {
            old = n_now - a->save_every_n_epochs * keep; // kohya get_remove_epoch_no
        } else {
            old = n_now - keep - 1;                      // kohya get_remove_step_no
            old -= old % a->save_every_n_steps;
        }
        if (old <= 0) continue; // kohya removes nothing below 0; file 0 never exists
        trainer_file_name(t, kind, old, state, path, sizeof path);
        remove_path(path, state);
    }
}
