// train_args.c — `sdlora train` options: the one table (kohya names, types, defaults, help,
// ignored/unsupported reasons), the command line, --config_file TOML (flattened as kohya's
// read_config_from_file), kohya_ss GUI JSON (mapped as the GUI's command builder does), and
// kohya's cross-checks. Facts: kohya-spec.md §2, §4.5, §6, §8.3; train_util.add_*_arguments.
#include "train/train_args.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include "base/file.h"
#include "base/log.h"
#include "cli/options.h"
#include "io/toml.h"
#include "train/optim.h"
#include "train/train_meta.h"

#define MAX_OPTS 256

static const char *USAGE =
    "sdlora train --pretrained_model_name_or_path MODEL --train_data_dir DIR --resolution 512 --output_dir DIR [options]\n"
    "       sdlora train --config_file config.toml|kohya_ss.json [options]   (the command line overrides the file)";

// Reasons shared by several options.
#define R_CPU_MEM "sdlora trains in one (CPU) memory; there is no separate VRAM to manage"
#define R_ATTN "sdlora's attention is always the tiled, memory-efficient kernel"
#define R_FP32 "sdlora computes and keeps the LoRA in fp32 (base weights: --base_weights_dtype)"
#define R_ONE_PROC "sdlora runs as one process (no DDP)"
#define R_DEEPSPEED "only used with --deepspeed, which sdlora does not support"
#define R_TORCH "there is no PyTorch in sdlora"
#define R_HF "sdlora does not upload to or download from Hugging Face"
#define R_LOADER "sdlora loads data on one background thread"
#define R_WANDB "sdlora logs to TensorBoard only"
#define R_LOG "sdlora logs to stderr (level: $SDLORA_LOG_LEVEL)"
#define R_SCHED "only used by kohya schedulers sdlora does not have (see --lr_scheduler)"

typedef struct {
    OptSpec specs[MAX_OPTS];
    OptTable t;
} Table;

