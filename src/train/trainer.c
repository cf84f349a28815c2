// trainer.c — see trainer.h. Setup in kohya's order, then the epoch/batch loop.
#include "train/trainer.h"
#include "train/trainer_internal.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/profile.h"
#include "base/version.h"
#include "sample/dynamic_prompts.h"
#include "ops/gemm.h"
#include <math.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

// ---------------------------------------------------------------- setup pieces

static SdlStatus objective_from_args(const TrainArgs *a, bool v_pred, ObjectiveConfig *o) {
    *o = objective_config_default();
    o->noise_offset = a->noise_offset;
    o->noise_offset_random_strength = a->noise_offset_random_strength;
    o->adaptive_noise_scale = a->adaptive_noise_scale;
    o->multires_noise_iterations = a->multires_noise_iterations;
    o->multires_noise_discount = a->multires_noise_discount;
    o->ip_noise_gamma = a->ip_noise_gamma;
    o->ip_noise_gamma_random_strength = a->ip_noise_gamma_random_strength;
    o->min_timestep = a->min_timestep;
    o->max_timestep = a->max_timestep;
    o->v_parameterization = v_pred;
    o->zero_terminal_snr = a->zero_terminal_snr;
    SDL_TRY(loss_type_parse(a->loss_type, &o->loss_type));
    SDL_TRY(huber_schedule_parse(a->huber_schedule, &o->huber_schedule));
    o->huber_c = a->huber_c;
    o->huber_scale = a->huber_scale;
    o->min_snr_gamma = a->min_snr_gamma;
    o->scale_v_pred_loss_like_noise_pred = a->scale_v_pred_loss_like_noise_pred;
    o->v_pred_like_loss = a->v_pred_like_loss;
    o->debiased_estimation_loss = a->debiased_estimation_loss;
    return SDL_OK;
}

static SdlStatus make_output_dir(const char *dir) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", dir);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(buf, 0777);
            *p = '/';
        }
    if (mkdir(buf, 0777) != 0) {
        struct stat sb;
        if (stat(buf, &sb) != 0 || !S_ISDIR(sb.st_mode))
            return sdl_fail(SDL_ERR_IO, dir, "check the path and permissions", "--output_dir: cannot create the folder");
    }
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/.sdlora-write-test", buf);
    FILE *f = fopen(probe, "w");
    if (!f) return sdl_fail(SDL_ERR_IO, dir, "choose a writable --output_dir", "--output_dir is not writable");
    fclose(f);
    unlink(probe);
    return SDL_OK;
}

// Encodes a batch of pixels into unscaled latents (the loader's cache callback): the VAE's
// latent_dist.sample() as kohya caches it, drawn from the run's generator.
typedef struct {
    Trainer *t;
    Rng rng;
} EncodeCtx;

static SdlStatus vae_plan_for(Trainer *t, int64_t B, int64_t H, int64_t W) {
    if (t->vae_B == B && t->vae_H == H && t->vae_W == W) return SDL_OK;
    SDL_TRY(vae_plan(&t->model.vae, B, H, W, VAE_ENCODE));
    t->vae_B = B, t->vae_H = H, t->vae_W = W;
    return SDL_OK;
}

// Grows *buf (MEM_ACTIVATIONS) to hold n floats; *cap tracks its size.
static void ensure_floats(float **buf, size_t *cap, size_t n) {
    if (n <= *cap) return;
    mem_free(*buf);
    *buf = mem_alloc(MEM_ACTIVATIONS, n * sizeof(float));
    *cap = n;
}

