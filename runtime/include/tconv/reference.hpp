// SPDX-License-Identifier: Apache-2.0
// The scalar reference: plain loops from the definition, accumulating in double. The oracle
// every fast path is tested against.
#pragma once

#include <cstdint>
#include <vector>

#include "tconv/problem.hpp"

namespace tconv {

// x: input in the layer's layout; w: PyTorch layout [IC, OC/G, *K]; b: [OC] or nullptr when the
// layer has no bias; y: output in the layer's layout. Every feature: rank 1-3, groups, dilation,
// asymmetric pads, output_padding, bias, activations, both layouts. `threads` <= 0: the
// library's default_threads() (tconv.hpp); each output is computed by one thread, so results
// do not depend on the count.
void reference_conv_transpose(const Problem& p, const float* x, const float* w, const float* b,
                              float* y, int threads = 0);

// How far `got` is from the reference. The relative error of an element is
// |got - want| / (magnitude + |want|), where its magnitude is the sum of |x*w| over its terms plus
// |bias|: a scale-free measure that stays meaningful where terms cancel.
struct Deviation {
    double max_abs = 0;
    double max_rel = 0;
    int64_t worst = -1;  // index of the element with the largest relative error, -1 if none
    double got = 0, want = 0;  // at `worst`
};

// The magnitudes of every output element (the reference on |x|, |w|, |b|, no activation).
std::vector<float> reference_magnitudes(const Problem& p, const float* x, const float* w,
                                        const float* b, int threads = 0);
Deviation deviation(const float* got, const float* want, const float* magnitudes, int64_t n);
// Both steps, computing the reference when `want` is null.
Deviation deviation_from_reference(const Problem& p, const float* x, const float* w,
                                   const float* b, const float* got, const float* want = nullptr);

// bf16 layers: the first element (-1 if none) where |got - want| > 2^-8 * |want| + tol * magnitude,
// `want` being the bf16 reference's double-precision result before its output rounding (the
// layer's Problem with dtype f32 on the input and weights rounded to bf16): the output rounding's
// half step plus fp32 accumulation. NaN never passes.
int64_t first_outside_bf16_bound(const float* got, const float* want, const float* magnitudes,
                                 int64_t n, double tol = 1e-5);

// The fused activation applied to one pre-activation value (shared by reference and runtime).
double apply_activation(const Problem& p, double v);

}  // namespace tconv
