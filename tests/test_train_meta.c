// test_train_meta.c — the LoRA metadata of src/train/train_meta.c against goldens written by
// hand from kohya-spec.md §2.1/§2.2 and train_network.py: Python repr() of floats (cases
// checked against CPython 3.11), json.dumps text (separators, \uXXXX, surrogate pairs),
// tag frequencies (split, strip, lower), the full key list of a folder-mode run (values as
// Python str(): None/True/False, int vs float by origin), ss_datasets of a --dataset_config
// run, --no_metadata, Adafactor's relative-step rewrite, modelspec.*, and the model hashes of
// a generated 1.125 MiB file (expected values from Python's hashlib).
#include "harness.h"
#include "base/error.h"
#include "train/train_args.h"
#include "train/train_meta.h"
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static bool streq(const char *a, const char *b) { return a && b && strcmp(a, b) == 0; }

static void test_py_float_repr(void) {
    static const struct { double x; const char *want; } cases[] = {
        {0.0001, "0.0001"}, {1e-05, "1e-05"}, {2e-06, "2e-06"}, {1.0, "1.0"}, {16.0, "16.0"}, {0.1, "0.1"}, {0.3, "0.3"},
        {0.30000000000000004, "0.30000000000000004"}, {0.3333333333333333, "0.3333333333333333"},
        {0.6666666666666666, "0.6666666666666666"}, {1e+16, "1e+16"}, {1000000000000000.0, "1000000000000000.0"},
        {9999999999999998.0, "9999999999999998.0"}, {0.00030000000000000003, "0.00030000000000000003"},
        {0.00011, "0.00011"}, {1234.5, "1234.5"}, {100.0, "100.0"}, {5e-324, "5e-324"},
        {1.7976931348623157e+308, "1.7976931348623157e+308"}, {2.2250738585072014e-308, "2.2250738585072014e-308"},
        {-0.0, "-0.0"}, {0.0, "0.0"}, {-2.5e-07, "-2.5e-07"}, {1.2345678901234568e+17, "1.2345678901234568e+17"},
        {1712345678.9012346, "1712345678.9012346"}, {0.5, "0.5"}, {1e+22, "1e+22"}, {1e+21, "1e+21"}, {1.5e-05, "1.5e-05"},
        {3e-06, "3e-06"}, {5e-05, "5e-05"}, {0.05, "0.05"}, {0.0002, "0.0002"}, {1e+100, "1e+100"}, {-1e-100, "-1e-100"},
        {0.008, "0.008"}, {9.313225746154785e-10, "9.313225746154785e-10"}, {1.152921504606846976e18, "1.152921504606847e+18"},
        {9007199254740994.0, "9007199254740994.0"}, {1e+23, "1e+23"}, {1712345678.25, "1712345678.25"},
    };
    char buf[64];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *got = py_float_repr(buf, sizeof buf, cases[i].x);
        CHECKF(streq(got, cases[i].want), "repr(%.17g): got %s, want %s", cases[i].x, got, cases[i].want);
    }
    CHECK(streq(py_float_repr(buf, sizeof buf, 1.0 / 0.0), "inf"));
    CHECK(streq(py_float_repr(buf, sizeof buf, -1.0 / 0.0), "-inf"));
    CHECK(streq(py_float_repr(buf, sizeof buf, 0.0 / 0.0), "nan"));
}

static void test_tag_frequency(void) {
    TagFreq tf;
    tag_freq_init(&tf);
    CHECK(tag_freq_add(&tf, "10_sks dog", "sks dog, red collar") == SDL_OK);
    CHECK(tag_freq_add(&tf, "10_sks dog", " sks dog ,Red Collar, ,grass,") == SDL_OK);
    // Python whitespace (U+3000, tabs) stripped, full lower-casing (İ → i + U+0307), ß kept
    CHECK(tag_freq_add(&tf, "10_sks dog", "\xe3\x80\x80\xc4\xb0stanbul\t,STRASSE,Stra\xc3\x9f" "e") == SDL_OK);
    CHECK(tag_freq_add(&tf, "empty", NULL) == SDL_OK); // a folder with no captions is still listed
    CHECK(tag_freq_add(&tf, "empty", "") == SDL_OK);
    const TagFreqDir *d = tag_freq_find(&tf, "10_sks dog");
    CHECK(d && d->n == 6);
    CHECK(tag_freq_count(d, "sks dog") == 2 && tag_freq_count(d, "red collar") == 2 && tag_freq_count(d, "grass") == 1);
    CHECK(tag_freq_count(d, "i\xcc\x87stanbul") == 1 && tag_freq_count(d, "strasse") == 1 && tag_freq_count(d, "stra\xc3\x9f" "e") == 1);
    CHECK(d && streq(d->tags[0].tag, "sks dog") && streq(d->tags[1].tag, "red collar") && streq(d->tags[2].tag, "grass"));
    const TagFreqDir *e = tag_freq_find(&tf, "empty");
    CHECK(e && e->n == 0 && tf.n == 2 && tag_freq_find(&tf, "nope") == NULL);
    // many tags: the hash index grows
    for (int i = 0; i < 5000; i++) {
        char cap[64];
        snprintf(cap, sizeof cap, "tag%d, tag%d, common", i, i % 100);
        CHECK(tag_freq_add(&tf, "big", cap) == SDL_OK);
    }
    const TagFreqDir *b = tag_freq_find(&tf, "big");
    CHECK(b && b->n == 5001 && tag_freq_count(b, "common") == 5000 && tag_freq_count(b, "tag7") == 51 && tag_freq_count(b, "tag4999") == 1);
    tag_freq_free(&tf);
}

