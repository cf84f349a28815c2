// tool_st_compare.c — compares the tensors of two .safetensors files (test helper for the
// probe goldens): every tensor of the expected file must exist in the actual file with the
// same shape and values within atol + rtol·max|expected| (per tensor).
// usage: tool_st_compare ACTUAL EXPECTED [rtol [atol]]   exit 0 equal, 1 different, 2 unreadable
#include "io/safetensors.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s ACTUAL EXPECTED [rtol [atol]]\n", argv[0]);
        return 2;
    }
    double rtol = argc > 3 ? atof(argv[3]) : 1e-4, atol = argc > 4 ? atof(argv[4]) : 0;
    SafeTensors a, e;
    if (st_open(&a, argv[1]) != SDL_OK || st_open(&e, argv[2]) != SDL_OK) {
        sdl_error_print(stderr);
        return 2;
    }
    int bad = 0;
    for (int64_t i = 0; i < e.n_tensors; i++) {
        const StTensor *te = &e.tensors[i], *ta = st_find(&a, te->name);
        if (!ta) { printf("missing tensor %s\n", te->name); bad++; continue; }
        int same_shape = ta->ndim == te->ndim;
        for (int d = 0; same_shape && d < te->ndim; d++) same_shape = ta->shape[d] == te->shape[d];
        if (!same_shape) { printf("%s: shapes differ\n", te->name); bad++; continue; }
        float *va = malloc((size_t)te->numel * 4 + 4), *ve = malloc((size_t)te->numel * 4 + 4);
        int ints = te->dtype == ST_I32 || te->dtype == ST_I64;
        if (ints) { // ids: exact
            for (int64_t k = 0; k < te->numel; k++) {
                int64_t x = te->dtype == ST_I32 ? ((const int32_t *)te->data)[k] : ((const int64_t *)te->data)[k];
                int64_t y = ta->dtype == ST_I32 ? ((const int32_t *)ta->data)[k] : ((const int64_t *)ta->data)[k];
                if (x != y) { printf("%s[%lld]: %lld vs expected %lld\n", te->name, (long long)k, (long long)y, (long long)x); bad++; break; }
            }
        } else if (st_tensor_to_f32(&a, ta, va) == SDL_OK && st_tensor_to_f32(&e, te, ve) == SDL_OK) {
            double diff = 0, mag = 0;
            for (int64_t k = 0; k < te->numel; k++) {
                double d = fabs((double)va[k] - ve[k]);
                if (!(d <= diff)) diff = d;
                if (fabs(ve[k]) > mag) mag = fabs(ve[k]);
            }
            double tol = atol + rtol * mag;
            printf("%-24s max abs diff %.3g (tolerance %.3g, max |expected| %.3g)%s\n", te->name, diff, tol, mag, diff <= tol ? "" : "  MISMATCH");
            if (!(diff <= tol)) bad++;
        } else { sdl_error_print(stderr); bad++; }
        free(va), free(ve);
    }
    st_close(&a), st_close(&e);
    return bad ? 1 : 0;
}