// latents (B, L, H/f, W/f) = sample of the VAE posterior × scaling (1 for the cache: unscaled).
static SdlStatus encode_pixels(Trainer *t, float *latents, const float *pixels, int64_t B, int64_t H, int64_t W,
                               float scaling, Rng *rng) {
    SDL_TRY(vae_plan_for(t, B, H, W));
    size_t n = (size_t)(B * t->latent_c * (H / t->latent_f) * (W / t->latent_f));
    ensure_floats(&t->vae_moments, &t->moments_cap, 2 * n); // mean then logvar; only when encoding
    float *mean = t->vae_moments, *logvar = t->vae_moments + n;
    vae_encode(&t->model.vae, mean, logvar, pixels);
    vae_sample_latents(latents, mean, logvar, (int64_t)n, rng, scaling);
    for (size_t i = 0; i < n; i++)
        if (isnan(latents[i])) latents[i] = 0; // kohya replaces NaN latents with 0
    return SDL_OK;
}

// Caching samples from its own generator (seeded from --seed): the training noise then does not
// depend on whether this run built the cache or found it on disk.
// What identifies the VAE in latent cache keys: its file (or folder), size and modification
// time, so replacing the model or --vae invalidates the cache without hashing gigabytes.
static void vae_identity(const Trainer *t, char *buf, size_t cap) {
    const char *path = t->a->vae ? t->a->vae : t->a->pretrained_model_name_or_path;
    struct stat sb;
    if (stat(path, &sb) == 0)
        snprintf(buf, cap, "%s|%lld|%lld", path, (long long)sb.st_size, (long long)sb.st_mtime);
    else
        snprintf(buf, cap, "%s", path);
}

static SdlStatus cache_encode(void *ctx, float *latents, const float *pixels, int64_t B, int64_t H, int64_t W) {
    EncodeCtx *e = ctx;
    return encode_pixels(e->t, latents, pixels, B, H, W, 1.0f, &e->rng);
}

static SdlStatus setup_network(Trainer *t) {
    const TrainArgs *a = t->a;
    LoraNetworkConfig cfg = lora_network_config_default();
    cfg.network_dim = a->network_dim;
    cfg.network_alpha = (float)a->network_alpha;
    cfg.dropout = (float)a->network_dropout;
    cfg.train_unet = !a->network_train_text_encoder_only;
    cfg.train_te = !a->network_train_unet_only;
    NetworkArgs na;
    SDL_TRY(train_args_network_args(a, &na));
    cfg.conv_dim = na.conv_dim;
    cfg.conv_alpha = (float)na.conv_alpha;
    cfg.rank_dropout = (float)na.rank_dropout;
    cfg.module_dropout = (float)na.module_dropout;
    SafeTensors dims;
    bool have_dims = false;
    if (a->dim_from_weights) {
        if (!a->network_weights)
            return sdl_fail(SDL_ERR_ARG, NULL, "give --network_weights FILE with --dim_from_weights",
                            "--dim_from_weights needs --network_weights");
        SDL_TRY(st_open(&dims, a->network_weights));
        have_dims = true;
    }
    SdlStatus s = lora_network_create(&t->net, &cfg, cfg.train_unet ? &t->model.unet : NULL,
                                      cfg.train_te ? &t->model.te : NULL, have_dims ? &dims : NULL);
    if (have_dims) st_close(&dims);
    SDL_TRY(s);
    t->net_created = true;
    // kohya: the network is created right after seeding, so its init draws come first
    lora_network_init_weights(&t->net, &t->prog.noise_rng);
    if (a->network_weights) {
        LoraLoadReport rep;
        SDL_TRY(lora_load(&t->net, a->network_weights, &rep));
        log_info("loaded %lld LoRA modules from %s", (long long)rep.modules, a->network_weights);
    }
    lora_network_enable_grads(&t->net);
    lora_network_attach(&t->net);
    return SDL_OK;
}

