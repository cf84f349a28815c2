// clip_tokenizer.h — the CLIP byte-level BPE tokenizer, matching transformers' slow
// CLIPTokenizer (the one SD pipelines, A1111 and kohya use) token for token.
//
// Text goes through the same steps as CLIPTokenizer.tokenize with ftfy installed (kohya pins
// ftfy 6.1.1, so that is the common case):
//   1. the literal strings "<|startoftext|>" / "<|endoftext|>" are cut out first and become
//      ids 49406 / 49407 (transformers' added-token split);
//   2. each remaining piece is cleaned like ftfy.fix_text: HTML entities (unless the line or
//      an earlier one holds '<'), C1 controls as Windows-1252, Latin ligatures, fullwidth and
//      halfwidth forms, curly quotes, line breaks, ANSI escapes, control characters, NFC —
//      repeated until nothing changes. NOT emulated: ftfy's mojibake repair (fix_encoding),
//      which only fires on text its heuristic judges garbled (e.g. "cafÃ©");
//   3. runs of Unicode whitespace become one space, the ends are stripped, text is lower-cased
//      (Python str.lower: İ -> i̇, final sigma);
//   4. the pre-tokenizer pattern
//        <|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
//      (case-insensitive) splits the text; whitespace is dropped, digits are one per token;
//   5. each piece's UTF-8 bytes go through BPE with the 48,894 CLIP merges.
// Without ftfy, transformers falls back to BERT's BasicTokenizer (no HTML/width/quote fixes,
// CJK characters split one per word, accents kept); that path is not emulated.
// Unicode data (categories, NFC, case mapping) comes from utf8proc (Unicode 15), so characters
// assigned after the Unicode version of the Python side may differ.
//
// The vocabulary (data/clip/bpe_simple_vocab_16e6.txt.gz, MIT, OpenAI) is embedded in the
// binary at build time (src/models/clip_vocab_data.c); loading inflates it with zlib.
//
// A ClipTokenizer keeps a BPE cache and is not safe for concurrent use: one per thread.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "base/error.h"

#define CLIP_VOCAB_SIZE 49408
#define CLIP_N_MERGES 48894   // 49152 - 256 - 2: the merges CLIP uses (file lines 2..48895)
#define CLIP_BOS_ID 49406     // <|startoftext|>
#define CLIP_EOS_ID 49407     // <|endoftext|> (also SD1's pad id)
#define CLIP_COMMA_ID 267     // ",</w>" (A1111's comma back-tracking looks for it)
#define CLIP_CONTEXT_LEN 77   // BOS + 75 tokens + EOS
#define CLIP_CHUNK_TOKENS 75

typedef struct ClipTokenizer ClipTokenizer;

// Loads the embedded vocabulary (about 30 ms). Free with clip_tokenizer_free.
SdlStatus clip_tokenizer_load(ClipTokenizer **out);
// Loads a merges file instead: CLIP's bpe_simple_vocab_16e6.txt(.gz) or a transformers
// tokenizer/merges.txt (first line is a header, then at least 48,894 "a b" lines).
SdlStatus clip_tokenizer_load_file(const char *path, ClipTokenizer **out);
void clip_tokenizer_free(ClipTokenizer *tok);

// Tokenizes NUL-terminated UTF-8 text without BOS/EOS and without truncation (like
// tokenizer(text, add_special_tokens=False)). Writes at most `cap` ids and sets *n_ids to the
// full count, which may exceed `cap` (call again with a larger buffer). Invalid UTF-8 bytes
// are read as U+FFFD. `ids` may be NULL when cap is 0.
SdlStatus clip_tokenize(ClipTokenizer *tok, const char *text, int32_t *ids, size_t cap, size_t *n_ids);
// Same for `len` bytes (which may contain NUL characters; they are removed as ftfy does).
SdlStatus clip_tokenize_len(ClipTokenizer *tok, const char *text, size_t len,
                            int32_t *ids, size_t cap, size_t *n_ids);

// tokenizer(text, padding="max_length", truncation=True, max_length=77): BOS, the first 75
// tokens, EOS, then pad_id up to 77 (SD1/SDXL-L pad with 49407; SD2/SDXL-bigG with 0).
SdlStatus clip_tokenize_padded(ClipTokenizer *tok, const char *text, int32_t pad_id,
                               int32_t ids[CLIP_CONTEXT_LEN]);

// The token's string as in transformers' vocab.json (bytes shown through CLIP's
// bytes_to_unicode, "</w>" marks a word end), e.g. 2368 -> "cat</w>"; NULL if out of range.
const char *clip_token_str(const ClipTokenizer *tok, int32_t id);

// The text after steps 2-3 above (ftfy subset, whitespace collapse, lower case), as UTF-8 in a
// malloc'd string; for `sdlora probe tokenize` and tests. Specials are not split out here.
SdlStatus clip_text_clean(const char *text, size_t len, char **out);
