// SPDX-License-Identifier: Apache-2.0
// The second half of a factored resize_conv (upsample_lowering.hpp): the up-sampling filter run
// on the output side. The first half, a transposed convolution with the conv's own taps at the
// resize's stride, writes v; then per dim y[o] = sum_e h[e] * v[o - e + shift], the bias and the
// activation.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "tconv/problem.hpp"
#include "tconv/tconv.hpp"

namespace tconv {

struct OutputFilter {
    // Per dim as 3 dims (a rank < 3 layer's leading dims {1}, shift 0): the filter, and the
    // index of v that output o's tap e = 0 reads (o + shift).
    std::array<std::vector<float>, 3> h{{{1.0f}, {1.0f}, {1.0f}}};
    std::array<int64_t, 3> shift{0, 0, 0};
    std::array<int64_t, 3> v_extent{1, 1, 1};  // v's extents; values outside are zero
    std::vector<float> bias;                   // [out_channels], or empty
};

// y (p's layout, batch and out_channels, spatial extents `out` as 3 dims) from v, then p's
// activation. Rows split over `threads` of the library's pool.
void filter_output(const Problem& p, const OutputFilter& f, const float* v,
                   const std::array<int64_t, 3>& out, float* y, int threads = 1,
                   WaitPolicy wait = WaitPolicy::bounded);

}  // namespace tconv