static SdlStatus build_metadata(Trainer *t, uint64_t session_id) {
    TrainMetaDataset *md;
    size_t nmd;
    SDL_TRY(train_meta_datasets_from_data(&t->data, &md, &nmd));
    char od[1024];
    optim_config_describe(optim_config(t->opt), od, sizeof od);
    TrainMetaInput mi = {.args = t->a, .datasets = md, .n_datasets = nmd, .num_train_images = t->data.num_train_images,
                         .num_reg_images = t->data.num_reg_images, .num_batches_per_epoch = t->batches_per_epoch,
                         .num_epochs = t->num_epochs, .max_train_steps = t->max_train_steps, .num_processes = 1,
                         .seed = t->seed, .optimizer = od,
                         .adafactor_relative_step = optim_config_uses_relative_step(optim_config(t->opt)),
                         .session_id = session_id, .training_started_at = t->started_at, .sdlora_version = SDLORA_VERSION};
    SdlStatus s = train_meta_build(&t->meta, &mi);
    train_meta_datasets_free(md, nmd);
    if (s == SDL_OK) t->meta_ready = true;
    return s;
}

static SdlStatus setup_optimizer(Trainer *t) {
    const TrainArgs *a = t->a;
    double te_lr = a->has_text_encoder_lr ? a->text_encoder_lr : a->learning_rate;
    double unet_lr = a->has_unet_lr ? a->unet_lr : a->learning_rate;
    t->params = calloc((size_t)(2 * t->net.n + 1), sizeof *t->params);
    if (!t->params) return sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory");
    int64_t off = 0;
    t->train_te = false;
    // kohya's prepare_optimizer_params: text encoder group first; a group with lr 0 is dropped
    // ("NO LR skipping!") but its modules stay applied and saved
    if (t->net.n_te > 0 && te_lr != 0) {
        int64_t k = lora_network_optim_params(&t->net, 1, t->params + off);
        t->groups[t->n_groups++] = (OptimGroup){.params = t->params + off, .n_params = k, .lr = te_lr, .name = "textencoder"};
        off += k;
        t->train_te = true;
    }
    if (t->net.n_unet > 0 && unet_lr != 0) {
        int64_t k = lora_network_optim_params(&t->net, 0, t->params + off);
        t->groups[t->n_groups++] = (OptimGroup){.params = t->params + off, .n_params = k, .lr = unet_lr, .name = "unet"};
        off += k;
    }
    if (t->n_groups == 0)
        return sdl_fail(SDL_ERR_ARG, NULL, "set --learning_rate, --unet_lr or --text_encoder_lr above 0",
                        "nothing to train: every learning rate is 0");
    OptimKind kind;
    SDL_TRY(optim_kind_parse(a->optimizer_type, &kind));
    OptimConfig oc;
    optim_config_default(&oc, kind, a->learning_rate);
    int n_args = 0;
    for (char **p = a->optimizer_args; p && *p; p++) n_args++;
    SDL_TRY(optim_config_parse_args(&oc, (const char *const *)a->optimizer_args, n_args));
    SDL_TRY(optim_create(&t->opt, &oc, t->groups, t->n_groups));
    // the schedule: Adafactor with relative_step forces kohya's "adafactor" proxy scheduler
    const char *sched = a->lr_scheduler;
    char adafactor_name[64];
    if (optim_config_uses_relative_step(&oc) && strncmp(sched, "adafactor", 9) != 0) {
        log_warn("Adafactor with relative_step: the lr scheduler is forced to 'adafactor' (as kohya)");
        snprintf(adafactor_name, sizeof adafactor_name, "adafactor:%g", a->learning_rate);
        sched = adafactor_name;
    }
    LrWarmup warm;
    SDL_TRY(lr_warmup_parse(a->lr_warmup_steps, &warm));
    return lr_schedule_init(&t->sched, sched, warm, t->max_train_steps, 1, (double)a->lr_scheduler_num_cycles,
                            a->lr_scheduler_power, a->learning_rate);
}

