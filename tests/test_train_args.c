// test_train_args.c — `sdlora train` options (src/train/train_args.c over src/cli/options.c):
// kohya's defaults, the command line for every option type (nargs='*' lists, --x=v, aliases,
// '-' spellings, unique prefixes), --config_file TOML flattening with the command line on top,
// a kohya_ss GUI JSON (tests/golden/train/kohya_ss_locon.json), error texts (the option, the
// near miss, file:line for config files), ignored and unsupported options, kohya's
// cross-checks, --help, the docs listing every option, and the small opts_parse door.
#include "harness.h"
#include "cli/options.h"
#include "base/error.h"
#include "train/train_args.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool streq(const char *a, const char *b) { return a && b && strcmp(a, b) == 0; }
static bool contains(const char *hay, const char *needle) { return hay && needle && strstr(hay, needle); }

// Parses argv (NULL-terminated, "train" first) into fresh defaults; returns the status.
static SdlStatus parse(TrainArgs *a, const char *const *words) {
    int argc = 0;
    while (words[argc]) argc++;
    train_args_default(a);
    sdl_error_clear();
    bool help = false;
    SdlStatus st = train_args_parse(a, argc, (char **)words, &help);
    CHECK(!help);
    return st;
}

static bool list_has(char **list, const char *item) {
    for (size_t i = 0; list && list[i]; i++)
        if (streq(list[i], item)) return true;
    return false;
}

static bool notes_have(char **list, const char *prefix) {
    for (size_t i = 0; list && list[i]; i++)
        if (strncmp(list[i], prefix, strlen(prefix)) == 0) return true;
    return false;
}

static void test_defaults(void) {
    TrainArgs a;
    train_args_default(&a);
    CHECK(a.learning_rate == 2e-6);
    CHECK(a.max_train_steps == 1600);
    CHECK(a.network_dim == 4 && !train_args_given(&a, "network_dim"));
    CHECK(a.network_alpha == 1 && a.network_alpha_is_int);
    CHECK(streq(a.lr_scheduler, "constant"));
    CHECK(streq(a.lr_warmup_steps, "0"));
    CHECK(a.max_grad_norm == 1.0);
    CHECK(streq(a.data.sub.caption_extension, ".caption"));
    CHECK(a.resolution == NULL && !a.data.ds.has_resolution);
    CHECK(streq(a.optimizer_type, ""));
    CHECK(streq(a.network_module, "networks.lora"));
    CHECK(streq(a.save_model_as, "safetensors") && a.save_precision == NULL);
    CHECK(streq(a.mixed_precision, "no"));
    CHECK(streq(a.loss_type, "l2") && streq(a.huber_schedule, "snr") && a.huber_c == 0.1 && a.huber_scale == 1.0);
    CHECK(a.multires_noise_discount == 0.3);
    CHECK(a.min_timestep == 0 && a.max_timestep == 1000);
    CHECK(a.data.ds.batch_size == 1 && a.data.ds.min_bucket_reso == 256 && a.data.ds.max_bucket_reso == 1024 &&
          a.data.ds.bucket_reso_steps == 64);
    CHECK(a.data.prior_loss_weight == 1.0);
    CHECK(streq(a.data.sub.caption_separator, ",") && streq(a.data.sub.keep_tokens_separator, ""));
    CHECK(a.data.sub.num_repeats == 1 && a.data.sub.token_warmup_min == 1);
    CHECK(a.gradient_accumulation_steps == 1 && a.lr_scheduler_num_cycles == 1 && a.lr_scheduler_power == 1);
    CHECK(streq(a.sample_sampler, "ddim") && a.max_data_loader_n_workers == 8 && a.vae_batch_size == 1);
    CHECK(streq(a.log_tracker_name, "network_train") && a.log_with == NULL);
    CHECK(!a.has_seed && !a.has_unet_lr && !a.has_text_encoder_lr);
    CHECK(a.ignored == NULL);
    CHECK(train_args_option_count() > 150);
    train_args_free(&a);
}

