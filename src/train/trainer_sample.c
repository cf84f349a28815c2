// trainer_sample.c — sample images during training (kohya's sample_images_common): the prompt
// file (--sample_prompts .txt/.toml/.json, or the kohya_ss GUI's inline prompts) loaded once,
// then at the points sample_due() names, every prompt rendered with the model as it is being
// trained (LoRA attached at multiplier 1) and written as
// <output_dir>/sample/<name>_(e<epoch:06>|<steps:06>)_<index:02>_<time>[_<seed>].png with an
// A1111 `parameters` chunk. The training generators are not touched: a prompt without a seed
// gets one derived from (run seed, step, prompt index), so a resumed run samples the same.
#include "train/trainer_internal.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/version.h"
#include "io/image.h"
#include "sample/dynamic_prompts.h"
#include "sample/pipeline.h"
#include "sample/prompt_file.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

SdlStatus trainer_sample_setup(Trainer *t) {
    const TrainArgs *a = t->a;
    t->sample_sched = (SampleSchedule){.every_n_epochs = a->sample_every_n_epochs, .every_n_steps = a->sample_every_n_steps,
                                       .at_first = a->sample_at_first};
    if (a->sample_prompts) {
        SDL_TRY(sample_prompts_load(a->sample_prompts, &t->prompts));
    } else if (a->sample_prompts_text && a->sample_prompts_text[0]) {
        SDL_TRY(sample_prompts_parse_txt(a->sample_prompts_text, strlen(a->sample_prompts_text), "sample_prompts (config)",
                                         &t->prompts));
    } else {
        return SDL_OK;
    }
    t->sampling = t->prompts.n > 0 && (t->sample_sched.every_n_epochs > 0 || t->sample_sched.every_n_steps > 0 ||
                                       t->sample_sched.at_first);
    if (t->prompts.n > 0 && !t->sampling)
        log_warn("--sample_prompts given without --sample_every_n_epochs/--sample_every_n_steps/--sample_at_first: no samples");
    // the sampler names and dynamic-prompt syntax are checked now, not at the first sample an hour in
    SDL_TRY(dynprompt_new(a->wildcard_dir, &t->dyn));
    for (int64_t i = 0; i < t->prompts.n; i++) {
        char where[64];
        snprintf(where, sizeof where, "sample prompt %lld", (long long)i);
        SDL_TRY(dynprompt_check(t->dyn, t->prompts.items[i].prompt, where));
        if (t->prompts.items[i].negative_prompt) SDL_TRY(dynprompt_check(t->dyn, t->prompts.items[i].negative_prompt, where));
        SamplerConfig sc;
        const char *name = t->prompts.items[i].sampler ? t->prompts.items[i].sampler : a->sample_sampler;
        SDL_TRY(gen_sampler_config(name ? name : "ddim", 0, &sc));
    }
    return SDL_OK;
}

static uint64_t derive_seed(int64_t run_seed, int64_t step, int64_t index) {
    uint64_t x = (uint64_t)run_seed * 0x9E3779B97F4A7C15ull ^ (uint64_t)step * 0xBF58476D1CE4E5B9ull ^ (uint64_t)index;
    x ^= x >> 31, x *= 0x94D049BB133111EBull, x ^= x >> 29;
    return x & 0xffffffffu;
}