static void print_summary(const Trainer *t) {
    const TrainArgs *a = t->a;
    char b1[32], b2[32];
    fprintf(stderr, "sdlora train: %s\n", a->pretrained_model_name_or_path);
    fprintf(stderr, "  num train images * repeats: %lld\n  num reg images: %lld\n", (long long)t->data.num_train_images,
            (long long)t->data.num_reg_images);
    fprintf(stderr, "  num batches per epoch: %lld\n  num epochs: %lld\n", (long long)t->batches_per_epoch,
            (long long)t->num_epochs);
    fprintf(stderr, "  batch size per device: %lld\n  gradient accumulation steps: %lld\n",
            (long long)(t->data.n_parts ? t->data.parts[0].cfg->batch_size : 1), (long long)t->grad_accum);
    fprintf(stderr, "  total optimization steps: %lld\n", (long long)t->max_train_steps);
    fprintf(stderr, "  LoRA: %lld text-encoder + %lld UNet modules, dim %lld, alpha %g%s, %zu trainable parameters (%s)\n",
            (long long)t->net.n_te, (long long)t->net.n_unet, (long long)a->network_dim, a->network_alpha,
            t->net.cfg.conv_dim ? " + LoCon convs" : "", t->net.n_params,
            mem_format_bytes(b1, sizeof b1, t->net.n_params * sizeof(float)));
    fprintf(stderr, "  optimizer: %s, lr scheduler %s, %s of state\n", optim_kind_name(optim_config(t->opt)->kind),
            lr_schedule_name(t->sched.kind), mem_format_bytes(b2, sizeof b2, optim_state_bytes(t->opt)));
    fprintf(stderr, "  compute: fp32 on %d thread(s)%s\n", sdl_get_threads(),
            a->gradient_checkpointing ? ", gradient checkpointing" : "");
    fprintf(stderr, "  base weights %s (UNet/text-encoder Linear and Conv weights in %s), LoRA %s\n",
            mem_format_bytes(b1, sizeof b1, mem_current(MEM_BASE_WEIGHTS)), param_dtype_name(t->model.weights),
            mem_format_bytes(b2, sizeof b2, mem_current(MEM_TRAINABLE)));
}

// ---------------------------------------------------------------- logging

// TensorBoard run folder as kohya's: <logging_dir>/<log_prefix><%Y%m%d%H%M%S>/<tracker name>.
static void open_tensorboard(Trainer *t) {
    const TrainArgs *a = t->a;
    if (!a->logging_dir) return;
    char stamp[32], dir[4096];
    time_t now = time(NULL);
    strftime(stamp, sizeof stamp, "%Y%m%d%H%M%S", localtime(&now));
    snprintf(dir, sizeof dir, "%s/%s%s/%s", a->logging_dir, a->log_prefix ? a->log_prefix : "", stamp,
             a->log_tracker_name ? a->log_tracker_name : "network_train");
    if (tfevents_open(&t->tb, dir, 0) != SDL_OK) {
        sdl_error_print(stderr);
        log_warn("TensorBoard logging is off for this run");
        t->tb = NULL;
        return;
    }
    log_info("TensorBoard events: %s", tfevents_path(t->tb));
}

// kohya's generate_step_logs: the losses and every group's lr (d·lr for the D-adaptation family).
static void log_step(Trainer *t, double loss, double avg) {
    if (!t->tb) return;
    int64_t step = t->prog.global_step;
    tfevents_scalar(t->tb, "loss/current", step, loss);
    tfevents_scalar(t->tb, "loss/average", step, avg);
    OptimKind kind = optim_config(t->opt)->kind;
    for (int g = 0; g < t->n_groups; g++) {
        char tag[64];
        snprintf(tag, sizeof tag, "lr/%s", t->groups[g].name);
        tfevents_scalar(t->tb, tag, step, optim_group_lr(t->opt, g, t->a->learning_rate));
        if (kind == OPTIM_PRODIGY || kind == OPTIM_DADAPT_ADAM) {
            snprintf(tag, sizeof tag, "lr/d*lr/%s", t->groups[g].name);
            tfevents_scalar(t->tb, tag, step, optim_dlr(t->opt, g));
        }
    }
}