// ---- a folder-mode run

typedef struct {
    char dir[256], model[300], thumb[300];
} Tmp;

static void make_tmp(Tmp *t) {
    snprintf(t->dir, sizeof t->dir, "/tmp/sdlora-test-meta-%d", (int)getpid());
    mkdir(t->dir, 0755);
    snprintf(t->model, sizeof t->model, "%s/model.safetensors", t->dir);
    snprintf(t->thumb, sizeof t->thumb, "%s/thumb.png", t->dir);
    // 0x120000 bytes: byte i = ((131 i + 7) >> 3) & 255 (the hashes below are Python's)
    FILE *f = fopen(t->model, "wb");
    SDL_ASSERT(f);
    for (size_t i = 0; i < 0x120000; i++) fputc((int)(((i * 131 + 7) >> 3) & 0xff), f);
    fclose(f);
    f = fopen(t->thumb, "wb");
    SDL_ASSERT(f);
    fputs("hello", f);
    fclose(f);
}

static void drop_tmp(const Tmp *t) {
    unlink(t->model);
    unlink(t->thumb);
    rmdir(t->dir);
}

static SdlStatus parse_words(TrainArgs *a, const char *const *words) {
    int argc = 0;
    while (words[argc]) argc++;
    train_args_default(a);
    bool help = false;
    SdlStatus st = train_args_parse(a, argc, (char **)words, &help);
    if (st != SDL_OK) sdl_error_print(stderr);
    return st;
}

// Compares the produced list with the expected (key, value) pairs, in order.
static void check_list(const char *const *keys, const char *const *values, int64_t n, const char *const (*want)[2], size_t n_want) {
    CHECKF((size_t)n == n_want, "%lld keys, want %zu", (long long)n, n_want);
    for (size_t i = 0; i < n_want && i < (size_t)n; i++) {
        CHECKF(streq(keys[i], want[i][0]), "key %zu: %s, want %s", i, keys[i], want[i][0]);
        CHECKF(streq(values[i], want[i][1]), "%s: '%s', want '%s'", want[i][0], values[i], want[i][1]);
    }
}

static void folder_dataset(DatasetConfig *cfg, SubsetConfig subs[2], TrainMetaSubset msubs[2], TrainMetaBucket buckets[2],
                           TrainMetaDataset *ds) {
    memset(subs, 0, 2 * sizeof *subs);
    subs[0] = (SubsetConfig){.image_dir = "/data/img/10_sks dog", .num_repeats = 10, .class_tokens = "sks dog", .keep_tokens_separator = ""};
    subs[1] = (SubsetConfig){.image_dir = "/data/reg/1_dog", .num_repeats = 1, .class_tokens = "dog", .is_reg = true, .keep_tokens_separator = ""};
    *cfg = (DatasetConfig){.is_dreambooth = true, .batch_size = 1, .has_resolution = true, .resolution = {512, 512},
                           .enable_bucket = true, .min_bucket_reso = 256, .max_bucket_reso = 1024, .bucket_reso_steps = 64,
                           .subsets = subs, .n_subsets = 2};
    msubs[0] = (TrainMetaSubset){.cfg = &subs[0], .img_count = 3};
    msubs[1] = (TrainMetaSubset){.cfg = &subs[1], .img_count = 5};
    buckets[0] = (TrainMetaBucket){.index = 7, .width = 448, .height = 576, .count = 10};
    buckets[1] = (TrainMetaBucket){.index = 10, .width = 512, .height = 512, .count = 25};
    memset(ds, 0, sizeof *ds);
    *ds = (TrainMetaDataset){.cfg = cfg, .num_train_images = 30, .num_reg_images = 5, .subsets = msubs, .n_subsets = 2,
                             .buckets = buckets, .n_buckets = 2, .mean_img_ar_error = 0.0123456};
    tag_freq_init(&ds->tag_frequency);
    SDL_ASSERT(tag_freq_add(&ds->tag_frequency, "10_sks dog", "sks dog, red collar") == SDL_OK);
    SDL_ASSERT(tag_freq_add(&ds->tag_frequency, "10_sks dog", "sks dog, Red Collar , grass") == SDL_OK);
    SDL_ASSERT(tag_freq_add(&ds->tag_frequency, "10_sks dog", " sks dog") == SDL_OK);
    for (int i = 0; i < 5; i++) SDL_ASSERT(tag_freq_add(&ds->tag_frequency, "1_dog", "dog") == SDL_OK);
}