// The table. Built per TrainArgs because dst points into it; the order (and so the index of
// every option in TrainArgs.given) never depends on the values.
static int make_specs(TrainArgs *a, OptSpec *s) {
    int n = 0;
#define O(...) (s[n++] = (OptSpec){__VA_ARGS__})
#define STR(nm, field, ...) O(.name = nm, .type = OPT_STRING, .dst = &a->field, __VA_ARGS__)
#define I64(nm, field, ...) O(.name = nm, .type = OPT_INT64, .dst = &a->field, __VA_ARGS__)
#define DBL(nm, field, ...) O(.name = nm, .type = OPT_DOUBLE, .dst = &a->field, __VA_ARGS__)
#define FLG(nm, field, ...) O(.name = nm, .type = OPT_FLAG, .dst = &a->field, __VA_ARGS__)
#define LST(nm, field, ...) O(.name = nm, .type = OPT_LIST, .dst = &a->field, __VA_ARGS__)
    DatasetArgs *d = &a->data;
    TrainArgsCompat *c = &a->compat;
    (void)d, (void)c;

    // ---- model
    STR("pretrained_model_name_or_path", pretrained_model_name_or_path, .group = "model",
        .help = "base checkpoint: .safetensors / .ckpt file or diffusers folder (required)");
    FLG("v2", v2, .help = "the base model is Stable Diffusion 2.x");
    FLG("v_parameterization", v_parameterization, .help = "v-prediction training (SD 2.x 768-v models)");
    STR("vae", vae, .help = "a separate VAE to use instead of the checkpoint's");
    I64("clip_skip", clip_skip, .min = 1, .max = 24, .help = "use the text encoder's n-th layer from the end (2 = penultimate)",
        .defval = "None");
    I64("max_token_length", max_token_length, .choices = "150|225", .help = "longer captions in 75-token chunks",
        .defval = "None (75)");
    STR("tokenizer_cache_dir", compat.tokenizer_cache_dir, .ignored = "the CLIP tokenizer is built into sdlora");

    // ---- dataset
    STR("dataset_config", data.dataset_config, .group = "dataset",
        .help = "kohya dataset config (.toml); then --train_data_dir, --reg_data_dir and --in_json are ignored");
    STR("train_data_dir", data.train_data_dir, .help = "folder of <repeats>_<class tokens> subfolders of images");
    STR("reg_data_dir", data.reg_data_dir, .help = "regularization images, same layout");
    STR("in_json", data.in_json, .help = "fine-tuning metadata JSON (images in --train_data_dir)");
    I64("dataset_repeats", data.sub.num_repeats, .min = 1, .max = 1e9, .help = "repeats in fine-tuning mode", .defval = "1");
    STR("resolution", resolution, .help = "training size: 512 or 512,768 (width,height)", .defval = "None");
    FLG("enable_bucket", data.ds.enable_bucket, .help = "aspect-ratio bucketing");
    I64("min_bucket_reso", data.ds.min_bucket_reso, .min = 1, .max = 1e6, .help = "smallest bucket side", .defval = "256");
    I64("max_bucket_reso", data.ds.max_bucket_reso, .min = 1, .max = 1e6, .help = "largest bucket side", .defval = "1024");
    I64("bucket_reso_steps", data.ds.bucket_reso_steps, .min = 1, .max = 1e6, .help = "bucket side step (a multiple of 64 for SD1/2)",
        .defval = "64");
    FLG("bucket_no_upscale", data.ds.bucket_no_upscale, .help = "never enlarge images: each image's bucket from its own size");
    I64("train_batch_size", data.ds.batch_size, .min = 1, .max = 1e6, .help = "batch size", .defval = "1");
    DBL("prior_loss_weight", data.prior_loss_weight, .min = 0, .max = 1e6, .help = "loss weight of regularization images",
        .defval = "1.0");
    FLG("cache_info", data.sub.cache_info, .help = "cache captions and image sizes in <image_dir>/metadata_cache.json");
    FLG("skip_bad_images", skip_bad_images, .help = "sdlora: train without the images that fail to decode (listed)");
    STR("resize_interpolation", data.ds.resize_interpolation,
        .help = "resize filter (kohya names); default area when shrinking, Lanczos when enlarging", .defval = "None");
    DBL("validation_split", data.ds.validation_split, .min = 0, .max = 1,
        .help = "fraction of images held out for validation (> 0: not supported yet)", .defval = "0.0");
    I64("validation_seed", data.ds.validation_seed, .help = "seed of the validation split", .defval = "None (--seed)");
    I64("validate_every_n_steps", validate_every_n_steps, .help = "validation interval in steps", .defval = "None");
    I64("validate_every_n_epochs", validate_every_n_epochs, .help = "validation interval in epochs", .defval = "None");
    I64("max_validation_steps", max_validation_steps, .help = "validation batches per run", .defval = "None");
    I64("max_data_loader_n_workers", max_data_loader_n_workers, .defval = "8", .ignored = R_LOADER);
    FLG("persistent_data_loader_workers", compat.persistent_data_loader_workers, .ignored = R_LOADER);
    FLG("debug_dataset", compat.debug_dataset, .unsupported = "use `sdlora dataset check` to inspect the dataset");
    STR("dataset_class", compat.dataset_class, .unsupported = "custom Python dataset classes cannot be loaded");
    FLG("alpha_mask", data.sub.alpha_mask, .unsupported = "alpha-channel loss masks are not implemented yet");

    // ---- captions
    STR("caption_extension", data.sub.caption_extension, .alias = "caption_extention", .group = "captions",
        .help = "caption file extension", .defval = ".caption");
    STR("caption_separator", data.sub.caption_separator, .help = "separator of caption tags", .defval = ",");
    FLG("shuffle_caption", data.sub.shuffle_caption, .help = "shuffle the tags every step");
    I64("keep_tokens", data.sub.keep_tokens, .min = 0, .max = 1e6, .help = "keep the first N tags in place", .defval = "0");
    STR("keep_tokens_separator", data.sub.keep_tokens_separator, .help = "tags before this separator stay in place",
        .defval = "\"\"");
    STR("secondary_separator", data.sub.secondary_separator, .help = "separator that keeps tags together when shuffling",
        .defval = "None");
    FLG("enable_wildcard", data.sub.enable_wildcard, .help = "{a|b} wildcards and multi-line captions");
    STR("caption_prefix", data.sub.caption_prefix, .help = "text put before every caption", .defval = "None");
    STR("caption_suffix", data.sub.caption_suffix, .help = "text put after every caption", .defval = "None");
    DBL("caption_dropout_rate", data.sub.caption_dropout_rate, .min = 0, .max = 1, .help = "probability of an empty caption",
        .defval = "0.0");
    I64("caption_dropout_every_n_epochs", data.sub.caption_dropout_every_n_epochs, .min = 0, .max = 1e9,
        .help = "empty captions every N-th epoch", .defval = "0");
    DBL("caption_tag_dropout_rate", data.sub.caption_tag_dropout_rate, .min = 0, .max = 1,
        .help = "probability of dropping each tag", .defval = "0.0");
    I64("token_warmup_min", data.sub.token_warmup_min, .min = 0, .max = 1e6, .help = "tags used at the start of token warm-up",
        .defval = "1");
    DBL("token_warmup_step", data.sub.token_warmup_step, .min = 0, .max = 1e12,
        .help = "steps (or fraction of max_train_steps if < 1) until all tags are used", .defval = "0");
    FLG("weighted_captions", weighted_captions, .help = "A1111 (word:1.2) weights in captions");

    // ---- augmentation and latents
    FLG("color_aug", data.sub.color_aug, .group = "augmentation and latent cache", .help = "random hue shift");
    FLG("flip_aug", data.sub.flip_aug, .help = "random horizontal flip");
    FLG("random_crop", data.sub.random_crop, .help = "random crop instead of center crop");
    STR("face_crop_aug_range", face_crop_aug_range, .help = "face-centered crop scale range, e.g. 2.0,4.0", .defval = "None");
    FLG("cache_latents", cache_latents, .help = "encode every image once and keep the latents in memory");
    FLG("cache_latents_to_disk", cache_latents_to_disk, .help = "... and in <image>_<W>x<H>_sd.npz files next to the images");
    I64("vae_batch_size", vae_batch_size, .min = 1, .max = 1e6, .help = "images per VAE call when caching", .defval = "1");
    FLG("skip_cache_check", skip_cache_check, .help = "trust existing .npz caches without checking them");

    // ---- output
    STR("output_dir", output_dir, .group = "output and saving", .help = "folder for the LoRA files (required)");
    STR("output_name", output_name, .help = "file name without extension", .defval = "last / epoch / at");
    STR("save_model_as", save_model_as, .choices = "safetensors|ckpt|pt", .help = "file format (only safetensors is written)",
        .defval = "safetensors");
    STR("save_precision", save_precision, .choices = "float|fp16|bf16", .help = "dtype of the saved weights", .defval = "float");
    I64("save_every_n_epochs", save_every_n_epochs, .min = 1, .max = 1e9, .help = "save every N epochs", .defval = "None");
    I64("save_every_n_steps", save_every_n_steps, .min = 1, .max = 1e12, .help = "save every N steps", .defval = "None");
    DBL("save_n_epoch_ratio", save_n_epoch_ratio, .min = 0, .max = 1e9, .help = "save about N files over the run",
        .defval = "None");
    I64("save_last_n_epochs", save_last_n_epochs, .min = 0, .max = 1e9, .help = "keep only the last N epoch files",
        .defval = "None");
    I64("save_last_n_epochs_state", save_last_n_epochs_state, .min = 0, .max = 1e9, .help = "keep only the last N epoch states",
        .defval = "None");
    I64("save_last_n_steps", save_last_n_steps, .min = 0, .max = 1e12, .help = "keep step files of the last N steps",
        .defval = "None");
    I64("save_last_n_steps_state", save_last_n_steps_state, .min = 0, .max = 1e12, .help = "keep step states of the last N steps",
        .defval = "None");
    FLG("save_state", save_state, .help = "also save the training state (optimizer, step, RNG) with each file");
    FLG("save_state_on_train_end", save_state_on_train_end, .help = "save the training state at the end");
    STR("resume", resume, .help = "continue from a saved state folder");
    I64("initial_epoch", initial_epoch, .min = 1, .max = 1e9, .help = "start at this epoch (1 = first)", .defval = "None");
    I64("initial_step", initial_step, .min = 0, .max = 1e12, .help = "start at this step (overrides initial_epoch)",
        .defval = "None");
    FLG("skip_until_initial_step", skip_until_initial_step, .help = "skip the batches before initial_step");
    FLG("no_metadata", no_metadata, .help = "write only the minimal ss_* metadata");
    STR("training_comment", training_comment, .help = "comment stored in the metadata", .defval = "None");
    STR("metadata_title", metadata_title, .help = "modelspec.title (default: output_name)");
    STR("metadata_author", metadata_author, .help = "modelspec.author");
    STR("metadata_description", metadata_description, .help = "modelspec.description");
    STR("metadata_license", metadata_license, .help = "modelspec.license");
    STR("metadata_tags", metadata_tags, .help = "modelspec.tags (comma-separated)");
    STR("metadata_usage_hint", metadata_usage_hint, .help = "modelspec.usage_hint");
    STR("metadata_thumbnail", metadata_thumbnail, .help = "modelspec.thumbnail: an image file or a data: URL");
    STR("metadata_merged_from", metadata_merged_from, .help = "modelspec.merged_from");
    STR("metadata_trigger_phrase", metadata_trigger_phrase, .help = "modelspec.trigger_phrase");
    STR("metadata_preprocessor", metadata_preprocessor, .help = "modelspec.preprocessor");
    STR("metadata_is_negative_embedding", metadata_is_negative_embedding, .help = "modelspec.is_negative_embedding");
    FLG("output_config", compat.output_config, .unsupported = "writing the options to a TOML file is not implemented");
    STR("huggingface_repo_id", compat.huggingface_repo_id, .unsupported = R_HF);
    STR("huggingface_repo_type", compat.huggingface_repo_type, .unsupported = R_HF);
    STR("huggingface_path_in_repo", compat.huggingface_path_in_repo, .unsupported = R_HF);
    STR("huggingface_token", compat.huggingface_token, .unsupported = R_HF);
    STR("huggingface_repo_visibility", compat.huggingface_repo_visibility, .unsupported = R_HF);
    FLG("save_state_to_huggingface", compat.save_state_to_huggingface, .unsupported = R_HF);
    FLG("resume_from_huggingface", compat.resume_from_huggingface, .unsupported = R_HF);
    FLG("async_upload", compat.async_upload, .ignored = R_HF);

    // ---- network
    STR("network_module", network_module, .group = "network",
        .help = "networks.lora (LoRA; LoCon with network_args conv_dim)", .defval = "networks.lora");
    I64("network_dim", network_dim, .min = 1, .max = 1e5, .help = "rank", .defval = "4");
    DBL("network_alpha", network_alpha, .min = 0, .max = 1e6, .help = "alpha: scale = alpha / rank", .defval = "1");
    DBL("network_dropout", network_dropout, .min = 0, .max = 1, .help = "dropout on the LoRA down output", .defval = "None");
    LST("network_args", network_args, .help = "conv_dim=N conv_alpha=X rank_dropout=P module_dropout=P");
    STR("network_weights", network_weights, .help = "start from this LoRA file");
    FLG("dim_from_weights", dim_from_weights, .help = "take ranks (and alphas) from --network_weights");
    FLG("network_train_unet_only", network_train_unet_only, .help = "train the UNet LoRA only");
    FLG("network_train_text_encoder_only", network_train_text_encoder_only, .help = "train the text-encoder LoRA only");
    DBL("scale_weight_norms", scale_weight_norms, .min = 0, .max = 1e6, .help = "max-norm regularization (1 is a start)",
        .defval = "None");
    LST("base_weights", compat.base_weights, .unsupported = "merging LoRA files into the model before training is not implemented");
    LST("base_weights_multiplier", compat.base_weights_multiplier,
        .unsupported = "merging LoRA files into the model before training is not implemented");

    // ---- optimizer and schedule
    STR("optimizer_type", optimizer_type, .group = "optimizer and learning rate",
        .help = "AdamW, AdamW8bit, Adafactor, Lion, SGDNesterov, Prodigy, DAdaptAdam", .defval = "AdamW");
    FLG("use_8bit_adam", use_8bit_adam, .help = "same as --optimizer_type AdamW8bit");
    FLG("use_lion_optimizer", use_lion_optimizer, .help = "same as --optimizer_type Lion");
    LST("optimizer_args", optimizer_args, .help = "key=value items, e.g. weight_decay=0.1 \"betas=0.9,0.99\"");
    DBL("learning_rate", learning_rate, .min = 0, .max = 1e6, .help = "learning rate", .defval = "2e-6");
    DBL("unet_lr", unet_lr, .min = 0, .max = 1e6, .help = "UNet learning rate", .defval = "--learning_rate");
    LST("text_encoder_lr", text_encoder_lr_list, .help = "text-encoder learning rate (the first value is used)",
        .defval = "--learning_rate");
    DBL("max_grad_norm", max_grad_norm, .min = 0, .max = 1e12, .help = "gradient clipping norm, 0 = off", .defval = "1.0");
    STR("lr_scheduler", lr_scheduler,
        .help = "constant, constant_with_warmup, linear, cosine, cosine_with_restarts, polynomial, adafactor",
        .defval = "constant");
    STR("lr_warmup_steps", lr_warmup_steps, .help = "warm-up steps, or a ratio of the steps (0.1 or 10%)", .defval = "0");
    I64("lr_scheduler_num_cycles", lr_scheduler_num_cycles, .min = 1, .max = 1e9, .help = "restarts of cosine_with_restarts",
        .defval = "1");
    DBL("lr_scheduler_power", lr_scheduler_power, .min = 0, .max = 1e6, .help = "power of the polynomial schedule", .defval = "1");
    STR("lr_scheduler_type", lr_scheduler_type, .help = "custom scheduler class (not supported: leave empty)", .defval = "\"\"");
    LST("lr_scheduler_args", lr_scheduler_args, .help = "arguments of a custom scheduler (not supported: leave empty)");
    STR("lr_decay_steps", compat.lr_decay_steps, .ignored = R_SCHED);
    I64("lr_scheduler_timescale", compat.lr_scheduler_timescale, .ignored = R_SCHED);
    DBL("lr_scheduler_min_lr_ratio", compat.lr_scheduler_min_lr_ratio, .ignored = R_SCHED);
    I64("gradient_accumulation_steps", gradient_accumulation_steps, .min = 1, .max = 1e6,
        .help = "micro-batches per optimizer step", .defval = "1");
    I64("max_train_steps", max_train_steps, .min = 1, .max = 1e12, .help = "optimizer steps", .defval = "1600");
    I64("max_train_epochs", max_train_epochs, .min = 1, .max = 1e9, .help = "epochs (overrides --max_train_steps)",
        .defval = "None");
    I64("seed", seed, .help = "random seed", .defval = "random");
    FLG("fused_backward_pass", compat.fused_backward_pass, .ignored = "kohya uses it only in sdxl_train.py, not for LoRA");

    // ---- step math
    DBL("noise_offset", noise_offset, .group = "noise, timesteps and loss", .min = 0, .max = 1e3,
        .help = "noise offset (about 0.1)", .defval = "None");
    FLG("noise_offset_random_strength", noise_offset_random_strength, .help = "random strength in 0..noise_offset");
    DBL("adaptive_noise_scale", adaptive_noise_scale, .min = -1e3, .max = 1e3,
        .help = "adds |latent mean| x this to the noise offset", .defval = "None");
    I64("multires_noise_iterations", multires_noise_iterations, .min = 0, .max = 1e3, .help = "pyramid noise levels (6-10)",
        .defval = "None");
    DBL("multires_noise_discount", multires_noise_discount, .min = 0, .max = 1e3, .help = "pyramid noise discount",
        .defval = "0.3");
    DBL("ip_noise_gamma", ip_noise_gamma, .min = 0, .max = 1e3, .help = "input perturbation noise (about 0.1)", .defval = "None");
    FLG("ip_noise_gamma_random_strength", ip_noise_gamma_random_strength, .help = "random strength in 0..ip_noise_gamma");
    I64("min_timestep", min_timestep, .min = 0, .max = 1000, .help = "smallest timestep", .defval = "0");
    I64("max_timestep", max_timestep, .min = 0, .max = 1000, .help = "timesteps are drawn below this", .defval = "1000");
    DBL("min_snr_gamma", min_snr_gamma, .min = 0, .max = 1e6, .help = "min-SNR loss weighting gamma (about 5)", .defval = "None");
    FLG("scale_v_pred_loss_like_noise_pred", scale_v_pred_loss_like_noise_pred,
        .help = "scale v-prediction loss like noise prediction");
    DBL("v_pred_like_loss", v_pred_like_loss, .min = 0, .max = 1e6, .help = "add a v-prediction-like loss of this weight",
        .defval = "None");
    FLG("debiased_estimation_loss", debiased_estimation_loss, .help = "debiased estimation loss weighting");
    FLG("zero_terminal_snr", zero_terminal_snr, .help = "rescale the noise schedule to zero terminal SNR");
    STR("loss_type", loss_type, .choices = "l1|l2|huber|smooth_l1", .help = "loss function", .defval = "l2");
    STR("huber_schedule", huber_schedule, .choices = "constant|exponential|snr", .help = "huber_c schedule", .defval = "snr");
    DBL("huber_c", huber_c, .min = 0, .max = 1e6, .help = "Huber loss parameter", .defval = "0.1");
    DBL("huber_scale", huber_scale, .min = 0, .max = 1e6, .help = "Huber loss scale", .defval = "1.0");
    FLG("masked_loss", masked_loss, .unsupported = "masked loss (alpha or conditioning masks) is not implemented yet");
    STR("conditioning_data_dir", compat.conditioning_data_dir,
        .unsupported = "masked loss (alpha or conditioning masks) is not implemented yet");

    // ---- precision and memory
    STR("mixed_precision", mixed_precision, .group = "precision and memory", .choices = "no|fp16|bf16",
        .help = "fp16/bf16: keep the frozen base weights in that dtype (as kohya; the math stays fp32)", .defval = "no");
    STR("base_weights_dtype", base_weights_dtype, .choices = "float|fp16|bf16",
        .help = "storage of the frozen UNet and text-encoder weights (half the memory in fp16/bf16)",
        .defval = "as --mixed_precision");
    FLG("gradient_checkpointing", gradient_checkpointing, .help = "recompute activations in backward to save memory");
    FLG("full_fp16", full_fp16, .ignored = R_FP32);
    FLG("full_bf16", full_bf16, .ignored = R_FP32);
    FLG("fp8_base", fp8_base, .ignored = R_FP32);
    FLG("fp8_base_unet", compat.fp8_base_unet, .ignored = R_FP32);
    FLG("no_half_vae", no_half_vae, .ignored = "the VAE already runs in fp32");
    FLG("lowram", lowram, .ignored = R_CPU_MEM);
    FLG("lowvram", lowvram, .ignored = R_CPU_MEM);
    FLG("highvram", highvram, .ignored = R_CPU_MEM);
    FLG("cpu_offload_checkpointing", compat.cpu_offload_checkpointing, .ignored = R_CPU_MEM);
    FLG("xformers", xformers, .ignored = R_ATTN);
    FLG("sdpa", sdpa, .ignored = R_ATTN);
    FLG("mem_eff_attn", mem_eff_attn, .ignored = R_ATTN);
    FLG("torch_compile", compat.torch_compile, .ignored = R_TORCH);
    STR("dynamo_backend", compat.dynamo_backend, .ignored = R_TORCH);
    STR("dynamo_mode", compat.dynamo_mode, .ignored = R_TORCH);
    FLG("dynamo_fullgraph", compat.dynamo_fullgraph, .ignored = R_TORCH);
    FLG("dynamo_dynamic", compat.dynamo_dynamic, .ignored = R_TORCH);
    I64("ddp_timeout", compat.ddp_timeout, .ignored = R_ONE_PROC);
    FLG("ddp_gradient_as_bucket_view", compat.ddp_gradient_as_bucket_view, .ignored = R_ONE_PROC);
    FLG("ddp_static_graph", compat.ddp_static_graph, .ignored = R_ONE_PROC);
    FLG("deepspeed", compat.deepspeed, .unsupported = "DeepSpeed needs PyTorch; sdlora trains in one process");
    I64("zero_stage", compat.zero_stage, .ignored = R_DEEPSPEED);
    STR("offload_optimizer_device", compat.offload_optimizer_device, .ignored = R_DEEPSPEED);
    STR("offload_optimizer_nvme_path", compat.offload_optimizer_nvme_path, .ignored = R_DEEPSPEED);
    STR("offload_param_device", compat.offload_param_device, .ignored = R_DEEPSPEED);
    STR("offload_param_nvme_path", compat.offload_param_nvme_path, .ignored = R_DEEPSPEED);
    FLG("zero3_init_flag", compat.zero3_init_flag, .ignored = R_DEEPSPEED);
    FLG("zero3_save_16bit_model", compat.zero3_save_16bit_model, .ignored = R_DEEPSPEED);
    FLG("fp16_master_weights_and_gradients", compat.fp16_master_weights_and_gradients, .ignored = R_DEEPSPEED);

    // ---- logging
    STR("logging_dir", logging_dir, .group = "logging", .help = "write TensorBoard logs under this folder");
    STR("log_prefix", log_prefix, .help = "prefix of the run folder name");
    STR("log_with", log_with, .choices = "tensorboard|wandb|all", .help = "tensorboard (wandb and all are not supported)",
        .defval = "tensorboard with --logging_dir");
    STR("log_tracker_name", log_tracker_name, .help = "name of the run's subfolder", .defval = "network_train");
    STR("log_tracker_config", compat.log_tracker_config, .ignored = R_WANDB);
    STR("wandb_run_name", compat.wandb_run_name, .ignored = R_WANDB);
    STR("wandb_api_key", compat.wandb_api_key, .ignored = R_WANDB);
    FLG("log_config", compat.log_config, .ignored = R_WANDB);
    STR("console_log_level", compat.console_log_level, .ignored = R_LOG);
    STR("console_log_file", compat.console_log_file, .ignored = R_LOG);
    FLG("console_log_simple", compat.console_log_simple, .ignored = R_LOG);

    // ---- sampling
    STR("sample_prompts", sample_prompts, .group = "sample images during training",
        .help = "prompt file (.txt lines with --n --w --h --s --l --d, .toml or .json)");
    STR("sample_sampler", sample_sampler,
        .choices = "ddim|pndm|lms|euler|euler_a|heun|dpm_2|dpm_2_a|dpmsolver|dpmsolver++|dpmsingle|k_lms|k_euler|k_euler_a|k_dpm_2|k_dpm_2_a",
        .help = "sampler", .defval = "ddim");
    I64("sample_every_n_epochs", sample_every_n_epochs, .help = "sample every N epochs (overrides steps)", .defval = "None");
    I64("sample_every_n_steps", sample_every_n_steps, .help = "sample every N steps", .defval = "None");
    FLG("sample_at_first", sample_at_first, .help = "sample before training");
    STR("wildcard_dir", wildcard_dir,
        .help = "sdlora: folder of __name__ wildcard files for dynamic prompts ({a|b}, {2::a|b}) in sample prompts");

    // ---- config and sdlora
    STR("config_file", config_file, .group = "config file and sdlora",
        .help = "options from a TOML file (kohya) or a kohya_ss GUI .json; the command line wins");
    I64("threads", threads, .min = 0, .max = 4096, .help = "compute threads (0 = all cores)", .defval = "0");
    FLG("profile", profile, .help = "print the time spent per layer type");
#undef O
#undef STR
#undef I64
#undef DBL
#undef FLG
#undef LST
    SDL_ASSERT(n <= MAX_OPTS);
    return n;
}