// ---------------------------------------------------------------- the loop

// kohya's LossRecorder: per batch index, the last epoch's losses; the mean of what is there.
static double record_loss(TrainProgress *p, int64_t index, double loss) {
    if (p->losses_filled <= index) {
        p->losses[index] = (float)loss;
        p->losses_filled = index + 1;
    } else {
        p->loss_total -= p->losses[index];
        p->losses[index] = (float)loss;
    }
    p->loss_total += (float)loss;
    return p->loss_total / (double)p->losses_filled;
}

static SdlStatus batch_latents(Trainer *t, const LoaderBatch *b, int64_t *h, int64_t *w) {
    PROF_SCOPE(PROF_DATA); // --profile: VAE encoding of uncached images
    *h = b->height / t->latent_f, *w = b->width / t->latent_f;
    size_t n = (size_t)(b->B * t->latent_c * *h * *w);
    ensure_floats(&t->latents, &t->latents_cap, n);
    if (b->latents) {
        for (size_t i = 0; i < n; i++) t->latents[i] = b->latents[i] * t->vae_scaling;
        return SDL_OK;
    }
    return encode_pixels(t, t->latents, b->pixels, b->B, b->height, b->width, t->vae_scaling, &t->prog.noise_rng);
}

static void report_nonfinite(const Trainer *t, const LoaderBatch *b, int64_t epoch) {
    char files[1024] = "";
    size_t off = 0;
    for (int64_t i = 0; i < b->B && off < sizeof files - 1; i++)
        off += (size_t)snprintf(files + off, sizeof files - off, "%s%s", i ? ", " : "", loader_image_path(t->loader, b->images[i]));
    sdl_fail(SDL_ERR_NUMERIC, NULL,
             "lower --learning_rate, keep --max_grad_norm on, or check these images; files saved before this step are kept",
             "the loss or its gradient became NaN/Inf at step %lld (epoch %lld, batch %lld; images: %s)",
             (long long)t->prog.global_step + 1, (long long)epoch + 1, (long long)b->index, files);
}

static SdlStatus optimizer_step(Trainer *t) {
    PROF_SCOPE(PROF_OPTIMIZER);
    prof_step();
    if (t->a->max_grad_norm > 0) optim_clip_grad_norm(t->opt, t->a->max_grad_norm);
    SDL_TRY(optim_step(t->opt, lr_schedule_at_step(&t->sched, t->prog.global_step)));
    optim_zero_grad(t->opt);
    t->prog.global_step++;
    return SDL_OK;
}

static SdlStatus run_epoch_end(Trainer *t, int64_t epoch) {
    const TrainArgs *a = t->a;
    int64_t done = epoch + 1;
    double avg = t->prog.losses_filled ? t->prog.loss_total / (double)t->prog.losses_filled : 0.0;
    if (t->bar_open) progress_clear(&t->bar);
    log_info("epoch %lld/%lld: average loss %.6f", (long long)done, (long long)t->num_epochs, avg);
    if (t->tb) tfevents_scalar(t->tb, "loss/epoch", done, avg);
    if (a->save_every_n_epochs > 0 && done % a->save_every_n_epochs == 0 && done < t->num_epochs) {
        SDL_TRY(trainer_save_lora(t, 'e', done, done));
        if (a->save_state) {
            t->prog.epoch = done, t->prog.next_batch = 0;
            SDL_TRY(trainer_save_state(t, 'e', done));
        }
        trainer_remove_old(t, 'e', done);
    }
    return SDL_OK;
}