static TrainMetaInput folder_input(const TrainArgs *a, const TrainMetaDataset *ds) {
    return (TrainMetaInput){.args = a, .datasets = ds, .n_datasets = 1, .num_train_images = 30, .num_reg_images = 5,
                            .num_batches_per_epoch = 60, .num_epochs = 2, .max_train_steps = 120, .seed = 42,
                            .optimizer = "bitsandbytes.optim.adamw.AdamW8bit(weight_decay=0.1)", .session_id = 1234567890,
                            .training_started_at = 1712345678.25, .sdlora_version = "0.1.0"};
}

static void test_folder_mode_golden(void) {
    Tmp t;
    make_tmp(&t);
    TrainArgs a;
    const char *argv[] = {"train", "--pretrained_model_name_or_path", t.model, "--output_dir", "out", "--output_name", "sksdog",
                          "--train_data_dir", "/data/img", "--reg_data_dir", "/data/reg", "--resolution", "512", "--enable_bucket",
                          "--caption_extension", ".txt", "--shuffle_caption", "--keep_tokens", "1", "--learning_rate", "1e-4",
                          "--unet_lr", "1e-4", "--text_encoder_lr", "5e-5", "--network_dim", "8", "--network_alpha", "4",
                          "--network_args", "conv_dim=4", "conv_alpha=1", "--optimizer_type", "AdamW8bit", "--lr_scheduler",
                          "cosine", "--lr_warmup_steps", "0.1", "--max_train_epochs", "2", "--seed", "42", "--noise_offset",
                          "0.05", "--min_snr_gamma", "5", "--clip_skip", "2", "--mixed_precision", "fp16", "--save_precision",
                          "fp16", "--training_comment", "a \"quoted\" comment", "--cache_latents", "--metadata_author", "me",
                          NULL};
    CHECK(parse_words(&a, argv) == SDL_OK);
    DatasetConfig cfg;
    SubsetConfig subs[2];
    TrainMetaSubset msubs[2];
    TrainMetaBucket buckets[2];
    TrainMetaDataset ds;
    folder_dataset(&cfg, subs, msubs, buckets, &ds);
    TrainMetaInput in = folder_input(&a, &ds);
    TrainMeta m;
    SdlStatus st = train_meta_build(&m, &in);
    CHECK(st == SDL_OK);
    if (st != SDL_OK) sdl_error_print(stderr);
    const char *const *keys, *const *values;
    int64_t n = 0;
    CHECK(train_meta_for_save(&m, 1712345978.5, 120, 2, &keys, &values, &n) == SDL_OK);
    static const char *const want[][2] = {
        {"ss_session_id", "1234567890"},
        {"ss_training_started_at", "1712345678.25"},
        {"ss_output_name", "sksdog"},
        {"ss_learning_rate", "0.0001"},
        {"ss_text_encoder_lr", "5e-05"},
        {"ss_unet_lr", "0.0001"},
        {"ss_num_train_images", "30"},
        {"ss_num_validation_images", "0"},
        {"ss_num_reg_images", "5"},
        {"ss_num_batches_per_epoch", "60"},
        {"ss_num_epochs", "2"},
        {"ss_gradient_checkpointing", "False"},
        {"ss_gradient_accumulation_steps", "1"},
        {"ss_max_train_steps", "120"},
        {"ss_lr_warmup_steps", "0.1"},
        {"ss_lr_scheduler", "cosine"},
        {"ss_network_module", "networks.lora"},
        {"ss_network_dim", "8"},
        {"ss_network_alpha", "4.0"},     // a command-line float
        {"ss_network_dropout", "None"},
        {"ss_mixed_precision", "fp16"},
        {"ss_full_fp16", "False"},
        {"ss_v2", "False"},
        {"ss_base_model_version", "sd_v1"},
        {"ss_clip_skip", "2"},
        {"ss_max_token_length", "None"},
        {"ss_cache_latents", "True"},
        {"ss_seed", "42"},
        {"ss_lowram", "False"},
        {"ss_noise_offset", "0.05"},
        {"ss_multires_noise_iterations", "None"},
        {"ss_multires_noise_discount", "0.3"},
        {"ss_adaptive_noise_scale", "None"},
        {"ss_zero_terminal_snr", "False"},
        {"ss_training_comment", "a \"quoted\" comment"},
        {"ss_sd_scripts_commit_hash", "(unknown)"},
        {"ss_optimizer", "bitsandbytes.optim.adamw.AdamW8bit(weight_decay=0.1)"},
        {"ss_max_grad_norm", "1.0"},
        {"ss_caption_dropout_rate", "0.0"},
        {"ss_caption_dropout_every_n_epochs", "0"},
        {"ss_caption_tag_dropout_rate", "0.0"},
        {"ss_face_crop_aug_range", "None"},
        {"ss_prior_loss_weight", "1.0"},
        {"ss_min_snr_gamma", "5.0"},
        {"ss_scale_weight_norms", "None"},
        {"ss_ip_noise_gamma", "None"},
        {"ss_debiased_estimation", "False"},
        {"ss_noise_offset_random_strength", "False"},
        {"ss_ip_noise_gamma_random_strength", "False"},
        {"ss_loss_type", "l2"},
        {"ss_huber_schedule", "snr"},
        {"ss_huber_scale", "1.0"},
        {"ss_huber_c", "0.1"},
        {"ss_fp8_base", "False"},
        {"ss_fp8_base_unet", "False"},
        {"ss_validation_seed", "None"},
        {"ss_validation_split", "0.0"},
        {"ss_max_validation_steps", "None"},
        {"ss_validate_every_n_epochs", "None"},
        {"ss_validate_every_n_steps", "None"},
        {"ss_resize_interpolation", "None"},
        {"ss_batch_size_per_device", "1"},
        {"ss_total_batch_size", "1"},
        {"ss_resolution", "(512, 512)"},
        {"ss_color_aug", "False"},
        {"ss_flip_aug", "False"},
        {"ss_random_crop", "False"},
        {"ss_shuffle_caption", "True"},
        {"ss_enable_bucket", "True"},
        {"ss_bucket_no_upscale", "False"},
        {"ss_min_bucket_reso", "256"},
        {"ss_max_bucket_reso", "1024"},
        {"ss_keep_tokens", "1"},
        {"ss_dataset_dirs", "{\"10_sks dog\": {\"n_repeats\": 10, \"img_count\": 3}}"},
        {"ss_reg_dataset_dirs", "{\"1_dog\": {\"n_repeats\": 1, \"img_count\": 5}}"},
        {"ss_tag_frequency", "{\"10_sks dog\": {\"sks dog\": 3, \"red collar\": 2, \"grass\": 1}, \"1_dog\": {\"dog\": 5}}"},
        {"ss_bucket_info", "{\"buckets\": {\"7\": {\"resolution\": [448, 576], \"count\": 10}, \"10\": {\"resolution\": [512, 512], "
                           "\"count\": 25}}, \"mean_img_ar_error\": 0.0123456}"},
        {"ss_network_args", "{\"conv_dim\": \"4\", \"conv_alpha\": \"1\", \"dropout\": null}"},
        {"ss_sd_model_hash", "add5135a"},
        {"ss_new_sd_model_hash", "5e29e1253a876394d15ce5e47403542efd949c5b50a527e6b8063b7714812221"},
        {"ss_sd_model_name", "model.safetensors"},
        {"ss_training_finished_at", "1712345978.5"},
        {"ss_steps", "120"},
        {"ss_epoch", "2"},
        {"modelspec.architecture", "stable-diffusion-v1/lora"},
        {"modelspec.implementation", "diffusers"},
        {"modelspec.title", "sksdog"},
        {"modelspec.resolution", "512x512"},
        {"modelspec.author", "me"},
        {"modelspec.date", "2024-04-05T19:39:38"},
        {"modelspec.sai_model_spec", "1.0.1"},
        {"modelspec.prediction_type", "epsilon"},
        {"modelspec.encoder_layer", "2"},
        {"modelspec.implementation_version", "sdlora/0.1.0"},
    };
    check_list(keys, values, n, want, sizeof want / sizeof *want);

    // the next save replaces the per-save keys; the run's keys stay
    CHECK(train_meta_for_save(&m, 1712345979.0, 60, 1, &keys, &values, &n) == SDL_OK);
    CHECK(streq(train_meta_get(&m, "ss_steps"), "60") && streq(train_meta_get(&m, "ss_epoch"), "1"));
    CHECK(streq(train_meta_get(&m, "ss_training_finished_at"), "1712345979.0"));
    CHECK(streq(train_meta_get(&m, "ss_seed"), "42") && n == (int64_t)(sizeof want / sizeof *want));
    train_meta_free(&m);

    // --no_metadata: kohya's minimum keys and modelspec only
    a.no_metadata = true;
    CHECK(train_meta_build(&m, &in) == SDL_OK);
    CHECK(train_meta_for_save(&m, 1712345978.5, 120, 2, &keys, &values, &n) == SDL_OK);
    static const char *const want_min[][2] = {
        {"ss_v2", "False"}, {"ss_base_model_version", "sd_v1"}, {"ss_network_module", "networks.lora"},
        {"ss_network_dim", "8"}, {"ss_network_alpha", "4.0"},
        {"ss_network_args", "{\"conv_dim\": \"4\", \"conv_alpha\": \"1\", \"dropout\": null}"},
        {"modelspec.architecture", "stable-diffusion-v1/lora"}, {"modelspec.implementation", "diffusers"},
        {"modelspec.title", "sksdog"}, {"modelspec.resolution", "512x512"}, {"modelspec.author", "me"},
        {"modelspec.date", "2024-04-05T19:39:38"}, {"modelspec.sai_model_spec", "1.0.1"},
        {"modelspec.prediction_type", "epsilon"}, {"modelspec.encoder_layer", "2"},
        {"modelspec.implementation_version", "sdlora/0.1.0"},
    };
    check_list(keys, values, n, want_min, sizeof want_min / sizeof *want_min);
    train_meta_free(&m);
    tag_freq_free(&ds.tag_frequency);
    train_args_free(&a);
    drop_tmp(&t);
}

