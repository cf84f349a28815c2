// test_base.c — base/: error records, logging levels, atomic writes, memory classes and arenas
// (and views), the per-layer-type profiler.
#include "harness.h"
#include "base/atomic_file.h"
#include "base/error.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/profile.h"
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];

static void make_tmpdir(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/sdlora-test-base-XXXXXX");
    if (!mkdtemp(tmpdir)) { perror("mkdtemp"); exit(1); }
}

static int read_file(const char *path, char *buf, size_t cap) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = 0;
    return (int)n;
}

static int count_tmp_files(void) { // leftovers named *.tmp-* in tmpdir
    char cmd[512];
    snprintf(cmd, sizeof cmd, "ls -a %s | grep -c '\\.tmp-'", tmpdir);
    FILE *p = popen(cmd, "r");
    int n = 0;
    if (p) { if (fscanf(p, "%d", &n) != 1) n = -1; pclose(p); }
    return n;
}

static void test_error_record(void) {
    sdl_error_clear();
    SdlStatus st = sdl_fail(SDL_ERR_FORMAT, "model.safetensors", "re-download it", "header length %d too big", 42);
    CHECK(st == SDL_ERR_FORMAT);
    const SdlError *e = sdl_last_error();
    CHECK(e->status == SDL_ERR_FORMAT);
    CHECK(strcmp(e->file, "model.safetensors") == 0);
    CHECK(strcmp(e->reason, "header length 42 too big") == 0);
    CHECK(strcmp(e->hint, "re-download it") == 0);
    char buf[4096] = {0};
    FILE *f = fmemopen(buf, sizeof buf, "w");
    sdl_error_print(f);
    fclose(f);
    CHECK(strcmp(buf, "error: model.safetensors: header length 42 too big\n  hint: re-download it\n") == 0);
    // very long inputs are truncated, never overflow
    char longname[5000];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    sdl_fail(SDL_ERR_IO, longname, longname, "%s", longname);
    CHECK(strlen(sdl_last_error()->file) == sizeof(((SdlError *)0)->file) - 1);
    CHECK(strcmp(sdl_status_name(SDL_ERR_SHAPE), "shape mismatch") == 0);
}

static SdlStatus fails_then_propagates(int *reached) {
    SDL_TRY(sdl_fail(SDL_ERR_ARG, NULL, NULL, "bad"));
    *reached = 1;
    return SDL_OK;
}

static void test_error_try(void) {
    int reached = 0;
    CHECK(fails_then_propagates(&reached) == SDL_ERR_ARG);
    CHECK(!reached);
}

static void test_log_levels(void) {
    CHECK(log_level_parse("debug") == LOG_DEBUG);
    CHECK(log_level_parse("warn") == LOG_WARN);
    CHECK(log_level_parse("loud") == -1);
    CHECK(log_level_parse(NULL) == -1);
    LogLevel old = log_get_level();
    log_set_level(LOG_ERROR);
    CHECK(log_get_level() == LOG_ERROR);
    log_info("this line must not appear");
    log_set_level(old);
}

static void test_atomic_write_and_replace(void) {
    char path[512], buf[64];
    snprintf(path, sizeof path, "%s/out.txt", tmpdir);
    CHECK(atomic_write_file(path, "first", 5) == SDL_OK);
    CHECK(read_file(path, buf, sizeof buf) == 5 && strcmp(buf, "first") == 0);
    CHECK(atomic_write_file(path, "second!", 7) == SDL_OK);
    CHECK(read_file(path, buf, sizeof buf) == 7 && strcmp(buf, "second!") == 0);
    CHECK(count_tmp_files() == 0);
    // abort leaves the old content and no temp file
    AtomicFile af;
    CHECK(atomic_open(&af, path) == SDL_OK);
    fputs("garbage", af.fp);
    atomic_abort(&af);
    CHECK(read_file(path, buf, sizeof buf) == 7 && strcmp(buf, "second!") == 0);
    CHECK(count_tmp_files() == 0);
}