static SdlStatus sample_one(Trainer *t, const SamplePrompt *p, int64_t epoch, int64_t steps) {
    const TrainArgs *a = t->a;
    // sizes the pipeline accepts: multiples of VAE factor × UNet multiple (SD: 64 px)
    int64_t m = t->latent_f * unet_size_multiple(&t->model.unet.cfg);
    GenParams gp = gen_params_default();
    gp.seed = p->has_seed ? p->seed : derive_seed(t->seed, steps, p->index);
    // dynamic prompts: the choices follow the image seed (a fixed --d gives a fixed prompt)
    char *prompt = NULL, *neg = NULL;
    SDL_TRY(dynprompt_expand(t->dyn, p->prompt, gp.seed, "sample prompt", &prompt));
    if (p->negative_prompt && dynprompt_expand(t->dyn, p->negative_prompt, gp.seed, "sample prompt", &neg) != SDL_OK) {
        free(prompt);
        return sdl_last_error()->status;
    }
    gp.prompt = prompt;
    gp.negative_prompt = neg;
    gp.width = p->width / m * m > 0 ? p->width / m * m : m;
    gp.height = p->height / m * m > 0 ? p->height / m * m : m;
    gp.steps = p->steps;
    gp.cfg_scale = p->scale;
    gp.clip_skip = a->clip_skip > 0 ? (int)a->clip_skip : 1;
    const char *sampler = p->sampler ? p->sampler : a->sample_sampler ? a->sample_sampler : "ddim";
    SdlStatus s = gen_sampler_config(sampler, t->v_pred, &gp.sampler);
    if (s != SDL_OK) {
        free(prompt), free(neg);
        return s;
    }
    GenModels gm = {&t->model.unet, &t->model.te, t->model.tokenizer, &t->model.vae};
    size_t n = (size_t)(3 * gp.width * gp.height);
    float *img = mem_alloc(MEM_OTHER, n * sizeof(float));
    s = gen_txt2img(&gm, &gp, img, NULL, NULL, NULL);
    Image out = {0};
    if (s == SDL_OK) s = image_alloc(&out, gp.width, gp.height);
    if (s == SDL_OK) {
        image_from_tensor(&out, img);
        char path[4096], steps_txt[32];
        // kohya puts the seed in the name only when the prompt gives one (p->has_seed)
        sample_file_name(path, sizeof path, a->output_dir, a->output_name, epoch, steps, p, time(NULL));
        snprintf(steps_txt, sizeof steps_txt, "%lld", (long long)steps);
        GenInfo info = {.prompt = prompt, .negative_prompt = neg, .steps = gp.steps,
                        .sampler = gen_sampler_a1111_name(&gp.sampler), .cfg_scale = gp.cfg_scale, .seed = gp.seed,
                        .width = gp.width, .height = gp.height, .clip_skip = gp.clip_skip,
                        .version = "sdlora " SDLORA_VERSION};
        char *text = gen_infotext(&info);
        const char *k[] = {"parameters", "sdlora_training_step"}, *v[] = {text ? text : "", steps_txt};
        s = image_save_png(&out, path, k, v, 2);
        free(text);
        if (s == SDL_OK) log_info("sample %s", path);
    }
    image_free(&out);
    mem_free(img);
    free(prompt), free(neg);
    return s;
}

SdlStatus trainer_sample(Trainer *t, int64_t epoch, int64_t global_step, bool at_epoch_end) {
    if (!t->sampling || !sample_due(&t->sample_sched, epoch, global_step, at_epoch_end)) return SDL_OK;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/sample", t->a->output_dir);
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return sdl_fail(SDL_ERR_IO, dir, "check that the output folder is writable", "cannot create: %s", strerror(errno));
    if (t->bar_open) progress_clear(&t->bar);
    // the text-encoder adapters need at least one 77-token window planned
    if (t->net.n_te > 0 && t->net.te_rows < 77) lora_network_plan_te(&t->net, 1, 77);
    for (int64_t i = 0; i < t->prompts.n; i++) {
        SdlStatus s = sample_one(t, &t->prompts.items[i], at_epoch_end ? epoch : -1, global_step);
        if (s != SDL_OK) {
            // a failed sample is reported, never the end of a training run
            sdl_error_print(stderr);
            log_warn("sample %lld (%s line %d) failed; training goes on", (long long)i,
                     t->a->sample_prompts ? t->a->sample_prompts : "prompts", t->prompts.items[i].line);
        }
    }
    return SDL_OK;
}
