// tool_generate_oracle.c — test helper for tests/check_generate.sh (sdlora generate).
//
//   tool_generate_oracle oracle MODEL       every case of tests/golden/generate/generate_golden.
//                                           safetensors (tools/oracle/make_generate_goldens.py:
//                                           diffusers' StableDiffusionPipeline on the tiny
//                                           init-model model) run through gen_txt2img; prints an
//                                           ok/FAIL line per case with its PSNR (≥ 40 dB passes);
//                                           then the "lora" case again with the LoRA attached as
//                                           training adapters (the trainer's sample images)
//   tool_generate_oracle png-text FILE      prints the PNG's "parameters" text chunk
//   tool_generate_oracle png-psnr FILE CASE MIN_DB   the PNG against image 0 of a golden case
//   tool_generate_oracle png-same A B       exit 0 when the two PNGs have identical pixels
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "base/log.h"
#include "io/image.h"
#include "lora/lora_apply.h"
#include "lora/lora_file.h"
#include "lora/network.h"
#include "models/sd_model.h"
#include "sample/pipeline.h"


// PSNR of ours (the VAE output in [-1, 1]) against the reference in [0, 1], as pixels compare.
static double psnr_vs01(const float *ours, const float *ref01, int64_t n) {
    double se = 0;
    for (int64_t i = 0; i < n; i++) {
        double x = fmin(fmax((ours[i] + 1) / 2, 0), 1) - ref01[i];
        se += x * x;
    }
    return se == 0 ? INFINITY : 10 * log10((double)n / se);
}

static const char *jstr(const cJSON *o, const char *k, const char *def) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : def;
}
static double jnum(const cJSON *o, const char *k, double def) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : def;
}