static void test_atomic_write_failures(void) {
    char path[512], sub[512];
    // target is an existing non-empty directory: rename must fail, the directory survives
    snprintf(sub, sizeof sub, "%s/adir", tmpdir);
    CHECK(mkdir(sub, 0755) == 0);
    snprintf(path, sizeof path, "%s/adir/keep", tmpdir);
    CHECK(atomic_write_file(path, "x", 1) == SDL_OK);
    sdl_error_clear();
    CHECK(atomic_write_file(sub, "data", 4) == SDL_ERR_IO);
    CHECK(strcmp(sdl_last_error()->file, sub) == 0);
    CHECK(strstr(sdl_last_error()->reason, "rename") != NULL);
    struct stat stt;
    CHECK(stat(sub, &stt) == 0 && S_ISDIR(stt.st_mode));
    CHECK(count_tmp_files() == 0);
    // parent directory missing
    snprintf(path, sizeof path, "%s/no/such/dir/file", tmpdir);
    CHECK(atomic_write_file(path, "x", 1) == SDL_ERR_IO);
    CHECK(strcmp(sdl_last_error()->file, path) == 0);
    CHECK(sdl_last_error()->hint[0] != 0);
}

static void test_mem_accounting(void) {
    size_t before = mem_current(MEM_GRADS), peak_before = mem_peak(MEM_GRADS);
    float *a = mem_alloc(MEM_GRADS, 1000 * sizeof(float));
    float *b = mem_calloc(MEM_GRADS, 3000);
    CHECK(((uintptr_t)a % MEM_ALIGN) == 0 && ((uintptr_t)b % MEM_ALIGN) == 0);
    CHECK(mem_current(MEM_GRADS) == before + 4000 + 3000);
    for (int i = 0; i < 3000; i++) CHECK(((unsigned char *)b)[i] == 0);
    mem_free(a);
    CHECK(mem_current(MEM_GRADS) == before + 3000);
    mem_free(b);
    mem_free(NULL);
    CHECK(mem_current(MEM_GRADS) == before);
    CHECK(mem_peak(MEM_GRADS) >= peak_before + 7000);
    CHECK(mem_process_peak_rss() > 0 && mem_process_rss() > 0);
    char s[32];
    CHECK(strcmp(mem_format_bytes(s, sizeof s, 1536), "1.5 KiB") == 0);
    CHECK(strcmp(mem_format_bytes(s, sizeof s, 12), "12 B") == 0);
}

// The measuring pass and the real pass must hand out the same layout.
static size_t plan(Arena *a, float **p1, float **p2, float **p3) {
    *p1 = arena_floats(a, 10);
    *p2 = arena_floats(a, 1000);
    *p3 = arena_floats(a, 1);
    return a->used;
}

static void test_arena_plan(void) {
    Arena m, r;
    float *p1, *p2, *p3;
    arena_init_measure(&m, MEM_ACTIVATIONS);
    size_t need = plan(&m, &p1, &p2, &p3);
    CHECK(p1 == NULL && p2 == NULL && p3 == NULL);
    CHECK(need == mem_align_up(40) + mem_align_up(4000) + mem_align_up(4));
    size_t before = mem_current(MEM_ACTIVATIONS);
    arena_init(&r, MEM_ACTIVATIONS, need);
    CHECK(mem_current(MEM_ACTIVATIONS) == before + need);
    plan(&r, &p1, &p2, &p3);
    CHECK(r.used == need);
    CHECK((char *)p2 - (char *)p1 == (ptrdiff_t)mem_align_up(40));
    CHECK(((uintptr_t)p3 % MEM_ALIGN) == 0);
    arena_reset(&r);
    CHECK(arena_floats(&r, 10) == p1);
    arena_free(&r);
    CHECK(mem_current(MEM_ACTIVATIONS) == before);
}

