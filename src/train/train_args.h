// train_args.h — every `sdlora train` option, with kohya's train_network.py names and defaults,
// read from the command line, a `--config_file` TOML (kohya: every table flattened into one
// namespace; the command line wins over the file) or a kohya_ss GUI JSON config (its key names
// mapped onto sd-scripts' arguments). An unknown option, a wrong type or an invalid value is an
// error naming the option (and file and line for config files) with a hint.
//
// kohya options sdlora accepts but does nothing with on a CPU (xformers, sdpa, mem_eff_attn,
// lowram, highvram, persistent_data_loader_workers, …) are recorded in `ignored` as
// "--name: reason" when given; options for features sdlora does not have (other network
// modules, DeepSpeed, Hugging Face upload, masked loss, …) are errors saying so. One table in
// train_args.c holds names, types, defaults, help and these reasons; docs/training.md lists them.
//
// Strings are owned by TrainArgs (train_args_free), the DatasetArgs strings in `data` included.
// Lists are NULL-terminated string arrays. Where kohya distinguishes None from a value the
// field's comment says which value stands for None, and train_args_given() tells them apart.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "base/error.h"
#include "data/dataset_config.h"

// kohya options that change nothing in sdlora (or are refused when set); kept so that files
// setting them parse, and so a refusal can name the option.
typedef struct {
    char *tokenizer_cache_dir;
    bool debug_dataset;
    char *dataset_class;
    bool persistent_data_loader_workers;
    bool output_config;
    char *huggingface_repo_id, *huggingface_repo_type, *huggingface_path_in_repo, *huggingface_token,
        *huggingface_repo_visibility;
    bool save_state_to_huggingface, resume_from_huggingface, async_upload;
    char **base_weights, **base_weights_multiplier;
    char *lr_decay_steps;
    int64_t lr_scheduler_timescale;
    double lr_scheduler_min_lr_ratio;
    bool fused_backward_pass;
    bool fp8_base_unet, cpu_offload_checkpointing;
    bool torch_compile, dynamo_fullgraph, dynamo_dynamic;
    char *dynamo_backend, *dynamo_mode;
    int64_t ddp_timeout;
    bool ddp_gradient_as_bucket_view, ddp_static_graph;
    bool deepspeed, zero3_init_flag, zero3_save_16bit_model, fp16_master_weights_and_gradients;
    int64_t zero_stage;
    char *offload_optimizer_device, *offload_optimizer_nvme_path, *offload_param_device, *offload_param_nvme_path;
    char *log_tracker_config, *wandb_run_name, *wandb_api_key;
    bool log_config;
    char *console_log_level, *console_log_file;
    bool console_log_simple;
    char *conditioning_data_dir;
} TrainArgsCompat;

