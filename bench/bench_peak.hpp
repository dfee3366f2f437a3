// SPDX-License-Identifier: Apache-2.0
// The machine's FMA peak for one ISA and thread count, measured rather than looked up: a JIT
// loop of independent vfmadd231ps chains, run on every thread at once.
#pragma once

#include <optional>

#include "tconv/problem.hpp"

namespace tconv::bench {

// GFLOP/s summed over `threads` threads; std::nullopt for Isa::scalar (no meaningful vector
// peak) or when the CPU/OS lacks the ISA.
std::optional<double> measure_fma_peak(Isa isa, int threads);
// The vdpbf16ps peak (AVX512_BF16), counting each bf16 multiply-add as 2 flops; std::nullopt
// without AVX512_BF16.
std::optional<double> measure_bf16_peak(int threads);

}  // namespace tconv::bench