// A view hands out the shared region from its start each time it is set up; base NULL measures.
static void test_arena_view(void) {
    Arena big, v;
    arena_init(&big, MEM_ACTIVATIONS, 4096);
    char *region = arena_alloc(&big, 1024);
    for (int pass = 0; pass < 2; pass++) {
        arena_init_view(&v, MEM_ACTIVATIONS, region, 1024);
        CHECK(!v.measuring && arena_floats(&v, 10) == (float *)region);
        CHECK(arena_floats(&v, 100) == (float *)(region + mem_align_up(40)));
    }
    arena_init_view(&v, MEM_ACTIVATIONS, NULL, 0);
    CHECK(v.measuring && arena_floats(&v, 1000) == NULL && v.used == mem_align_up(4000));
    CHECK(big.used == 1024);
    arena_free(&big);
}

static void spin(double seconds) {
    double t = time_now();
    while (time_now() - t < seconds) {}
}

static void *other_thread(void *arg) { // never enabled: records nothing
    ProfToken t = prof_begin(PROF_LINEAR);
    spin(0.01);
    prof_end(t);
    return arg;
}

// Off: tokens are inert. On: each category gets its time, forward and backward apart; a nested
// timer adds nothing (the outer one owns the time); other threads and disabled periods record
// nothing; steps divide the report.
static void test_profile(void) {
    ProfToken t = prof_begin(PROF_CONV3X3);
    CHECK(t.cat == -1);
    prof_end(t);
    prof_enable();
    CHECK(prof_enabled() && prof_seconds(PROF_CONV3X3, 0) == 0);
    t = prof_begin(PROF_CONV3X3);
    spin(0.02);
    ProfToken inner = prof_begin(PROF_LORA);
    spin(0.01);
    prof_end(inner);
    prof_end(t);
    {
        PROF_BACKWARD_SCOPE();
        PROF_SCOPE(PROF_ATTENTION);
        spin(0.01);
    }
    pthread_t th;
    pthread_create(&th, NULL, other_thread, NULL);
    pthread_join(th, NULL);
    prof_add(PROF_DATA, 0.5);
    prof_step();
    prof_step();
    CHECK(prof_seconds(PROF_CONV3X3, 0) >= 0.03 && prof_seconds(PROF_CONV3X3, 1) == 0);
    CHECK(prof_seconds(PROF_LORA, 0) == 0 && prof_seconds(PROF_LORA, 1) == 0);
    CHECK(prof_seconds(PROF_ATTENTION, 1) >= 0.01 && prof_seconds(PROF_ATTENTION, 0) == 0);
    CHECK(prof_seconds(PROF_LINEAR, 0) == 0 && prof_seconds(PROF_DATA, 0) == 0.5);
    CHECK(prof_set_backward(0) == 0); // the scope restored forward
    CHECK(prof_steps() == 2);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    prof_report(f);
    fclose(f);
    CHECKF(strstr(text, "profile: 2 step(s)") && strstr(text, "conv 3x3") && strstr(text, "attention core") &&
           strstr(text, "data/VAE") && !strstr(text, "LoRA") && strstr(text, "other (untimed)"), "%s", text);
    free(text);
    prof_disable();
    t = prof_begin(PROF_CONV3X3);
    CHECK(t.cat == -1);
    prof_end(t);
    prof_reset();
    CHECK(prof_seconds(PROF_CONV3X3, 0) == 0 && prof_steps() == 0);
}

int main(void) {
    make_tmpdir();
    RUN(test_error_record);
    RUN(test_error_try);
    RUN(test_log_levels);
    RUN(test_atomic_write_and_replace);
    RUN(test_atomic_write_failures);
    RUN(test_mem_accounting);
    RUN(test_arena_plan);
    RUN(test_arena_view);
    RUN(test_profile);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", tmpdir);
    return test_finish();
}