typedef struct {
    // ---- model ----
    char *pretrained_model_name_or_path; // required: file (.safetensors/.ckpt) or diffusers folder
    char *vae;                           // optional separate VAE
    bool v2, v_parameterization;
    int64_t clip_skip;                   // 0 = None
    int64_t max_token_length;            // 0 = None (75), 150, 225

    // ---- dataset (kohya's dataset arguments; see data/dataset_config.h) ----
    DatasetArgs data;                    // --train_data_dir, --resolution, --enable_bucket, captions, …
    char *resolution;                    // the --resolution text ("512" or "512,768"); parsed into data.ds
    char *face_crop_aug_range;           // the text ("2.0,4.0"); parsed into data.sub
    bool skip_bad_images;                // sdlora: train without the images validation rejects
    bool weighted_captions;
    int64_t max_data_loader_n_workers;   // 8; accepted, sdlora uses one loader thread
    bool cache_latents, cache_latents_to_disk; // _to_disk implies cache_latents (as kohya)
    int64_t vae_batch_size;              // 1
    bool skip_cache_check;
    int64_t validate_every_n_steps, validate_every_n_epochs, max_validation_steps; // 0 = None
                                         // (validation itself — --validation_split > 0 — is not supported yet)

    // ---- output ----
    char *output_dir;                    // required
    char *output_name;                   // NULL: "last" / "epoch" / "at" as kohya
    char *save_model_as;                 // "safetensors" (only format sdlora writes; ckpt/pt → error)
    char *save_precision;                // NULL (= float), "float", "fp16", "bf16"
    int64_t save_every_n_epochs, save_every_n_steps; // 0 = off
    double save_n_epoch_ratio;           // 0 = off
    int64_t save_last_n_epochs, save_last_n_epochs_state, save_last_n_steps, save_last_n_steps_state; // 0 = None
    bool save_state, save_state_on_train_end;
    char *resume;                        // state folder
    int64_t initial_epoch, initial_step; // 0 = None
    bool skip_until_initial_step;
    bool no_metadata;
    char *training_comment;
    char *metadata_title, *metadata_author, *metadata_description, *metadata_license, *metadata_tags;
    char *metadata_usage_hint, *metadata_thumbnail, *metadata_merged_from, *metadata_trigger_phrase,
        *metadata_preprocessor, *metadata_is_negative_embedding;

    // ---- network ----
    char *network_module;                // "networks.lora" (the only module; others → error)
    int64_t network_dim;                 // 4 (kohya: None → 4; train_args_given tells)
    double network_alpha;                // 1
    bool network_alpha_is_int;           // for ss_network_alpha: the argparse default int 1 prints "1",
                                         // a TOML integer "16", a command-line value "16.0"
    double network_dropout;              // 0 = None
    char **network_args;                 // "conv_dim=4", "conv_alpha=1", "rank_dropout=0.1", "module_dropout=0.1"
    char *network_weights;
    bool dim_from_weights;
    bool network_train_unet_only, network_train_text_encoder_only;
    double scale_weight_norms;           // 0 = None

    // ---- optimizer and schedule ----
    char *optimizer_type;                // "" = AdamW; --use_8bit_adam / --use_lion_optimizer resolved into it
    bool use_8bit_adam, use_lion_optimizer;
    char **optimizer_args;
    double learning_rate;                // 2e-6 (kohya's default)
    bool has_unet_lr, has_text_encoder_lr;
    double unet_lr, text_encoder_lr;     // text_encoder_lr = the first of text_encoder_lr_list
    char **text_encoder_lr_list;         // --text_encoder_lr as given (kohya: nargs="*")
    char *lr_scheduler;                  // "constant"
    char *lr_warmup_steps;               // "0": int, ratio < 1 or "N%" (see lr_schedule.h)
    int64_t lr_scheduler_num_cycles;     // 1
    double lr_scheduler_power;           // 1
    char *lr_scheduler_type;             // "" (a custom scheduler class → error)
    char **lr_scheduler_args;            // accepted only empty (no custom scheduler types)
    double max_grad_norm;                // 1.0; 0 = no clipping
    int64_t gradient_accumulation_steps; // 1
    int64_t max_train_steps;             // 1600
    int64_t max_train_epochs;            // 0 = None (overrides max_train_steps)
    int64_t seed;                        // has_seed false: kohya draws a random seed
    bool has_seed;

    // ---- step math (train/objective.h) ----
    double noise_offset;                 // 0 = None
    bool noise_offset_random_strength;
    double adaptive_noise_scale;         // 0 = None
    int64_t multires_noise_iterations;   // 0 = None
    double multires_noise_discount;      // 0.3
    double ip_noise_gamma;               // 0 = None
    bool ip_noise_gamma_random_strength;
    int64_t min_timestep, max_timestep;  // 0, 1000 (kohya: None = these)
    double min_snr_gamma;                // 0 = None
    bool scale_v_pred_loss_like_noise_pred;
    double v_pred_like_loss;             // 0 = None
    bool debiased_estimation_loss;
    bool zero_terminal_snr;
    char *loss_type;                     // "l2" | "l1" | "huber" | "smooth_l1"
    char *huber_schedule;                // "snr" | "exponential" | "constant"
    double huber_c, huber_scale;         // 0.1, 1.0
    bool masked_loss;                    // error: alpha masks not supported yet

    // ---- precision and memory (CPU: compute in fp32) ----
    char *mixed_precision;               // "no" | "fp16" | "bf16": the default of base_weights_dtype (math stays fp32)
    char *base_weights_dtype;            // sdlora: NULL (= as mixed_precision, "no" → float) | "float" | "fp16" | "bf16":
                                         // storage of the frozen UNet/text-encoder Linear and Conv weights
    bool full_fp16, full_bf16, no_half_vae, fp8_base;
    bool gradient_checkpointing;
    bool lowram, lowvram, highvram, xformers, sdpa, mem_eff_attn;

    // ---- logging ----
    char *logging_dir;                   // TensorBoard events under <logging_dir>/<log_prefix><time>/network_train/
    char *log_prefix;
    char *log_with;                      // NULL (= tensorboard when logging_dir is set) | "tensorboard" (wandb → error)
    char *log_tracker_name;              // "network_train"

    // ---- sampling during training ----
    char *sample_prompts;
    char *sample_prompts_text;           // kohya_ss GUI JSON: the prompts themselves (the GUI writes them to
                                         // <output_dir>/sample/prompt.txt and passes that file; the trainer
                                         // should do the same when this is set and sample_prompts is not)
    char *sample_sampler;                // "ddim"
    int64_t sample_every_n_epochs, sample_every_n_steps; // 0 = off
    bool sample_at_first;
    char *wildcard_dir;                  // sdlora: __name__ wildcards for dynamic sample prompts

    // ---- sdlora ----
    int64_t threads;                     // 0 = all cores
    bool profile;                        // print time per layer type
    char *config_file;                   // the file the values came from, if any

    TrainArgsCompat compat;              // inert / refused kohya options (see above)
    char **ignored;                      // "--option: reason" for accepted-but-inert options that were given
    unsigned char *given;                // per option of the table (OPT_GIVEN* bits of cli/options.h)
} TrainArgs;

