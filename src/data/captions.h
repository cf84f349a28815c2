// captions.h — kohya's per-sample caption processing (BaseDataset.process_caption), in its
// order: prefix/suffix (joined with a space), dropout (rate or every n-th epoch), first line
// only (or wildcards), then — only if shuffle_caption, token warm-up or tag dropout is on —
// split into fixed / flex / fixed-suffix tokens (keep_tokens_separator or keep_tokens), warm-up
// truncation, shuffle, tag dropout, rejoin with ", "; finally secondary_separator →
// caption_separator. Random draws come from a Python-compatible generator in kohya's order, so
// a given seed reproduces kohya's captions.
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include "base/error.h"
#include "data/pyrandom.h"

typedef struct {
    const char *caption_prefix, *caption_suffix;  // NULL or "" = none
    double caption_dropout_rate;
    int64_t caption_dropout_every_n_epochs;
    double caption_tag_dropout_rate;
    bool shuffle_caption;
    int64_t keep_tokens;
    const char *keep_tokens_separator;            // "" = none
    const char *caption_separator;                // default ","
    const char *secondary_separator;              // NULL = none
    bool enable_wildcard;
    int64_t token_warmup_min;                     // default 1
    double token_warmup_step;                     // 0 = off; < 1 → fraction of max_train_steps
} CaptionOptions;

// Default options as kohya's dataclass defaults (separator ",", warm-up min 1).
CaptionOptions caption_options_default(void);

// Returns a newly allocated processed caption (free()), or NULL on allocation failure.
// epoch is 1-based (kohya's current_epoch); step and max_train_steps feed token warm-up.
char *caption_process(const CaptionOptions *o, const char *caption, int64_t epoch, int64_t step,
                      int64_t max_train_steps, PyRandom *rnd);
