// progress.h — the training progress display, in the format of kohya's tqdm bar
// (tqdm(range(max_train_steps), smoothing=0, desc="steps") with set_postfix(avr_loss=…)):
//
//   steps:  42%|████▏     | 420/1000 [01:02<01:26,  6.71it/s, avr_loss=0.123]
//
// Rate = steps since `initial` / elapsed (smoothing=0: the average), shown "%5.2fit/s", or
// "%5.2fs/it" once a step takes more than a second; "?it/s" before the first step; remaining =
// (total − n) / rate; times "MM:SS" or "H:MM:SS". The bar is tqdm's: 8 eighth-blocks per cell,
// 10 cells, or the terminal width less the text when it is known.
//
// On a TTY the line is redrawn in place ("\r"), at most 10 times a second (tqdm's mininterval)
// and always for the last step. When the stream is not a TTY (CI logs, files) the same text is
// printed as plain lines, one each `line_every_pct` percent (default 10) and one at the end.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
    FILE *out;            // borrowed; stderr in the trainer
    bool tty;             // redraw in place vs plain lines
    int ncols;            // TTY width (0: 10-cell bar)
    int line_every_pct;   // plain-line mode: a line each N percent
    char desc[32];        // "steps"
    int64_t total, initial, n;
    double start, last_draw; // time_now() seconds
    int64_t last_bucket;  // plain-line mode: the last percent bucket printed (-1: none)
    int64_t last_line_n;  // plain-line mode: the step of the last line (-1: none)
    size_t last_len;      // TTY: length of the line drawn last (to clear it)
    char postfix[160];    // "avr_loss=0.123" (without the leading ", ")
    bool closed;
} ProgressBar;

// Starts a bar for steps initial..total on out (tty = isatty(fileno(out)); a test may set the
// field after init). Nothing is drawn until the first update.
void progress_init(ProgressBar *p, FILE *out, const char *desc, int64_t total, int64_t initial);
// tqdm's set_postfix(key=value) for one number: value as tqdm's format_num ("0.123", "1e-5").
void progress_set_postfix(ProgressBar *p, const char *key, double value);
// Appends ", key=value" to the postfix (several keys, as set_postfix(**logs)).
void progress_add_postfix(ProgressBar *p, const char *key, double value);
// Sets the step count to n and redraws if due.
void progress_update(ProgressBar *p, int64_t n);
void progress_update_at(ProgressBar *p, int64_t n, double now); // with a given clock (tests)
// TTY: erases the bar so a log line can be printed; the next update redraws it.
void progress_clear(ProgressBar *p);
// Draws the final state and ends the line.
void progress_close(ProgressBar *p);
void progress_close_at(ProgressBar *p, double now);

// ---- the text, for tests and other displays ----
// The full line (no "\r" or "\n") for step n of total after `elapsed` seconds; ncols 0 → 10-cell bar.
void progress_format(char *buf, size_t cap, const char *desc, int64_t n, int64_t total, int64_t initial,
                     double elapsed, const char *postfix, int ncols);
// "[elapsed<remaining, rate]" part without the brackets or postfix: "01:02<01:26,  6.71it/s".
void progress_format_eta(char *buf, size_t cap, int64_t n, int64_t total, int64_t initial, double elapsed);
void progress_format_interval(char *buf, size_t cap, double seconds); // tqdm format_interval
void progress_format_num(char *buf, size_t cap, double v);            // tqdm format_num