static void table_init(Table *tb, TrainArgs *a) {
    int n = make_specs(a, tb->specs);
    tb->t = (OptTable){.cmd = "train", .specs = tb->specs, .n = n, .given = a->given, .owned = true, .allow_abbrev = true,
                       .notes = &a->ignored};
}

size_t train_args_option_count(void) {
    static TrainArgs dummy;
    static OptSpec specs[MAX_OPTS];
    return (size_t)make_specs(&dummy, specs);
}

const char *train_args_option_name(size_t i) {
    static TrainArgs dummy;
    static OptSpec specs[MAX_OPTS];
    int n = make_specs(&dummy, specs);
    return i < (size_t)n ? specs[i].name : NULL;
}

static unsigned char given_bits(const TrainArgs *a, const char *name) {
    if (!a->given) return 0;
    Table tb;
    table_init(&tb, (TrainArgs *)a); // only names and indices are read
    int i = opts_find(&tb.t, name, strlen(name));
    SDL_ASSERT(i >= 0); // a misspelt name in sdlora's own code
    return a->given[i];
}

bool train_args_given(const TrainArgs *a, const char *name) { return given_bits(a, name) & OPT_GIVEN; }
bool train_args_given_int(const TrainArgs *a, const char *name) { return given_bits(a, name) & OPT_GIVEN_INT; }

