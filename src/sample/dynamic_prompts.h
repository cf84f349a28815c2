// dynamic_prompts.h — random prompt variations, in the syntax of A1111's Dynamic Prompts
// extension, expanded deterministically from a seed.
//
//   {red|green|blue}        one of the options, equally likely
//   {3::red|blue}           weights (default 1): red 3/4 of the time; {0::a|b} never gives a
//   {2$$a|b|c}              two different options joined by ", "; {1-3$$a|b|c} one to three;
//   {2$$ and $$a|b|c}       ... joined by " and "
//   {a|{b|c}}               options nest; {x} is just x (NovelAI-style {emphasis} decays to text)
//   __animals__             a random line of <wildcard dir>/animals.txt (blank lines and lines
//                           starting with '#' skipped); names may have folders (__styles/oil__);
//                           lines may use all of this syntax, wildcards included (nested up to
//                           DYNPROMPT_MAX_DEPTH deep)
//   \{ \} \| \_             a literal { } | _ (other backslashes, e.g. A1111's \( \), pass through)
// `{{` is *not* an escape: `{{a|b}|c}` is a nested choice, and `{{{x}}}` must stay x.
// Options keep their spaces ("{a | b}" gives "a " or " b"); CLIP does not mind.
//
// Choices come from a small counter-based generator (splitmix64) seeded with the choice seed,
// drawn left to right in the order the expansion meets them, so a seed always gives the same
// prompt on every machine. "Linked" mode uses the image's seed as the choice seed (each seed
// is one prompt+image pair that can be reproduced from the seed alone); "unlinked" uses a
// separate prompt seed, so the prompt can vary while the image seed stays fixed, or not.
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include "base/error.h"

#define DYNPROMPT_MAX_DEPTH 32   // wildcard-in-wildcard nesting
#define DYNPROMPT_MAX_NEST  64   // { } nesting within one text

typedef struct DynPrompts DynPrompts;

// wildcard_dir may be NULL (a __name__ is then an error suggesting --wildcard_dir).
// Wildcard files are read on first use and cached for the life of the object.
SdlStatus dynprompt_new(const char *wildcard_dir, DynPrompts **out);
void dynprompt_free(DynPrompts *dp);

// True when `text` uses any of the syntax above (a plain prompt is returned unchanged anyway).
bool dynprompt_has_syntax(const char *text);
// Parses `text` and every wildcard file it can reach, without choosing: use it to fail before a
// long run rather than at its first sample. `source` names the text in errors ("prompts.txt:3",
// "--prompt"); errors in wildcard files name those files and lines. dp may be NULL.
SdlStatus dynprompt_check(DynPrompts *dp, const char *text, const char *source);
// Expands `text` with choices drawn from `seed` into a new string (*out, free()).
SdlStatus dynprompt_expand(DynPrompts *dp, const char *text, uint64_t seed, const char *source, char **out);

typedef struct {
    bool unlinked;        // false: choice seed = image seed
    uint64_t prompt_seed; // unlinked: choice seed = prompt_seed + image_index
} DynPromptSeeding;
// The choice seed for the image_index-th image (0-based) generated with image_seed.
uint64_t dynprompt_choice_seed(const DynPromptSeeding *s, uint64_t image_seed, int64_t image_index);
