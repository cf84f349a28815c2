// test_progress.c — the tqdm-style progress bar (src/train/progress.c). The expected lines are
// what tqdm 4.70.1's tqdm.format_meter / format_num return for the same arguments (kohya's bar
// is tqdm(..., smoothing=0, desc="steps")), so a change in rounding, padding, the s/it ↔ it/s
// switch or the bar glyphs fails here. Then the display: plain lines every N% into a memstream
// when not on a TTY, and in-place redraws throttled to 10/s when on one.
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "train/progress.h"

static void expect_line(int64_t n, int64_t total, int64_t initial, double elapsed, const char *postfix, int ncols,
                        const char *want) {
    char got[1024];
    progress_format(got, sizeof got, "steps", n, total, initial, elapsed, postfix, ncols);
    CHECKF(strcmp(got, want) == 0, "\n    got  '%s'\n    want '%s'", got, want);
}

static void test_format_lines(void) {
    expect_line(420, 1000, 0, 62.5, "avr_loss=0.123", 0,
                "steps:  42%|████▏     | 420/1000 [01:02<01:26,  6.72it/s, avr_loss=0.123]");
    // the bar fills the terminal width less the text
    expect_line(420, 1000, 0, 62.5, "avr_loss=0.123", 100,
                "steps:  42%|███████████████▌                     | 420/1000 [01:02<01:26,  6.72it/s, avr_loss=0.123]");
    // slower than 1 it/s: s/it
    expect_line(3, 1000, 0, 10.0, "", 0, "steps:   0%|          | 3/1000 [00:10<55:23,  3.33s/it]");
    // nothing done yet: unknown rate and remaining time
    expect_line(0, 1000, 0, 0, NULL, 0, "steps:   0%|          | 0/1000 [00:00<?, ?it/s]");
    // hours; done
    expect_line(1000, 1000, 0, 3725.2, NULL, 0, "steps: 100%|██████████| 1000/1000 [1:02:05<00:00,  3.73s/it]");
    // resumed at step 100: the rate counts only this run's steps
    expect_line(150, 1000, 100, 10.0, NULL, 0, "steps:  15%|█▌        | 150/1000 [00:10<02:50,  5.00it/s]");
    // exactly 1 it/s stays it/s (tqdm switches when 1/rate > 1)
    expect_line(1, 1000, 0, 1.0, NULL, 0, "steps:   0%|          | 1/1000 [00:01<16:39,  1.00it/s]");
    expect_line(1000, 1000, 0, 0.5, NULL, 0, "steps: 100%|██████████| 1000/1000 [00:00<00:00, 2000.00it/s]");
}

static void test_format_parts(void) {
    char b[64];
    struct { double t; const char *want; } iv[] = {{0, "00:00"}, {59.99, "00:59"}, {61, "01:01"}, {3599, "59:59"},
                                                   {3600, "1:00:00"}, {36061.5, "10:01:01"}};
    for (size_t i = 0; i < sizeof iv / sizeof iv[0]; i++) {
        progress_format_interval(b, sizeof b, iv[i].t);
        CHECKF(strcmp(b, iv[i].want) == 0, "%g: '%s' vs '%s'", iv[i].t, b, iv[i].want);
    }
    struct { double v; const char *want; } nums[] = {
        {0.123456789, "0.123"}, {0.1, "0.1"}, {1e-5, "1e-5"}, {100.0, "100"}, {0.0, "0"}, {12345.678, "1.23e+4"},
        {1e16, "1e+16"}, {1.5e-7, "1.5e-7"}, {123456789.0, "1.23e+8"}, {0.00012345, "0.000123"}, {NAN, "nan"},
        {-2.5, "-2.5"}, {1e22, "1e+22"}, {0.001, "0.001"}, {3.0, "3"}, {1e-4, "0.0001"}};
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        progress_format_num(b, sizeof b, nums[i].v);
        CHECKF(strcmp(b, nums[i].want) == 0, "%.17g: '%s' vs '%s'", nums[i].v, b, nums[i].want);
    }
    progress_format_eta(b, sizeof b, 420, 1000, 0, 62.5);
    CHECK(strcmp(b, "01:02<01:26,  6.72it/s") == 0);
    ProgressBar p;
    progress_init(&p, stderr, "steps", 10, 0);
    progress_set_postfix(&p, "avr_loss", 0.123456);
    progress_add_postfix(&p, "lr", 1e-4);
    CHECK(strcmp(p.postfix, "avr_loss=0.123, lr=0.0001") == 0); // tqdm set_postfix(avr_loss=…, lr=…)
    progress_set_postfix(&p, "avr_loss", 0.5);
    CHECK(strcmp(p.postfix, "avr_loss=0.5") == 0);
}