// ---------------------------------------------------------------------------------------
// Defaults and lifetime

void train_args_default(TrainArgs *a) {
    memset(a, 0, sizeof *a);
    dataset_args_default(&a->data);
    // kohya's argparse defaults (train_util.add_*_arguments, train_network.setup_parser)
    a->network_module = "networks.lora";
    a->network_dim = 4;
    a->network_alpha = 1;
    a->network_alpha_is_int = true;
    a->save_model_as = "safetensors";
    a->optimizer_type = "";
    a->learning_rate = 2e-6;
    a->lr_scheduler = "constant";
    a->lr_warmup_steps = "0";
    a->lr_scheduler_num_cycles = 1;
    a->lr_scheduler_power = 1;
    a->lr_scheduler_type = "";
    a->max_grad_norm = 1.0;
    a->gradient_accumulation_steps = 1;
    a->max_train_steps = 1600;
    a->max_data_loader_n_workers = 8;
    a->vae_batch_size = 1;
    a->multires_noise_discount = 0.3;
    a->min_timestep = 0;
    a->max_timestep = 1000;
    a->loss_type = "l2";
    a->huber_schedule = "snr";
    a->huber_c = 0.1;
    a->huber_scale = 1.0;
    a->mixed_precision = "no";
    a->log_tracker_name = "network_train";
    a->sample_sampler = "ddim";
    a->compat.dynamo_backend = "inductor";
    a->compat.lr_decay_steps = "0";
    // every string of the table becomes an owned copy (defaults included), so replacing and
    // freeing never has to ask where a string came from
    Table tb;
    table_init(&tb, a);
    for (int i = 0; i < tb.t.n; i++) {
        const OptSpec *s = &tb.specs[i];
        if (s->type == OPT_STRING && *(char **)s->dst) {
            *(char **)s->dst = strdup(*(char **)s->dst);
            SDL_ASSERT(*(char **)s->dst);
        }
    }
    a->given = calloc((size_t)tb.t.n, 1);
    SDL_ASSERT(a->given);
}

void train_args_free(TrainArgs *a) {
    Table tb;
    table_init(&tb, a);
    opts_free_owned(&tb.t);
    opts_free_list(a->ignored);
    free(a->given);
    free(a->sample_prompts_text);
    memset(a, 0, sizeof *a);
}

// ---------------------------------------------------------------------------------------
// Derived fields (idempotent: runs after the file and again after the command line)

static SdlStatus parse_face_crop(TrainArgs *a) {
    SubsetConfig *sub = &a->data.sub;
    sub->has_face_crop_aug_range = false;
    if (!a->face_crop_aug_range) return SDL_OK;
    // kohya: tuple(float(r) for r in s.split(",")), two values, first <= second
    char *end;
    double lo = strtod(a->face_crop_aug_range, &end), hi = 0;
    bool ok = end != a->face_crop_aug_range && *end == ',';
    if (ok) {
        const char *p = end + 1;
        hi = strtod(p, &end);
        ok = end != p && *end == 0 && lo <= hi && isfinite(lo) && isfinite(hi);
    }
    if (!ok)
        return sdl_fail(SDL_ERR_ARG, NULL, "give two numbers, the smaller first: --face_crop_aug_range 2.0,4.0",
                        "--face_crop_aug_range: '%s' is not a range", a->face_crop_aug_range);
    sub->has_face_crop_aug_range = true;
    sub->face_crop_aug_range[0] = lo;
    sub->face_crop_aug_range[1] = hi;
    return SDL_OK;
}

static SdlStatus finalize(TrainArgs *a) {
    if (a->resolution) SDL_TRY(dataset_args_set_resolution(&a->data, a->resolution));
    else a->data.ds.has_resolution = false;
    SDL_TRY(parse_face_crop(a));
    a->data.sub.resize_interpolation = a->data.ds.resize_interpolation; // one value for both levels (borrowed)
    a->data.ds.has_validation_seed = train_args_given(a, "validation_seed");
    a->has_seed = train_args_given(a, "seed");
    a->has_unet_lr = train_args_given(a, "unet_lr");
    a->network_alpha_is_int = !train_args_given(a, "network_alpha") || train_args_given_int(a, "network_alpha");

    a->has_text_encoder_lr = a->text_encoder_lr_list && a->text_encoder_lr_list[0];
    a->text_encoder_lr = 0;
    if (a->has_text_encoder_lr) {
        // kohya takes the list's first value for SD1/SD2 (a second one is for SDXL's second encoder)
        char *end;
        const char *v = a->text_encoder_lr_list[0];
        a->text_encoder_lr = strtod(v, &end);
        if (end == v || *end || !isfinite(a->text_encoder_lr) || a->text_encoder_lr < 0)
            return sdl_fail(SDL_ERR_ARG, NULL, "give a number like 5e-5", "--text_encoder_lr: not a number: '%s'", v);
        if (a->text_encoder_lr_list[1])
            log_warn("--text_encoder_lr: %zu values given; SD1/SD2 have one text encoder, so only the first (%s) is used",
                     opts_list_len(a->text_encoder_lr_list), v);
    }

    // kohya get_optimizer: the old switches name an optimizer and clash with --optimizer_type
    const char *want = a->use_8bit_adam ? "AdamW8bit" : a->use_lion_optimizer ? "Lion" : NULL;
    if (a->use_8bit_adam && a->use_lion_optimizer)
        return sdl_fail(SDL_ERR_ARG, NULL, "use --optimizer_type instead of both switches",
                        "--use_8bit_adam and --use_lion_optimizer are both given");
    if (want) {
        if (a->optimizer_type[0] && strcasecmp(a->optimizer_type, want) != 0)
            return sdl_fail(SDL_ERR_ARG, NULL, "give only --optimizer_type",
                            "--%s and --optimizer_type %s are both given", a->use_8bit_adam ? "use_8bit_adam" : "use_lion_optimizer",
                            a->optimizer_type);
        char *copy = strdup(want);
        if (!copy) return sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory");
        free(a->optimizer_type);
        a->optimizer_type = copy;
    }
    if (a->cache_latents_to_disk) a->cache_latents = true; // kohya verify_training_args
    // kohya: a sample interval <= 0 disables sampling with a warning
    if (a->sample_every_n_epochs < 0 || a->sample_every_n_steps < 0) {
        log_warn("sample_every_n_epochs/steps <= 0 disable sampling (as kohya)");
        if (a->sample_every_n_epochs < 0) a->sample_every_n_epochs = 0;
        if (a->sample_every_n_steps < 0) a->sample_every_n_steps = 0;
    }
    return SDL_OK;
}

// ---------------------------------------------------------------------------------------
// --config_file TOML: every [table] flattened into one namespace (kohya read_config_from_file)

