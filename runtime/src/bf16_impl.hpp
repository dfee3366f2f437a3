// SPDX-License-Identifier: Apache-2.0
// bf16 layers on the fp32 implementations: bf16 storage, fp32 compute. The inner Impl was
// compiled from the weights rounded to bf16; the input is rounded (or widened) to fp32 on the
// way in and the output rounded to bf16 on the way out, so every implementation (JIT of each
// family, reference) serves bf16 layers with the bf16 reference's rounding.
#pragma once

#include <memory>
#include <vector>

#include "impl.hpp"

namespace tconv {

// The weights as a bf16 layer stores them: rounded to bf16 (still fp32 values).
std::vector<float> bf16_weights(const Problem& p, const float* w);

// Wraps an Impl compiled for a bf16 problem.
std::unique_ptr<Impl> make_bf16_impl(std::unique_ptr<Impl> inner);

}  // namespace tconv
