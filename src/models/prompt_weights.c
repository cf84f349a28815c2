// prompt_weights.c — A1111 attention parsing and A1111 / kohya chunking into 77-token CLIP
// windows with per-token weights. Semantics are documented in prompt_weights.h.
#include "models/prompt_weights.h"

#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

// ---------------------------------------------------------------------------------------------
// Fragment list

typedef struct {
    PromptFragment *v;
    size_t n, cap;
    bool oom;
} FragList;

static void frag_push(FragList *l, const char *text, size_t len, double weight) {
    if (l->oom) return;
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 16;
        PromptFragment *p = realloc(l->v, nc * sizeof *p);
        if (!p) { l->oom = true; return; }
        l->v = p;
        l->cap = nc;
    }
    char *t = malloc(len + 1);
    if (!t) { l->oom = true; return; }
    memcpy(t, text, len);
    t[len] = '\0';
    l->v[l->n++] = (PromptFragment){t, weight};
}

static void frag_list_free(FragList *l) {
    for (size_t i = 0; i < l->n; i++) free(l->v[i].text);
    free(l->v);
    *l = (FragList){0};
}

void prompt_fragments_free(PromptFragments *f) {
    if (!f) return;
    for (size_t i = 0; i < f->n; i++) free(f->items[i].text);
    free(f->items);
    f->items = NULL;
    f->n = 0;
}

bool prompt_fragment_is_break(const PromptFragment *f) {
    return f->weight == -1.0 && strcmp(f->text, "BREAK") == 0;
}

// ---------------------------------------------------------------------------------------------
// BREAK splitting: Python re.split(r"\s*\bBREAK\b\s*", text) with Unicode \s and \w.

// Decodes the code point starting at s[i] (s has n bytes); invalid bytes read as U+FFFD.
static uint32_t cp_at(const char *s, size_t n, size_t i) {
    utf8proc_int32_t c;
    utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &c);
    return k > 0 ? (uint32_t)c : 0xFFFD;
}

// Start of the code point that ends just before s[i].
static size_t cp_start_before(const char *s, size_t i) {
    size_t j = i - 1;
    while (j > 0 && i - j < 4 && ((unsigned char)s[j] & 0xC0) == 0x80) j--;
    return j;
}

// Python's str.isspace.
static bool py_isspace(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
           c == 0x3000;
}

// Python's \w: letters, numbers (str.isalnum) and '_'.
static bool py_isword(uint32_t c) {
    if (c == '_') return true;
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO) ||
           (k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO);
}

// Appends `text` as weight-1 parts separated by ("BREAK", -1) markers (A1111's text branch).
static void push_text_with_breaks(FragList *l, const char *s, size_t n) {
    size_t part = 0, search = 0;
    for (;;) {
        const char *hit = NULL;
        size_t b = search;
        // The first BREAK from `search` on with a word boundary on both sides.
        while (b + 5 <= n) {
            hit = memchr(s + b, 'B', n - b);
            if (!hit || (size_t)(hit - s) + 5 > n) { hit = NULL; break; }
            b = (size_t)(hit - s);
            bool ok = memcmp(s + b, "BREAK", 5) == 0 &&
                      (b == 0 || !py_isword(cp_at(s, n, cp_start_before(s, b)))) &&
                      (b + 5 == n || !py_isword(cp_at(s, n, b + 5)));
            if (ok) break;
            hit = NULL;
            b++;
        }
        if (!hit) break;
        // \s* on the left reaches back over the whitespace run, but not past `search`.
        size_t start = b;
        while (start > search) {
            size_t p = cp_start_before(s, start);
            if (!py_isspace(cp_at(s, n, p))) break;
            start = p;
        }
        size_t end = b + 5;
        while (end < n) {
            uint32_t c = cp_at(s, n, end);
            if (!py_isspace(c)) break;
            utf8proc_uint8_t tmp[4];
            end += (size_t)utf8proc_encode_char((utf8proc_int32_t)c, tmp);
        }
        frag_push(l, s + part, start - part, 1.0);
        frag_push(l, "BREAK", 5, -1.0);
        part = end;
        search = end;
    }
    frag_push(l, s + part, n - part, 1.0);
}

// ---------------------------------------------------------------------------------------------
// Attention parsing