static int oracle(const char *model) {
    char p[600], lora[600];
    SafeTensors g;
    if (st_open(&g, golden_path(p, sizeof p, "generate/generate_golden.safetensors")) != SDL_OK) {
        sdl_error_print(stderr);
        return 2;
    }
    golden_path(lora, sizeof lora, "generate/tiny_gen_lora.safetensors");
    SdModel sd;
    if (sd_model_load(&sd, model, NULL, SD_LOAD_ALL) != SDL_OK) { sdl_error_print(stderr); return 2; }
    GenModels gm = {&sd.unet, &sd.te, sd.tokenizer, &sd.vae};
    int fails = 0;

    // the initial noise: torch.randn((1, 4, 16, 24), generator=manual_seed(1)) bit for bit
    int64_t nx;
    float *x_ref = golden_tensor(&g, "euler_a.x_init", &nx), *x = malloc((size_t)nx * sizeof(float));
    Rng r;
    rng_seed(&r, 1);
    rng_randn_fill(&r, x, (size_t)nx);
    if (x_ref && memcmp(x, x_ref, (size_t)nx * sizeof(float)) == 0) printf("ok generate: initial noise = diffusers' (bit-exact)\n");
    else printf("FAIL generate: initial noise differs from diffusers'\n"), fails++;
    free(x), free(x_ref);

    char hash[65];
    const char *want = st_metadata_get(&g, "addnet_hash.tiny_gen_lora");
    if (lora_file_addnet_hash(lora, hash) == SDL_OK && want && strcmp(hash, want) == 0) printf("ok generate: LoRA addnet hash = hashlib's\n");
    else printf("FAIL generate: LoRA addnet hash %s vs %s\n", hash, want ? want : "?"), fails++;

    char *cases = strdup(st_metadata_get(&g, "cases") ? st_metadata_get(&g, "cases") : ""), *save = NULL;
    double worst = INFINITY;
    for (char *name = strtok_r(cases, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
        char key[128];
        snprintf(key, sizeof key, "case.%s", name);
        cJSON *c = cJSON_Parse(st_metadata_get(&g, key) ? st_metadata_get(&g, key) : "");
        snprintf(key, sizeof key, "%s.image", name);
        const StTensor *t = st_find(&g, key);
        if (!c || !t || t->ndim != 4) { printf("FAIL generate %s: golden case unreadable\n", name); fails++; cJSON_Delete(c); continue; }
        GenParams gp = gen_params_default();
        gp.prompt = jstr(c, "prompt", ""), gp.negative_prompt = jstr(c, "negative", "");
        gp.batch_size = t->shape[0], gp.height = t->shape[2], gp.width = t->shape[3];
        gp.steps = (int64_t)jnum(c, "steps", 0), gp.cfg_scale = jnum(c, "cfg", 0), gp.seed = (uint64_t)jnum(c, "seed", 0);
        gp.clip_skip = (int)jnum(c, "clip_skip", 1);
        char sname[64];
        snprintf(sname, sizeof sname, "%s%s", jstr(c, "sampler", "?"), jnum(c, "karras", 0) ? "_karras" : "");
        SdlStatus s = gen_sampler_config(sname, (int)jnum(c, "v", 0), &gp.sampler);
        LoraMerge m = {0};
        if (s == SDL_OK && cJSON_GetObjectItemCaseSensitive(c, "lora_te"))
            s = lora_apply_file(&m, &sd.unet, &sd.te, lora, (float)jnum(c, "lora_te", 1), (float)jnum(c, "lora_unet", 1), NULL);
        // the case may give the text encoder's final LayerNorm a bias (see the oracle script)
        const ParamEntry *lnb = param_find(&sd.te.params, "text_model.final_layer_norm.bias");
        float *bias = NULL, saved[4096];
        snprintf(key, sizeof key, "%s.te_final_ln_bias", name);
        if (st_find(&g, key) && lnb && lnb->numel <= 4096) {
            bias = golden_tensor(&g, key, NULL);
            memcpy(saved, sd.te.params.storage + lnb->offset, (size_t)lnb->numel * sizeof(float));
            memcpy(sd.te.params.storage + lnb->offset, bias, (size_t)lnb->numel * sizeof(float));
        }
        snprintf(key, sizeof key, "%s.image", name);
        float *img = malloc((size_t)t->numel * sizeof(float)), *ref = golden_tensor(&g, key, NULL);
        if (s == SDL_OK) s = gen_txt2img(&gm, &gp, img, NULL, NULL, NULL);
        if (bias) memcpy(sd.te.params.storage + lnb->offset, saved, (size_t)lnb->numel * sizeof(float)), free(bias);
        lora_merge_restore(&m);
        lora_merge_free(&m);
        if (s != SDL_OK) {
            printf("FAIL generate %s: ", name);
            fflush(stdout);
            sdl_error_print(stdout);
            fails++;
        } else {
            double db = psnr_vs01(img, ref, t->numel);
            worst = fmin(worst, db);
            // the golden is stored in fp16: ~2^-12 rounding caps a perfect match near 80 dB
            if (db >= 40) printf("ok generate %s (%s, %lld steps, batch %lld): PSNR %.1f dB vs diffusers\n", name, sname,
                                 (long long)gp.steps, (long long)gp.batch_size, db);
            else printf("FAIL generate %s: PSNR %.1f dB vs diffusers (want >= 40)\n", name, db), fails++;
        }
        free(img), free(ref);
        cJSON_Delete(c);
    }
    printf("worst PSNR %.1f dB\n", worst);

    // The trainer's way: the LoRA attached as adapters (multiplier 0.7) to models that hold
    // training plans; the image must match the golden "lora" case and the plans must survive.
    {
        SafeTensors lf;
        LoraNetwork net;
        memset(&net, 0, sizeof net);
        memset(&lf, 0, sizeof lf);
        LoraNetworkConfig nc = lora_network_config_default();
        nc.multiplier = 0.7f;
        SdlStatus s = st_open(&lf, lora);
        if (s == SDL_OK) s = lora_network_create(&net, &nc, &sd.unet, &sd.te, &lf);
        if (s == SDL_OK) s = lora_load_st(&net, &lf, NULL);
        if (s == SDL_OK) {
            lora_network_attach(&net);
            unet_unplan(&sd.unet);
            s = unet_plan(&sd.unet, 2, 16, 24, 77);
            clip_text_plan(&sd.te, 2, 77, true);
            lora_network_plan_te(&net, 2, 77);
        }
        GenParams gp = gen_params_default();
        gp.prompt = "a photo of a cat", gp.negative_prompt = "blurry", gp.width = 48, gp.height = 32, gp.steps = 6, gp.seed = 12;
        if (s == SDL_OK) s = gen_sampler_config("euler", 0, &gp.sampler);
        float *img = malloc((size_t)(3 * 32 * 48) * sizeof(float)), *ref = golden_tensor(&g, "lora.image", NULL);
        if (s == SDL_OK) s = gen_txt2img(&gm, &gp, img, NULL, NULL, NULL);
        if (s != SDL_OK) {
            printf("FAIL generate (trainer path): ");
            fflush(stdout);
            sdl_error_print(stdout);
            fails++;
        } else {
            double db = psnr_vs01(img, ref, 3 * 32 * 48);
            int kept = sd.unet.planned && sd.unet.B == 2 && sd.unet.H == 16 && sd.unet.W == 24 && sd.unet.T == 77 &&
                       sd.te.B == 2 && sd.te.T == 77 && sd.te.train;
            if (db >= 40 && kept) printf("ok generate (trainer path: LoRA attached at 0.7, training plans kept): PSNR %.1f dB\n", db);
            else printf("FAIL generate (trainer path): PSNR %.1f dB, plans kept %d\n", db, kept), fails++;
        }
        free(img), free(ref);
        if (net.mods) lora_network_free(&net);
        st_close(&lf);
    }
    free(cases);
    sd_model_free(&sd);
    st_close(&g);
    return fails ? 1 : 0;
}

// The "parameters" tEXt chunk (Latin-1; our writer uses tEXt for ASCII text) of a PNG.
static char *png_parameters(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    unsigned char sig[8], hdr[8];
    char *res = NULL;
    if (fread(sig, 1, 8, f) != 8) { fclose(f); return NULL; }
    while (!res && fread(hdr, 1, 8, f) == 8) {
        uint32_t len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
        if (len > (1u << 26)) break;
        char *data = malloc(len + 1);
        if (fread(data, 1, len, f) != len) { free(data); break; }
        data[len] = 0;
        fseek(f, 4, SEEK_CUR); // CRC
        if (memcmp(hdr + 4, "tEXt", 4) == 0 && strcmp(data, "parameters") == 0) {
            size_t k = strlen(data) + 1;
            res = strndup(data + k, len - k);
        }
        free(data);
    }
    fclose(f);
    return res;
}

int main(int argc, char **argv) {
    log_set_level(LOG_WARN);
    if (argc == 3 && strcmp(argv[1], "oracle") == 0) return oracle(argv[2]);
    if (argc == 3 && strcmp(argv[1], "png-text") == 0) {
        char *t = png_parameters(argv[2]);
        if (!t) { fprintf(stderr, "%s: no parameters chunk\n", argv[2]); return 1; }
        fputs(t, stdout);
        free(t);
        return 0;
    }
    if (argc == 5 && strcmp(argv[1], "png-psnr") == 0) {
        Image im;
        SafeTensors g;
        char p[600], key[128];
        if (image_load(&im, argv[2]) != SDL_OK || st_open(&g, golden_path(p, sizeof p, "generate/generate_golden.safetensors")) != SDL_OK) {
            sdl_error_print(stderr);
            return 2;
        }
        snprintf(key, sizeof key, "%s.image", argv[3]);
        const StTensor *t = st_find(&g, key);
        if (!t || t->shape[2] != im.height || t->shape[3] != im.width) { fprintf(stderr, "size or case mismatch\n"); return 1; }
        float *ref = golden_tensor(&g, key, NULL);
        const int64_t HW = im.width * im.height;
        double se = 0;
        for (int64_t c = 0; c < 3; c++)
            for (int64_t i = 0; i < HW; i++) {
                double d = im.rgb[i * 3 + c] / 255.0 - ref[c * HW + i];
                se += d * d;
            }
        double db = se == 0 ? INFINITY : 10 * log10((double)(3 * HW) / se);
        printf("PSNR %.1f dB\n", db);
        free(ref), image_free(&im), st_close(&g);
        return db >= atof(argv[4]) ? 0 : 1;
    }
    if (argc == 4 && strcmp(argv[1], "png-same") == 0) {
        Image a, b;
        if (image_load(&a, argv[2]) != SDL_OK || image_load(&b, argv[3]) != SDL_OK) { sdl_error_print(stderr); return 2; }
        int same = a.width == b.width && a.height == b.height && memcmp(a.rgb, b.rgb, (size_t)(a.width * a.height * 3)) == 0;
        image_free(&a), image_free(&b);
        return same ? 0 : 1;
    }
    fprintf(stderr, "usage: %s oracle MODEL | png-text FILE | png-psnr FILE CASE MIN_DB | png-same A B\n", argv[0]);
    return 2;
}
