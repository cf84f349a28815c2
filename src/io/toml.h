// toml.h — TOML 1.0.0 parser (https://toml.io/en/v1.0.0) producing a read-only document tree.
//
// Used for kohya's `--dataset_config` and `--config_file`. Strict: the whole input must be
// valid UTF-8 and valid TOML 1.0.0 (proven on the toml-test suite, tests/check_toml_test.sh);
// anything else fails with SDL_ERR_FORMAT and a reason "line L, column C: ..." (column counts
// characters, both from 1). Every value remembers the line it starts on so that schema checks
// built on top can report "file:line".
//
//     TomlValue *root;
//     SDL_TRY(toml_parse_file("dataset.toml", &root));
//     const TomlValue *general = toml_table_get(root, "general");
//     int64_t res;
//     if (toml_as_int(toml_table_get(general, "resolution"), &res)) ...
//     toml_free(root);
//
// Choices the spec leaves open: a CRLF inside a multi-line string is stored as LF; a float
// too large for a double becomes +-inf; fractions of a second beyond nanoseconds are
// truncated (the text is kept); a leap second (:60) is accepted; nesting deeper than 256
// tables/arrays is refused.
//
// Tables keep their keys in insertion order. Strings and keys are NUL-terminated copies, but
// may contain U+0000 themselves (from "\u0000"), so the *_len accessors give the byte length.
// Every accessor accepts NULL (returning 0 / NULL / "not that kind"), so lookups chain.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/error.h"

typedef enum {
    TOML_TABLE,
    TOML_ARRAY,
    TOML_STRING,
    TOML_INTEGER,
    TOML_FLOAT,
    TOML_BOOL,
    TOML_OFFSET_DATETIME, // 1979-05-27T07:32:00Z, 1979-05-27 00:32:00.5-07:00
    TOML_LOCAL_DATETIME,  // 1979-05-27T07:32:00
    TOML_LOCAL_DATE,      // 1979-05-27
    TOML_LOCAL_TIME,      // 07:32:00.999
} TomlKind;

typedef struct TomlValue TomlValue;

// The fields of a date/time value; those its kind lacks are 0.
typedef struct {
    int year, month, day;            // date part
    int hour, minute, second;        // time part (second may be 60: a leap second)
    int32_t nanosecond;              // fraction, truncated to nanoseconds as the spec asks
    int offset_minutes;              // offset datetimes: offset from UTC (Z = 0)
} TomlDatetime;

// Parses `len` bytes of `text` (need not be NUL-terminated). `path_for_errors` names the
// source in error records (may be NULL). On success *out is the root table (free with
// toml_free); on failure *out is NULL and the error is recorded (SDL_ERR_FORMAT or OOM).
SdlStatus toml_parse(const char *text, size_t len, const char *path_for_errors, TomlValue **out);
// Reads and parses a file; an unreadable file is SDL_ERR_IO naming it.
SdlStatus toml_parse_file(const char *path, TomlValue **out);
void toml_free(TomlValue *v);

TomlKind toml_kind(const TomlValue *v);      // v must not be NULL
const char *toml_kind_name(TomlKind kind);   // "table", "integer", "local date", ...
int toml_line(const TomlValue *v);           // 1-based line where the value (or table header) starts; 0 for NULL

// ---- tables ----
size_t toml_table_len(const TomlValue *t);   // 0 if t is NULL or not a table
// The value stored under `key` (NUL-terminated), or NULL if absent or t is not a table.
const TomlValue *toml_table_get(const TomlValue *t, const char *key);
const TomlValue *toml_table_get_n(const TomlValue *t, const char *key, size_t key_len);
// Iteration in insertion order, i < toml_table_len(t). key_len may be NULL.
const char *toml_table_key_at(const TomlValue *t, size_t i, size_t *key_len);
const TomlValue *toml_table_value_at(const TomlValue *t, size_t i);

// ---- arrays (static arrays and arrays of tables alike) ----
size_t toml_array_len(const TomlValue *a);   // 0 if a is NULL or not an array
const TomlValue *toml_array_at(const TomlValue *a, size_t i); // NULL if out of range

// ---- scalars: return NULL / false when v is NULL or of another kind ----
const char *toml_as_string(const TomlValue *v, size_t *len); // len may be NULL
bool toml_as_int(const TomlValue *v, int64_t *out);
bool toml_as_float(const TomlValue *v, double *out);    // floats only
bool toml_as_number(const TomlValue *v, double *out);   // floats and integers (kohya writes `0` for 0.0)
bool toml_as_bool(const TomlValue *v, bool *out);
// Any of the four date/time kinds: the fields, and the source text exactly as written.
const TomlDatetime *toml_as_datetime(const TomlValue *v);
const char *toml_datetime_text(const TomlValue *v);