static void test_cli_types(void) {
    TrainArgs a;
    const char *argv[] = {"train",
                          "--pretrained_model_name_or_path", "model.safetensors", // string
                          "--max-train-steps", "300",                              // int64, '-' spelling
                          "--learning_rate=1e-4",                                   // double, --x=v
                          "--network_alpha", "16",                                  // a CLI float
                          "--v2", "--enable_bucket",                                // flags
                          "--network_args", "conv_dim=4", "conv_alpha=1",          // nargs='*'
                          "--optimizer_args", "weight_decay=0.1", "betas=0.9,0.99",
                          "--text_encoder_lr", "5e-5",
                          "--resolution", "512,768",
                          "--face_crop_aug_range", "2.0,4.0",
                          "--caption_extention", ".txt",                            // kohya's misspelt alias
                          "--max_train_ep", "3",                                    // unique prefix (argparse)
                          "--seed", "42",
                          "--adaptive_noise_scale", "-0.01",                        // negative value
                          "--use_8bit_adam",
                          "--train_batch_size", "2", "--train_data_dir", "img",
                          NULL};
    SdlStatus st = parse(&a, argv);
    CHECK(st == SDL_OK);
    if (st != SDL_OK) sdl_error_print(stderr);
    CHECK(streq(a.pretrained_model_name_or_path, "model.safetensors"));
    CHECK(a.max_train_steps == 300 && train_args_given(&a, "max_train_steps") && train_args_given(&a, "max_train_epochs"));
    CHECK(a.max_train_epochs == 3);
    CHECK(a.learning_rate == 1e-4);
    CHECK(a.network_alpha == 16 && !a.network_alpha_is_int && !train_args_given_int(&a, "network_alpha"));
    CHECK(a.v2 && a.data.ds.enable_bucket && !a.v_parameterization);
    CHECK(opts_list_len(a.network_args) == 2 && streq(a.network_args[0], "conv_dim=4") && streq(a.network_args[1], "conv_alpha=1"));
    CHECK(opts_list_len(a.optimizer_args) == 2 && streq(a.optimizer_args[1], "betas=0.9,0.99"));
    CHECK(a.has_text_encoder_lr && a.text_encoder_lr == 5e-5 && !a.has_unet_lr);
    CHECK(a.data.ds.has_resolution && a.data.ds.resolution[0] == 512 && a.data.ds.resolution[1] == 768);
    CHECK(a.data.sub.has_face_crop_aug_range && a.data.sub.face_crop_aug_range[0] == 2.0 && a.data.sub.face_crop_aug_range[1] == 4.0);
    CHECK(streq(a.data.sub.caption_extension, ".txt"));
    CHECK(a.has_seed && a.seed == 42);
    CHECK(a.adaptive_noise_scale == -0.01);
    CHECK(streq(a.optimizer_type, "AdamW8bit"));
    CHECK(a.data.ds.batch_size == 2 && streq(a.data.train_data_dir, "img"));
    train_args_free(&a);

    // a repeated list replaces the first (argparse store); an empty list is given but empty;
    // --x=v gives one value and the next words are options again
    const char *argv2[] = {"train", "--network_args", "conv_dim=4", "--network_args", "conv_dim=8", "rank_dropout=0.1",
                           "--text_encoder_lr", "--optimizer_args=weight_decay=0.2", "--v2", NULL};
    CHECK(parse(&a, argv2) == SDL_OK);
    CHECK(opts_list_len(a.network_args) == 2 && streq(a.network_args[0], "conv_dim=8"));
    CHECK(train_args_given(&a, "text_encoder_lr") && !a.has_text_encoder_lr);
    CHECK(opts_list_len(a.optimizer_args) == 1 && streq(a.optimizer_args[0], "weight_decay=0.2") && a.v2);
    train_args_free(&a);

    // --help prints and reports
    char *argv3[] = {"train", "--learning_rate", "x", "--help", NULL};
    train_args_default(&a);
    bool help = false;
    FILE *saved = stdout;
    stdout = fopen("/dev/null", "w");
    CHECK(train_args_parse(&a, 4, argv3, &help) == SDL_OK && help);
    fclose(stdout);
    stdout = saved;
    train_args_free(&a);
}

// The last error, checked for a status, words in its reason / hint / file.
static void check_err(SdlStatus st, SdlStatus want, const char *reason, const char *hint, const char *file) {
    const SdlError *e = sdl_last_error();
    CHECKF(st == want, "status %s, want %s (%s)", sdl_status_name(st), sdl_status_name(want), e->reason);
    if (reason) CHECKF(contains(e->reason, reason), "reason '%s' lacks '%s'", e->reason, reason);
    if (hint) CHECKF(contains(e->hint, hint), "hint '%s' lacks '%s'", e->hint, hint);
    if (file) CHECKF(contains(e->file, file), "file '%s' lacks '%s'", e->file, file);
}