// Values whose text depends on where they came from, and kohya's None defaults.
static void test_value_origins(void) {
    DatasetConfig cfg;
    SubsetConfig subs[2];
    TrainMetaSubset msubs[2];
    TrainMetaBucket buckets[2];
    TrainMetaDataset ds;
    folder_dataset(&cfg, subs, msubs, buckets, &ds);
    TrainMeta m;
    TrainArgs a;

    // defaults: network_alpha the int 1, network_dim None, lr 2e-06, warm-up 0
    const char *plain[] = {"train", "--train_data_dir", "/d", "--resolution", "512,768", NULL};
    CHECK(parse_words(&a, plain) == SDL_OK);
    TrainMetaInput in = folder_input(&a, &ds);
    CHECK(train_meta_build(&m, &in) == SDL_OK);
    CHECK(streq(train_meta_get(&m, "ss_network_alpha"), "1") && streq(train_meta_get(&m, "ss_network_dim"), "None"));
    CHECK(streq(train_meta_get(&m, "ss_learning_rate"), "2e-06") && streq(train_meta_get(&m, "ss_lr_warmup_steps"), "0"));
    CHECK(streq(train_meta_get(&m, "ss_output_name"), "None") && streq(train_meta_get(&m, "ss_text_encoder_lr"), "None"));
    CHECK(streq(train_meta_get(&m, "ss_unet_lr"), "None") && streq(train_meta_get(&m, "ss_resolution"), "(512, 768)"));
    CHECK(train_meta_get(&m, "ss_network_args") == NULL && train_meta_get(&m, "ss_vae_name") == NULL);
    CHECK(train_meta_get(&m, "ss_sd_model_name") == NULL); // no model given
    train_meta_free(&m);
    train_args_free(&a);

    // the command line: "0" → 0.0 (kohya's int_or_float), a percentage → a ratio
    const char *cli[] = {"train", "--lr_warmup_steps", "0", "--network_dropout", "0.1", "--network_args", "conv_dim=4",
                         "--face_crop_aug_range", "2,4", "--vae", "/no/such/vae.pt", "--pretrained_model_name_or_path", "runwayml/x",
                         NULL};
    CHECK(parse_words(&a, cli) == SDL_OK);
    in = folder_input(&a, &ds);
    CHECK(train_meta_build(&m, &in) == SDL_OK);
    CHECK(streq(train_meta_get(&m, "ss_lr_warmup_steps"), "0.0"));
    CHECK(streq(train_meta_get(&m, "ss_network_args"), "{\"conv_dim\": \"4\", \"dropout\": 0.1}"));
    CHECK(streq(train_meta_get(&m, "ss_network_dropout"), "0.1"));
    CHECK(streq(train_meta_get(&m, "ss_face_crop_aug_range"), "(2.0, 4.0)"));
    CHECK(streq(train_meta_get(&m, "ss_vae_name"), "/no/such/vae.pt") && train_meta_get(&m, "ss_vae_hash") == NULL); // not a file
    CHECK(streq(train_meta_get(&m, "ss_sd_model_name"), "runwayml/x") && train_meta_get(&m, "ss_sd_model_hash") == NULL);
    train_meta_free(&m);
    train_args_free(&a);
    const char *pct[] = {"train", "--lr_warmup_steps", "10%", NULL};
    CHECK(parse_words(&a, pct) == SDL_OK);
    in = folder_input(&a, &ds);
    CHECK(train_meta_build(&m, &in) == SDL_OK);
    CHECK(streq(train_meta_get(&m, "ss_lr_warmup_steps"), "0.1"));
    train_meta_free(&m);
    train_args_free(&a);

    // a TOML file keeps Python's int/float: network_alpha = 16 → "16", learning_rate = 1 → "1"
    train_args_default(&a);
    CHECK(train_args_apply_toml(&a,
                                "network_alpha = 16\nnetwork_dim = 16\nlearning_rate = 1\nlr_warmup_steps = 100\n"
                                "max_grad_norm = 0\nnoise_offset = 0.1\ntext_encoder_lr = [0]\nnetwork_args = [\"conv_dim=4\"]\n"
                                "network_dropout = 0\n",
                                "c.toml") == SDL_OK);
    in = folder_input(&a, &ds);
    CHECK(train_meta_build(&m, &in) == SDL_OK);
    CHECK(streq(train_meta_get(&m, "ss_network_alpha"), "16") && streq(train_meta_get(&m, "ss_network_dim"), "16"));
    CHECK(streq(train_meta_get(&m, "ss_learning_rate"), "1") && streq(train_meta_get(&m, "ss_lr_warmup_steps"), "100"));
    CHECK(streq(train_meta_get(&m, "ss_max_grad_norm"), "0") && streq(train_meta_get(&m, "ss_noise_offset"), "0.1"));
    CHECK(streq(train_meta_get(&m, "ss_text_encoder_lr"), "0"));
    CHECK(streq(train_meta_get(&m, "ss_network_args"), "{\"conv_dim\": \"4\", \"dropout\": 0}"));
    train_meta_free(&m);
    train_args_free(&a);

    // Adafactor with relative_step: kohya sets learning_rate and unet_lr to None and the
    // scheduler to f"adafactor:{lr}"
    const char *ada[] = {"train", "--optimizer_type", "Adafactor", "--learning_rate", "1e-4", "--unet_lr", "2e-4", NULL};
    CHECK(parse_words(&a, ada) == SDL_OK);
    in = folder_input(&a, &ds);
    in.adafactor_relative_step = true;
    CHECK(train_meta_build(&m, &in) == SDL_OK);
    CHECK(streq(train_meta_get(&m, "ss_learning_rate"), "None") && streq(train_meta_get(&m, "ss_unet_lr"), "None"));
    CHECK(streq(train_meta_get(&m, "ss_lr_scheduler"), "adafactor:0.0001"));
    train_meta_free(&m);
    train_args_free(&a);
    tag_freq_free(&ds.tag_frequency);
}

