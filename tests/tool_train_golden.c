// tool_train_golden.c — expands a compact train-step golden (tools/oracle/
// make_train_step_goldens.py) into the files `sdlora probe train-step` reads and writes, so
// tests/check_probe_train.sh can compare the probe with tool_st_compare tensor by tensor.
//
// The golden holds the LoRA flat (lora.init F16, lora.grad F32, lora.alpha per module) with
// metadata lora_modules = "name|down shape|up shape;…" — per-module tensors would make the
// file mostly JSON header. This writes:
//   DIR/in.safetensors    the step inputs as stored + <name>.lora_down.weight / .lora_up.weight
//                         (F16, as in the golden) and <name>.alpha (F32 scalar)
//   DIR/out.safetensors   loss, pred, <name>.lora_down.weight.grad / .lora_up.weight.grad (F32)
//   DIR/loss.safetensors  loss alone (the tighter comparison)
//   DIR/inputs.safetensors the step inputs without LoRA weights (the probe then initialises)
// and prints the probe options of the case (metadata "args") on stdout.
// usage: tool_train_golden GOLDEN DIR        exit 0 written, 1 malformed golden, 2 unreadable
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "io/safetensors.h"

static const char *const INPUTS[] = {"latents", "noise", "timesteps", "input_ids", "loss_weights", "token_weights"};

// "4,8,1,1" → shape; returns ndim (0 on a malformed list) and the element count in *numel.
static int parse_shape(const char *text, int64_t shape[ST_MAX_DIMS], int64_t *numel) {
    int nd = 0;
    *numel = 1;
    for (const char *p = text; *p && nd < ST_MAX_DIMS;) {
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p || v <= 0) return 0;
        shape[nd++] = v, *numel *= v;
        p = *end == ',' ? end + 1 : end;
        if (*end != ',' && *end) return 0;
    }
    return nd;
}

static void copy_tensor(StWriter *w, const StTensor *t) { st_writer_add(w, t->name, t->dtype, t->ndim, t->shape, t->data); }

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s GOLDEN DIR\n", argv[0]);
        return 2;
    }
    SafeTensors g;
    if (st_open(&g, argv[1]) != SDL_OK) {
        sdl_error_print(stderr);
        return 2;
    }
    const StTensor *init = st_find(&g, "lora.init"), *grad = st_find(&g, "lora.grad"), *alpha = st_find(&g, "lora.alpha");
    const StTensor *loss = st_find(&g, "loss"), *pred = st_find(&g, "pred");
    const char *modules = st_metadata_get(&g, "lora_modules"), *args = st_metadata_get(&g, "args");
    if (!init || !grad || !alpha || !loss || !pred || !modules || !args || init->dtype != ST_F16 || grad->dtype != ST_F32 ||
        alpha->dtype != ST_F32 || init->numel != grad->numel) {
        fprintf(stderr, "%s: not a train-step golden (lora.init F16, lora.grad F32, lora.alpha, loss, pred, metadata)\n", argv[1]);
        return 1;
    }
    StWriter *in = st_writer_new(), *out = st_writer_new(), *lo = st_writer_new(), *bare = st_writer_new();
    for (size_t i = 0; i < sizeof INPUTS / sizeof INPUTS[0]; i++) {
        const StTensor *t = st_find(&g, INPUTS[i]);
        if (t) copy_tensor(in, t), copy_tensor(bare, t);
    }
    copy_tensor(out, loss), copy_tensor(out, pred), copy_tensor(lo, loss);

    // walk the module list: each module's down then up, in the flat tensors' order
    char *list = strdup(modules), *save = NULL;
    char (*names)[5][256] = calloc((size_t)alpha->numel + 1, sizeof *names);
    int64_t off = 0, m = 0;
    int bad = 0;
    float *alphas = malloc((size_t)alpha->numel * sizeof(float)); // the data may be unaligned
    memcpy(alphas, alpha->data, (size_t)alpha->numel * sizeof(float));
    for (char *entry = strtok_r(list, ";", &save); entry && !bad; entry = strtok_r(NULL, ";", &save), m++) {
        char *bar1 = strchr(entry, '|'), *bar2 = bar1 ? strchr(bar1 + 1, '|') : NULL;
        if (!bar2 || m >= alpha->numel) { bad = 1; break; }
        *bar1 = *bar2 = 0;
        int64_t shape[2][ST_MAX_DIMS], numel[2];
        int nd[2] = {parse_shape(bar1 + 1, shape[0], &numel[0]), parse_shape(bar2 + 1, shape[1], &numel[1])};
        if (!nd[0] || !nd[1]) { bad = 1; break; }
        const char *suffix[2] = {"lora_down.weight", "lora_up.weight"};
        for (int k = 0; k < 2; k++) {
            if (off + numel[k] > init->numel) { bad = 1; break; }
            snprintf(names[m][k], 256, "%s.%s", entry, suffix[k]);
            snprintf(names[m][2 + k], 256, "%s.%s.grad", entry, suffix[k]);
            st_writer_add(in, names[m][k], ST_F16, nd[k], shape[k], (const char *)init->data + 2 * off);
            st_writer_add(out, names[m][2 + k], ST_F32, nd[k], shape[k], (const char *)grad->data + 4 * off);
            off += numel[k];
        }
        snprintf(names[m][4], 256, "%s.alpha", entry);
        st_writer_add(in, names[m][4], ST_F32, 0, NULL, &alphas[m]);
    }
    if (bad || m != alpha->numel || off != init->numel) {
        fprintf(stderr, "%s: lora_modules does not match the flat tensors (module %lld, offset %lld of %lld)\n", argv[1],
                (long long)m, (long long)off, (long long)init->numel);
        return 1;
    }
    char path[4096];
    const char *files[4] = {"in", "out", "loss", "inputs"};
    StWriter *ws[4] = {in, out, lo, bare};
    for (int k = 0; k < 4; k++) {
        snprintf(path, sizeof path, "%s/%s.safetensors", argv[2], files[k]);
        if (st_writer_save(ws[k], path) != SDL_OK) {
            sdl_error_print(stderr);
            return 2;
        }
        st_writer_free(ws[k]);
    }
    printf("%s\n", args);
    free(list), free(names), free(alphas);
    st_close(&g);
    return 0;
}