static SdlStatus toml_to_value(const TomlValue *v, OptValue *out, OptValue **scratch, const char *path, const char *key) {
    memset(out, 0, sizeof *out);
    switch (toml_kind(v)) {
    case TOML_STRING: out->kind = OPTV_STRING; out->s = toml_as_string(v, NULL); return SDL_OK;
    case TOML_INTEGER: out->kind = OPTV_INT; toml_as_int(v, &out->i); return SDL_OK;
    case TOML_FLOAT: out->kind = OPTV_FLOAT; toml_as_float(v, &out->f); return SDL_OK;
    case TOML_BOOL: out->kind = OPTV_BOOL; toml_as_bool(v, &out->b); return SDL_OK;
    case TOML_ARRAY: {
        size_t n = toml_array_len(v);
        OptValue *items = calloc(n + 1, sizeof *items);
        if (!items) return sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory");
        *scratch = items;
        for (size_t i = 0; i < n; i++) {
            const TomlValue *e = toml_array_at(v, i);
            switch (toml_kind(e)) {
            case TOML_STRING: items[i].kind = OPTV_STRING; items[i].s = toml_as_string(e, NULL); break;
            case TOML_INTEGER: items[i].kind = OPTV_INT; toml_as_int(e, &items[i].i); break;
            case TOML_FLOAT: items[i].kind = OPTV_FLOAT; toml_as_float(e, &items[i].f); break;
            case TOML_BOOL: items[i].kind = OPTV_BOOL; toml_as_bool(e, &items[i].b); break;
            default: items[i].kind = OPTV_LIST; break; // nested: refused by opts_apply_value
            }
        }
        out->kind = OPTV_LIST;
        out->items = items;
        out->n_items = n;
        return SDL_OK;
    }
    default: break;
    }
    char where[1024];
    snprintf(where, sizeof where, "%s:%d", path, toml_line(v));
    return sdl_fail(SDL_ERR_ARG, where,
                    "kohya flattens one level of tables: put options at the top or in one [section]",
                    "%s: a %s is not an option value", key, toml_kind_name(toml_kind(v)));
}

static SdlStatus apply_toml_pair(Table *tb, const char *key, const TomlValue *v, const char *path) {
    OptValue ov, *scratch = NULL;
    SdlStatus st = toml_to_value(v, &ov, &scratch, path, key);
    if (st == SDL_OK) st = opts_apply_value(&tb->t, key, &ov, path, toml_line(v));
    free(scratch);
    return st;
}

static SdlStatus apply_toml(TrainArgs *a, const char *text, const char *path) {
    TomlValue *root = NULL;
    SDL_TRY(toml_parse(text, strlen(text), path, &root));
    Table tb;
    table_init(&tb, a);
    SdlStatus st = SDL_OK;
    for (size_t i = 0; i < toml_table_len(root) && st == SDL_OK; i++) {
        const char *key = toml_table_key_at(root, i, NULL);
        const TomlValue *v = toml_table_value_at(root, i);
        if (toml_kind(v) != TOML_TABLE) {
            st = apply_toml_pair(&tb, key, v, path);
            continue;
        }
        for (size_t j = 0; j < toml_table_len(v) && st == SDL_OK; j++)
            st = apply_toml_pair(&tb, toml_table_key_at(v, j, NULL), toml_table_value_at(v, j), path);
    }
    toml_free(root);
    return st;
}

SdlStatus train_args_apply_toml(TrainArgs *a, const char *text, const char *path) {
    SDL_TRY(apply_toml(a, text, path));
    return finalize(a);
}

// ---------------------------------------------------------------------------------------
// kohya_ss GUI JSON (lora_gui.py save_configuration): GUI keys mapped as the GUI builds its
// sd-scripts command; zero / empty / false GUI values mean "not passed".

typedef struct {
    TrainArgs *a;
    Table *tb;
    const char *path;
    const cJSON *root;
} Gui;

static const cJSON *gui_item(const Gui *g, const char *key) { return cJSON_GetObjectItemCaseSensitive(g->root, key); }

// A non-empty string value.
static const char *gui_str(const Gui *g, const char *key) {
    const cJSON *it = gui_item(g, key);
    return cJSON_IsString(it) && it->valuestring && it->valuestring[0] ? it->valuestring : NULL;
}

// A number, or a string holding one (gradio Number fields are saved as text). Absent, null or
// "" → false; text that is not a number is an error naming the key.
static SdlStatus gui_num(const Gui *g, const char *key, bool *present, double *out) {
    const cJSON *it = gui_item(g, key);
    *present = false;
    if (cJSON_IsNumber(it)) {
        *out = it->valuedouble;
        *present = true;
    } else if (cJSON_IsString(it) && it->valuestring && it->valuestring[0]) {
        char *end;
        *out = strtod(it->valuestring, &end);
        while (*end == ' ') end++;
        if (end == it->valuestring || *end || !isfinite(*out))
            return sdl_fail(SDL_ERR_ARG, g->path, "write a number", "key \"%s\": '%s' is not a number", key, it->valuestring);
        *present = true;
    }
    return SDL_OK;
}

static bool gui_true(const Gui *g, const char *key) {
    const cJSON *it = gui_item(g, key);
    if (cJSON_IsBool(it)) return cJSON_IsTrue(it);
    if (cJSON_IsNumber(it)) return it->valuedouble != 0;
    if (cJSON_IsString(it) && it->valuestring) return strcasecmp(it->valuestring, "true") == 0;
    return false;
}

// Sets option `name` from text, the error naming the GUI key.
static SdlStatus gui_set(const Gui *g, const char *key, const char *name, const char *text) {
    int idx = opts_find(&g->tb->t, name, strlen(name));
    SDL_ASSERT(idx >= 0);
    char where[1200];
    snprintf(where, sizeof where, "%s (key \"%s\")", g->path, key);
    return opts_apply_text(&g->tb->t, idx, text, where, 0);
}

// A GUI number as the GUI writes it into the command line: integers without ".0" (gradio
// keeps ints), other values as Python's str().
static void number_text(char *buf, size_t cap, double x) {
    if (x == floor(x) && fabs(x) < 1e15) snprintf(buf, cap, "%lld", (long long)x);
    else py_float_repr(buf, cap, x);
}

// key → option when the GUI would pass it: present and `x > above` (numbers).
static SdlStatus gui_num_opt(const Gui *g, const char *key, const char *name, double above, bool *set, double *value) {
    bool present;
    double x = 0;
    SDL_TRY(gui_num(g, key, &present, &x));
    if (set) *set = false;
    if (!present || !(x > above)) return SDL_OK;
    char buf[64];
    number_text(buf, sizeof buf, x);
    if (set) *set = true;
    if (value) *value = x;
    return gui_set(g, key, name ? name : key, buf);
}

static SdlStatus gui_flag(const Gui *g, const char *key, const char *name) {
    return gui_true(g, key) ? gui_set(g, key, name ? name : key, "true") : SDL_OK;
}

static SdlStatus gui_text(const Gui *g, const char *key, const char *name) {
    const char *v = gui_str(g, key);
    return v ? gui_set(g, key, name ? name : key, v) : SDL_OK;
}

static bool is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static SdlStatus gui_network(const Gui *g) {
    const char *type = gui_str(g, "LoRA_type");
    if (!type) type = "Standard";
    if (strncmp(type, "LyCORIS/", 8) == 0 || strcmp(type, "LoCon") == 0)
        return sdl_fail(SDL_ERR_UNSUPPORTED, g->path, "choose LoRA type \"Standard\" or \"Kohya LoCon\" in the GUI",
                        "LoRA_type \"%s\" needs LyCORIS (lycoris.kohya), which sdlora does not support", type);
    if (strcmp(type, "Standard") != 0 && strcmp(type, "Kohya LoCon") != 0)
        return sdl_fail(SDL_ERR_UNSUPPORTED, g->path, "choose LoRA type \"Standard\" or \"Kohya LoCon\" in the GUI",
                        "LoRA_type \"%s\" is not supported (sdlora trains networks.lora: LoRA and LoCon)", type);
    SDL_TRY(gui_set(g, "LoRA_type", "network_module", "networks.lora"));
    // network_args as the GUI builds them: LoCon's conv dims, then kohya's extra LoRA keys when set
    char args[2048] = "";
    size_t used = 0;
    static const char *const conv_keys[] = {"conv_dim", "conv_alpha"};
    static const char *const extra_keys[] = {"down_lr_weight", "mid_lr_weight", "up_lr_weight", "block_lr_zero_threshold",
                                             "block_dims", "block_alphas", "conv_block_dims", "conv_block_alphas",
                                             "rank_dropout", "module_dropout"};
    if (strcmp(type, "Kohya LoCon") == 0)
        for (size_t i = 0; i < 2; i++) {
            bool present;
            double x = 1;
            SDL_TRY(gui_num(g, conv_keys[i], &present, &x));
            char buf[64];
            number_text(buf, sizeof buf, present ? x : 1);
            used += (size_t)snprintf(args + used, sizeof args - used, " \"%s=%s\"", conv_keys[i], buf);
        }
    for (size_t i = 0; i < sizeof extra_keys / sizeof *extra_keys && used < sizeof args; i++) {
        const cJSON *it = gui_item(g, extra_keys[i]);
        char buf[64];
        const char *text = NULL;
        if (cJSON_IsNumber(it) && it->valuedouble != 0) number_text(buf, sizeof buf, it->valuedouble), text = buf;
        else if (cJSON_IsString(it) && it->valuestring && it->valuestring[0] && strcmp(it->valuestring, "0") != 0) text = it->valuestring;
        if (text) used += (size_t)snprintf(args + used, sizeof args - used, " \"%s=%s\"", extra_keys[i], text);
    }
    if (used) SDL_TRY(gui_set(g, "LoRA_type", "network_args", args));
    return SDL_OK;
}

