// embedding.h — sinusoidal timestep embedding, as diffusers get_timestep_embedding:
//   half = dim/2, exponent_i = -ln(max_period) * i / (half - downscale_freq_shift),
//   emb = t * exp(exponent); out = [sin(emb), cos(emb)] (or [cos, sin] if flip_sin_to_cos);
//   odd dim pads one zero. SD1.x/2.x/XL UNets use flip_sin_to_cos=1, shift=0, max_period=10000.
// There is no backward: timesteps are not trainable.
//
// Rounding follows torch's float32 CPU evaluation step by step — (float)(-ln max_period)·i,
// then / (float)(half - shift), exp, t·freq, sin/cos — with each elementary function
// correctly rounded (computed in double, rounded once). The float32 argument t·freq is what
// matters: for t ~ 1000 it differs from the exact real product by up to ~6e-5, and so does
// the output; matching torch's roundings keeps us within ~1 ulp of torch instead.
// (torch on CUDA multiplies by the reciprocal of the divisor and can differ by a float ulp.)
#pragma once
#include <stdint.h>

// out (N, dim); timesteps (N) as floats (integer timesteps cast as diffusers does).
void timestep_embedding(float *out, const float *timesteps, int64_t N, int64_t dim,
                        int flip_sin_to_cos, float downscale_freq_shift, float max_period);