static void test_cli_errors(void) {
    TrainArgs a;
    const char *unknown[] = {"train", "--lerning_rate", "1e-4", NULL};
    check_err(parse(&a, unknown), SDL_ERR_ARG, "unknown option '--lerning_rate'", "did you mean --learning_rate?", NULL);
    train_args_free(&a);
    const char *far[] = {"train", "--frobnicate", NULL};
    check_err(parse(&a, far), SDL_ERR_ARG, "--frobnicate", "sdlora train --help", NULL);
    CHECK(!contains(sdl_last_error()->hint, "did you mean"));
    train_args_free(&a);
    const char *nan[] = {"train", "--learning_rate", "fast", NULL};
    check_err(parse(&a, nan), SDL_ERR_ARG, "--learning_rate: not a number: 'fast'", "1e-4", NULL);
    train_args_free(&a);
    const char *notint[] = {"train", "--max_train_steps", "1.5", NULL};
    check_err(parse(&a, notint), SDL_ERR_ARG, "--max_train_steps: not an integer", "whole number", NULL);
    train_args_free(&a);
    const char *range[] = {"train", "--caption_dropout_rate", "2", NULL};
    check_err(parse(&a, range), SDL_ERR_ARG, "--caption_dropout_rate: out of range", "from 0 to 1", NULL);
    train_args_free(&a);
    const char *choice[] = {"train", "--loss_type", "l3", NULL};
    check_err(parse(&a, choice), SDL_ERR_ARG, "--loss_type: invalid value 'l3'", "use one of l1|l2|huber|smooth_l1", NULL);
    train_args_free(&a);
    const char *tokens[] = {"train", "--max_token_length", "100", NULL};
    check_err(parse(&a, tokens), SDL_ERR_ARG, "--max_token_length", "150|225", NULL);
    train_args_free(&a);
    const char *flagval[] = {"train", "--v2=1", NULL};
    check_err(parse(&a, flagval), SDL_ERR_ARG, "--v2: unexpected value", "flags take no value", NULL);
    train_args_free(&a);
    const char *missing[] = {"train", "--output_dir", NULL};
    check_err(parse(&a, missing), SDL_ERR_ARG, "--output_dir: missing value", NULL, NULL);
    train_args_free(&a);
    const char *positional[] = {"train", "model.safetensors", NULL};
    check_err(parse(&a, positional), SDL_ERR_ARG, "unexpected argument 'model.safetensors'", "options start with --", NULL);
    train_args_free(&a);
    const char *ambiguous[] = {"train", "--network_a", "16", NULL};
    check_err(parse(&a, ambiguous), SDL_ERR_ARG, "ambiguous option '--network_a'", NULL, NULL);
    CHECK(contains(sdl_last_error()->reason, "--network_alpha") && contains(sdl_last_error()->reason, "--network_args"));
    train_args_free(&a);
    const char *badres[] = {"train", "--resolution", "big", NULL};
    check_err(parse(&a, badres), SDL_ERR_ARG, "--resolution", "512,768", NULL);
    train_args_free(&a);
    const char *badcrop[] = {"train", "--face_crop_aug_range", "4.0,2.0", NULL};
    check_err(parse(&a, badcrop), SDL_ERR_ARG, "--face_crop_aug_range", "smaller first", NULL);
    train_args_free(&a);
    const char *clash[] = {"train", "--use_8bit_adam", "--optimizer_type", "Lion", NULL};
    check_err(parse(&a, clash), SDL_ERR_ARG, "--use_8bit_adam and --optimizer_type Lion", NULL, NULL);
    train_args_free(&a);

    // unsupported features are errors saying so; inert options are accepted and noted
    const char *ds[] = {"train", "--deepspeed", NULL};
    check_err(parse(&a, ds), SDL_ERR_UNSUPPORTED, "--deepspeed: not supported by sdlora", NULL, NULL);
    train_args_free(&a);
    const char *hf[] = {"train", "--huggingface_repo_id", "me/lora", NULL};
    check_err(parse(&a, hf), SDL_ERR_UNSUPPORTED, "Hugging Face", NULL, NULL);
    train_args_free(&a);
    const char *masked[] = {"train", "--masked_loss", NULL};
    check_err(parse(&a, masked), SDL_ERR_UNSUPPORTED, "--masked_loss", NULL, NULL);
    train_args_free(&a);
    const char *inert[] = {"train", "--xformers", "--lowram", "--max_data_loader_n_workers", "4", "--xformers", NULL};
    CHECK(parse(&a, inert) == SDL_OK);
    CHECK(a.xformers && a.lowram && a.max_data_loader_n_workers == 4);
    CHECK(notes_have(a.ignored, "--xformers: ") && notes_have(a.ignored, "--lowram: ") &&
          notes_have(a.ignored, "--max_data_loader_n_workers: "));
    CHECK(opts_list_len(a.ignored) == 3); // noted once each
    train_args_free(&a);
}