static SdlStatus apply_gui(TrainArgs *a, const char *text, const char *path) {
    cJSON *root = cJSON_Parse(text);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return sdl_fail(SDL_ERR_FORMAT, path, "give a config saved by the kohya_ss GUI (a JSON object), or a TOML file",
                        "not a JSON object");
    }
    Table tb;
    table_init(&tb, a);
    Gui g = {.a = a, .tb = &tb, .path = path, .root = root};
    SdlStatus st = SDL_OK;
#define RUN(expr) do { if (st == SDL_OK) st = (expr); } while (0)
    if (gui_true(&g, "sdxl"))
        st = sdl_fail(SDL_ERR_UNSUPPORTED, path, "uncheck SDXL: sdlora trains SD 1.x and 2.x", "\"sdxl\": true is not supported");
    RUN(gui_network(&g));
    // paths and names
    static const char *const texts[] = {"pretrained_model_name_or_path", "vae", "output_dir", "output_name", "logging_dir",
                                        "log_prefix", "train_data_dir", "reg_data_dir", "dataset_config", "resume",
                                        "training_comment", "caption_extension", "lr_scheduler", "lr_scheduler_type",
                                        "mixed_precision", "save_precision", "sample_sampler", "loss_type", "huber_schedule",
                                        "metadata_title", "metadata_author", "metadata_description", "metadata_license",
                                        "metadata_tags", "log_tracker_name", "log_with", "resize_interpolation"};
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) RUN(gui_text(&g, texts[i], NULL));
    if (gui_str(&g, "network_weights")) RUN(gui_text(&g, "network_weights", NULL));
    else RUN(gui_text(&g, "lora_network_weights", "network_weights"));
    if (a->network_weights) RUN(gui_flag(&g, "dim_from_weights", NULL)); // the GUI passes it only with weights
    const char *as = gui_str(&g, "save_model_as");
    if (as && strcmp(as, "same as source model") != 0) RUN(gui_set(&g, "save_model_as", "save_model_as", as));
    RUN(gui_text(&g, "optimizer", "optimizer_type"));
    RUN(gui_text(&g, "max_resolution", "resolution"));
    const char *sp = gui_str(&g, "sample_prompts");
    if (sp && st == SDL_OK) {
        if (is_file(sp)) RUN(gui_set(&g, "sample_prompts", "sample_prompts", sp));
        else {
            free(a->sample_prompts_text);
            if (!(a->sample_prompts_text = strdup(sp))) st = sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory");
        }
    }
    // xformers: a checkbox in old GUIs, "xformers" | "sdpa" | "none" in newer ones
    const cJSON *xf = gui_item(&g, "xformers");
    if (cJSON_IsString(xf) && xf->valuestring && (!strcmp(xf->valuestring, "xformers") || !strcmp(xf->valuestring, "sdpa")))
        RUN(gui_set(&g, "xformers", xf->valuestring, "true"));
    else RUN(gui_flag(&g, "xformers", NULL));
    // switches
    static const char *const flags[] = {"v2", "v_parameterization", "cache_latents", "cache_latents_to_disk", "color_aug",
                                        "flip_aug", "random_crop", "shuffle_caption", "enable_bucket", "bucket_no_upscale",
                                        "debiased_estimation_loss", "fp8_base", "full_bf16", "full_fp16", "gradient_checkpointing",
                                        "mem_eff_attn", "persistent_data_loader_workers", "save_state", "save_state_on_train_end",
                                        "scale_v_pred_loss_like_noise_pred", "weighted_captions", "zero_terminal_snr",
                                        "noise_offset_random_strength", "ip_noise_gamma_random_strength", "lowram", "lowvram",
                                        "highvram", "masked_loss", "alpha_mask", "skip_cache_check", "sample_at_first",
                                        "no_half_vae", "network_train_unet_only", "network_train_text_encoder_only",
                                        "cache_info", "no_metadata"};
    for (size_t i = 0; i < sizeof flags / sizeof *flags; i++) RUN(gui_flag(&g, flags[i], NULL));
    // numbers passed when above a threshold (the GUI's own conditions)
    static const struct { const char *key; double above; } nums[] = {
        {"network_dim", 0}, {"network_alpha", 0}, {"network_dropout", 0}, {"scale_weight_norms", 0},
        {"train_batch_size", 0}, {"gradient_accumulation_steps", 1}, {"max_train_steps", 0}, {"lr_scheduler_power", 0},
        {"keep_tokens", 0}, {"caption_dropout_rate", 0}, {"caption_dropout_every_n_epochs", 0}, {"caption_tag_dropout_rate", 0},
        {"clip_skip", 1}, {"max_token_length", 75}, {"min_timestep", 0}, {"min_snr_gamma", 0}, {"bucket_reso_steps", 0},
        {"save_every_n_epochs", 0}, {"save_every_n_steps", 0}, {"save_last_n_steps", 0}, {"save_last_n_steps_state", 0},
        {"save_last_n_epochs", 0}, {"save_last_n_epochs_state", 0}, {"seed", 0}, {"ip_noise_gamma", 0},
        {"v_pred_like_loss", 0}, {"vae_batch_size", 0}, {"sample_every_n_steps", 0}, {"sample_every_n_epochs", 0},
        {"dataset_repeats", 0}, {"huber_c", 0}, {"huber_scale", 0}, {"max_data_loader_n_workers", -1},
        {"max_grad_norm", -1}, {"learning_rate", -1},
    };
    for (size_t i = 0; i < sizeof nums / sizeof *nums; i++) RUN(gui_num_opt(&g, nums[i].key, NULL, nums[i].above, NULL, NULL));
    bool present;
    double x;
    if (st == SDL_OK && (st = gui_num(&g, "max_timestep", &present, &x)) == SDL_OK && present && x > 0 && x < 1000)
        RUN(gui_num_opt(&g, "max_timestep", NULL, 0, NULL, NULL));
    if (gui_true(&g, "enable_bucket")) {
        RUN(gui_num_opt(&g, "min_bucket_reso", NULL, 0, NULL, NULL));
        RUN(gui_num_opt(&g, "max_bucket_reso", NULL, 0, NULL, NULL));
    }
    if (st == SDL_OK && (st = gui_num(&g, "prior_loss_weight", &present, &x)) == SDL_OK && present && x != 1.0)
        RUN(gui_num_opt(&g, "prior_loss_weight", NULL, -1, NULL, NULL));
    // noise: the GUI passes the offset or the pyramid settings, by noise_offset_type
    const char *nt = gui_str(&g, "noise_offset_type");
    if (!nt || !strcmp(nt, "Original")) {
        bool on = false;
        double off = 0;
        RUN(gui_num_opt(&g, "noise_offset", NULL, 0, &on, &off));
        if (on && st == SDL_OK && (st = gui_num(&g, "adaptive_noise_scale", &present, &x)) == SDL_OK && present && x != 0)
            RUN(gui_num_opt(&g, "adaptive_noise_scale", NULL, -1e300, NULL, NULL));
    }
    if (!nt || !strcmp(nt, "Multires")) {
        RUN(gui_num_opt(&g, "multires_noise_iterations", NULL, 0, NULL, NULL));
        if (a->multires_noise_iterations > 0) RUN(gui_num_opt(&g, "multires_noise_discount", NULL, 0, NULL, NULL));
    }
    // epochs: "epoch" is the GUI's training length; an explicit max_train_epochs wins
    bool epochs_set = false;
    double epoch = 0;
    RUN(gui_num_opt(&g, "max_train_epochs", NULL, 0, &epochs_set, NULL));
    if (st == SDL_OK && (st = gui_num(&g, "epoch", &present, &epoch)) == SDL_OK && !present) epoch = 0;
    if (!epochs_set && epoch > 0) RUN(gui_num_opt(&g, "epoch", "max_train_epochs", 0, NULL, NULL));
    // lr_scheduler_num_cycles: blank → the epoch count (the GUI's own fallback)
    bool cycles_set = false;
    RUN(gui_num_opt(&g, "lr_scheduler_num_cycles", NULL, 0, &cycles_set, NULL));
    if (!cycles_set && epoch > 0) RUN(gui_num_opt(&g, "epoch", "lr_scheduler_num_cycles", 0, NULL, NULL));
    // learning rates: a text-encoder-only or UNet-only run when the other lr is 0
    bool te_present, unet_present;
    double te = 0, unet = 0;
    if (st == SDL_OK) st = gui_num(&g, "text_encoder_lr", &te_present, &te);
    if (st == SDL_OK) st = gui_num(&g, "unet_lr", &unet_present, &unet);
    if (te > 0) RUN(gui_num_opt(&g, "text_encoder_lr", NULL, 0, NULL, NULL));
    if (unet > 0) RUN(gui_num_opt(&g, "unet_lr", NULL, 0, NULL, NULL));
    if (te > 0 && unet == 0) RUN(gui_set(&g, "unet_lr", "network_train_text_encoder_only", "true"));
    if (te == 0 && unet > 0) RUN(gui_set(&g, "text_encoder_lr", "network_train_unet_only", "true"));
    // warm-up: lr_warmup_steps when given, else lr_warmup percent of max_train_steps (Python's
    // round: half to even), or of the real step count when the GUI left max_train_steps at 0
    const char *sched = gui_str(&g, "lr_scheduler");
    bool warm_steps_set = false;
    if (!sched || strcmp(sched, "constant") != 0) {
        RUN(gui_num_opt(&g, "lr_warmup_steps", NULL, 0, &warm_steps_set, NULL));
        double pct = 0, steps = 0;
        bool pct_present = false, steps_present = false;
        if (st == SDL_OK) st = gui_num(&g, "lr_warmup", &pct_present, &pct);
        if (st == SDL_OK) st = gui_num(&g, "max_train_steps", &steps_present, &steps);
        if (st == SDL_OK && !warm_steps_set && pct_present && (int64_t)pct > 0) {
            char buf[64];
            if (steps_present && steps > 0)
                snprintf(buf, sizeof buf, "%lld", (long long)nearbyint((double)((int64_t)pct * (int64_t)steps) / 100.0));
            else
                snprintf(buf, sizeof buf, "%lld%%", (long long)(int64_t)pct);
            if (strcmp(buf, "0") != 0) RUN(gui_set(&g, "lr_warmup", "lr_warmup_steps", buf));
        }
    }
    // free-form lists
    RUN(gui_text(&g, "optimizer_args", NULL));
    RUN(gui_text(&g, "lr_scheduler_args", NULL));
    // additional_parameters: extra command-line words, applied last (they override the GUI fields)
    const char *extra = gui_str(&g, "additional_parameters");
    if (extra && st == SDL_OK) {
        char **words = opts_split_words(extra);
        if (!words) st = sdl_last_error()->status;
        else {
            size_t n = opts_list_len(words);
            char **argv = calloc(n + 2, sizeof *argv);
            if (!argv) st = sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory");
            else {
                argv[0] = "train";
                for (size_t i = 0; i < n; i++) argv[i + 1] = words[i];
                bool help = false;
                st = opts_parse_args(&tb.t, USAGE, (int)n + 1, argv, &help);
                if (st == SDL_OK && help)
                    st = sdl_fail(SDL_ERR_ARG, path, "remove --help from additional_parameters", "additional_parameters: --help");
                free(argv);
            }
            opts_free_list(words);
        }
    }
