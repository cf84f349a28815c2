// clip_text.h — the CLIP text encoder (transformers CLIPTextModel) forward and backward, with
// CLIP skip as kohya and A1111 define it, and long prompts encoded in 77-token windows.
//
//   x = token_embedding[ids] + position_embedding[0..T)                   (B, T, D)
//   each layer:  x = x + out_proj(causal_MHA(q/k/v_proj(layer_norm1(x))))
//                x = x + fc2(act(fc1(layer_norm2(x))))        act: quick_gelu | gelu
//   hidden = final_layer_norm(x after the last layer run)
// clip_skip N (A1111 "Clip skip", kohya --clip_skip): N <= 1 runs all L layers (transformers'
// last_hidden_state); N >= 2 runs the first L + 1 - N layers — transformers'
// hidden_states[-N] — and still applies final_layer_norm, as A1111 (sd_hijack_clip.py) and
// kohya (get_hidden_states) do for SD1 and SD2; the layers after that point are not run.
// N = L + 1 gives the embeddings alone. (diffusers' pipeline clip_skip = c means N = c + 1.
// SDXL conditioning takes hidden_states[-2] WITHOUT final_layer_norm: not this function.)
// SD2's diffusers text encoder already has 23 of OpenCLIP's 24 layers, so N = 1 there is the
// "penultimate" SD2 setup; kohya only warns when --clip_skip is given for SD2.
//
// Parameters are named by the transformers keys ("text_model.encoder.layers.0.self_attn.
// q_proj.weight"; prefix "cond_stage_model.transformer." in SD1 single-file checkpoints) in a
// ParamTable (models/params.h), loaded with param_table_load (single files: prefix
// LDM_CLIP_PREFIX and ldm_clip_key, models/ldm_keys.h). The int64 buffer
// "text_model.embeddings.position_ids" some files carry is not a parameter (the loader skips
// it silently): positions are always 0..T-1, so merged checkpoints that corrupted it are read
// correctly (ComfyUI rounds it, kohya deletes it, transformers >= 4.31 no longer loads it).
//
// Gradients: every parameter's gradient pointer starts NULL (frozen). A caller that trains
// something points the slot at a buffer (clip_text_grad_slot; Linear dw/db; LoRA adapters via
// clip_text_visit_modules); backward accumulates (+=) into exactly those. Backward starts at
// the final LayerNorm and stops after the lowest layer part (attention or MLP half of a layer,
// or the embeddings) that has anything trainable: nothing below it is computed. Token ids get
// no gradient.
//
// Memory: clip_text_plan sizes everything per (B, T) with an Arena measuring pass: saved
// activations (MEM_ACTIVATIONS) per layer: the layer input, q, k, v, attention output,
// log-sum-exp, the mid-layer residual, the fc1 output and LayerNorm statistics: 6·D + I floats
// per token and layer (27 MiB for SD1.5 at B = 1, T = 77); the LayerNorm outputs and the
// activation output are recomputed in backward. Plus one MEM_SCRATCH block (a few M·D). Forward and backward never allocate. LoRA adapters must be attached
// before clip_text_plan (their rank sizes the work memory), and each adapter's `h` must hold
// B·T·rank floats (the LoRA layer plans that).
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/error.h"
#include "base/mem.h"
#include "models/clip_text_config.h"
#include "models/params.h"
#include "nn/attention.h"
#include "nn/linear.h"

typedef struct {
    const float *w, *b; // (D)
    float *dw, *db;      // (D); NULL unless trained
} ClipLayerNorm;

typedef struct {
    ClipLayerNorm ln1, ln2;  // layer_norm1 (before attention), layer_norm2 (before the MLP)
    Attention attn;          // self_attn: q/k/v/out_proj (D, D) with biases; causal
    Linear fc1, fc2;         // mlp.fc1 (I, D), mlp.fc2 (D, I), with biases
} ClipTextLayer;

typedef struct { // what one layer saves for backward (M = B·T rows)
    float *x;                // (M, D) layer input
    AttentionSaved attn;     // q, k, v, o (M, D); lse (B, NH, T)
    float *x_mid;            // (M, D) after the attention residual
    float *h;                // (M, I) fc1 output, before the activation
    float *mean1, *rstd1, *mean2, *rstd2; // (M) LayerNorm statistics
} ClipTextLayerSaved;

typedef struct {
    ClipTextConfig cfg;
    ParamTable params;              // every tensor, named by its transformers key
    const float *token_embedding;   // (V, D)
    const float *position_embedding; // (P, D)
    float *dtoken_embedding, *dposition_embedding; // NULL unless trained
    ClipTextLayer *layers;          // (L)
    ClipLayerNorm final_ln;
    const float ***w_slots;         // (params.n): the field that receives entry i's pointer
    float ***grad_slots;            // (params.n): the address of entry i's gradient pointer
    HalfWeight **half_slots;        // (params.n): a Linear weight's 16-bit slot, else NULL
    float *wbuf;                    // 16-bit weights: where one is widened before use (MEM_SCRATCH)

    // ---- plan (clip_text_plan) ----
    int64_t B, T;                   // planned batch rows and tokens
    int train;                      // saved activations planned (backward possible)
    Arena act, scratch;
    ClipTextLayerSaved *saved;      // (L); all alias one scratch set when !train
    float *x_final;                 // (M, D) input of final_layer_norm (a layer's output)
    float *mean_f, *rstd_f;         // (M)
    int32_t *ids;                   // (M) the forward's ids (token-embedding gradient)
    float *tmp, *ln, *act_out;      // scratch: (M, D), (M, D), (M, I)
    float *dres, *dbranch, *dln, *dI; // scratch for backward: (M, D) ×3, (M, I)
    float *stitch;                  // scratch (M, D): the window states of clip_text_encode_chunks
    float *work;
    size_t work_floats;
    // ---- state of the last forward ----
    int n_run;                      // layers run (L + 1 - clip_skip); -1 before any forward
} ClipText;

