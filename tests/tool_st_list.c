// tool_st_list.c — prints every tensor of a .safetensors file as "name DTYPE d0,d1,…" (0-dim:
// "scalar"), one per line in file order; `--meta KEY` prints one metadata value instead (exit 1
// when absent). Test helper for tests/check_train.sh (compared with sorted oracle key lists).
// usage: tool_st_list FILE [--meta KEY]
#include "io/safetensors.h"
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc != 2 && !(argc == 4 && strcmp(argv[2], "--meta") == 0)) {
        fprintf(stderr, "usage: %s FILE [--meta KEY]\n", argv[0]);
        return 2;
    }
    SafeTensors st;
    if (st_open(&st, argv[1]) != SDL_OK) {
        sdl_error_print(stderr);
        return 2;
    }
    int rc = 0;
    if (argc == 4) {
        const char *v = st_metadata_get(&st, argv[3]);
        if (v) puts(v);
        else rc = 1;
    } else {
        for (int64_t i = 0; i < st.n_tensors; i++) {
            const StTensor *t = &st.tensors[i];
            printf("%s %s ", t->name, st_dtype_name(t->dtype));
            if (t->ndim == 0) printf("scalar");
            for (int d = 0; d < t->ndim; d++) printf("%s%lld", d ? "," : "", (long long)t->shape[d]);
            putchar('\n');
        }
    }
    st_close(&st);
    return rc;
}