static int count_char(const char *s, char c) {
    int n = 0;
    for (; *s; s++) n += *s == c;
    return n;
}

static void test_lines_mode(void) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ProgressBar p;
    progress_init(&p, f, "steps", 200, 0);
    CHECK(!p.tty); // a memstream is not a terminal
    double t0 = p.start;
    for (int64_t n = 1; n <= 200; n++) {
        progress_set_postfix(&p, "avr_loss", 1.0 / (double)n);
        progress_update_at(&p, n, t0 + 0.5 * (double)n);
    }
    progress_close_at(&p, t0 + 100);
    fclose(f);
    // the first step, then one line per 10%: steps 20, 40, …, 200 — none twice (close adds
    // nothing after 100%)
    CHECKF(count_char(buf, '\n') == 11, "%d lines:\n%s", count_char(buf, '\n'), buf);
    CHECK(count_char(buf, '\r') == 0);
    CHECKF(strstr(buf, "steps:   0%|          | 1/200 [00:00<01:39,  2.00it/s, avr_loss=1]\n"
                       "steps:  10%|█         | 20/200 [00:10<01:30,  2.00it/s, avr_loss=0.05]\n") == buf, "%s", buf);
    CHECK(strstr(buf, "steps: 100%|██████████| 200/200 [01:40<00:00,  2.00it/s, avr_loss=0.005]\n") != NULL);
    free(buf);
    // close prints the last step when it was not on a line yet (a run stopped early)
    f = open_memstream(&buf, &len);
    progress_init(&p, f, "steps", 100, 0);
    p.line_every_pct = 25;
    for (int64_t n = 1; n <= 30; n++) progress_update_at(&p, n, p.start + n);
    progress_close_at(&p, p.start + 30);
    fclose(f);
    CHECKF(count_char(buf, '\n') == 3, "%s", buf); // 1 (0%), 25, then 30 at close
    CHECK(strstr(buf, "| 30/100 [00:30<01:10,  1.00it/s]\n") != NULL);
    free(buf);
}

static void test_tty_mode(void) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ProgressBar p;
    progress_init(&p, f, "steps", 100, 0);
    p.tty = true, p.ncols = 0;
    double t0 = p.start;
    // 100 updates 20 ms apart: redrawn every 0.1 s (each 5th) plus the last step
    for (int64_t n = 1; n <= 100; n++) progress_update_at(&p, n, t0 + 0.02 * (double)n);
    fflush(f);
    int draws = count_char(buf, '\r');
    CHECKF(draws >= 19 && draws <= 21, "%d redraws", draws);
    CHECK(count_char(buf, '\n') == 0);
    // clear erases the line, the next update redraws at once
    progress_clear(&p);
    fflush(f);
    CHECK(len >= 2 && buf[len - 1] == '\r');
    progress_update_at(&p, 100, t0 + 2.001);
    progress_close_at(&p, t0 + 2.002);
    fclose(f);
    CHECK(len > 0 && buf[len - 1] == '\n');
    CHECK(strstr(buf, "\rsteps: 100%|██████████| 100/100 [00:02<00:00, 49.95it/s]\n") != NULL);
    free(buf);
}

int main(void) {
    RUN(test_format_lines);
    RUN(test_format_parts);
    RUN(test_lines_mode);
    RUN(test_tty_mode);
    return test_finish();
}
