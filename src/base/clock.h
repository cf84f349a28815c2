// clock.h — monotonic time in seconds (progress, it/s, benchmarks) and Unix wall time.
#pragma once
#include <time.h>

static inline double time_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// Seconds since the Unix epoch (Python's time.time()), for timestamps in metadata and logs.
static inline double wall_time_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