// Builds the modules and the ParamTable (one MEM_BASE_WEIGHTS block, zeroed; fill it with
// param_table_load or by hand). The config must be valid (clip_text_config_validate).
// clip_text_init_dtype keeps the Linear weights (q/k/v/out_proj, fc1, fc2) in fp16 or bf16,
// widened to fp32 just before use (as the UNet's, models/unet.h); embeddings and norms stay fp32.
void clip_text_init(ClipText *m, const ClipTextConfig *cfg);
void clip_text_init_dtype(ClipText *m, const ClipTextConfig *cfg, ParamDtype weights);
void clip_text_free(ClipText *m);

// The address of the named parameter's gradient pointer ("text_model.final_layer_norm.weight"),
// NULL if no such parameter. Setting *slot = buf (D floats, zeroed) makes backward accumulate
// that gradient into buf.
float **clip_text_grad_slot(ClipText *m, const char *name);

// Calls fn for every Linear that kohya's text-encoder LoRA targets (CLIPAttention and CLIPMLP):
// per layer, in transformers' module order, "text_model.encoder.layers.{i}.self_attn.{k,v,q,
// out}_proj" then ".mlp.fc1", ".mlp.fc2". kohya's LoRA name is "lora_te_" + the name with '.'
// replaced by '_'.
typedef void (*ClipTextModuleFn)(const char *name, Linear *lin, void *ctx);
void clip_text_visit_modules(ClipText *m, ClipTextModuleFn fn, void *ctx);

// Plans memory for batches of B sequences of T tokens (T <= max_position_embeddings).
// train = true also plans the saved activations backward needs; false plans a forward-only
// encoder (a few M·D scratch buffers; backward is then an error). Replaces an earlier plan.
void clip_text_plan(ClipText *m, int64_t B, int64_t T, bool train);
// Bytes planned: saved activations, scratch.
size_t clip_text_planned_bytes(const ClipText *m, MemClass cls);

// hidden (B, T, D) from ids (B, T) for the planned (B, T). SDL_ERR_ARG: an id outside
// [0, vocab_size) or clip_skip > L + 1 (clip_skip <= 1 means "no skip").
SdlStatus clip_text_forward(ClipText *m, float *hidden, const int32_t *ids, int clip_skip);
// Parameter and adapter gradients (+=) for the upstream gradient dhidden (B, T, D) of the last
// forward (which must have run under a train plan).
void clip_text_backward(ClipText *m, const float *dhidden);

// Pooled output (B, D): the row of hidden (B, T, D) at each sequence's EOS, found as
// transformers does: eos_token_id == 2 (the legacy SD configs) → argmax(ids) (the first
// largest id: EOS 49407 is the largest), else the first position equal to eos_token_id (0 if
// none). With hidden from clip_skip 1 this is CLIPTextModel's pooler_output. (kohya's SDXL
// pooling takes the first EOS: the same unless ids > 49407 occur.)
void clip_text_pool(const ClipText *m, float *pooled, const float *hidden, const int32_t *ids, int64_t B, int64_t T);

// ---- long prompts: n windows of 77 ids per prompt ----
// A1111 (inference, sd_hijack_clip.py): each window encoded on its own, the states concatenated
// → (B, 77·n, D). kohya (training, max_token_length 150/225, train_util.get_hidden_states):
// the BOS state of window 0, states 1..75 of every window, and the last state of the last
// window → (B, 75·n + 2, D); n = 1 gives the plain 77. kohya's SD1 and SD2 code paths give the
// same states (its SD2 empty-window fix compares ids with a string and never fires).
typedef enum { CLIP_JOIN_A1111 = 0, CLIP_JOIN_KOHYA = 1 } ClipChunkJoin;

int64_t clip_text_chunks_len(ClipChunkJoin join, int64_t n_chunks); // tokens of the joined states
// ids (B, n, 77) (from prompt_chunks_a1111 / prompt_chunks_kohya); the plan must be for B·n
// sequences of 77 tokens. hidden (B, clip_text_chunks_len(join, n), D).
SdlStatus clip_text_encode_chunks(ClipText *m, float *hidden, const int32_t *ids, int64_t B, int64_t n_chunks,
                                  int clip_skip, ClipChunkJoin join);
// Backward of clip_text_encode_chunks: dhidden (B, clip_text_chunks_len(join, n), D). States
// the join drops get zero gradient.
void clip_text_encode_chunks_backward(ClipText *m, const float *dhidden, int64_t B, int64_t n_chunks,
                                      ClipChunkJoin join);
