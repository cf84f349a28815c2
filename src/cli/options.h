// options.h — declarative command-line options: one table per subcommand drives parsing,
// validation, --help and error messages. Names match with '-' and '_' interchangeable, so
// kohya's spellings (--max_token_length) and ours (--max-tokens) both work.
//
// Two ways in:
//   opts_parse()       the simple door the small subcommands use: parses argv, prints
//                      "error: …" + hint to stderr itself, values borrowed from argv.
//   OptTable + opts_parse_args() / opts_apply_value()
//                      the door `sdlora train` uses: errors are recorded with sdl_fail (the
//                      caller prints), values may come from a config file as typed values
//                      (name, value, file, line) through the same table and the same checks,
//                      strings can be owned copies, and "given" flags say what was set.
//
// Types and what `dst` points to:
//   OPT_STRING const char ** (char ** when the table owns its strings)
//   OPT_INT    int *                OPT_INT64  int64_t *
//   OPT_FLOAT  float *              OPT_DOUBLE double *
//   OPT_FLAG   bool *  (store_true: no value on the command line; true/false in files)
//   OPT_LIST   char *** NULL-terminated (argparse nargs='*': every following argument up to
//              the next --option; a repeated option replaces the list, as argparse does)
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "base/error.h"

typedef enum { OPT_STRING, OPT_INT, OPT_FLOAT, OPT_FLAG, OPT_INT64, OPT_DOUBLE, OPT_LIST } OptType;

typedef struct {
    const char *name;     // without the leading "--"
    const char *alias;    // another accepted name (e.g. kohya's) or NULL
    OptType type;
    void *dst;            // see the table above
    const char *help;
    bool required;
    const char *choices;  // OPT_INT*/OPT_STRING: "75|150|225" restricts the values (NULL: any)
    double min, max;      // numeric range when min < max
    // ---- used by the richer tables (all optional) ----
    const char *group;    // this option starts a --help section with this title
    const char *defval;   // default shown by --help, as the user would type it
    const char *ignored;  // accepted for compatibility but has no effect: the reason (noted when given)
    const char *unsupported; // a feature sdlora lacks: giving it (a flag set true, any other value) is
                          // an error with this reason
} OptSpec;

typedef enum { OPTS_OK = 0, OPTS_ERROR = 1, OPTS_HELP = 2 } OptsResult;

// Parses argv[1..argc-1] (argv[0] is the subcommand). On error prints "error: …" with a hint
// to stderr. usage is the one-line synopsis shown by --help.
OptsResult opts_parse(const char *cmd, const char *usage, const OptSpec *specs, int n_specs, int argc, char **argv);
void opts_print_help(FILE *f, const char *cmd, const char *usage, const OptSpec *specs, int n_specs);

// ---------------------------------------------------------------------------------------
// Tables with typed values, config files and ownership

// Bits of OptTable.given[i].
enum {
    OPT_GIVEN = 1,        // set on the command line or in a config file
    OPT_GIVEN_INT = 2,    // the value was an integer in a config file (Python keeps int vs float)
    OPT_GIVEN_FILE = 4,   // the last value came from a config file
};

typedef struct {
    const char *cmd;          // subcommand, for hints ("see `sdlora train --help`")
    const OptSpec *specs;
    int n;
    unsigned char *given;     // NULL, or n entries of OPT_GIVEN* bits
    bool owned;               // strings and lists are malloc'd copies owned through dst (a replaced
                              // value is freed; opts_free_owned frees the rest)
    bool allow_abbrev;        // a unique prefix of a name is accepted on the command line (argparse)
    char ***notes;            // NULL, or a NULL-terminated list that receives "--name: reason" once
                              // for every ignored option that is given
} OptTable;

typedef enum { OPTV_STRING, OPTV_INT, OPTV_FLOAT, OPTV_BOOL, OPTV_LIST } OptValueKind;

// A value from a config file (TOML, JSON).
typedef struct OptValue {
    OptValueKind kind;
    const char *s;                  // OPTV_STRING
    int64_t i;                      // OPTV_INT
    double f;                       // OPTV_FLOAT
    bool b;                         // OPTV_BOOL
    const struct OptValue *items;   // OPTV_LIST: scalars
    size_t n_items;
} OptValue;

// Index of the option called name[0..len) (or its alias; '-' = '_'), or -1.
int opts_find(const OptTable *t, const char *name, size_t len);
// The option a command-line word names: exact (or alias), else a unique prefix when the table
// allows abbreviations; -1 unknown, -2 ambiguous.
int opts_lookup(const OptTable *t, const char *name, size_t len);
// The closest option name to a misspelt one (edit distance), or NULL when none is close.
const char *opts_suggest(const OptTable *t, const char *name, size_t len);

// Parses argv[1..argc-1] through the table. *help = true (and help printed to stdout) when
// --help / -h is among them. Errors → SDL_ERR_ARG (SDL_ERR_UNSUPPORTED for unsupported
// options) naming the option, with a hint (the near miss for unknown names).
SdlStatus opts_parse_args(const OptTable *t, const char *usage, int argc, char **argv, bool *help);
// Applies one value from a config file: "name" as written there (an alias works too). file and
// line go into errors as "file:line". Conversions: an integer is accepted for OPT_DOUBLE; a
// number for OPT_STRING becomes its text; an array for OPT_STRING is joined with ','
// (resolution = [512, 768]); a string for OPT_LIST is split like a command line; a scalar for
// OPT_LIST is a list of one.
SdlStatus opts_apply_value(const OptTable *t, const char *name, const OptValue *v, const char *file, int line);
// Applies one value given as command-line text (e.g. a mapped config key): the same checks as
// the command line. For OPT_FLAG, text is "true"/"false".
SdlStatus opts_apply_text(const OptTable *t, int index, const char *text, const char *file, int line);

void opts_print_table_help(FILE *f, const OptTable *t, const char *usage);
// Frees the strings and lists an owned table holds, and sets them to NULL.
void opts_free_owned(const OptTable *t);

// Splits text into words like a POSIX shell without expansions: blanks separate, '…' and "…"
// quote, backslash escapes outside single quotes. Returns a NULL-terminated malloc'd list
// (free with opts_free_list) or NULL on an unclosed quote / out of memory (error recorded).
char **opts_split_words(const char *text);
size_t opts_list_len(char *const *list);
void opts_free_list(char **list);
