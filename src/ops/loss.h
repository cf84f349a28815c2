// loss.h — mean-squared error with per-sample weights, reduced as kohya's train_network does:
//   per_sample[n] = mean_i (pred[n,i] - target[n,i])^2      (mse_loss(reduction="none").mean([1,2,3]))
//   loss = (1/N) * sum_n weight[n] * per_sample[n]            (loss * loss_weights, then .mean())
// weights (N) may be NULL (all 1). Accumulates in double, in a fixed order (the result does
// not depend on the thread count).
#pragma once
#include <stdint.h>

// pred, target (N, D). per_sample (N) may be NULL. Returns the loss.
double mse_loss_forward(float *per_sample, const float *pred, const float *target, const float *weights,
                        int64_t N, int64_t D);
// dpred (N, D) = dloss * weight[n] * 2 (pred - target) / (N * D). dpred may be pred (in place).
void mse_loss_backward(float *dpred, const float *pred, const float *target, const float *weights,
                       int64_t N, int64_t D, float dloss);
