// SPDX-License-Identifier: Apache-2.0
// bf16 layers on the fp32 implementations that do not store bf16 themselves: bf16 storage, fp32
// compute. The inner Impl was
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

// An Impl compiled for a bf16 problem as the layer runs it: itself when it handles bf16
// storage (Impl::handles_bf16), else wrapped in the conversion passes.
std::unique_ptr<Impl> as_bf16_layer(std::unique_ptr<Impl> impl);

// Conversions of n elements in shares on up to `threads` of the pool's threads: the passes
// around an implementation whose storage differs from the caller's.
void to_bf16(const float* in, uint16_t* out, int64_t n, int threads, WaitPolicy wait);
void from_bf16(const uint16_t* in, float* out, int64_t n, int threads, WaitPolicy wait);

}  // namespace tconv