void train_args_default(TrainArgs *a);
void train_args_free(TrainArgs *a);

// Parses `sdlora train` arguments (argv[0] = "train"). --config_file F is read first (TOML, or
// JSON when F ends in .json: a kohya_ss GUI config; like kohya, ".toml" is appended to a name
// without either extension), then the command line overrides it.
// Returns SDL_OK, or an error (in sdl_last_error(); nothing printed).
// *help_shown = true when --help was given (help printed; the caller exits 0).
SdlStatus train_args_parse(TrainArgs *a, int argc, char **argv, bool *help_shown);
// The same for config text (tests): TOML or kohya_ss JSON, `path` names it in errors.
SdlStatus train_args_apply_toml(TrainArgs *a, const char *text, const char *path);
SdlStatus train_args_apply_gui_json(TrainArgs *a, const char *text, const char *path);
// Cross-option checks kohya makes (verify_training_args and friends) once everything is read:
// e.g. cache_latents with color_aug/random_crop, scale_v_pred_loss_like_noise_pred without
// v_parameterization, adaptive_noise_scale without noise_offset, both *_only flags. Warnings
// (kohya's "will be unexpected" cases) go to the log.
SdlStatus train_args_validate(const TrainArgs *a);
// The dtype the frozen base weights are kept in: --base_weights_dtype, else --mixed_precision's
// ("float", "fp16" or "bf16").
const char *train_args_base_weights_dtype(const TrainArgs *a);
void train_args_print_help(FILE *f);

// --network_args of networks.lora, parsed: conv_dim / conv_alpha (LoCon; conv_alpha defaults to
// 1 when conv_dim is given, as kohya), rank_dropout, module_dropout. Unknown keys and kohya's
// block-wise / LoRA+ keys are errors naming them.
typedef struct {
    int64_t conv_dim;
    double conv_alpha;
    bool has_conv_alpha;
    double rank_dropout, module_dropout;
} NetworkArgs;
SdlStatus train_args_network_args(const TrainArgs *a, NetworkArgs *out);

// Whether the option (kohya name) was set on the command line or in a config file, and whether
// a config file gave it as an integer (Python keeps 16 and 16.0 apart; metadata prints them so).
bool train_args_given(const TrainArgs *a, const char *name);
bool train_args_given_int(const TrainArgs *a, const char *name);
// The option names of the table, in order (tests and docs).
size_t train_args_option_count(void);
const char *train_args_option_name(size_t i);
