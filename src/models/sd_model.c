// sd_model.c — see sd_model.h.
#include "models/sd_model.h"
#include "base/clock.h"
#include "base/log.h"
#include "models/model_meta.h"
#include <string.h>

static SdlStatus load_components(SdModel *m, const char *vae_path, unsigned which) {
    ModelFiles *mf = &m->files;
    if (which & SD_LOAD_UNET) {
        UnetConfig cfg;
        SDL_TRY(model_meta_unet_config(mf, &cfg));
        SDL_TRY(unet_init_dtype(&m->unet, &cfg, m->weights));
        m->loaded |= SD_LOAD_UNET;
        SDL_TRY(model_files_load(mf, MODEL_UNET, &m->unet.params, NULL));
    }
    if (which & SD_LOAD_TEXT_ENCODER) {
        ClipTextConfig cfg;
        SDL_TRY(model_meta_text_encoder_config(mf, &cfg));
        clip_text_init_dtype(&m->te, &cfg, m->weights);
        m->loaded |= SD_LOAD_TEXT_ENCODER;
        SDL_TRY(model_files_load(mf, MODEL_TEXT_ENCODER, &m->te.params, NULL));
        SDL_TRY(clip_tokenizer_load(&m->tokenizer));
    }
    if (which & SD_LOAD_VAE) {
        ModelFiles *vf = mf;
        if (vae_path) {
            SDL_TRY(model_files_open(&m->vae_files, vae_path));
            vf = &m->vae_files;
        }
        VaeConfig cfg;
        SDL_TRY(model_meta_vae_config(vf, &cfg));
        SDL_TRY(vae_init(&m->vae, &cfg));
        m->loaded |= SD_LOAD_VAE;
        SDL_TRY(model_files_load(vf, MODEL_VAE, &m->vae.params, NULL));
    }
    return SDL_OK;
}

SdlStatus sd_model_load(SdModel *m, const char *path, const char *vae_path, unsigned which) {
    return sd_model_load_dtype(m, path, vae_path, which, PARAM_F32);
}

SdlStatus sd_model_load_dtype(SdModel *m, const char *path, const char *vae_path, unsigned which, ParamDtype weights) {
    memset(m, 0, sizeof *m);
    m->weights = weights;
    double t0 = time_now();
    SdlStatus st = model_files_open(&m->files, path);
    if (st == SDL_OK) st = load_components(m, vae_path, which);
    if (st != SDL_OK) {
        sd_model_free(m);
        return st;
    }
    m->v_prediction = m->files.prediction == MODEL_PRED_V;
    log_info("loaded %s (%s%s%s%s) in %.1f s%s%s", path, which & SD_LOAD_UNET ? "UNet " : "",
             which & SD_LOAD_TEXT_ENCODER ? "text encoder " : "", which & SD_LOAD_VAE ? "VAE" : "",
             vae_path ? " from --vae" : "", time_now() - t0, weights != PARAM_F32 ? "; weights kept in " : "",
             weights != PARAM_F32 ? param_dtype_name(weights) : "");
    return SDL_OK;
}

void sd_model_free(SdModel *m) {
    if (m->loaded & SD_LOAD_UNET) unet_free(&m->unet);
    if (m->loaded & SD_LOAD_TEXT_ENCODER) clip_text_free(&m->te);
    if (m->loaded & SD_LOAD_VAE) vae_free(&m->vae);
    if (m->tokenizer) clip_tokenizer_free(m->tokenizer);
    model_files_close(&m->files);
    model_files_close(&m->vae_files);
    memset(m, 0, sizeof *m);
}
