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
// The bf16 peak of `isa`, counting each bf16 multiply-add as 2 flops: Isa::amx probes AMX's
// tdpbf16ps (tiles), Isa::avx512 AVX512_BF16's vdpbf16ps; std::nullopt for other ISAs or when
// the CPU (or, for AMX, the OS) lacks them.
std::optional<double> measure_bf16_peak(Isa isa, int threads);
// The instruction measure_bf16_peak probes for `isa` ("tdpbf16ps" or "vdpbf16ps").
const char* bf16_peak_probe(Isa isa);

}  // namespace tconv::bench