typedef struct {
    size_t *v;
    size_t n, cap;
} PosStack;

static bool stack_push(PosStack *s, size_t pos) {
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 16;
        size_t *p = realloc(s->v, nc * sizeof *p);
        if (!p) return false;
        s->v = p;
        s->cap = nc;
    }
    s->v[s->n++] = pos;
    return true;
}

static void multiply_range(FragList *l, size_t start, double m) {
    for (size_t p = start; p < l->n; p++) l->v[p].weight *= m;
}

// Python float() of a string matching [+-]?[.0-9]+: one optional '.', at least one digit.
static bool parse_weight(const char *s, size_t n, double *out) {
    size_t digits = 0, dots = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '.') dots++;
        else if (s[i] >= '0' && s[i] <= '9') digits++;
    }
    if (digits == 0 || dots > 1 || n > 64) return false;
    char buf[80];
    memcpy(buf, s, n);
    buf[n] = '\0';
    // strtod_l with the C locale: a user locale with a decimal comma must not change parsing.
    // glibc rounds correctly, as Python's float() does.
    locale_t c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    if (!c_locale) return false;
    char *end = NULL;
    *out = strtod_l(buf, &end, c_locale);
    freelocale(c_locale);
    return end == buf + n;
}

SdlStatus prompt_parse_attention(const char *text, bool with_break, PromptFragments *out) {
    out->items = NULL;
    out->n = 0;
    const double round_mult = 1.1, square_mult = 1 / 1.1;
    FragList res = {0};
    PosStack round = {0}, square = {0};
    SdlStatus st = SDL_OK;
    size_t n = strlen(text), i = 0;
    bool oom = false;
    while (i < n && !oom && st == SDL_OK) {
        char c = text[i];
        if (c == '\\') {
            // \( \) \[ \] \\ give the character; a lone backslash gives "".
            char d = i + 1 < n ? text[i + 1] : '\0';
            bool pair = d == '(' || d == ')' || d == '[' || d == ']' || d == '\\';
            frag_push(&res, text + i + 1, pair ? 1 : 0, 1.0);
            i += pair ? 2 : 1;
        } else if (c == '(') {
            oom = !stack_push(&round, res.n);
            i++;
        } else if (c == '[') {
            oom = !stack_push(&square, res.n);
            i++;
        } else if (c == ':') {
            // ":" [+-]? [.0-9]+ ")" closes a round bracket with an explicit weight.
            size_t j = i + 1;
            if (j < n && (text[j] == '+' || text[j] == '-')) j++;
            size_t k = j;
            while (k < n && (text[k] == '.' || (text[k] >= '0' && text[k] <= '9'))) k++;
            bool weight_tok = k > j && k < n && text[k] == ')';
            size_t tok_end = weight_tok ? k + 1 : i + 1;
            if (weight_tok && round.n > 0) {
                double w;
                if (!parse_weight(text + i + 1, k - (i + 1), &w)) {
                    st = sdl_fail(SDL_ERR_ARG, NULL, "write the weight as a number, e.g. (word:1.2)",
                                  "invalid attention weight \"%.*s\" in prompt", (int)(k - (i + 1)), text + i + 1);
                    break;
                }
                multiply_range(&res, round.v[--round.n], w);
            } else if (with_break) {
                push_text_with_breaks(&res, text + i, tok_end - i);
            } else {
                frag_push(&res, text + i, tok_end - i, 1.0);
            }
            i = tok_end;
        } else if (c == ')' && round.n > 0) {
            multiply_range(&res, round.v[--round.n], round_mult);
            i++;
        } else if (c == ']' && square.n > 0) {
            multiply_range(&res, square.v[--square.n], square_mult);
            i++;
        } else {
            // A text run (everything up to the next \ ( ) [ ] :), or an unmatched ')' / ']'.
            size_t j = i + 1;
            if (c != ')' && c != ']')
                while (j < n && !strchr("\\()[]:", text[j])) j++;
            if (with_break) push_text_with_breaks(&res, text + i, j - i);
            else frag_push(&res, text + i, j - i, 1.0);
            i = j;
        }
    }
    if (st == SDL_OK) {
        for (size_t k = 0; k < round.n; k++) multiply_range(&res, round.v[k], round_mult);
        for (size_t k = 0; k < square.n; k++) multiply_range(&res, square.v[k], square_mult);
        if (res.n == 0) frag_push(&res, "", 0, 1.0);
        // Merge runs of identical weights. Moved-from and merged slots are left NULL, so on
        // failure frag_list_free can still free the whole list.
        size_t w = 0;
        for (size_t r = 0; r < res.n && !res.oom; r++) {
            if (w > 0 && res.v[w - 1].weight == res.v[r].weight) {
                size_t a = strlen(res.v[w - 1].text), b = strlen(res.v[r].text);
                char *t = realloc(res.v[w - 1].text, a + b + 1);
                if (!t) { res.oom = true; break; }
                memcpy(t + a, res.v[r].text, b + 1);
                res.v[w - 1].text = t;
                free(res.v[r].text);
                res.v[r].text = NULL;
            } else {
                PromptFragment moved = res.v[r];
                res.v[r].text = NULL;
                res.v[w++] = moved;
            }
        }
        if (!res.oom) res.n = w;
    }
    free(round.v);
    free(square.v);
    if (st == SDL_OK && (oom || res.oom))
        st = sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory parsing a %zu-byte prompt", n);
    if (st != SDL_OK) {
        frag_list_free(&res);
        return st;
    }
    out->items = res.v;
    out->n = res.n;
    return SDL_OK;
}