#undef RUN
    cJSON_Delete(root);
    return st;
}

SdlStatus train_args_apply_gui_json(TrainArgs *a, const char *text, const char *path) {
    SDL_TRY(apply_gui(a, text, path));
    return finalize(a);
}

// ---------------------------------------------------------------------------------------
// Command line

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

// The --config_file value among argv (the last one wins, as argparse), or NULL.
static const char *find_config_arg(Table *tb, int argc, char **argv) {
    const char *found = NULL;
    int idx = opts_find(&tb->t, "config_file", 11);
    for (int i = 1; i < argc; i++) {
        const char *w = argv[i];
        if (strncmp(w, "--", 2) != 0) continue;
        const char *eq = strchr(w + 2, '=');
        size_t len = eq ? (size_t)(eq - w - 2) : strlen(w + 2);
        if (opts_lookup(&tb->t, w + 2, len) != idx) continue;
        if (eq) found = eq + 1;
        else if (i + 1 < argc) found = argv[++i];
    }
    return found;
}

SdlStatus train_args_parse(TrainArgs *a, int argc, char **argv, bool *help_shown) {
    *help_shown = false;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            train_args_print_help(stdout);
            *help_shown = true;
            return SDL_OK;
        }
    Table tb;
    table_init(&tb, a);
    const char *cfg = find_config_arg(&tb, argc, argv);
    if (cfg) {
        // kohya appends ".toml" to a name without it; a .json is a kohya_ss GUI config
        bool json = ends_with(cfg, ".json");
        size_t n = strlen(cfg);
        char *path = malloc(n + 6);
        if (!path) return sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory");
        snprintf(path, n + 6, "%s%s", cfg, json || ends_with(cfg, ".toml") ? "" : ".toml");
        char *text = NULL;
        SdlStatus st = file_read_text(path, 16u << 20, "--config_file takes a TOML or kohya_ss .json config, not a model", &text, NULL);
        if (st == SDL_OK) st = json ? apply_gui(a, text, path) : apply_toml(a, text, path);
        free(text);
        if (st == SDL_OK) {
            free(a->config_file);
            a->config_file = path;
        } else {
            free(path);
            return st;
        }
    }
    // the command line last: it overrides the file (its --config_file is re-stored, then put back)
    char *resolved = a->config_file ? strdup(a->config_file) : NULL;
    bool help = false;
    SdlStatus st = opts_parse_args(&tb.t, USAGE, argc, argv, &help);
    if (st == SDL_OK && resolved) {
        free(a->config_file);
        a->config_file = resolved;
        resolved = NULL;
    }
    free(resolved);
    SDL_TRY(st);
    return finalize(a);
}

void train_args_print_help(FILE *f) {
    TrainArgs dummy;
    train_args_default(&dummy);
    Table tb;
    table_init(&tb, &dummy);
    opts_print_table_help(f, &tb.t, USAGE);
    fputs("\nEvery option may also be set in --config_file (TOML tables are flattened as kohya does; a .json is a\n"
          "kohya_ss GUI config). See docs/training.md for each option, kohya's defaults and what sdlora ignores.\n",
          f);
    train_args_free(&dummy);
}

// ---------------------------------------------------------------------------------------
// kohya's cross-checks

SdlStatus train_args_network_args(const TrainArgs *a, NetworkArgs *out) {
    *out = (NetworkArgs){0};
    static const char *const supported[] = {"conv_dim", "conv_alpha", "rank_dropout", "module_dropout"};
    // kohya's networks.lora knows these, sdlora does not implement them
    static const char *const kohya_only[] = {"block_dims", "block_alphas", "conv_block_dims", "conv_block_alphas",
                                             "down_lr_weight", "mid_lr_weight", "up_lr_weight", "block_lr_zero_threshold",
                                             "loraplus_lr_ratio", "loraplus_unet_lr_ratio", "loraplus_text_encoder_lr_ratio",
                                             "train_blocks", "dropout"};
    for (char **p = a->network_args; p && *p; p++) {
        const char *eq = strchr(*p, '=');
        if (!eq)
            return sdl_fail(SDL_ERR_ARG, NULL, "write each item as key=value, e.g. --network_args conv_dim=4 conv_alpha=1",
                            "--network_args: '%s' is not key=value", *p);
        size_t klen = (size_t)(eq - *p);
        bool ok = false;
        for (size_t i = 0; i < sizeof supported / sizeof *supported; i++)
            if (strlen(supported[i]) == klen && !strncmp(*p, supported[i], klen)) ok = true;
        if (ok) {
            char *end;
            double x = strtod(eq + 1, &end);
            if (end == eq + 1 || *end || !isfinite(x) || x < 0)
                return sdl_fail(SDL_ERR_ARG, NULL, "give a number, e.g. conv_dim=4", "--network_args: '%s': not a number", *p);
            bool is_rank = !strncmp(*p, "rank_dropout", klen), is_module = !strncmp(*p, "module_dropout", klen);
            if ((is_rank || is_module) && x >= 1)
                return sdl_fail(SDL_ERR_ARG, NULL, "a dropout is a probability from 0 to below 1", "--network_args: '%s'", *p);
            if (!strncmp(*p, "conv_dim", klen)) out->conv_dim = (int64_t)x;
            else if (!strncmp(*p, "conv_alpha", klen)) out->conv_alpha = x, out->has_conv_alpha = true;
            else if (is_rank) out->rank_dropout = x;
            else out->module_dropout = x;
            continue;
        }
        for (size_t i = 0; i < sizeof kohya_only / sizeof *kohya_only; i++)
            if (strlen(kohya_only[i]) == klen && !strncmp(*p, kohya_only[i], klen))
                return sdl_fail(SDL_ERR_UNSUPPORTED, NULL, "sdlora's networks.lora takes conv_dim, conv_alpha, rank_dropout, module_dropout",
                                "--network_args %.*s: kohya's block-wise / LoRA+ options are not supported", (int)klen, *p);
        return sdl_fail(SDL_ERR_ARG, NULL, "networks.lora takes conv_dim, conv_alpha, rank_dropout, module_dropout",
                        "--network_args: unknown key '%.*s'", (int)klen, *p);
    }
    // kohya: conv_alpha defaults to 1 when conv_dim is given
    if (out->conv_dim > 0 && !out->has_conv_alpha) out->conv_alpha = 1;
    return SDL_OK;
}

