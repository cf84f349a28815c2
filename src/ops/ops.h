// ops.h — the numeric kernels of sdlora: forward/backward pairs over raw float* (fp32).
//
// Conventions, stated once for every op in src/ops:
//   * Layout is PyTorch's, row-major: images NCHW, token sequences (B, T, C), weights as the
//     checkpoints store them (linear (OC, IC), conv (OC, IC, KH, KW)).
//   * Argument order: outputs, saved-for-backward, inputs, weights, dims (then options, work).
//   * Backward WRITES input gradients (dinp = ...) and ACCUMULATES parameter gradients
//     (dw += ..., db += ...), so gradient accumulation over micro-batches needs no copies.
//     A NULL gradient pointer skips that gradient: frozen base weights pass dw = db = NULL,
//     and an input that needs no gradient passes dinp = NULL.
//   * Where a tensor fans out (residuals, skip connections), the caller adds the branch
//     gradients with add_into().
//   * Ops that need temporary memory take `float *work` sized by the matching *_work_floats();
//     they never malloc in the hot path.
//   * Counts, strides and offsets are int64_t/size_t (SD activations pass 2^31 elements).
//   * Each optimized kernel keeps a *_naive sibling: the documented algorithm, used by tests.
//   * Threads: OpenMP inside each op; BLAS (OpenBLAS, OpenMP build) through gemm.h.
//
// Dimension legend: N batch, C/IC/OC channels, H W height width, HW = H*W, G groups,
// M rows (tokens × batch), D features, B batch, T tokens, NH heads, HD head dim.
#pragma once
#include "ops/gemm.h"
#include "ops/linear.h"
#include "ops/conv2d.h"
#include "ops/norm.h"
#include "ops/activation.h"
#include "ops/softmax.h"
#include "ops/attention.h"
#include "ops/tensor.h"
#include "ops/embedding.h"
#include "ops/loss.h"