// ---------------------------------------------------------------------------------------------
// Chunking

typedef struct {
    int32_t *ids;
    double *w;
    size_t n, cap;
} TokList;

static bool tok_push(TokList *t, int32_t id, double w) {
    if (t->n == t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 128;
        int32_t *a = realloc(t->ids, nc * sizeof *a);
        if (!a) return false;
        t->ids = a;
        double *b = realloc(t->w, nc * sizeof *b);
        if (!b) return false;
        t->w = b;
        t->cap = nc;
    }
    t->ids[t->n] = id;
    t->w[t->n] = w;
    t->n++;
    return true;
}

// Tokenizes `text` and appends its ids with weight `w`.
static SdlStatus tokenize_append(ClipTokenizer *tok, const char *text, double w, TokList *t, size_t *count) {
    int32_t small[256];
    size_t n = 0;
    SDL_TRY(clip_tokenize(tok, text, small, 256, &n));
    int32_t *ids = small;
    if (n > 256) {
        ids = malloc(n * sizeof *ids);
        if (!ids) return sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory tokenizing a prompt");
        size_t n2 = 0;
        SdlStatus st = clip_tokenize(tok, text, ids, n, &n2);
        if (st != SDL_OK) { free(ids); return st; }
    }
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++) ok = tok_push(t, ids[i], w);
    if (ids != small) free(ids);
    if (count) *count = n;
    return ok ? SDL_OK : sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory tokenizing a prompt");
}

static SdlStatus chunks_alloc(PromptChunks *out, size_t n_chunks) {
    out->ids = malloc(n_chunks * CLIP_CONTEXT_LEN * sizeof *out->ids);
    out->weights = malloc(n_chunks * CLIP_CONTEXT_LEN * sizeof *out->weights);
    if (!out->ids || !out->weights) {
        prompt_chunks_free(out);
        return sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory for %zu prompt chunks", n_chunks);
    }
    out->n_chunks = n_chunks;
    return SDL_OK;
}

void prompt_chunks_free(PromptChunks *c) {
    if (!c) return;
    free(c->ids);
    free(c->weights);
    *c = (PromptChunks){0};
}

// A1111's current chunk and the list of finished ones (75 tokens each, unwrapped).
typedef struct {
    TokList done;  // finished chunks back to back, 75 entries each
    TokList cur;   // the chunk being filled
    long last_comma;
} A1111State;

// next_chunk(): pad the current chunk to 75 with EOS (weight 1) and move it to `done`.
static bool a1111_next_chunk(A1111State *s) {
    while (s->cur.n < CLIP_CHUNK_TOKENS)
        if (!tok_push(&s->cur, CLIP_EOS_ID, 1.0)) return false;
    for (size_t i = 0; i < CLIP_CHUNK_TOKENS; i++)
        if (!tok_push(&s->done, s->cur.ids[i], s->cur.w[i])) return false;
    s->cur.n = 0;
    s->last_comma = -1;
    return true;
}

