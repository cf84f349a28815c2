// test_base.c — base/: error records, logging levels, atomic writes, memory classes and arenas.
#include "harness.h"
#include "base/atomic_file.h"
#include "base/error.h"
#include "base/log.h"
#include "base/mem.h"
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

int main(void) {
    make_tmpdir();
    RUN(test_error_record);
    RUN(test_error_try);
    RUN(test_log_levels);
    RUN(test_atomic_write_and_replace);
    RUN(test_atomic_write_failures);
    RUN(test_mem_accounting);
    RUN(test_arena_plan);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", tmpdir);
    return test_finish();
}