static char *write_temp(const char *name, const char *text) {
    char *path = malloc(512);
    snprintf(path, 512, "/tmp/sdlora-test-args-%d-%s", (int)getpid(), name);
    FILE *f = fopen(path, "w");
    SDL_ASSERT(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static const char *TOML_CONFIG =
    "# a kohya-style config: sections are flattened into one namespace\n"
    "[model_arguments]\n"
    "pretrained_model_name_or_path = \"/models/sd15.safetensors\"\n"
    "v2 = false\n"
    "\n"
    "[additional_network_arguments]\n"
    "network_module = \"networks.lora\"\n"
    "network_dim = 32\n"
    "network_alpha = 16\n"
    "network_args = [\"conv_dim=8\", \"conv_alpha=4\"]\n"
    "\n"
    "[optimizer_arguments]\n"
    "optimizer_type = \"AdamW\"\n"
    "learning_rate = 5e-5\n"
    "text_encoder_lr = 2e-5\n"
    "lr_warmup_steps = 0.05\n"
    "max_grad_norm = 0\n"
    "\n"
    "[dataset_arguments]\n"
    "resolution = [640, 512]\n"
    "train_batch_size = 2\n"
    "caption_extension = \".txt\"\n"
    "cache_latents = true\n"
    "\n"
    "[training_arguments]\n"
    "output_dir = \"/out\"\n"
    "output_name = \"from-file\"\n"
    "max_train_epochs = 10\n"
    "seed = 7\n";

static void test_config_toml(void) {
    char *path = write_temp("cfg.toml", TOML_CONFIG);
    // kohya appends ".toml" to a name without it
    char stem[512];
    snprintf(stem, sizeof stem, "%.*s", (int)(strlen(path) - 5), path);
    TrainArgs a;
    const char *argv[] = {"train", "--config", stem, "--learning_rate", "1e-4", "--network_dim", "64", NULL}; // a prefix works too
    CHECK(parse(&a, argv) == SDL_OK);
    if (sdl_last_error()->reason[0]) sdl_error_print(stderr);
    CHECK(streq(a.config_file, path));
    CHECK(streq(a.pretrained_model_name_or_path, "/models/sd15.safetensors") && !a.v2);
    CHECK(a.learning_rate == 1e-4 && !train_args_given_int(&a, "learning_rate")); // the command line wins
    CHECK(a.network_dim == 64);
    CHECK(a.network_alpha == 16 && a.network_alpha_is_int && train_args_given_int(&a, "network_alpha")); // TOML int stays int
    CHECK(opts_list_len(a.network_args) == 2 && streq(a.network_args[0], "conv_dim=8"));
    CHECK(a.has_text_encoder_lr && a.text_encoder_lr == 2e-5); // a scalar for a nargs='*' option
    CHECK(a.max_grad_norm == 0 && train_args_given_int(&a, "max_grad_norm"));
    CHECK(strtod(a.lr_warmup_steps, NULL) == 0.05);
    CHECK(a.data.ds.has_resolution && a.data.ds.resolution[0] == 640 && a.data.ds.resolution[1] == 512);
    CHECK(a.data.ds.batch_size == 2 && streq(a.data.sub.caption_extension, ".txt") && a.cache_latents);
    CHECK(streq(a.output_dir, "/out") && streq(a.output_name, "from-file") && a.max_train_epochs == 10);
    CHECK(a.has_seed && a.seed == 7);
    train_args_free(&a);

    // the text door: a later section overrides an earlier one (one flat dict)
    train_args_default(&a);
    CHECK(train_args_apply_toml(&a, "seed = 1\n[x]\nseed = 2\nresolution = 512\n", "t.toml") == SDL_OK);
    CHECK(a.seed == 2 && a.data.ds.resolution[0] == 512 && a.data.ds.resolution[1] == 512);
    train_args_free(&a);

    // a missing file names itself
    const char *argv2[] = {"train", "--config_file", "/no/such/config.toml", NULL};
    check_err(parse(&a, argv2), SDL_ERR_IO, NULL, NULL, "/no/such/config.toml");
    train_args_free(&a);
    unlink(path);
    free(path);
}

static void test_toml_errors(void) {
    TrainArgs a;
    train_args_default(&a);
    sdl_error_clear();
    check_err(train_args_apply_toml(&a, "[training]\noutput_dir = \"o\"\nmax_train_steps = \"many\"\n", "cfg.toml"), SDL_ERR_ARG,
              "max_train_steps: expects an integer, got a string", "whole number", "cfg.toml:3");
    train_args_free(&a);
    train_args_default(&a);
    check_err(train_args_apply_toml(&a, "\nlerning_rate = 1e-4\n", "cfg.toml"), SDL_ERR_ARG, "unknown option 'lerning_rate'",
              "did you mean 'learning_rate'?", "cfg.toml:2");
    train_args_free(&a);
    train_args_default(&a);
    check_err(train_args_apply_toml(&a, "v2 = \"yes\"\n", "cfg.toml"), SDL_ERR_ARG, "v2: expects true or false", NULL, "cfg.toml:1");
    train_args_free(&a);
    train_args_default(&a);
    check_err(train_args_apply_toml(&a, "learning_rate = true\n", "cfg.toml"), SDL_ERR_ARG, "expects a number, got a boolean", NULL,
              "cfg.toml:1");
    train_args_free(&a);
    train_args_default(&a);
    check_err(train_args_apply_toml(&a, "[a]\n[a.b]\nseed = 1\n", "cfg.toml"), SDL_ERR_ARG, "b: a table is not an option value",
              "one level", "cfg.toml:2");
    train_args_free(&a);
    train_args_default(&a);
    check_err(train_args_apply_toml(&a, "caption_dropout_rate = 1.5\n", "cfg.toml"), SDL_ERR_ARG, "out of range", NULL, "cfg.toml:1");
    train_args_free(&a);
    train_args_default(&a);
    check_err(train_args_apply_toml(&a, "deepspeed = true\n", "cfg.toml"), SDL_ERR_UNSUPPORTED, "deepspeed", "config file",
              "cfg.toml:1");
    train_args_free(&a);
    train_args_default(&a); // a false flag for an unsupported feature is fine
    CHECK(train_args_apply_toml(&a, "deepspeed = false\nxformers = true\n", "cfg.toml") == SDL_OK);
    CHECK(notes_have(a.ignored, "--xformers:"));
    train_args_free(&a);
    train_args_default(&a);
    CHECK(train_args_apply_toml(&a, "seed = = 1\n", "cfg.toml") == SDL_ERR_FORMAT); // TOML syntax: the parser's error
    train_args_free(&a);
}

static char *read_fixture(const char *rel) {
    char path[1024];
    golden_path(path, sizeof path, rel);
    FILE *f = fopen(path, "rb");
    if (!f) {
        CHECKF(0, "fixture %s missing (run from the repo root or set SDLORA_GOLDEN_DIR)", path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = calloc((size_t)n + 1, 1);
    CHECK(text && fread(text, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    return text;
}

static void test_gui_json(void) {
    char *json = read_fixture("train/kohya_ss_locon.json");
    if (!json) return;
    TrainArgs a;
    train_args_default(&a);
    sdl_error_clear();
    SdlStatus st = train_args_apply_gui_json(&a, json, "kohya_ss_locon.json");
    CHECK(st == SDL_OK);
    if (st != SDL_OK) sdl_error_print(stderr);
    // LoRA_type "Kohya LoCon" → networks.lora + conv dims (+ rank_dropout, set in the GUI)
    CHECK(streq(a.network_module, "networks.lora"));
    CHECK(opts_list_len(a.network_args) == 3 && list_has(a.network_args, "conv_dim=8") && list_has(a.network_args, "conv_alpha=4") &&
          list_has(a.network_args, "rank_dropout=0.1"));
    CHECK(a.network_dim == 32 && a.network_alpha == 16 && !a.network_alpha_is_int); // the GUI passes floats like the CLI
    CHECK(streq(a.optimizer_type, "AdamW8bit"));
    CHECK(opts_list_len(a.optimizer_args) == 2 && streq(a.optimizer_args[0], "weight_decay=0.1"));
    CHECK(streq(a.lr_scheduler, "cosine"));
    CHECK(streq(a.lr_warmup_steps, "160"));                 // round(10 * 1605 / 100) = round(160.5) = 160
    CHECK(a.max_train_steps == 1605 && a.max_train_epochs == 10); // epoch → max_train_epochs
    CHECK(a.lr_scheduler_num_cycles == 10);                 // blank → epoch (the GUI's fallback)
    CHECK(streq(a.resolution, "512,512") && a.data.ds.resolution[0] == 512);
    CHECK(a.data.ds.enable_bucket && a.data.ds.bucket_no_upscale && a.data.ds.min_bucket_reso == 256 &&
          a.data.ds.max_bucket_reso == 1024);
    CHECK(a.learning_rate == 1e-4 && a.has_unet_lr && a.unet_lr == 1e-4 && a.has_text_encoder_lr && a.text_encoder_lr == 5e-5);
    CHECK(!a.network_train_unet_only && !a.network_train_text_encoder_only);
    CHECK(a.clip_skip == 2 && a.max_token_length == 0 && !train_args_given(&a, "max_timestep"));
    CHECK(a.min_snr_gamma == 5 && a.noise_offset == 0.05 && !train_args_given(&a, "adaptive_noise_scale"));
    CHECK(!train_args_given(&a, "multires_noise_iterations"));
    CHECK(a.data.sub.shuffle_caption && a.data.sub.keep_tokens == 1 && a.data.sub.caption_dropout_rate == 0.05);
    CHECK(streq(a.data.sub.caption_extension, ".txt"));
    CHECK(a.cache_latents && a.gradient_checkpointing);
    CHECK(streq(a.mixed_precision, "fp16") && streq(a.save_precision, "fp16"));
    CHECK(a.save_every_n_epochs == 2 && a.sample_every_n_epochs == 2 && a.sample_every_n_steps == 0);
    CHECK(streq(a.sample_sampler, "euler_a"));
    CHECK(a.sample_prompts == NULL && contains(a.sample_prompts_text, "a photo of sks dog"));
    CHECK(a.has_seed && a.seed == 1234);
    CHECK(a.data.ds.batch_size == 2 && streq(a.data.train_data_dir, "/data/lora/img") && streq(a.data.reg_data_dir, "/data/lora/reg"));
    CHECK(streq(a.output_dir, "/data/lora/model") && streq(a.output_name, "sks_dog"));
    CHECK(streq(a.training_comment, "sks dog, trained with kohya_ss"));
    CHECK(a.xformers && notes_have(a.ignored, "--xformers:"));
    CHECK(!train_args_given(&a, "vae_batch_size") && !train_args_given(&a, "vae") && !train_args_given(&a, "dataset_config"));
    // additional_parameters: applied last, over the GUI's fields
    CHECK(a.max_grad_norm == 0.5 && a.data.sub.caption_tag_dropout_rate == 0.1);
    // and the whole thing is a valid training configuration
    CHECK(train_args_validate(&a) == SDL_OK);
    train_args_free(&a);

    // through --config_file: the extension picks the GUI reader; the command line still wins
    char *path = write_temp("gui.json", json);
    const char *argv[] = {"train", "--config_file", path, "--output_name", "cli", NULL};
    CHECK(parse(&a, argv) == SDL_OK);
    CHECK(streq(a.output_name, "cli") && a.network_dim == 32 && streq(a.config_file, path));
    train_args_free(&a);
    unlink(path);
    free(path);
    free(json);

    // other GUI shapes
    train_args_default(&a);
    check_err(train_args_apply_gui_json(&a, "{\"LoRA_type\": \"LyCORIS/LoHa\"}", "g.json"), SDL_ERR_UNSUPPORTED, "LyCORIS",
              "Standard", "g.json");
    train_args_free(&a);
    train_args_default(&a);
    check_err(train_args_apply_gui_json(&a, "{\"sdxl\": true}", "g.json"), SDL_ERR_UNSUPPORTED, "sdxl", NULL, "g.json");
    train_args_free(&a);
    train_args_default(&a);
    check_err(train_args_apply_gui_json(&a, "[1, 2]", "g.json"), SDL_ERR_FORMAT, "not a JSON object", NULL, "g.json");
    train_args_free(&a);
    train_args_default(&a);
    check_err(train_args_apply_gui_json(&a, "{\"learning_rate\": \"fast\"}", "g.json"), SDL_ERR_ARG, "learning_rate", NULL, "g.json");
    train_args_free(&a);
    // Standard, text-encoder lr 0 → UNet only; warm-up percent without a step count → a ratio;
    // banker's rounding the other way (161.5 → 162); a constant schedule takes no warm-up
    train_args_default(&a);
    CHECK(train_args_apply_gui_json(&a, "{\"LoRA_type\": \"Standard\", \"text_encoder_lr\": 0, \"unet_lr\": \"2e-4\", "
                                        "\"lr_scheduler\": \"linear\", \"lr_warmup\": 5, \"max_train_steps\": 0, "
                                        "\"noise_offset_type\": \"Multires\", \"multires_noise_iterations\": 6, "
                                        "\"multires_noise_discount\": 0.3, \"noise_offset\": 0.1}",
                                  "g.json") == SDL_OK);
    CHECK(a.network_train_unet_only && a.unet_lr == 2e-4 && !a.has_text_encoder_lr && a.network_args == NULL);
    CHECK(streq(a.lr_warmup_steps, "5%"));
    CHECK(a.multires_noise_iterations == 6 && !train_args_given(&a, "noise_offset"));
    train_args_free(&a);
    train_args_default(&a);
    CHECK(train_args_apply_gui_json(&a, "{\"lr_scheduler\": \"cosine\", \"lr_warmup\": 10, \"max_train_steps\": 1615}", "g.json") ==
          SDL_OK);
    CHECK(streq(a.lr_warmup_steps, "162"));
    train_args_free(&a);
    train_args_default(&a);
    CHECK(train_args_apply_gui_json(&a, "{\"lr_scheduler\": \"constant\", \"lr_warmup\": 10, \"max_train_steps\": 1600}", "g.json") ==
          SDL_OK);
    CHECK(streq(a.lr_warmup_steps, "0"));
    train_args_free(&a);
}

// Minimal valid arguments + extra words.
static SdlStatus validate_with(const char *const *extra) {
    const char *base[] = {"train", "--pretrained_model_name_or_path", "m.safetensors", "--output_dir", "out", "--train_data_dir",
                          "img", "--resolution", "512"};
    const char *argv[64];
    int n = 0;
    for (size_t i = 0; i < sizeof base / sizeof *base; i++) argv[n++] = base[i];
    for (size_t i = 0; extra[i]; i++) argv[n++] = extra[i];
    argv[n] = NULL;
    TrainArgs a;
    SdlStatus st = parse(&a, argv);
    if (st == SDL_OK) st = train_args_validate(&a);
    train_args_free(&a);
    return st;
}

#define V(...) validate_with((const char *const[]){__VA_ARGS__, NULL})

static void test_validate(void) {
    CHECK(V("--v2") == SDL_OK);
    CHECK(V("--lr_warmup_steps", "10%", "--lr_scheduler", "cosine") == SDL_OK);
    CHECK(V("--lr_warmup_steps", "0.1") == SDL_OK && V("--lr_warmup_steps", "100") == SDL_OK);
    CHECK(V("--network_args", "conv_dim=4", "conv_alpha=1", "rank_dropout=0.1", "module_dropout=0.2") == SDL_OK);
    CHECK(V("--optimizer_type", "prodigy") == SDL_OK && V("--use_lion_optimizer") == SDL_OK);
    CHECK(V("--log_with", "tensorboard", "--logging_dir", "logs") == SDL_OK);

    TrainArgs a;
    const char *nomodel[] = {"train", "--output_dir", "o", "--train_data_dir", "i", "--resolution", "512", NULL};
    CHECK(parse(&a, nomodel) == SDL_OK);
    check_err(train_args_validate(&a), SDL_ERR_ARG, "--pretrained_model_name_or_path is required", NULL, NULL);
    train_args_free(&a);
    const char *noout[] = {"train", "--pretrained_model_name_or_path", "m", "--train_data_dir", "i", "--resolution", "512", NULL};
    CHECK(parse(&a, noout) == SDL_OK);
    check_err(train_args_validate(&a), SDL_ERR_ARG, "--output_dir is required", NULL, NULL);
    train_args_free(&a);
    const char *nodata[] = {"train", "--pretrained_model_name_or_path", "m", "--output_dir", "o", NULL};
    CHECK(parse(&a, nodata) == SDL_OK);
    check_err(train_args_validate(&a), SDL_ERR_ARG, "no training data", "--train_data_dir", NULL);
    train_args_free(&a);
    const char *nores[] = {"train", "--pretrained_model_name_or_path", "m", "--output_dir", "o", "--train_data_dir", "i", NULL};
    CHECK(parse(&a, nores) == SDL_OK);
    check_err(train_args_validate(&a), SDL_ERR_ARG, "--resolution is required", NULL, NULL);
    train_args_free(&a);

    check_err(V("--adaptive_noise_scale", "0.01"), SDL_ERR_ARG, "--adaptive_noise_scale requires --noise_offset", NULL, NULL);
    CHECK(V("--adaptive_noise_scale", "0.01", "--noise_offset", "0.1") == SDL_OK);
    check_err(V("--scale_v_pred_loss_like_noise_pred"), SDL_ERR_ARG, "only with --v_parameterization", NULL, NULL);
    check_err(V("--v_pred_like_loss", "0.1", "--v_parameterization", "--v2"), SDL_ERR_ARG, "cannot be enabled with --v_parameterization",
              NULL, NULL);
    check_err(V("--cache_latents", "--color_aug"), SDL_ERR_ARG, "color_aug and random_crop", NULL, NULL);
    check_err(V("--cache_latents_to_disk", "--random_crop"), SDL_ERR_ARG, "color_aug and random_crop", NULL, NULL);
    check_err(V("--network_train_unet_only", "--network_train_text_encoder_only"), SDL_ERR_ARG, "train nothing", NULL, NULL);
    check_err(V("--full_fp16"), SDL_ERR_ARG, "--full_fp16 requires --mixed_precision fp16", NULL, NULL);
    check_err(V("--full_bf16", "--mixed_precision", "fp16"), SDL_ERR_ARG, "--full_bf16 requires", NULL, NULL);
    check_err(V("--fp8_base"), SDL_ERR_ARG, "--fp8_base requires", NULL, NULL);
    check_err(V("--dim_from_weights"), SDL_ERR_ARG, "--dim_from_weights needs --network_weights", NULL, NULL);
    check_err(V("--bucket_reso_steps", "32"), SDL_ERR_ARG, "multiple of 64", NULL, NULL);
    check_err(V("--enable_bucket", "--min_bucket_reso", "1024", "--max_bucket_reso", "512"), SDL_ERR_ARG, "--min_bucket_reso 1024 >",
              NULL, NULL);
    check_err(V("--network_module", "lycoris.kohya"), SDL_ERR_UNSUPPORTED, "LyCORIS", NULL, NULL);
    check_err(V("--network_module", "networks.dylora"), SDL_ERR_UNSUPPORTED, "networks.dylora is not supported", NULL, NULL);
    check_err(V("--network_args", "conv_dim"), SDL_ERR_ARG, "not key=value", NULL, NULL);
    check_err(V("--network_args", "conv_dim=four"), SDL_ERR_ARG, "not a number", NULL, NULL);
    check_err(V("--network_args", "block_dims=2,2,2"), SDL_ERR_UNSUPPORTED, "block_dims", NULL, NULL);
    check_err(V("--network_args", "algo=locon"), SDL_ERR_ARG, "unknown key 'algo'", NULL, NULL);
    check_err(V("--save_model_as", "ckpt"), SDL_ERR_UNSUPPORTED, "--save_model_as ckpt", NULL, NULL);
    check_err(V("--log_with", "wandb"), SDL_ERR_UNSUPPORTED, "--log_with wandb", NULL, NULL);
    check_err(V("--log_with", "tensorboard"), SDL_ERR_ARG, "needs --logging_dir", NULL, NULL);
    check_err(V("--lr_scheduler", "inverse_sqrt"), SDL_ERR_UNSUPPORTED, "--lr_scheduler inverse_sqrt", NULL, NULL);
    check_err(V("--lr_scheduler_type", "torch.optim.lr_scheduler.StepLR"), SDL_ERR_UNSUPPORTED, "custom scheduler", NULL, NULL);
    check_err(V("--lr_scheduler_args", "T_max=100"), SDL_ERR_UNSUPPORTED, "--lr_scheduler_args", NULL, NULL);
    check_err(V("--lr_warmup_steps", "soon"), SDL_ERR_ARG, "--lr_warmup_steps: 'soon'", NULL, NULL);
    check_err(V("--lr_warmup_steps", "1.5"), SDL_ERR_ARG, "not an int or float", NULL, NULL);
    check_err(V("--optimizer_type", "RAdamScheduleFree"), SDL_ERR_ARG, NULL, NULL, NULL);
    check_err(V("--validation_split", "0.1"), SDL_ERR_UNSUPPORTED, "validation", NULL, NULL);
    check_err(V("--initial_step", "2000"), SDL_ERR_ARG, "greater than initial_step", NULL, NULL);
}

static void test_help_and_docs(void) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    train_args_print_help(f);
    fclose(f);
    CHECK(contains(text, "usage: sdlora train"));
    CHECK(contains(text, "\nnetwork:\n") && contains(text, "\noptimizer and learning rate:\n"));
    CHECK(contains(text, "--learning_rate X") && contains(text, "(default 2e-6)"));
    CHECK(contains(text, "--caption_extention (same as --caption_extension)"));
    CHECK(contains(text, "no effect in sdlora") && contains(text, "--xformers"));
    CHECK(contains(text, "does not support") && contains(text, "--deepspeed"));
    free(text);

    // docs/training.md names every option (run from the repo root, as the golden tests are)
    FILE *d = fopen("docs/training.md", "r");
    CHECKF(d != NULL, "docs/training.md not found (run from the repo root)");
    if (!d) return;
    fseek(d, 0, SEEK_END);
    long n = ftell(d);
    fseek(d, 0, SEEK_SET);
    char *doc = calloc((size_t)n + 1, 1);
    CHECK(fread(doc, 1, (size_t)n, d) == (size_t)n);
    fclose(d);
    for (size_t i = 0; i < train_args_option_count(); i++) {
        char want[128];
        snprintf(want, sizeof want, "`--%s`", train_args_option_name(i));
        CHECKF(contains(doc, want), "docs/training.md does not list %s", want);
    }
    free(doc);
}

// The small door the other subcommands use keeps working: borrowed strings, int/float/flag.
static void test_simple_door(void) {
    const char *name = "default";
    int steps = 1;
    float scale = 0;
    bool fast = false;
    const OptSpec specs[] = {
        {.name = "name", .type = OPT_STRING, .dst = &name, .help = "a name"},
        {.name = "steps", .alias = "n", .type = OPT_INT, .dst = &steps, .min = 1, .max = 10, .help = "steps"},
        {.name = "scale", .type = OPT_FLOAT, .dst = &scale, .help = "scale"},
        {.name = "fast", .type = OPT_FLAG, .dst = &fast, .help = "fast", .required = true},
    };
    char *argv[] = {"cmd", "--name", "x", "--n", "3", "--scale=0.5", "--fast", NULL};
    CHECK(opts_parse("cmd", "cmd ...", specs, 4, 7, argv) == OPTS_OK);
    CHECK(name == argv[2] && steps == 3 && scale == 0.5f && fast);
    FILE *saved = stderr;
    stderr = fopen("/dev/null", "w");
    char *bad[] = {"cmd", "--steps", "11", "--fast", NULL};
    CHECK(opts_parse("cmd", "cmd ...", specs, 4, 4, bad) == OPTS_ERROR);
    CHECK(contains(sdl_last_error()->hint, "use a value from 1 to 10"));
    char *noreq[] = {"cmd", NULL};
    CHECK(opts_parse("cmd", "cmd ...", specs, 4, 1, noreq) == OPTS_ERROR);
    CHECK(contains(sdl_last_error()->reason, "--fast: missing"));
    fclose(stderr);
    stderr = saved;

    char **w = opts_split_words("weight_decay=0.1  \"betas=0.9, 0.99\" 'a b'\\ c x\\\"y");
    CHECK(w && opts_list_len(w) == 4);
    if (w && opts_list_len(w) == 4)
        CHECK(streq(w[0], "weight_decay=0.1") && streq(w[1], "betas=0.9, 0.99") && streq(w[2], "a b c") && streq(w[3], "x\"y"));
    opts_free_list(w);
    CHECK(opts_split_words("\"open") == NULL && sdl_last_error()->status == SDL_ERR_ARG);
}

int main(void) {
    RUN(test_defaults);
    RUN(test_cli_types);
    RUN(test_cli_errors);
    RUN(test_config_toml);
    RUN(test_toml_errors);
    RUN(test_gui_json);
    RUN(test_validate);
    RUN(test_help_and_docs);
    RUN(test_simple_door);
    return test_finish();
}