static SdlStatus train_loop(Trainer *t) {
    const TrainArgs *a = t->a;
    TrainProgress *p = &t->prog;
    int64_t epoch = p->epoch, index = p->next_batch;
    if (p->global_step >= t->max_train_steps) return SDL_OK;
    SDL_TRY(loader_seek(t->loader, epoch + 1, index)); // index == batches per epoch: the next epoch's start
    double t_start = time_now(), waited = 0;
    int64_t micro = 0, start_step = p->global_step;
    SDL_TRY(trainer_sample(t, 0, p->global_step, true)); // --sample_at_first
    int prof_every = prof_env();
    if (a->profile || prof_every) prof_enable(); // time per layer type (base/profile.h)
    progress_init(&t->bar, stderr, "steps", t->max_train_steps, p->global_step);
    t->bar_open = true;
    for (; epoch < t->num_epochs; epoch++, index = 0) {
        for (; index < t->batches_per_epoch; index++) {
            const LoaderBatch *b;
            double w = 0;
            SDL_TRY(loader_next(t->loader, &b, &w));
            waited += w;
            prof_add(PROF_DATA, w);
            int64_t h, wl;
            SDL_TRY(batch_latents(t, b, &h, &wl));
            TrainBatchInput in = {.latents = t->latents, .input_ids = b->input_ids, .token_weights = b->token_weights,
                                  .loss_weights = b->loss_weights, .B = b->B, .H = h, .W = wl};
            TrainStepResult res;
            SDL_TRY(train_step_run(&t->step, &in, &p->noise_rng, &p->py, &res));
            if (!res.finite) {
                report_nonfinite(t, b, epoch);
                return SDL_ERR_NUMERIC;
            }
            micro++;
            bool sync = micro == t->grad_accum || index == t->batches_per_epoch - 1;
            if (sync) {
                SDL_TRY(optimizer_step(t));
                micro = 0;
                if (prof_every > 1 && p->global_step % prof_every == 0) progress_clear(&t->bar), prof_report(stderr);
                SDL_TRY(trainer_sample(t, epoch + 1, p->global_step, false));
            }
            double avg = record_loss(p, index, res.loss);
            p->epoch = epoch, p->next_batch = index + 1;
            log_step(t, res.loss, avg);
            progress_set_postfix(&t->bar, "avr_loss", avg);
            progress_update(&t->bar, p->global_step);
            if (sync && a->save_every_n_steps > 0 && p->global_step % a->save_every_n_steps == 0) {
                progress_clear(&t->bar);
                SDL_TRY(trainer_save_lora(t, 's', p->global_step, epoch));
                if (a->save_state) SDL_TRY(trainer_save_state(t, 's', p->global_step));
                trainer_remove_old(t, 's', p->global_step);
            }
            if (p->global_step >= t->max_train_steps) break;
        }
        // kohya runs the end-of-epoch work (logs, samples) after a max_train_steps break too
        SDL_TRY(run_epoch_end(t, epoch));
        SDL_TRY(trainer_sample(t, epoch + 1, p->global_step, true));
        p->epoch = epoch + 1, p->next_batch = 0;
        if (p->global_step >= t->max_train_steps) break;
    }
    progress_close(&t->bar);
    t->bar_open = false;
    if (prof_enabled()) prof_report(stderr), prof_disable();
    double total = time_now() - t_start;
    if (total > 0)
        log_info("trained %lld steps in %.1f s; waited on data %.2f s (%.2f%%)", (long long)(p->global_step - start_step),
                 total, waited, 100.0 * waited / total);
    return SDL_OK;
}

// ---------------------------------------------------------------- run