static void test_config_mode_datasets(void) {
    SubsetConfig s0[2], s1[1];
    memset(s0, 0, sizeof s0);
    memset(s1, 0, sizeof s1);
    s0[0] = (SubsetConfig){.image_dir = "/a/img", .num_repeats = 5, .class_tokens = "sks", .flip_aug = true,
                           .keep_tokens_separator = "", .caption_prefix = "photo of"};
    s0[1] = (SubsetConfig){.image_dir = "/a/reg", .num_repeats = 1, .class_tokens = "dog", .is_reg = true, .keep_tokens_separator = ""};
    s1[0] = (SubsetConfig){.image_dir = "/b/img", .num_repeats = 2, .keep_tokens = 1, .keep_tokens_separator = "|||",
                           .secondary_separator = ";;;", .resize_interpolation = "lanczos"};
    DatasetConfig c0 = {.is_dreambooth = true, .batch_size = 2, .has_resolution = true, .resolution = {512, 512},
                        .min_bucket_reso = 256, .max_bucket_reso = 1024, .subsets = s0, .n_subsets = 2};
    DatasetConfig c1 = {.is_dreambooth = true, .batch_size = 1, .has_resolution = true, .resolution = {768, 640},
                        .enable_bucket = true, .min_bucket_reso = 320, .max_bucket_reso = 1024, .resize_interpolation = "lanczos",
                        .subsets = s1, .n_subsets = 1};
    TrainMetaSubset m0[2] = {{.cfg = &s0[0], .img_count = 4}, {.cfg = &s0[1], .img_count = 6}};
    TrainMetaSubset m1[1] = {{.cfg = &s1[0], .img_count = 3}};
    TrainMetaBucket b1[1] = {{.index = 3, .width = 640, .height = 768, .count = 6}};
    TrainMetaDataset ds[2] = {
        {.cfg = &c0, .num_train_images = 20, .num_reg_images = 6, .subsets = m0, .n_subsets = 2},
        {.cfg = &c1, .num_train_images = 6, .subsets = m1, .n_subsets = 1, .buckets = b1, .n_buckets = 1, .mean_img_ar_error = 0.25},
    };
    for (int i = 0; i < 2; i++) tag_freq_init(&ds[i].tag_frequency);
    for (int i = 0; i < 4; i++) SDL_ASSERT(tag_freq_add(&ds[0].tag_frequency, "img", "sks") == SDL_OK);
    for (int i = 0; i < 6; i++) SDL_ASSERT(tag_freq_add(&ds[0].tag_frequency, "reg", "dog") == SDL_OK);
    for (int i = 0; i < 3; i++) SDL_ASSERT(tag_freq_add(&ds[1].tag_frequency, "img", "other") == SDL_OK);

    TrainArgs a;
    const char *argv[] = {"train", "--dataset_config", "datasets.toml", NULL};
    CHECK(parse_words(&a, argv) == SDL_OK);
    TrainMetaInput in = {.args = &a, .datasets = ds, .n_datasets = 2, .num_train_images = 26, .num_reg_images = 6,
                         .num_batches_per_epoch = 16, .num_epochs = 1, .max_train_steps = 16, .seed = 1};
    TrainMeta m;
    CHECK(train_meta_build(&m, &in) == SDL_OK);
    const char *want_datasets =
        "[{\"is_dreambooth\": true, \"batch_size_per_device\": 2, \"num_train_images\": 20, \"num_reg_images\": 6, \"resolution\": "
        "[512, 512], \"enable_bucket\": false, \"min_bucket_reso\": 256, \"max_bucket_reso\": 1024, \"tag_frequency\": {\"img\": "
        "{\"sks\": 4}, \"reg\": {\"dog\": 6}}, \"bucket_info\": null, \"resize_interpolation\": null, \"subsets\": [{\"img_count\": "
        "4, \"num_repeats\": 5, \"color_aug\": false, \"flip_aug\": true, \"random_crop\": false, \"shuffle_caption\": false, "
        "\"keep_tokens\": 0, \"keep_tokens_separator\": \"\", \"secondary_separator\": null, \"enable_wildcard\": false, "
        "\"caption_prefix\": \"photo of\", \"caption_suffix\": null, \"resize_interpolation\": null, \"image_dir\": \"img\", "
        "\"class_tokens\": \"sks\", \"is_reg\": false}, {\"img_count\": 6, \"num_repeats\": 1, \"color_aug\": false, \"flip_aug\": "
        "false, \"random_crop\": false, \"shuffle_caption\": false, \"keep_tokens\": 0, \"keep_tokens_separator\": \"\", "
        "\"secondary_separator\": null, \"enable_wildcard\": false, \"caption_prefix\": null, \"caption_suffix\": null, "
        "\"resize_interpolation\": null, \"image_dir\": \"reg\", \"class_tokens\": \"dog\", \"is_reg\": true}]}, {\"is_dreambooth\": "
        "true, \"batch_size_per_device\": 1, \"num_train_images\": 6, \"num_reg_images\": 0, \"resolution\": [768, 640], "
        "\"enable_bucket\": true, \"min_bucket_reso\": 320, \"max_bucket_reso\": 1024, \"tag_frequency\": {\"img\": {\"other\": 3}}, "
        "\"bucket_info\": {\"buckets\": {\"3\": {\"resolution\": [640, 768], \"count\": 6}}, \"mean_img_ar_error\": 0.25}, "
        "\"resize_interpolation\": \"lanczos\", \"subsets\": [{\"img_count\": 3, \"num_repeats\": 2, \"color_aug\": false, "
        "\"flip_aug\": false, \"random_crop\": false, \"shuffle_caption\": false, \"keep_tokens\": 1, \"keep_tokens_separator\": "
        "\"|||\", \"secondary_separator\": \";;;\", \"enable_wildcard\": false, \"caption_prefix\": null, \"caption_suffix\": null, "
        "\"resize_interpolation\": \"lanczos\", \"image_dir\": \"img\", \"class_tokens\": null, \"is_reg\": false}]}]";
    const char *got = train_meta_get(&m, "ss_datasets");
    CHECKF(streq(got, want_datasets), "ss_datasets:\n  got  %s\n  want %s", got, want_datasets);
    // merged views: tags of a folder name once (first dataset), dirs without reg and with " (2)"
    CHECK(streq(train_meta_get(&m, "ss_tag_frequency"), "{\"img\": {\"sks\": 4}, \"reg\": {\"dog\": 6}}"));
    CHECK(streq(train_meta_get(&m, "ss_dataset_dirs"),
                "{\"img\": {\"n_repeats\": 5, \"img_count\": 4}, \"img (2)\": {\"n_repeats\": 2, \"img_count\": 3}}"));
    // the flat folder-mode keys are not written in this mode
    CHECK(!train_meta_get(&m, "ss_resolution") && !train_meta_get(&m, "ss_bucket_info") && !train_meta_get(&m, "ss_reg_dataset_dirs"));
    CHECK(!train_meta_get(&m, "ss_batch_size_per_device"));
    train_meta_free(&m);
    train_args_free(&a);
    for (int i = 0; i < 2; i++) tag_freq_free(&ds[i].tag_frequency);
}

