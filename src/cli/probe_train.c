// probe_train.c — `sdlora probe train-step`: one kohya LoRA training step (train/train_step.h)
// on given latents, noise, timesteps and token ids, writing the loss and every LoRA tensor's
// gradient, so sdlora's step can be compared with a PyTorch re-implementation
// (tools/oracle/make_train_step_goldens.py, tests/check_probe_train.sh).
//
// In (.safetensors): latents (B, 4, h, w) already × the VAE scale, noise (B, 4, h, w),
// timesteps (B) I64 or F32, input_ids (B, n, 77) or (B, 77) integer ids; optional loss_weights
// (B), token_weights (B, n, 77) (weighted captions) and the LoRA's weights under kohya names
// (<lora name>.lora_down.weight / .lora_up.weight / .alpha) — absent, the network is initialised
// as kohya does from --seed (lora_up zero, so lora_down's gradients are zero too).
// Out: loss (1), pred (B, 4, h, w), and <lora name>.lora_down.weight.grad /
// <lora name>.lora_up.weight.grad in the weights' shapes.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/log.h"
#include "base/mem.h"
#include "cli/options.h"
#include "cli/probe_models.h"
#include "io/safetensors.h"
#include "lora/lora_file.h"
#include "lora/network.h"
#include "models/checkpoint.h"
#include "models/model_meta.h"
#include "train/train_step.h"

// A float tensor of the expected rank into a new buffer (integers converted); shape filled.
static SdlStatus read_tensor(const SafeTensors *st, const char *name, int ndim, int64_t shape[], float **out,
                             bool optional) {
    *out = NULL;
    const StTensor *t = st_find(st, name);
    if (!t) {
        if (optional) return SDL_OK;
        return sdl_fail(SDL_ERR_NOT_FOUND, st->path, "see `sdlora probe train-step --help` for the tensors it reads",
                        "input tensor '%s' is missing", name);
    }
    if (t->ndim != ndim)
        return sdl_fail(SDL_ERR_SHAPE, st->path, "see `sdlora probe train-step --help` for the expected shapes",
                        "input tensor '%s' has %d dims, expected %d", name, t->ndim, ndim);
    for (int d = 0; d < ndim; d++) shape[d] = t->shape[d];
    *out = mem_alloc(MEM_OTHER, (size_t)t->numel * sizeof(float) + 1);
    if (t->dtype == ST_I64 || t->dtype == ST_I32) {
        for (int64_t i = 0; i < t->numel; i++) {
            int64_t v;
            if (t->dtype == ST_I64) memcpy(&v, (const char *)t->data + 8 * i, 8);
            else { int32_t v32; memcpy(&v32, (const char *)t->data + 4 * i, 4); v = v32; }
            (*out)[i] = (float)v;
        }
        return SDL_OK;
    }
    SdlStatus s = st_tensor_to_f32(st, t, *out);
    if (s != SDL_OK) mem_free(*out), *out = NULL;
    return s;
}

// A decimal option given as text, parsed exactly (double) so 0.1 means the Python float 0.1.
static SdlStatus parse_num(const char *opt, const char *text, double lo, double *out) {
    if (!text) return SDL_OK;
    char *end;
    double v = strtod(text, &end);
    if (end == text || *end || !(v >= lo))
        return sdl_fail(SDL_ERR_ARG, NULL, "give a number", "probe train-step: --%s '%s' is not a number >= %g", opt, text, lo);
    *out = v;
    return SDL_OK;
}

typedef struct {
    const char *model, *in, *out, *network_weights;
    int network_dim, conv_dim, clip_skip, max_token_length, seed;
    const char *network_alpha, *conv_alpha;
    bool unet_only, te_only, v_param, ztsnr, scale_v, debiased;
    const char *loss_type, *huber_schedule, *huber_c, *huber_scale, *min_snr_gamma, *v_pred_like_loss;
} Args;