static SdlStatus trainer_setup(Trainer *t) {
    const TrainArgs *a = t->a;
    if (a->threads > 0) sdl_set_threads((int)a->threads);
    SDL_TRY(make_output_dir(a->output_dir));
    if (a->output_name) snprintf(t->output_name, sizeof t->output_name, "%s", a->output_name);
    t->save_dtype = !a->save_precision || !strcmp(a->save_precision, "float") ? LORA_SAVE_FLOAT
                    : !strcmp(a->save_precision, "fp16")                      ? LORA_SAVE_FP16
                                                                              : LORA_SAVE_BF16;
    for (char **p = a->ignored; p && *p; p++) log_warn("ignored: %s", *p);
    // kohya draws the session id before seeding, and a random seed when none is given
    uint64_t session_id = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 16);
    session_id = (session_id * 6364136223846793005ull + 1442695040888963407ull) >> 32;
    t->seed = a->has_seed ? a->seed : (int64_t)((uint64_t)wall_time_now() * 2654435761u % 4294967296u);
    t->started_at = wall_time_now();
    rng_seed(&t->prog.noise_rng, (uint64_t)t->seed);
    py_random_seed(&t->prog.py, (uint64_t)(t->seed < 0 ? -t->seed : t->seed));
    t->prog.seed = t->seed;

    // 1. the dataset, fully checked before the model is touched
    SDL_TRY(train_data_build(&t->data, &a->data, a->threads > 0 ? (int)a->threads : sdl_get_threads(),
                             a->skip_bad_images, false));
    // 2. the model
    const char *wdt = train_args_base_weights_dtype(a); // frozen weights fp16/bf16 (widened on use) or fp32
    SDL_TRY(sd_model_load_dtype(&t->model, a->pretrained_model_name_or_path, a->vae, SD_LOAD_ALL,
                                !strcmp(wdt, "fp16") ? PARAM_F16 : !strcmp(wdt, "bf16") ? PARAM_BF16 : PARAM_F32));
    t->model.unet.checkpointing = a->gradient_checkpointing; // recompute per block (unet.h); planned by the step
    bool v_pred = a->v_parameterization || t->model.v_prediction;
    t->v_pred = v_pred;
    t->vae_scaling = t->model.vae.cfg.scaling_factor;
    t->latent_c = t->model.vae.cfg.latent_channels;
    t->latent_f = vae_downsample_factor(&t->model.vae.cfg);
    // 3. the network
    SDL_TRY(setup_network(t));
    // 4. the loader (caching encodes every image now)
    EncodeCtx ectx = {.t = t};
    char vae_id[4200];
    vae_identity(t, vae_id, sizeof vae_id);
    rng_seed(&ectx.rng, (uint64_t)t->seed ^ 0x5eedcac4eull);
    t->grad_accum = a->gradient_accumulation_steps > 0 ? a->gradient_accumulation_steps : 1;
    LoaderOptions lo = {.seed = t->seed, .max_token_length = a->max_token_length, .weighted_captions = a->weighted_captions,
                        .pad_with_zero = false, // SD1's tokenizer pads with EOS
                        .max_train_steps = a->max_train_steps, .gradient_accumulation_steps = t->grad_accum,
                        .latent_channels = t->latent_c, .latent_downscale = t->latent_f, .cache_latents = a->cache_latents || a->cache_latents_to_disk,
                        .cache_latents_to_disk = a->cache_latents_to_disk, .skip_cache_check = a->skip_cache_check,
                        .vae_batch_size = a->vae_batch_size, .vae_id = vae_id, .encode = cache_encode,
                        .encode_ctx = &ectx, .prefetch = 2};
    SDL_TRY(loader_create(&t->loader, &t->data, &lo));
    SDL_TRY(trainer_sample_setup(t));
    if (lo.cache_latents && !t->sampling) {
        // the VAE is not needed any more: give its memory back (kohya moves it off the GPU)
        vae_free(&t->model.vae);
        t->model.loaded &= ~SD_LOAD_VAE;
    }
    // 5. steps arithmetic as kohya
    t->batches_per_epoch = loader_batches_per_epoch(t->loader);
    if (t->batches_per_epoch == 0)
        return sdl_fail(SDL_ERR_ARG, a->data.train_data_dir, "check the folder names (<repeats>_<class>) and image files",
                        "the dataset has no images to train on");
    t->steps_per_epoch = (t->batches_per_epoch + t->grad_accum - 1) / t->grad_accum;
    t->max_train_steps = a->max_train_epochs > 0 ? a->max_train_epochs * t->steps_per_epoch : a->max_train_steps;
    t->num_epochs = (t->max_train_steps + t->steps_per_epoch - 1) / t->steps_per_epoch;
    t->prog.batches_per_epoch = t->prog.n_losses = t->batches_per_epoch;
    t->prog.losses = calloc((size_t)t->batches_per_epoch, sizeof *t->prog.losses);
    if (!t->prog.losses) return sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory");
    // 6. optimizer and schedule, the step
    SDL_TRY(setup_optimizer(t));
    ObjectiveConfig obj;
    SDL_TRY(objective_from_args(a, v_pred, &obj));
    SDL_TRY(train_step_init(&t->step, &t->model.unet, &t->model.te, &t->net, &obj,
                            (int)a->clip_skip, a->max_token_length ? a->max_token_length / 75 : 1));
    t->step.train_te = t->train_te;
    t->step.grad_scale = 1.0f / (float)t->grad_accum;
    t->step_ready = true;
    SDL_TRY(build_metadata(t, session_id));
    // 7. resume
    if (a->resume) {
        free(t->prog.losses);
        t->prog.losses = NULL;
        TrainProgress saved = t->prog;
        SdlStatus ls = train_state_load(a->resume, &t->net, t->opt, &saved);
        if (ls != SDL_OK) {
            free(saved.losses);
            return ls;
        }
        t->prog.losses = saved.losses; // owned by the trainer from here on, whatever follows
        if (saved.batches_per_epoch != t->batches_per_epoch || saved.seed != t->seed)
            return sdl_fail(SDL_ERR_ARG, a->resume, "resume with the same dataset, batch size and --seed as the saved run",
                            "the state was saved with %lld batches per epoch and seed %lld; this run has %lld and %lld",
                            (long long)saved.batches_per_epoch, (long long)saved.seed, (long long)t->batches_per_epoch,
                            (long long)t->seed);
        t->prog = saved;
        log_info("resumed from %s: step %lld, epoch %lld, batch %lld", a->resume, (long long)saved.global_step,
                 (long long)saved.epoch + 1, (long long)saved.next_batch);
    }
    return SDL_OK;
}