SdlStatus prompt_chunks_a1111(ClipTokenizer *tok, const char *prompt, bool emphasis,
                              int comma_backtrack, int32_t pad_id, PromptChunks *out) {
    *out = (PromptChunks){0};
    PromptFragments frags = {0};
    if (emphasis) {
        SDL_TRY(prompt_parse_attention(prompt, true, &frags));
    } else {
        frags.items = malloc(sizeof *frags.items);
        char *t = strdup(prompt);
        if (!frags.items || !t) {
            free(frags.items);
            free(t);
            return sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory");
        }
        frags.items[0] = (PromptFragment){t, 1.0};
        frags.n = 1;
    }
    A1111State s = {.last_comma = -1};
    TokList toks = {0};
    SdlStatus st = SDL_OK;
    bool ok = true;
    for (size_t f = 0; f < frags.n && st == SDL_OK && ok; f++) {
        const PromptFragment *fr = &frags.items[f];
        if (prompt_fragment_is_break(fr)) {
            ok = a1111_next_chunk(&s);
            continue;
        }
        toks.n = 0;
        size_t count = 0;
        st = tokenize_append(tok, fr->text, fr->weight, &toks, &count);
        out->n_tokens += count;
        for (size_t p = 0; p < toks.n && st == SDL_OK && ok; p++) {
            int32_t id = toks.ids[p];
            if (id == CLIP_COMMA_ID) {
                s.last_comma = (long)s.cur.n;
            } else if (comma_backtrack != 0 && s.cur.n == CLIP_CHUNK_TOKENS && s.last_comma != -1 &&
                       (long)s.cur.n - s.last_comma <= comma_backtrack) {
                // Move the tokens after the last comma into the next chunk.
                size_t brk = (size_t)s.last_comma + 1, nrel = s.cur.n - brk;
                int32_t rel_ids[CLIP_CHUNK_TOKENS];
                double rel_w[CLIP_CHUNK_TOKENS];
                memcpy(rel_ids, s.cur.ids + brk, nrel * sizeof *rel_ids);
                memcpy(rel_w, s.cur.w + brk, nrel * sizeof *rel_w);
                s.cur.n = brk;
                ok = a1111_next_chunk(&s);
                for (size_t q = 0; q < nrel && ok; q++) ok = tok_push(&s.cur, rel_ids[q], rel_w[q]);
            }
            if (ok && s.cur.n == CLIP_CHUNK_TOKENS) ok = a1111_next_chunk(&s);
            if (ok) ok = tok_push(&s.cur, id, toks.w[p]);
        }
    }
    if (st == SDL_OK && ok && (s.cur.n > 0 || s.done.n == 0)) ok = a1111_next_chunk(&s);
    if (st == SDL_OK && !ok) st = sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory chunking a prompt");
    if (st == SDL_OK) st = chunks_alloc(out, s.done.n / CLIP_CHUNK_TOKENS);
    if (st == SDL_OK) {
        for (size_t c = 0; c < out->n_chunks; c++) {
            int32_t *ids = out->ids + c * CLIP_CONTEXT_LEN;
            float *w = out->weights + c * CLIP_CONTEXT_LEN;
            ids[0] = CLIP_BOS_ID;
            w[0] = 1.0f;
            for (size_t i = 0; i < CLIP_CHUNK_TOKENS; i++) {
                ids[1 + i] = s.done.ids[c * CLIP_CHUNK_TOKENS + i];
                w[1 + i] = (float)s.done.w[c * CLIP_CHUNK_TOKENS + i];
            }
            ids[CLIP_CONTEXT_LEN - 1] = CLIP_EOS_ID;
            w[CLIP_CONTEXT_LEN - 1] = 1.0f;
            if (pad_id != CLIP_EOS_ID) { // SD2: everything after the first EOS becomes padding
                size_t first = 1;
                while (ids[first] != CLIP_EOS_ID) first++;
                for (size_t i = first + 1; i < CLIP_CONTEXT_LEN; i++) ids[i] = pad_id;
            }
        }
    }
    prompt_fragments_free(&frags);
    free(toks.ids);
    free(toks.w);
    free(s.done.ids);
    free(s.done.w);
    free(s.cur.ids);
    free(s.cur.w);
    if (st != SDL_OK) prompt_chunks_free(out);
    return st;
}

