// clock.h — monotonic wall-clock time in seconds (for progress, it/s and benchmarks).
#pragma once
#include <time.h>

static inline double time_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