static void trainer_free(Trainer *t) {
    if (t->step_ready) train_step_free(&t->step);
    optim_free(t->opt);
    free(t->params);
    if (t->loader) loader_free(t->loader);
    if (t->net_created) lora_network_free(&t->net);
    sd_model_free(&t->model);
    train_data_free(&t->data);
    mem_free(t->latents), mem_free(t->vae_moments);
    free(t->prog.losses);
    if (t->tb && !tfevents_close(t->tb)) log_warn("some TensorBoard events could not be written");
    if (t->meta_ready) train_meta_free(&t->meta);
    sample_prompts_free(&t->prompts);
    dynprompt_free(t->dyn);
}

SdlStatus trainer_run(const TrainArgs *a) {
    Trainer t;
    memset(&t, 0, sizeof t);
    t.a = a;
    SdlStatus s = trainer_setup(&t);
    if (s == SDL_OK) {
        print_summary(&t);
        open_tensorboard(&t);
        s = train_loop(&t);
        if (t.bar_open) progress_close(&t.bar);
    }
    if (s == SDL_OK) {
        if (a->save_state || a->save_state_on_train_end) s = trainer_save_state(&t, 'l', 0);
        if (s == SDL_OK) s = trainer_save_lora(&t, 'l', 0, t.num_epochs);
    }
    if (s == SDL_OK) {
        char b[32], path[4096];
        trainer_file_name(&t, 'l', 0, false, path, sizeof path);
        fprintf(stderr, "done: %s\n  peak RSS %s\n", path, mem_format_bytes(b, sizeof b, mem_process_peak_rss()));
    }
    trainer_free(&t);
    return s;
}
