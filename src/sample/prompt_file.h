// prompt_file.h — kohya's `--sample_prompts` files (.txt, .toml, .json), the names kohya gives
// sample images, and the rule for when a training run samples (kohya-spec §5).
//
// Formats (the extension picks the parser, case-insensitively; any other is an error):
//   .txt   one prompt per line: "a photo of sks dog --n blurry --w 512 --h 768 --d 42 --s 28
//          --l 7 --ss euler_a". Lines are stripped; blank lines and lines whose *raw* first
//          character is '#' are skipped (so "  # x" is a prompt, as in kohya). The line is split
//          on " --"; each part after the first may be an option, matched case-insensitively at
//          its start: w/h <int>, d <int> seed, s <int> steps, l <float> CFG scale, n <text>
//          negative prompt, ss <name> sampler. kohya's other options (cn, g, ctr, rcfg, fs, f)
//          and unknown parts are ignored with a warning; a malformed value ("--l .") is ignored
//          with a warning, as kohya logs and goes on.
//   .toml  [prompt] holds defaults, each [[prompt.subset]] one prompt; a key in both is an
//          error (kohya's dict(**prompt, **subset) raises TypeError).
//   .json  a list whose items are objects or strings (strings are parsed like .txt lines,
//          without the comment/blank skipping).
//   Keys (TOML/JSON): prompt, negative_prompt, width, height, sample_steps, scale, seed,
//   sample_sampler; controlnet_image is ignored with a warning, unknown keys warned about.
// Defaults: 512×512, 30 steps, scale 7.5, no seed (random), the run's --sample_sampler.
// Width/height are floored to multiples of 8 (at least 64), steps clamped to 1..1000, for
// every format. An unknown sampler name falls back to ddim with a warning, as kohya's
// get_my_scheduler does.
// Errors (SDL_ERR_FORMAT, or SDL_ERR_IO for an unreadable file) name the file and line.
// Deliberate differences from kohya: a UTF-8 BOM is skipped; the prompt part is not itself
// matched against the options (kohya's loop also tries its first part, so a prompt starting
// "s 20 dogs" sets 20 steps there); trailing blanks of the prompt and negative prompt are
// trimmed. Prompts keep their dynamic-prompt syntax ({a|b}, __wildcards__): that is expanded
// per image (sample/dynamic_prompts.h), with the image's seed.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "base/error.h"

typedef struct {
    char *prompt;           // never NULL ("" when absent)
    char *negative_prompt;  // NULL when none given (kohya: None → empty unconditional prompt)
    int64_t width, height;  // multiples of 8, >= 64
    int64_t steps;          // 1..1000
    double scale;           // CFG scale
    bool has_seed;          // false: a random seed per sample, and no seed in the file name
    uint64_t seed;
    char *sampler;          // kohya name, lower case; NULL = the run's --sample_sampler
    int64_t index;          // position in the file (kohya's "enum"): names the sample image
    int line;               // line in the file where the prompt starts (for messages)
} SamplePrompt;

typedef struct {
    SamplePrompt *items;
    int64_t n;
    int n_warnings;         // warnings logged while loading (tests count them)
} SamplePromptList;

#define SAMPLE_DEFAULT_SIZE  512
#define SAMPLE_DEFAULT_STEPS 30
#define SAMPLE_DEFAULT_SCALE 7.5
#define SAMPLE_MAX_SIZE      16384  // larger is an error (kohya would run out of memory later)

// Loads a prompt file; on failure *out is empty and the error is recorded.
SdlStatus sample_prompts_load(const char *path, SamplePromptList *out);
// The parsers on text in memory; `name` is the file name used in messages.
SdlStatus sample_prompts_parse_txt(const char *text, size_t len, const char *name, SamplePromptList *out);
SdlStatus sample_prompts_parse_toml(const char *text, size_t len, const char *name, SamplePromptList *out);
SdlStatus sample_prompts_parse_json(const char *text, size_t len, const char *name, SamplePromptList *out);
void sample_prompts_free(SamplePromptList *list);

// One .txt line (already stripped) into *p (defaults filled in; free with sample_prompt_clear).
// Malformed option values add to *n_warnings (may be NULL).
SdlStatus sample_prompt_parse_line(const char *line, const char *name, int line_no, SamplePrompt *p, int *n_warnings);
void sample_prompt_defaults(SamplePrompt *p);
void sample_prompt_clear(SamplePrompt *p);
// Width or height as kohya uses it: floored to a multiple of 8, at least 64.
int64_t sample_size_floor(int64_t v);

// The sample image's path, as kohya names it:
//   <output_dir>/sample/[<output_name>_](e<epoch:06>|<steps:06>)_<index:02>_<YYYYmmddHHMMSS>[_<seed>].png
// epoch >= 0 for epoch calls (the sample_at_first call passes 0), < 0 for step calls (the
// step count is used); output_name NULL omits it; the time is local time of `when`.
// Returns the length it needs (like snprintf): >= cap means truncated.
size_t sample_file_name(char *buf, size_t cap, const char *output_dir, const char *output_name,
                        int64_t epoch, int64_t steps, const SamplePrompt *p, time_t when);

// When to sample (kohya's sample_images_common). Values <= 0 are off.
typedef struct {
    int64_t every_n_epochs;  // wins over every_n_steps when set
    int64_t every_n_steps;
    bool at_first;
} SampleSchedule;

// The trainer asks at three places:
//   before training:        sample_due(s, 0, global_step, true)   (global_step 0, or the resumed step)
//   after an optimizer step: sample_due(s, epoch, global_step, false)
//   at the end of epoch e (1-based): sample_due(s, e, global_step, true)
// global_step == 0 → only sample_at_first decides. Otherwise every_n_epochs, if set, samples
// at epoch ends with epoch % n == 0 (so also at a resumed start, epoch 0, as kohya does); else
// every_n_steps samples after steps with global_step % n == 0, never at epoch ends.
bool sample_due(const SampleSchedule *s, int64_t epoch, int64_t global_step, bool at_epoch_end);