// json.dumps escaping through a folder name: \uXXXX for non-ASCII and DEL, surrogate pairs,
// the short escapes, \u00XX controls; a byte that is not UTF-8 as Python's surrogateescape
static void test_json_escapes(void) {
    SubsetConfig s = {.image_dir = "/x/caf\xc3\xa9 \xe2\x98\x95 \xf0\x9f\x98\x80 \"q\" \\ \n\t\x01\x7f", .num_repeats = 1};
    DatasetConfig c = {.is_dreambooth = true, .batch_size = 1, .has_resolution = true, .resolution = {512, 512}, .subsets = &s,
                       .n_subsets = 1};
    TrainMetaSubset ms = {.cfg = &s, .img_count = 1};
    TrainMetaDataset ds = {.cfg = &c, .subsets = &ms, .n_subsets = 1};
    tag_freq_init(&ds.tag_frequency);
    SDL_ASSERT(tag_freq_add(&ds.tag_frequency, "bad\xff", "x") == SDL_OK);
    TrainArgs a;
    train_args_default(&a);
    TrainMetaInput in = {.args = &a, .datasets = &ds, .n_datasets = 1};
    TrainMeta m;
    CHECK(train_meta_build(&m, &in) == SDL_OK);
    const char *want = "{\"caf\\u00e9 \\u2615 \\ud83d\\ude00 \\\"q\\\" \\\\ \\n\\t\\u0001\\u007f\": {\"n_repeats\": 1, \"img_count\": 1}}";
    CHECKF(streq(train_meta_get(&m, "ss_dataset_dirs"), want), "got %s", train_meta_get(&m, "ss_dataset_dirs"));
    CHECK(streq(train_meta_get(&m, "ss_tag_frequency"), "{\"bad\\udcff\": {\"x\": 1}}"));
    CHECK(streq(train_meta_get(&m, "ss_bucket_info"), "null")); // buckets off
    train_meta_free(&m);
    train_args_free(&a);
    tag_freq_free(&ds.tag_frequency);
}

