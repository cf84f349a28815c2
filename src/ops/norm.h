// norm.h — GroupNorm (over (N, C, HW), as torch.nn.GroupNorm) and LayerNorm (over the last
// dim, as torch.nn.LayerNorm), with an optional fused SiLU after GroupNorm (the UNet and VAE
// always follow GroupNorm with SiLU in ResBlocks; fusing saves a pass and an activation).
// Statistics are accumulated in double; mean and rstd = 1/sqrt(var + eps) (biased var)
// are saved for backward.
#pragma once
#include <stdint.h>

// out (N, C, HW); mean, rstd (N, G); gamma, beta (C) or NULL (affine off).
void groupnorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *gamma,
                       const float *beta, int64_t N, int64_t C, int64_t HW, int64_t G, float eps);
void groupnorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout, const float *inp,
                        const float *gamma, const float *mean, const float *rstd,
                        int64_t N, int64_t C, int64_t HW, int64_t G);
// out = silu(groupnorm(inp)); backward recomputes the normalized value from inp/mean/rstd.
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

// out (M, D); mean, rstd (M); gamma, beta (D) or NULL.
void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *gamma,
                       const float *beta, int64_t M, int64_t D, float eps);
void layernorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout, const float *inp,
                        const float *gamma, const float *mean, const float *rstd, int64_t M, int64_t D);
void layernorm_forward_naive(float *out, float *mean, float *rstd, const float *inp, const float *gamma,
                             const float *beta, int64_t M, int64_t D, float eps);
void layernorm_backward_naive(float *dinp, float *dgamma, float *dbeta, const float *dout, const float *inp,
                              const float *gamma, const float *mean, const float *rstd, int64_t M, int64_t D);