SdlStatus prompt_chunks_kohya(ClipTokenizer *tok, const char *caption, int max_token_length,
                              bool weighted, int32_t pad_id, PromptChunks *out) {
    *out = (PromptChunks){0};
    if (max_token_length != 0 && max_token_length != 75 && max_token_length != 150 && max_token_length != 225)
        return sdl_fail(SDL_ERR_ARG, NULL, "use 75, 150 or 225 (kohya accepts None, 150, 225)",
                        "max_token_length %d is not supported", max_token_length);
    size_t max_length = max_token_length > 75 ? (size_t)max_token_length + 2 : CLIP_CONTEXT_LEN;
    size_t room = max_length - 2;
    TokList toks = {0};
    SdlStatus st = SDL_OK;
    if (weighted) {
        PromptFragments frags;
        SDL_TRY(prompt_parse_attention(caption, false, &frags));
        for (size_t f = 0; f < frags.n && st == SDL_OK; f++) {
            size_t count = 0;
            st = tokenize_append(tok, frags.items[f].text, frags.items[f].weight, &toks, &count);
            out->n_tokens += count;
        }
        prompt_fragments_free(&frags);
    } else {
        size_t count = 0;
        st = tokenize_append(tok, caption, 1.0, &toks, &count);
        out->n_tokens = count;
    }
    size_t n = toks.n;
    if (n > room) {
        n = room;
        out->truncated = true;
    }
    // The full id list: BOS, tokens, EOS, pad... (max_length ids) and its weights.
    int32_t *ids = NULL;
    double *w = NULL;
    if (st == SDL_OK) {
        ids = malloc(max_length * sizeof *ids);
        w = malloc(max_length * sizeof *w);
        if (!ids || !w) st = sdl_fail(SDL_ERR_OOM, NULL, NULL, "out of memory tokenizing a caption");
    }
    if (st == SDL_OK) {
        ids[0] = CLIP_BOS_ID;
        w[0] = 1.0;
        for (size_t i = 0; i < n; i++) { ids[1 + i] = toks.ids[i]; w[1 + i] = toks.w[i]; }
        ids[n + 1] = CLIP_EOS_ID;
        w[n + 1] = 1.0;
        for (size_t i = n + 2; i < max_length; i++) { ids[i] = pad_id; w[i] = 1.0; }
        size_t n_chunks = max_length > CLIP_CONTEXT_LEN ? room / CLIP_CHUNK_TOKENS : 1;
        st = chunks_alloc(out, n_chunks);
    }
    if (st == SDL_OK) {
        if (max_length == CLIP_CONTEXT_LEN) {
            for (size_t i = 0; i < CLIP_CONTEXT_LEN; i++) { out->ids[i] = ids[i]; out->weights[i] = (float)w[i]; }
        } else {
            for (size_t c = 0; c < out->n_chunks; c++) {
                int32_t *ci = out->ids + c * CLIP_CONTEXT_LEN;
                float *cw = out->weights + c * CLIP_CONTEXT_LEN;
                size_t from = 1 + c * CLIP_CHUNK_TOKENS;
                ci[0] = ids[0];
                cw[0] = 1.0f;
                for (size_t i = 0; i < CLIP_CHUNK_TOKENS; i++) {
                    ci[1 + i] = ids[from + i];
                    cw[1 + i] = weighted ? (float)w[from + i] : 1.0f;
                }
                ci[CLIP_CONTEXT_LEN - 1] = ids[max_length - 1];
                cw[CLIP_CONTEXT_LEN - 1] = 1.0f;
                if (pad_id != CLIP_EOS_ID) {
                    int32_t before = ci[CLIP_CONTEXT_LEN - 2];
                    if (before != CLIP_EOS_ID && before != pad_id) ci[CLIP_CONTEXT_LEN - 1] = CLIP_EOS_ID;
                    if (ci[1] == pad_id) ci[1] = CLIP_EOS_ID;
                }
            }
        }
    }
    free(ids);
    free(w);
    free(toks.ids);
    free(toks.w);
    if (st != SDL_OK) prompt_chunks_free(out);
    return st;
}