// The network's LoRA weights: --network_weights, else the lora_* tensors of the input file (all
// of them must belong to the network), else kohya's initialisation from --seed.
static SdlStatus load_lora(LoraNetwork *net, const Args *a, const SafeTensors *inp) {
    if (a->network_weights) return lora_load(net, a->network_weights, NULL);
    int64_t in_file = 0;
    for (int64_t i = 0; i < inp->n_tensors; i++) in_file += strncmp(inp->tensors[i].name, "lora_", 5) == 0;
    if (in_file == 0) {
        Rng rng;
        rng_seed(&rng, (uint64_t)a->seed);
        lora_network_init_weights(net, &rng);
        return SDL_OK;
    }
    // the step's own inputs (latents, noise, …) share the file: silence the "not used" warnings
    LogLevel level = log_get_level();
    log_set_level(LOG_ERROR);
    LoraLoadReport rep;
    SdlStatus s = lora_load_st(net, inp, &rep);
    log_set_level(level);
    if (s == SDL_OK && rep.tensors_used != in_file)
        s = sdl_fail(SDL_ERR_SHAPE, inp->path, "match --network_dim, --conv_dim and --network_train_*_only to the weights in the file",
                     "%lld of its %lld LoRA tensors belong to no module of this network", (long long)(in_file - rep.tensors_used),
                     (long long)in_file);
    return s;
}

static SdlStatus objective_from_args(const Args *a, ObjectiveConfig *c) {
    *c = objective_config_default();
    c->v_parameterization = a->v_param;
    c->zero_terminal_snr = a->ztsnr;
    c->scale_v_pred_loss_like_noise_pred = a->scale_v;
    c->debiased_estimation_loss = a->debiased;
    if (a->loss_type) SDL_TRY(loss_type_parse(a->loss_type, &c->loss_type));
    if (a->huber_schedule) SDL_TRY(huber_schedule_parse(a->huber_schedule, &c->huber_schedule));
    SDL_TRY(parse_num("huber_c", a->huber_c, 0, &c->huber_c));
    SDL_TRY(parse_num("huber_scale", a->huber_scale, 0, &c->huber_scale));
    SDL_TRY(parse_num("min_snr_gamma", a->min_snr_gamma, 0, &c->min_snr_gamma));
    SDL_TRY(parse_num("v_pred_like_loss", a->v_pred_like_loss, 0, &c->v_pred_like_loss));
    if (c->scale_v_pred_loss_like_noise_pred && !c->v_parameterization)
        return sdl_fail(SDL_ERR_ARG, NULL, "add --v_parameterization", "--scale_v_pred_loss_like_noise_pred needs v-parameterization (kohya)");
    if (c->v_pred_like_loss != 0 && c->v_parameterization)
        return sdl_fail(SDL_ERR_ARG, NULL, "drop one of them", "--v_pred_like_loss is for epsilon models, not with --v_parameterization (kohya)");
    return SDL_OK;
}

// Writes loss, pred and the gradients.
static SdlStatus write_out(const char *path, const LoraNetwork *net, const TrainStep *st, double loss) {
    StWriter *w = st_writer_new();
    float lossf = (float)loss;
    int64_t one = 1, ps[4] = {st->B, st->C, st->H, st->W};
    st_writer_add_f32(w, "loss", 1, &one, &lossf);
    st_writer_add_f32(w, "pred", 4, ps, st->pred);
    char (*names)[256] = malloc((size_t)(2 * net->n + 1) * sizeof *names);
    SDL_ASSERT(names);
    for (int64_t i = 0; i < net->n; i++) {
        const LoraModule *m = &net->mods[i];
        int nd = m->is_conv ? 4 : 2;
        int64_t ds[4] = {m->rank, m->in, m->k, m->k}, us[4] = {m->out, m->rank, 1, 1};
        snprintf(names[2 * i], sizeof names[0], "%s.lora_down.weight.grad", m->name);
        snprintf(names[2 * i + 1], sizeof names[0], "%s.lora_up.weight.grad", m->name);
        st_writer_add_f32(w, names[2 * i], nd, ds, m->ddown);
        st_writer_add_f32(w, names[2 * i + 1], nd, us, m->dup);
    }
    char text[64];
    snprintf(text, sizeof text, "%.9g", loss);
    st_writer_set_metadata(w, "loss", text);
    st_writer_set_metadata(w, "probe", "train-step");
    SdlStatus s = st_writer_save(w, path);
    st_writer_free(w);
    free(names);
    return s;
}

