// SPDX-License-Identifier: Apache-2.0
// Bias and activation over contiguous runs of floats, for passes the kernels do not fuse (the
// pixel shuffle's per-phase bias, the factored resize's output pass): y[i] = act(y[i] + b[i]).
#pragma once

#include <cstdint>

#include "tconv/problem.hpp"

namespace tconv {

// p's activation. With AVX2 + FMA (checked once) eight at a time, sigmoid and tanh as the
// kernels' epilogues compute them (a polynomial exp; tanh's rational fit); otherwise, and
// for the last n % 8, the reference's apply_activation. Either way within the reference's
// tolerance.
void add_bias_activate(const Problem& p, float* y, const float* b, int64_t n);

}  // namespace tconv
