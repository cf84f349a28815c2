// progress.c — the tqdm-style training progress bar (see progress.h). The text follows tqdm's
// format_meter, format_interval and format_num so logs read like kohya's.
#include "train/progress.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include "base/clock.h"

// ---- text ----

void progress_format_interval(char *buf, size_t cap, double seconds) {
    long long t = seconds > 0 ? (long long)seconds : 0; // int(t)
    long long h = t / 3600, m = t / 60 % 60, s = t % 60;
    if (h) snprintf(buf, cap, "%lld:%02lld:%02lld", h, m, s);
    else snprintf(buf, cap, "%02lld:%02lld", m, s);
}

// Python's repr(float): the shortest digits that round-trip, in exponent notation when the
// decimal point falls outside (-4, 16].
static void py_repr(char *buf, size_t cap, double v) {
    if (isnan(v)) {
        snprintf(buf, cap, "nan");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, cap, v < 0 ? "-inf" : "inf");
        return;
    }
    char e[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(e, sizeof e, "%.*e", prec - 1, v);
        if (strtod(e, NULL) == v) break;
    }
    // e = "[-]d[.ddd]e±XX"
    const char *q = e;
    int neg = *q == '-';
    if (neg) q++;
    char digits[24];
    int nd = 0;
    for (; *q != 'e'; q++)
        if (*q != '.') digits[nd++] = *q;
    digits[nd] = '\0';
    int exp10 = atoi(q + 1), decpt = exp10 + 1; // value = 0.digits × 10^decpt
    char out[64];
    size_t k = 0;
    if (neg) out[k++] = '-';
    if (decpt <= -4 || decpt > 16) { // d[.ddd]e±XX
        out[k++] = digits[0];
        if (nd > 1) out[k++] = '.';
        for (int i = 1; i < nd; i++) out[k++] = digits[i];
        k += (size_t)snprintf(out + k, sizeof out - k, "e%c%02d", exp10 < 0 ? '-' : '+', abs(exp10));
    } else if (decpt <= 0) { // 0.000ddd
        out[k++] = '0', out[k++] = '.';
        for (int i = 0; i < -decpt; i++) out[k++] = '0';
        for (int i = 0; i < nd; i++) out[k++] = digits[i];
    } else { // ddd.ddd, or ddd00.0
        for (int i = 0; i < decpt || i < nd; i++) {
            if (i == decpt) out[k++] = '.';
            out[k++] = i < nd ? digits[i] : '0';
        }
        if (decpt >= nd) out[k++] = '.', out[k++] = '0';
    }
    out[k] = '\0';
    snprintf(buf, cap, "%s", out);
}

// Removes the first occurrence of `pat`'s trailing '0' ("e+0" → "e+") in place.
static void drop_exp_zero(char *s, const char *pat) {
    char *p = strstr(s, pat);
    if (p) memmove(p + 2, p + 3, strlen(p + 3) + 1);
}

void progress_format_num(char *buf, size_t cap, double v) {
    char f[64], r[64];
    snprintf(f, sizeof f, "%.3g", v); // '{0:.3g}'.format(n)
    drop_exp_zero(f, "e+0");
    drop_exp_zero(f, "e-0");
    py_repr(r, sizeof r, v);          // str(n)
    snprintf(buf, cap, "%s", strlen(f) < strlen(r) ? f : r);
}

void progress_format_eta(char *buf, size_t cap, int64_t n, int64_t total, int64_t initial, double elapsed) {
    double rate = elapsed > 0 ? (double)(n - initial) / elapsed : 0; // smoothing=0: the average
    char el[32], rem[32], rt[32];
    progress_format_interval(el, sizeof el, elapsed);
    if (rate > 0) progress_format_interval(rem, sizeof rem, total ? (double)(total - n) / rate : 0);
    else snprintf(rem, sizeof rem, "?");
    if (rate > 0 && 1.0 / rate > 1) snprintf(rt, sizeof rt, "%5.2fs/it", 1.0 / rate);
    else if (rate > 0) snprintf(rt, sizeof rt, "%5.2fit/s", rate);
    else snprintf(rt, sizeof rt, "?it/s");
    snprintf(buf, cap, "%s<%s, %s", el, rem, rt);
}

// tqdm's Bar with the UTF charset " ▏▎▍▌▋▊▉█" (eighths of a cell).
static size_t format_bar(char *buf, size_t cap, double frac, int cells) {
    static const char *const sym[9] = {" ", "\u258f", "\u258e", "\u258d", "\u258c", "\u258b", "\u258a", "\u2589", "\u2588"};
    if (!(frac >= 0)) frac = 0;
    if (frac > 1) frac = 1;
    int64_t eighths = (int64_t)(frac * cells * 8), full = eighths / 8, part = eighths % 8;
    size_t k = 0;
    buf[0] = '\0';
    for (int64_t i = 0; i < cells; i++) {
        const char *s = i < full ? sym[8] : i == full ? sym[part] : sym[0];
        size_t l = strlen(s);
        if (k + l + 1 > cap) break;
        memcpy(buf + k, s, l + 1);
        k += l;
    }
    return k;
}