static void test_modelspec(void) {
    Tmp t;
    make_tmp(&t);
    TrainArgs a;
    const char *argv[] = {"train", "--v2", "--v_parameterization", "--max_timestep", "900", "--metadata_thumbnail", t.thumb,
                          "--metadata_title", "My LoRA", "--metadata_tags", "dog,photo", "--metadata_trigger_phrase", "sks dog",
                          "--metadata_license", "CreativeML", "--metadata_description", "a dog", NULL};
    CHECK(parse_words(&a, argv) == SDL_OK);
    MetaList l = {0};
    TrainMeta m;
    TrainMetaDataset ds = {0};
    DatasetConfig c = {.batch_size = 1};
    ds.cfg = &c;
    TrainMetaInput in = {.args = &a, .datasets = &ds, .n_datasets = 1};
    CHECK(train_meta_build(&m, &in) == SDL_OK);
    CHECK(streq(train_meta_get(&m, "ss_base_model_version"), "sd_v2_v") && streq(train_meta_get(&m, "ss_v2"), "True"));
    CHECK(train_meta_modelspec(&l, &a, 1712345978.5, m.thumbnail, NULL) == SDL_OK);
    static const char *const want[][2] = {
        {"modelspec.architecture", "stable-diffusion-v2-768-v/lora"},
        {"modelspec.implementation", "diffusers"},
        {"modelspec.title", "My LoRA"},
        {"modelspec.resolution", "768x768"},
        {"modelspec.description", "a dog"},
        {"modelspec.date", "2024-04-05T19:39:38"},
        {"modelspec.sai_model_spec", "1.0.1"},
        {"modelspec.license", "CreativeML"},
        {"modelspec.tags", "dog,photo"},
        {"modelspec.prediction_type", "v"},
        {"modelspec.timestep_range", "0,900"},
        {"modelspec.thumbnail", "data:image/png;base64,aGVsbG8="},
        {"modelspec.trigger_phrase", "sks dog"},
        {"modelspec.implementation_version", "sdlora/unknown"},
    };
    check_list((const char *const *)l.keys, (const char *const *)l.values, l.n, want, sizeof want / sizeof *want);
    meta_list_free(&l);
    train_meta_free(&m);
    train_args_free(&a);

    // no title, no output_name: "LoRA@<time.time()>"; v2 without v: 512 and epsilon
    const char *argv2[] = {"train", "--v2", NULL};
    CHECK(parse_words(&a, argv2) == SDL_OK);
    CHECK(train_meta_modelspec(&l, &a, 1712345978.5, NULL, "9") == SDL_OK);
    static const char *const want2[][2] = {
        {"modelspec.architecture", "stable-diffusion-v2-512/lora"}, {"modelspec.implementation", "diffusers"},
        {"modelspec.title", "LoRA@1712345978.5"}, {"modelspec.resolution", "512x512"}, {"modelspec.date", "2024-04-05T19:39:38"},
        {"modelspec.sai_model_spec", "1.0.1"}, {"modelspec.prediction_type", "epsilon"},
        {"modelspec.implementation_version", "sdlora/9"},
    };
    check_list((const char *const *)l.keys, (const char *const *)l.values, l.n, want2, sizeof want2 / sizeof *want2);
    meta_list_free(&l);
    train_args_free(&a);
    drop_tmp(&t);
}

