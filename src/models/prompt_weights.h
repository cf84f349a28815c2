// prompt_weights.h — A1111 prompt attention syntax and long-prompt chunking into CLIP's
// 77-token windows, the A1111 way (inference, unlimited length) and the kohya way (training,
// max_token_length 75/150/225, optional --weighted_captions).
//
// Attention syntax (A1111 modules/prompt_parser.py parse_prompt_attention; kohya's
// --weighted_captions uses a copy without BREAK):
//   (x) ×1.1   [x] ÷1.1   (x:w) ×w (w matches [+-]?[.0-9]+)   nesting multiplies
//   \( \) \[ \] \\ are literal characters; a backslash before anything else is dropped
//   an unmatched ')' or ']' or "(x:w)"-close is literal text; an unclosed '(' or '[' still
//   applies its ×1.1 / ÷1.1 to everything after it (round brackets first, then square)
//   BREAK (whole word, case-sensitive, with the whitespace around it) ends the current chunk
// Adjacent fragments of exactly equal weight are merged; an empty result is ("", 1.0).
// Weights are computed in double precision in the same order Python does, so they compare
// equal to A1111's floats. A1111 recognises a chunk break as the fragment ("BREAK", -1.0);
// a BREAK inside brackets gets multiplied and then reads as plain text "BREAK" — kept.
// Not handled here: prompt editing [a:b:step], AND, <lora:...> tags, textual-inversion
// embeddings (callers strip or resolve those first).
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/error.h"
#include "models/clip_tokenizer.h"

typedef struct {
    char *text;    // UTF-8, NUL-terminated, owned
    double weight; // multiplier; ("BREAK", -1.0) is A1111's chunk-break marker
} PromptFragment;

typedef struct {
    PromptFragment *items;
    size_t n;
} PromptFragments;

// Parses A1111 attention syntax. with_break: split text at BREAK (A1111); false = kohya's
// weighted-caption parser, where BREAK is plain text. Fails with SDL_ERR_ARG when a "(x:w)"
// weight is not a number (e.g. "1.2.3"; A1111 and kohya raise ValueError there).
SdlStatus prompt_parse_attention(const char *text, bool with_break, PromptFragments *out);
void prompt_fragments_free(PromptFragments *f);
bool prompt_fragment_is_break(const PromptFragment *f);

// Token ids and per-token weights, n_chunks windows of CLIP_CONTEXT_LEN (77) each:
// ids (n_chunks, 77), weights (n_chunks, 77); BOS/EOS/padding positions have weight 1.
typedef struct {
    int32_t *ids;
    float *weights;
    size_t n_chunks;
    size_t n_tokens; // prompt tokens (without BOS/EOS/padding) before any truncation
    bool truncated;  // kohya only: tokens past max_token_length were dropped
} PromptChunks;

// A1111 inference chunking (sd_hijack_clip.py tokenize_line): every fragment is tokenized on
// its own; chunks of 75 tokens each become BOS + 75 (padded with EOS) + EOS; when a chunk is
// full and a comma (",</w>") was among its last `comma_backtrack` tokens (A1111 default 20,
// 0 = off), the tokens after that comma move to the next chunk; BREAK starts a new chunk.
// emphasis=false takes the whole prompt at weight 1 (A1111's emphasis "None"). pad_id !=
// EOS (SD2, SDXL bigG: 0) overwrites every position after a chunk's first EOS with pad_id.
SdlStatus prompt_chunks_a1111(ClipTokenizer *tok, const char *prompt, bool emphasis,
                              int comma_backtrack, int32_t pad_id, PromptChunks *out);

// kohya training tokenization (strategy_base.py _get_input_ids): max_token_length 0 (= None)
// or 75 gives one window [BOS, <=75 tokens, EOS, pad...]; 150 / 225 tokenize to
// max_token_length + 2 ids and cut them into 2 / 3 windows [ids[0]] + 75 ids + [ids[-1]].
// With pad_id != EOS (SD2, SDXL TE2) a window whose second-to-last id is neither EOS nor pad
// ends with EOS, and a window starting BOS, pad becomes BOS, EOS, pad... weighted: parse the
// attention syntax (no BREAK) and tokenize fragment by fragment (--weighted_captions).
SdlStatus prompt_chunks_kohya(ClipTokenizer *tok, const char *caption, int max_token_length,
                              bool weighted, int32_t pad_id, PromptChunks *out);
void prompt_chunks_free(PromptChunks *c);