static bool sched_supported(const char *name) {
    static const char *const names[] = {"constant", "constant_with_warmup", "linear", "cosine", "cosine_with_restarts",
                                        "polynomial", "adafactor"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (!strcmp(name, names[i])) return true;
    return strncmp(name, "adafactor:", 10) == 0;
}

const char *train_args_base_weights_dtype(const TrainArgs *a) {
    if (a->base_weights_dtype) return a->base_weights_dtype;
    return a->mixed_precision && (!strcmp(a->mixed_precision, "fp16") || !strcmp(a->mixed_precision, "bf16"))
               ? a->mixed_precision
               : "float";
}

SdlStatus train_args_validate(const TrainArgs *a) {
    const DatasetArgs *d = &a->data;
    // required
    if (!a->pretrained_model_name_or_path || !*a->pretrained_model_name_or_path)
        return sdl_fail(SDL_ERR_ARG, NULL, "give the base model: --pretrained_model_name_or_path model.safetensors",
                        "--pretrained_model_name_or_path is required");
    if (!a->output_dir || !*a->output_dir)
        return sdl_fail(SDL_ERR_ARG, NULL, "give the folder for the LoRA files: --output_dir out", "--output_dir is required");
    if (!d->dataset_config && !d->train_data_dir)
        return sdl_fail(SDL_ERR_ARG, NULL, "give --train_data_dir DIR (folders named <repeats>_<class>) or --dataset_config FILE",
                        "no training data given");
    if (!d->dataset_config && !d->in_json && !d->ds.has_resolution)
        return sdl_fail(SDL_ERR_ARG, NULL, "give the training size: --resolution 512 (or 512,768)",
                        "--resolution is required with --train_data_dir (as in kohya)");
    // features sdlora lacks (values that the table cannot refuse on its own)
    if (strcmp(a->network_module, "networks.lora") != 0)
        return sdl_fail(SDL_ERR_UNSUPPORTED, NULL, "use --network_module networks.lora (LoCon: --network_args conv_dim=N conv_alpha=X)",
                        "--network_module %s is not supported: sdlora trains kohya's networks.lora (LoRA and LoCon)%s",
                        a->network_module, strstr(a->network_module, "lycoris") ? "; LyCORIS algorithms are not implemented" : "");
    SDL_TRY(train_args_network_args(a, &(NetworkArgs){0}));
    if (strcmp(a->save_model_as, "safetensors") != 0)
        return sdl_fail(SDL_ERR_UNSUPPORTED, NULL, "use --save_model_as safetensors (what every UI loads)",
                        "--save_model_as %s is not supported: sdlora writes .safetensors only", a->save_model_as);
    if (a->log_with && strcmp(a->log_with, "tensorboard") != 0)
        return sdl_fail(SDL_ERR_UNSUPPORTED, NULL, "use --logging_dir DIR (TensorBoard)", "--log_with %s: sdlora logs to TensorBoard only",
                        a->log_with);
    if (a->log_with && !a->logging_dir)
        return sdl_fail(SDL_ERR_ARG, NULL, "give --logging_dir DIR", "--log_with tensorboard needs --logging_dir (as in kohya)");
    if (a->lr_scheduler_type && a->lr_scheduler_type[0])
        return sdl_fail(SDL_ERR_UNSUPPORTED, NULL, "use --lr_scheduler with one of the built-in schedules",
                        "--lr_scheduler_type %s: custom scheduler classes are not supported", a->lr_scheduler_type);
    if (a->lr_scheduler_args && a->lr_scheduler_args[0])
        return sdl_fail(SDL_ERR_UNSUPPORTED, NULL, "remove --lr_scheduler_args", "--lr_scheduler_args: custom scheduler arguments are not supported");
    if (!sched_supported(a->lr_scheduler))
        return sdl_fail(SDL_ERR_UNSUPPORTED, NULL,
                        "use constant, constant_with_warmup, linear, cosine, cosine_with_restarts, polynomial or adafactor",
                        "--lr_scheduler %s is not supported", a->lr_scheduler);
    if (d->ds.validation_split > 0)
        return sdl_fail(SDL_ERR_UNSUPPORTED, NULL, "leave --validation_split at 0", "validation (--validation_split %g) is not supported yet",
                        d->ds.validation_split);
    OptimKind kind;
    SDL_TRY(optim_kind_parse(a->optimizer_type, &kind));
    {
        // kohya's int_or_float: "N%", a ratio < 1, or a whole step count
        const char *w = a->lr_warmup_steps;
        size_t n = strlen(w);
        char *end;
        double x = strtod(w, &end);
        bool pct = n > 1 && w[n - 1] == '%' && end == w + n - 1;
        if (end == w || (!pct && *end) || !isfinite(x) || x < 0 || (!pct && x >= 1 && x != floor(x)))
            return sdl_fail(SDL_ERR_ARG, NULL, "give a step count (100), a ratio (0.1) or a percentage (10%)",
                            "--lr_warmup_steps: '%s' is not an int or float", w);
    }
    // kohya verify_training_args and train_network asserts
    if (train_args_given(a, "adaptive_noise_scale") && !train_args_given(a, "noise_offset"))
        return sdl_fail(SDL_ERR_ARG, NULL, "give --noise_offset too (about 0.1)", "--adaptive_noise_scale requires --noise_offset");
    if (a->scale_v_pred_loss_like_noise_pred && !a->v_parameterization)
        return sdl_fail(SDL_ERR_ARG, NULL, "add --v_parameterization or drop the option",
                        "--scale_v_pred_loss_like_noise_pred can be enabled only with --v_parameterization");
    if (a->v_pred_like_loss != 0 && a->v_parameterization)
        return sdl_fail(SDL_ERR_ARG, NULL, "drop --v_pred_like_loss for v-prediction models",
                        "--v_pred_like_loss cannot be enabled with --v_parameterization");
    if (a->cache_latents && (d->sub.color_aug || d->sub.random_crop))
        return sdl_fail(SDL_ERR_ARG, NULL, "drop --color_aug/--random_crop or --cache_latents",
                        "when caching latents, color_aug and random_crop cannot be used (as kohya)");
    if (a->network_train_unet_only && a->network_train_text_encoder_only)
        return sdl_fail(SDL_ERR_ARG, NULL, "give at most one of the two", "--network_train_unet_only and "
                        "--network_train_text_encoder_only together train nothing");
    if (a->full_fp16 && strcmp(a->mixed_precision, "fp16") != 0)
        return sdl_fail(SDL_ERR_ARG, NULL, "add --mixed_precision fp16", "--full_fp16 requires --mixed_precision fp16 (as kohya)");
    if (a->full_bf16 && strcmp(a->mixed_precision, "bf16") != 0)
        return sdl_fail(SDL_ERR_ARG, NULL, "add --mixed_precision bf16", "--full_bf16 requires --mixed_precision bf16 (as kohya)");
    if (a->fp8_base && strcmp(a->mixed_precision, "no") == 0)
        return sdl_fail(SDL_ERR_ARG, NULL, "add --mixed_precision fp16 or bf16", "--fp8_base requires mixed precision (as kohya)");
    if (a->dim_from_weights && !a->network_weights)
        return sdl_fail(SDL_ERR_ARG, NULL, "give --network_weights FILE", "--dim_from_weights needs --network_weights");
    if (d->ds.bucket_reso_steps % 64 != 0)
        return sdl_fail(SDL_ERR_ARG, NULL, "use a multiple of 64, e.g. --bucket_reso_steps 64",
                        "--bucket_reso_steps %lld: SD1/SD2 need a multiple of 64 (kohya assert_extra_args)",
                        (long long)d->ds.bucket_reso_steps);
    if (d->ds.enable_bucket && d->ds.min_bucket_reso > d->ds.max_bucket_reso)
        return sdl_fail(SDL_ERR_ARG, NULL, "check --min_bucket_reso <= --max_bucket_reso", "--min_bucket_reso %lld > --max_bucket_reso %lld",
                        (long long)d->ds.min_bucket_reso, (long long)d->ds.max_bucket_reso);
    if (a->initial_step > 0 && a->initial_step >= a->max_train_steps && !a->max_train_epochs)
        return sdl_fail(SDL_ERR_ARG, NULL, "raise --max_train_steps", "max_train_steps (%lld) should be greater than initial_step (%lld)",
                        (long long)a->max_train_steps, (long long)a->initial_step);
    // kohya's warnings
    if (a->v_parameterization && !a->v2) log_warn("v_parameterization should be with v2 (as kohya warns)");
    if (a->v2 && a->clip_skip) log_warn("v2 with clip_skip will be unexpected (as kohya warns)");
    if (a->zero_terminal_snr && !a->v_parameterization)
        log_warn("zero_terminal_snr is enabled, but v_parameterization is not: training will be unexpected (as kohya warns)");
    return SDL_OK;
}
