// norm.h — GroupNorm (over (N, C, HW), as torch.nn.GroupNorm) and LayerNorm (over the last
// dim, as torch.nn.LayerNorm), with an optional fused SiLU after GroupNorm (the UNet and VAE
// always follow GroupNorm with SiLU in ResBlocks; fusing saves a pass and an activation).
//
// Statistics are accumulated in double (per-chunk sums about a shift near the mean, merged with
// Chan's update, so inputs with a large mean lose no precision); mean and rstd =
// 1/sqrt(var + eps) (biased var) are saved for backward.
// Conventions as ops.h: backward writes dinp (=), accumulates dgamma and dbeta (+=); any
// gradient pointer may be NULL to skip it. gamma/beta may each be NULL (affine off: gamma = 1,
// beta = 0). dinp may alias dout (the kernels are elementwise there).
// Typical eps: UNet GroupNorm 1e-5, VAE GroupNorm 1e-6, CLIP/UNet LayerNorm 1e-5.
#pragma once
#include <stdint.h>

// ---- GroupNorm: G groups of C/G consecutive channels; C % G == 0 ----

// out (N, C, HW); mean, rstd (N, G) or NULL (no backward follows); inp (N, C, HW);
// gamma, beta (C) or NULL.
void groupnorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *gamma,
                       const float *beta, int64_t N, int64_t C, int64_t HW, int64_t G, float eps);
// dinp (N, C, HW) = dL/dinp; dgamma, dbeta (C) += ...; dout (N, C, HW).
void groupnorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout, const float *inp,
                        const float *gamma, const float *mean, const float *rstd,
                        int64_t N, int64_t C, int64_t HW, int64_t G);
// out = silu(groupnorm(inp)); backward recomputes the normalized value from inp/mean/rstd/
// gamma/beta, so only inp, mean and rstd need to be kept for backward.
void groupnorm_silu_forward(float *out, float *mean, float *rstd, const float *inp, const float *gamma,
                            const float *beta, int64_t N, int64_t C, int64_t HW, int64_t G, float eps);
void groupnorm_silu_backward(float *dinp, float *dgamma, float *dbeta, const float *dout, const float *inp,
                             const float *gamma, const float *beta, const float *mean, const float *rstd,
                             int64_t N, int64_t C, int64_t HW, int64_t G);

void groupnorm_forward_naive(float *out, float *mean, float *rstd, const float *inp, const float *gamma,
                             const float *beta, int64_t N, int64_t C, int64_t HW, int64_t G, float eps);
void groupnorm_backward_naive(float *dinp, float *dgamma, float *dbeta, const float *dout, const float *inp,
                              const float *gamma, const float *mean, const float *rstd,
                              int64_t N, int64_t C, int64_t HW, int64_t G);
// GroupNorm then SiLU, composed from the naive pieces (mallocs a temporary; tests only).
void groupnorm_silu_forward_naive(float *out, float *mean, float *rstd, const float *inp, const float *gamma,
                                  const float *beta, int64_t N, int64_t C, int64_t HW, int64_t G, float eps);
void groupnorm_silu_backward_naive(float *dinp, float *dgamma, float *dbeta, const float *dout, const float *inp,
                                   const float *gamma, const float *beta, const float *mean, const float *rstd,
                                   int64_t N, int64_t C, int64_t HW, int64_t G);

// ---- LayerNorm over the last dim D ----

// out (M, D); mean, rstd (M) or NULL (no backward follows); inp (M, D); gamma, beta (D) or NULL.
void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *gamma,
                       const float *beta, int64_t M, int64_t D, float eps);
// dinp (M, D) = dL/dinp; dgamma, dbeta (D) += ...; dout (M, D).
void layernorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout, const float *inp,
                        const float *gamma, const float *mean, const float *rstd, int64_t M, int64_t D);
void layernorm_forward_naive(float *out, float *mean, float *rstd, const float *inp, const float *gamma,
                             const float *beta, int64_t M, int64_t D, float eps);
void layernorm_backward_naive(float *dinp, float *dgamma, float *dbeta, const float *dout, const float *inp,
                              const float *gamma, const float *mean, const float *rstd, int64_t M, int64_t D);
