// options.h — declarative command-line options: one table per subcommand drives parsing,
// validation, --help and error messages. Names match with '-' and '_' interchangeable, so
// kohya's spellings (--max_token_length) and ours (--max-tokens) both work.
#pragma once
#include <stdbool.h>
#include <stdio.h>

typedef enum { OPT_STRING, OPT_INT, OPT_FLOAT, OPT_FLAG } OptType;

typedef struct {
    const char *name;     // without the leading "--"
    const char *alias;    // another accepted name (e.g. kohya's) or NULL
    OptType type;
    void *dst;            // const char ** | int * | float * | bool *
    const char *help;
    bool required;
    const char *choices;  // OPT_INT/OPT_STRING: "75|150|225" restricts the values (NULL: any)
    double min, max;      // OPT_INT/OPT_FLOAT range when min < max
} OptSpec;

typedef enum { OPTS_OK = 0, OPTS_ERROR = 1, OPTS_HELP = 2 } OptsResult;

// Parses argv[1..argc-1] (argv[0] is the subcommand). On error prints "error: …" with a hint
// to stderr. usage is the one-line synopsis shown by --help.
OptsResult opts_parse(const char *cmd, const char *usage, const OptSpec *specs, int n_specs, int argc, char **argv);
void opts_print_help(FILE *f, const char *cmd, const char *usage, const OptSpec *specs, int n_specs);
