// log.c — leveled logging to stderr.
#include "base/log.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int current_level = -1; // -1: not yet read from the environment

int log_level_parse(const char *name) {
    static const char *names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++)
        if (name && strcmp(name, names[i]) == 0) return i;
    return -1;
}

LogLevel log_get_level(void) {
    if (current_level < 0) {
        int lv = log_level_parse(getenv("SDLORA_LOG_LEVEL"));
        current_level = lv >= 0 ? lv : LOG_INFO;
    }
    return (LogLevel)current_level;
}

void log_set_level(LogLevel level) { current_level = (int)level; }

void log_msg(LogLevel level, const char *fmt, ...) {
    if ((int)level > (int)log_get_level()) return;
    static const char *prefix[] = {"error: ", "warning: ", "", "debug: "};
    char line[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    // One fprintf per message so lines from different threads do not interleave.
    size_t n = strlen(line);
    fprintf(stderr, "%s%s%s", prefix[level], line, (n && line[n - 1] == '\n') ? "" : "\n");
}