void progress_format(char *buf, size_t cap, const char *desc, int64_t n, int64_t total, int64_t initial,
                     double elapsed, const char *postfix, int ncols) {
    double frac = total > 0 ? (double)n / (double)total : 0;
    char l_bar[64], r_bar[320], eta[96];
    snprintf(l_bar, sizeof l_bar, "%s%s%3.0f%%|", desc && *desc ? desc : "", desc && *desc ? ": " : "", frac * 100);
    progress_format_eta(eta, sizeof eta, n, total, initial, elapsed);
    snprintf(r_bar, sizeof r_bar, "| %lld/%lld [%s%s%s]", (long long)n, (long long)total, eta,
             postfix && *postfix ? ", " : "", postfix ? postfix : "");
    int cells = 10;
    if (ncols > 0) {
        int rest = ncols - (int)(strlen(l_bar) + strlen(r_bar));
        cells = rest > 1 ? rest : 1;
    }
    char bar[3 * 512 + 1];
    if (cells > 512) cells = 512;
    format_bar(bar, sizeof bar, frac, cells);
    snprintf(buf, cap, "%s%s%s", l_bar, bar, r_bar);
}

// ---- the display ----

void progress_init(ProgressBar *p, FILE *out, const char *desc, int64_t total, int64_t initial) {
    memset(p, 0, sizeof *p);
    p->out = out;
    int fd = fileno(out);
    p->tty = fd >= 0 && isatty(fd);
    struct winsize ws;
    if (p->tty && ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) p->ncols = ws.ws_col;
    p->line_every_pct = 10;
    snprintf(p->desc, sizeof p->desc, "%s", desc ? desc : "");
    p->total = total, p->initial = initial, p->n = initial;
    p->start = time_now();
    p->last_draw = -INFINITY;
    p->last_bucket = -1, p->last_line_n = -1;
}

void progress_set_postfix(ProgressBar *p, const char *key, double value) {
    p->postfix[0] = '\0';
    progress_add_postfix(p, key, value);
}

void progress_add_postfix(ProgressBar *p, const char *key, double value) {
    char num[64];
    progress_format_num(num, sizeof num, value);
    size_t l = strlen(p->postfix);
    snprintf(p->postfix + l, sizeof p->postfix - l, "%s%s=%s", l ? ", " : "", key, num);
}

static void draw(ProgressBar *p, double now, const char *end) {
    char line[2048];
    progress_format(line, sizeof line, p->desc, p->n, p->total, p->initial, now - p->start, p->postfix,
                    p->tty ? p->ncols : 0);
    if (p->tty) {
        size_t len = strlen(line);
        // pad over a longer previous line (tqdm does the same)
        fprintf(p->out, "\r%s%*s%s", line, p->last_len > len ? (int)(p->last_len - len) : 0, "", end);
        p->last_len = len;
    } else {
        fprintf(p->out, "%s\n", line);
        p->last_line_n = p->n;
    }
    fflush(p->out);
    p->last_draw = now;
}

void progress_update_at(ProgressBar *p, int64_t n, double now) {
    if (p->closed) return;
    p->n = n;
    if (p->tty) {
        if (now - p->last_draw >= 0.1 || n >= p->total) draw(p, now, ""); // tqdm's mininterval
        return;
    }
    int every = p->line_every_pct > 0 ? p->line_every_pct : 10;
    int64_t bucket = p->total > 0 ? (int64_t)floor((double)n * 100.0 / (double)p->total / every) : 0;
    if (bucket > p->last_bucket) {
        p->last_bucket = bucket;
        draw(p, now, "");
    }
}

void progress_update(ProgressBar *p, int64_t n) { progress_update_at(p, n, time_now()); }

void progress_clear(ProgressBar *p) {
    if (!p->tty || !p->last_len) return;
    fprintf(p->out, "\r%*s\r", (int)p->last_len, "");
    fflush(p->out);
    p->last_len = 0;
    p->last_draw = -INFINITY; // redraw at the next update
}

void progress_close_at(ProgressBar *p, double now) {
    if (p->closed) return;
    if (p->tty) draw(p, now, "\n");
    else if (p->last_line_n != p->n) draw(p, now, "");
    p->closed = true;
}

void progress_close(ProgressBar *p) { progress_close_at(p, time_now()); }
