// SPDX-License-Identifier: Apache-2.0
// The register budgets of the kernel families (docs/ALGORITHM.md §4): what a tile needs in its
// main loop and in its epilogue. The planners choose tiles with these, the tests sweep them.
#include <algorithm>

#include "plan_util.hpp"

namespace tconv::gen {

bool channel_tile_fits(Isa isa, int ur, int n_oc, Activation act, bool avx2_tail,
                       int shared_w_taps) {
    const int R = vector_registers(isa);
    // Main loop: accumulators + one register per weight vector + the broadcast input, which
    // AVX-512 with one weight vector folds into the FMA's memory operand; with shared
    // broadcasts, the weight vectors of every W tap and a broadcast register.
    const bool embedded = isa == Isa::avx512 && n_oc == 1 && shared_w_taps == 0;
    const int weights = n_oc * std::max(1, shared_w_taps);
    const int temps = detail::activation_temps(act) + (avx2_tail ? 1 : 0);
    return ur * n_oc + weights + (embedded ? 0 : 1) <= R && ur * n_oc + temps <= R;
}

bool spatial_tile_fits(Isa isa, int ur, int n_oc, int64_t w_phases, Activation act) {
    // Accumulators per output channel, W phase and vector of m; in the loop ur input vectors
    // and a broadcast weight; after it the interleave's three temporaries or the activation's.
    const int64_t acc = n_oc * w_phases * ur;
    const int R = vector_registers(isa);
    return acc + ur + 1 <= R && acc + std::max(3, detail::activation_temps(act)) <= R;
}

bool gemm_tile_fits(Isa isa, int mr, int ur, bool partial) {
    const bool embedded = isa == Isa::avx512 && ur == 1;  // the broadcast rides in the FMA
    return mr * ur + ur + (embedded ? 0 : 1) + (isa == Isa::avx2 && partial ? 1 : 0) <=
           vector_registers(isa);
}

bool dot_tile_fits(int rows, int nt, Activation act) {
    // Accumulators + the weight vectors + the pair's broadcast (with one vector it rides in
    // vdpbf16ps as {1to16}); the epilogue's activation temporaries and the bf16 store's.
    const int acc = rows * nt;
    const int inner = nt + (nt == 1 ? 0 : 1);
    const int epilogue = std::max(2, detail::activation_temps(act) + 1);
    return rows >= 1 && nt >= 1 && acc + std::max(inner, epilogue) <= vector_registers(Isa::avx512);
}

bool depthwise_tile_fits(Isa isa, int ur, int n_oc, Activation act, bool avx2_tail,
                         bool broadcast) {
    // Accumulators + two weight registers used in turn; the epilogue's temporaries. Broadcast
    // inputs add the two registers they are loaded into and the lanes' permutation index,
    // which stays loaded past the epilogue's temporaries.
    const int temps = detail::activation_temps(act) + (avx2_tail ? 1 : 0);
    return ur * n_oc + (broadcast ? std::max(5, temps + 2) : std::max(2, temps)) <=
           vector_registers(isa);
}

// --- dw in place ---
bool depthwise_row_tile_fits(Isa isa, int ur, int n_oc, int64_t w_phases, Activation act,
                             bool tail, bool tap_pairs) {
    const int64_t acc = int64_t(ur) * n_oc * w_phases;
    // Tap pairs: two pixels' words, the two interleaved vectors and a zero vector in the main
    // loop; the activation's temporaries and the rounding's one in the epilogue.
    if (tap_pairs)
        return acc + std::max(5, detail::activation_temps(act) + 1) <= vector_registers(isa);
    // The depthwise budget for every phase's accumulators, plus with a tail the masked input
    // load's register and AVX2's mask register.
    const int extra = tail ? (isa == Isa::avx2 ? 2 : 1) : 0;
    return acc + extra <= vector_registers(isa) &&
           depthwise_tile_fits(isa, int(acc) + extra, 1, act, tail && isa == Isa::avx2);
}
// --- end dw in place ---

bool depthwise_cf_tile_fits(Isa isa, int ur, int64_t w_phases, Activation act, bool avx2_tail) {
    // As the spatial tile of one channel; the epilogue's interleave (out, index, part) also
    // holds the AVX2 store mask of a row's last vector.
    const int64_t acc = w_phases * ur;
    const int R = vector_registers(isa);
    return acc + ur + 1 <= R &&
           acc + std::max(3 + (avx2_tail ? 1 : 0), detail::activation_temps(act)) <= R;
}

}  // namespace tconv::gen
