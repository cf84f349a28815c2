// half_weight.c — widening 16-bit weights to fp32 (see half_weight.h). fp16 uses the F16C
// conversion instruction where the build has it (exact for every finite value, subnormals
// included, as base/half.c's portable code); bf16 is a 16-bit shift.
#include "nn/half_weight.h"
#include "base/half.h"
#include "base/profile.h"
#include <stddef.h>
#if defined(__F16C__)
#include <immintrin.h>
#endif

// One contiguous piece, on the calling thread.
static void widen_piece(float *dst, const uint16_t *src, int64_t n, int bf16) {
    if (bf16) {
        for (int64_t i = 0; i < n; i++) dst[i] = bf16_to_fp32(src[i]); // vectorises: (uint32)b << 16
        return;
    }
    int64_t i = 0;
#if defined(__F16C__)
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(src + i))));
#endif
    fp16_to_fp32_array(dst + i, src + i, (size_t)(n - i));
}

void half_widen(float *dst, const uint16_t *src, int64_t n, int bf16) {
    enum { PIECE = 1 << 16 };
    int64_t pieces = (n + PIECE - 1) / PIECE;
    #pragma omp parallel for schedule(static) if (pieces > 1)
    for (int64_t p = 0; p < pieces; p++) {
        int64_t lo = p * PIECE, len = n - lo < PIECE ? n - lo : PIECE;
        widen_piece(dst + lo, src + lo, len, bf16);
    }
}

const float *half_weight_get(const float *w32, const HalfWeight *h) {
    if (!h->data) return w32;
    ProfToken pt = prof_begin(PROF_WIDEN);
    half_widen(h->buf, h->data, h->numel, h->bf16);
    prof_end(pt);
    return h->buf;
}