int probe_train_step(int argc, char **argv) {
    Args a = {.network_dim = 4, .clip_skip = 1, .max_token_length = 0, .seed = 0};
    const OptSpec specs[] = {
        {.name = "model", .type = OPT_STRING, .dst = &a.model, .required = true,
         .help = "base model: single-file .safetensors/.ckpt or diffusers folder"},
        {.name = "in", .type = OPT_STRING, .dst = &a.in, .required = true,
         .help = "input .safetensors: latents (B,4,h,w) scaled, noise (B,4,h,w), timesteps (B), input_ids (B,n,77); "
                 "optional loss_weights (B), token_weights (B,n,77), LoRA weights under kohya names"},
        {.name = "out", .type = OPT_STRING, .dst = &a.out, .required = true,
         .help = "output .safetensors: loss (1), pred (B,4,h,w), <lora name>.lora_{down,up}.weight.grad"},
        {.name = "network_weights", .type = OPT_STRING, .dst = &a.network_weights,
         .help = "kohya LoRA file with the initial weights (instead of weights in --in / --seed)"},
        {.name = "network_dim", .type = OPT_INT, .dst = &a.network_dim, .min = 1, .max = 4096, .help = "LoRA rank (4)"},
        {.name = "network_alpha", .type = OPT_STRING, .dst = &a.network_alpha, .help = "LoRA alpha (1; 0 = rank)"},
        {.name = "conv_dim", .type = OPT_INT, .dst = &a.conv_dim, .min = 0, .max = 4096, .help = "LoCon rank of 3x3 convs (0: off)"},
        {.name = "conv_alpha", .type = OPT_STRING, .dst = &a.conv_alpha, .help = "LoCon alpha (1)"},
        {.name = "network_train_unet_only", .type = OPT_FLAG, .dst = &a.unet_only, .help = "no text-encoder LoRA"},
        {.name = "network_train_text_encoder_only", .type = OPT_FLAG, .dst = &a.te_only, .help = "no UNet LoRA"},
        {.name = "seed", .type = OPT_INT, .dst = &a.seed, .min = 0, .max = 2147483647,
         .help = "torch.manual_seed for kohya's LoRA init when no weights are given (0)"},
        {.name = "clip_skip", .type = OPT_INT, .dst = &a.clip_skip, .min = 1, .max = 64, .help = "1 = last layer, 2 = penultimate"},
        {.name = "max_token_length", .type = OPT_INT, .dst = &a.max_token_length, .choices = "75|150|225",
         .help = "must match input_ids' windows (default: taken from input_ids)"},
        {.name = "v_parameterization", .type = OPT_FLAG, .dst = &a.v_param, .help = "v-prediction target"},
        {.name = "zero_terminal_snr", .type = OPT_FLAG, .dst = &a.ztsnr, .help = "rescale the schedule to zero terminal SNR"},
        {.name = "loss_type", .type = OPT_STRING, .dst = &a.loss_type, .choices = "l2|l1|huber|smooth_l1", .help = "l2"},
        {.name = "huber_schedule", .type = OPT_STRING, .dst = &a.huber_schedule, .choices = "snr|exponential|constant", .help = "snr"},
        {.name = "huber_c", .type = OPT_STRING, .dst = &a.huber_c, .help = "0.1"},
        {.name = "huber_scale", .type = OPT_STRING, .dst = &a.huber_scale, .help = "1.0"},
        {.name = "min_snr_gamma", .type = OPT_STRING, .dst = &a.min_snr_gamma, .help = "min-SNR weighting gamma (off)"},
        {.name = "scale_v_pred_loss_like_noise_pred", .type = OPT_FLAG, .dst = &a.scale_v, .help = "needs --v_parameterization"},
        {.name = "v_pred_like_loss", .type = OPT_STRING, .dst = &a.v_pred_like_loss, .help = "lambda (off)"},
        {.name = "debiased_estimation_loss", .type = OPT_FLAG, .dst = &a.debiased, .help = "1/sqrt(SNR) weighting"},
    };
    OptsResult r = opts_parse("probe train-step", "sdlora probe train-step --model M --in F --out F [network and loss options]",
                              specs, (int)(sizeof specs / sizeof specs[0]), argc, argv);
    if (r != OPTS_OK) return r == OPTS_HELP ? 0 : 1;
    if (a.unet_only && a.te_only) {
        fprintf(stderr, "error: probe train-step: --network_train_unet_only and --network_train_text_encoder_only exclude each other\n"
                        "  hint: give at most one\n");
        return 1;
    }

    ModelFiles mf;
    Unet u;
    ClipText te;
    SafeTensors inp;
    LoraNetwork net;
    TrainStep step;
    memset(&mf, 0, sizeof mf), memset(&u, 0, sizeof u), memset(&te, 0, sizeof te), memset(&inp, 0, sizeof inp);
    memset(&net, 0, sizeof net), memset(&step, 0, sizeof step);
    float *lat = NULL, *noise = NULL, *tf = NULL, *idf = NULL, *lw = NULL, *tw = NULL;
    int32_t *ids = NULL;
    int64_t *t = NULL;
    int64_t ls[4] = {0}, ns[4] = {0}, ts[1] = {0}, is[3] = {0, 1, 77}, lws[1] = {0}, tws[3] = {0};
    bool te_ready = false, unet_ready = false, net_ready = false, step_ready = false;

    ObjectiveConfig oc;
    LoraNetworkConfig nc = lora_network_config_default();
    SdlStatus s = objective_from_args(&a, &oc);
    double alpha = 1, conv_alpha = 1;
    if (s == SDL_OK) s = parse_num("network_alpha", a.network_alpha, 0, &alpha);
    if (s == SDL_OK) s = parse_num("conv_alpha", a.conv_alpha, 0, &conv_alpha);
    // the models (configuration from models/model_meta.h)
    if (s == SDL_OK) s = model_files_open(&mf, a.model);
    UnetConfig ucfg;
    ClipTextConfig tcfg;
    if (s == SDL_OK) s = model_meta_unet_config(&mf, &ucfg);
    if (s == SDL_OK) s = model_meta_text_encoder_config(&mf, &tcfg);
    if (s == SDL_OK && (s = unet_init(&u, &ucfg)) == SDL_OK) unet_ready = true;
    if (s == SDL_OK) s = model_files_load(&mf, MODEL_UNET, &u.params, NULL);
    if (s == SDL_OK) clip_text_init(&te, &tcfg), te_ready = true;
    if (s == SDL_OK) s = model_files_load(&mf, MODEL_TEXT_ENCODER, &te.params, NULL);
    // the inputs
    if (s == SDL_OK) s = st_open(&inp, a.in);
    if (s == SDL_OK) s = read_tensor(&inp, "latents", 4, ls, &lat, false);
    if (s == SDL_OK) s = read_tensor(&inp, "noise", 4, ns, &noise, false);
    if (s == SDL_OK) s = read_tensor(&inp, "timesteps", 1, ts, &tf, false);
    if (s == SDL_OK) {
        const StTensor *it = st_find(&inp, "input_ids");
        s = read_tensor(&inp, "input_ids", it && it->ndim == 2 ? 2 : 3, it && it->ndim == 2 ? is + 1 : is, &idf, false);
        if (s == SDL_OK && it->ndim == 2) is[0] = is[1], is[1] = 1; // (B, 77): one window
    }
    if (s == SDL_OK) s = read_tensor(&inp, "loss_weights", 1, lws, &lw, true);
    if (s == SDL_OK) s = read_tensor(&inp, "token_weights", 3, tws, &tw, true);
    int64_t B = ls[0];
    if (s == SDL_OK) {
        bool same = ns[0] == B && ns[1] == ls[1] && ns[2] == ls[2] && ns[3] == ls[3];
        if (!same || ts[0] != B || is[0] != B || is[2] != 77 || (lw && lws[0] != B) ||
            (tw && (tws[0] != B || tws[1] != is[1] || tws[2] != 77)))
            s = sdl_fail(SDL_ERR_SHAPE, a.in, "noise as latents; timesteps (B); input_ids and token_weights (B, n, 77); loss_weights (B)",
                         "the input tensors' shapes do not fit together (latents batch %lld)", (long long)B);
        else if (is[1] < 1 || is[1] > 3 || (a.max_token_length && a.max_token_length != 75 * is[1]))
            s = sdl_fail(SDL_ERR_SHAPE, a.in, "--max_token_length 150 needs 2 windows of 77 ids, 225 needs 3",
                         "input_ids has %lld windows%s", (long long)is[1], a.max_token_length ? " for this --max_token_length" : "");
    }
    if (s == SDL_OK) {
        ids = mem_alloc(MEM_OTHER, (size_t)(B * is[1] * 77) * sizeof(int32_t));
        for (int64_t i = 0; i < B * is[1] * 77; i++) ids[i] = (int32_t)idf[i];
        t = mem_alloc(MEM_OTHER, (size_t)B * sizeof(int64_t));
        for (int64_t b = 0; b < B; b++) t[b] = (int64_t)tf[b];
    }
    // the network
    if (s == SDL_OK) {
        nc.network_dim = a.network_dim, nc.network_alpha = (float)alpha;
        nc.conv_dim = a.conv_dim, nc.conv_alpha = (float)conv_alpha;
        nc.train_unet = !a.te_only, nc.train_te = !a.unet_only;
        s = lora_network_create(&net, &nc, &u, &te, NULL);
        net_ready = s == SDL_OK;
    }
    if (s == SDL_OK) s = load_lora(&net, &a, &inp);
    if (s == SDL_OK) {
        lora_network_enable_grads(&net);
        lora_network_attach(&net);
        s = train_step_init(&step, &u, &te, &net, &oc, a.clip_skip, is[1]);
        step_ready = s == SDL_OK;
    }
    TrainStepResult res;
    if (s == SDL_OK) {
        TrainBatchInput bi = {.latents = lat, .input_ids = ids, .token_weights = tw, .loss_weights = lw,
                              .B = B, .H = ls[2], .W = ls[3]};
        s = train_step_run_fixed(&step, &bi, noise, t, &res);
        if (s != SDL_OK && sdl_last_error()->file[0] == 0) { // name the input the problem came from
            char why[sizeof sdl_last_error()->reason], hint[sizeof sdl_last_error()->hint];
            snprintf(why, sizeof why, "%s", sdl_last_error()->reason);
            snprintf(hint, sizeof hint, "%s", sdl_last_error()->hint);
            sdl_fail(s, a.in, hint[0] ? hint : NULL, "%s", why);
        }
    }
    if (s == SDL_OK) {
        if (!res.finite) log_warn("probe train-step: the loss or a gradient is not finite (loss %g)", res.loss);
        s = write_out(a.out, &net, &step, res.loss);
        if (s == SDL_OK)
            printf("loss %.9g, %lld LoRA modules (%lld text encoder, %lld UNet) -> %s\n", res.loss, (long long)net.n,
                   (long long)net.n_te, (long long)net.n_unet, a.out);
    }
    if (step_ready) train_step_free(&step);
    if (net_ready) lora_network_free(&net);
    mem_free(lat), mem_free(noise), mem_free(tf), mem_free(idf), mem_free(lw), mem_free(tw), mem_free(ids), mem_free(t);
    st_close(&inp);
    if (unet_ready) unet_free(&u);
    if (te_ready) clip_text_free(&te);
    model_files_close(&mf);
    if (s != SDL_OK) sdl_die_last();
    return 0;
}