static void test_file_hashes(void) {
    Tmp t;
    make_tmp(&t);
    char legacy[9], full[65];
    CHECK(train_meta_file_hashes(t.model, legacy, full) == SDL_OK);
    CHECK(streq(legacy, "add5135a"));
    CHECK(streq(full, "5e29e1253a876394d15ce5e47403542efd949c5b50a527e6b8063b7714812221"));
    // under 1 MiB the legacy slice is empty: sha256("") = e3b0c442…
    CHECK(train_meta_file_hashes(t.thumb, legacy, full) == SDL_OK);
    CHECK(streq(legacy, "e3b0c442"));
    CHECK(streq(full, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")); // sha256("hello")
    CHECK(train_meta_file_hashes("/no/such/file", legacy, full) == SDL_ERR_IO && strstr(sdl_last_error()->file, "/no/such/file"));
    drop_tmp(&t);
}

int main(void) {
    // modelspec.date is local time, as kohya's datetime.fromtimestamp: pin the zone
    setenv("TZ", "UTC", 1);
    tzset();
    RUN(test_py_float_repr);
    RUN(test_tag_frequency);
    RUN(test_json_escapes);
    RUN(test_folder_mode_golden);
    RUN(test_value_origins);
    RUN(test_config_mode_datasets);
    RUN(test_modelspec);
    RUN(test_file_hashes);
    return test_finish();
}
