// SPDX-License-Identifier: Apache-2.0
// Random valid layers for `tconv bench --random N --seed S`: a draw no one picked, so no
// hand-chosen set decides how fast tconv looks.
#pragma once

#include <cstdint>
#include <vector>

#include "tconv/problem.hpp"

namespace tconv::bench {

// Bounds of one draw: each layer's work in flops (the bench's own count, Problem::flops).
struct RandomLayerSpec {
    double min_flops = 1e6, max_flops = 3e8;
};

// `count` layers, a pure function of `seed`: ranks 1-3; dense, grouped (few and many channels
// per group) and depthwise (channel multiplier 1 or 2); strides, dilations, asymmetric pads and
// output_padding; both layouts; bias and activations; batch 1-8; named random_<seed>_<i>.
// Every layer passes validate_problem and has its flops within the spec.
std::vector<Problem> random_layers(int count, uint64_t seed, const RandomLayerSpec& spec = {});

}  // namespace tconv::bench
