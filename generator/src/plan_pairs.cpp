// SPDX-License-Identifier: Apache-2.0
// bf16 pair planning (docs/ALGORITHM.md §4): bf16 layers on AMX tile registers or on vdpbf16ps,
// in named steps after the shared ones: the bf16-pair input buffer, the tile, output-channel
// blocks, W chunks and L2 groups of blocks, the kernels, and the description.
#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "plan_util.hpp"

namespace tconv::gen::detail {

namespace {

constexpr int64_t kMaxStepPairs = 16;  // pairs per step: an AMX tile row of 32 channels

// One block per group: its channels in bf16 pairs, padded with zeros to whole steps. AMX
// steps are 16 pairs; vdpbf16ps steps split the pairs evenly into steps of at most 16, so
// that a group pads at most one channel and one pair per step (48 channels: 2 x 12 pairs).
bool input_pairs(PairPlan& pl, std::string& why_not) {
    const int64_t pairs = (pl.ic_g + 1) / 2;
    const int64_t steps = (pairs + kMaxStepPairs - 1) / kMaxStepPairs;
    pl.step_pairs = pl.isa == Isa::amx ? int(kMaxStepPairs) : int((pairs + steps - 1) / steps);
    pl.k_pairs = steps * pl.step_pairs;
    pl.input.lanes = pl.k_pairs;
    // vdpbf16ps broadcasts from a tile's pixels: a pixel stride of a multiple of 512 bytes maps
    // them to 8 or fewer of the L1's 64 sets, too few ways for a tile's pixels (U-Net's 1024
    // channels, 2 KiB apart: 28 outputs ran at half the speed of 14). One more line per pixel
    // spreads them over every set (1.7x there).
    if (pl.isa == Isa::avx512_bf16 && pl.k_pairs * 4 % 512 == 0) pl.input.lanes += 16;
    pl.input.bf16_pairs = true;
    for (int64_t g = 0; g < pl.groups; ++g) pl.input.blocks.push_back({g * pl.ic_g, pl.ic_g, 1});
    if (double(pl.input.image_floats()) * 4.0 > double(std::numeric_limits<int32_t>::max())) {
        why_not = "the padded input is too large for 32-bit displacements";
        return false;
    }
    return true;
}

// The tile: two A tiles (32 outputs along W) where the rows are that long, else one; as many
// B tiles as leave the C tiles within four of the eight tile registers. A given n_oc (a
// reshape keeping the packed weights' blocks) is kept, with one A tile if it needs more than
// two B tiles.
void choose_tiles(PairPlan& pl, const PhaseAxes& ax, const PlanOverrides& ov) {
    int64_t max_row = 1;
    for (int64_t c : ax.m_count[2]) max_row = std::max(max_row, c);
    const int64_t ovg = (pl.oc_g + pl.vlen - 1) / pl.vlen;
    const int keep = ov.n_oc > 0 ? int(std::min<int64_t>(std::min(ov.n_oc, 4), ovg)) : 0;
    pl.ur = ov.ur > 0 ? (ov.ur > 16 ? 32 : 16) : max_row >= 24 && keep <= 2 ? 32 : 16;
    const int64_t most = pl.ur == 32 ? 2 : 4;
    pl.n_oc = int(std::min<int64_t>(keep > 0 ? keep : most, std::min(ovg, most)));
}

// vdpbf16ps: cycles of one (pair, tap) for r outputs x n vectors: the dot products, or the
// loads (n weight vectors and r broadcasts, two a cycle), or the weight vectors' wait (w
// cycles each where they come from L2 or L3), whichever takes longest.
double dot_cycles(int64_t r, int64_t n, double w) {
    return r == 0 ? 0.0
                  : std::max({double(r * n), double(r + n) / 2.0, w * double(n)}) + 0.5;
}

// Cycles a tile waits per weight vector: the weights its block's tiles cycle through (one
// phase's: every tile of a row reads them, every row re-reads them) stream from L2 past L1
// and from L3 past the L2 budget. Measured on Zen 4: a 3D 512 -> 256 k3 dilation 2 at 6x7x7
// (1.8 MB of a 4-vector block's weights) ran 1.75x faster in 3 x 4 tiles than in the 1 x 4
// ones a model without this term chose (its live-tap count favours 1-wide tiles).
double weight_wait(const PairPlan& pl, const PhaseAxes& ax, int64_t n) {
    int64_t phase_taps = 0;
    for (int64_t rd = 0; rd < pl.stride[0]; ++rd)
        for (int64_t rh = 0; rh < pl.stride[1]; ++rh)
            for (int64_t rw = 0; rw < pl.stride[2]; ++rw)
                phase_taps = std::max(phase_taps, ax.phase({rd, rh, rw}).taps_total());
    const double bytes = double(pl.k_pairs * phase_taps * n) * double(pl.vlen) * 4.0;
    return bytes > double(kL2WeightBudget) ? 3.0 : bytes > double(kL1WeightBytes) ? 1.0
                                                                                       : 0.0;
}

// vdpbf16ps: the tile (ur x n_oc within the registers) of least modelled time over every W
// phase's rows and the group's oc blocks, W tails and the last block's vectors included, plus
// a call's and an epilogue's cost per tile. On tiny maps (under 3/4 of the W taps reading
// input) a tile counts only its live W taps, as its kernel runs only those (live_tap_kernels):
// short tiles then skip more (192 -> 192 k4x3 d1x3 on a 3-wide map: 3 tiles of 3, each
// running one of the 3 W taps, against one tile of 9 running all).
void choose_dot_tile(const Problem& p, PairPlan& pl, const PhaseAxes& ax,
                     const PlanOverrides& ov) {
    const int64_t ovg = (pl.oc_g + pl.vlen - 1) / pl.vlen;
    const bool count_live = w_taps_mostly_halo(pl, ax);
    double best = 0;
    for (int n = 1; n <= std::min<int64_t>(ovg, 4); ++n) {
        if (ov.n_oc > 0 && n != std::min<int64_t>(ov.n_oc, ovg)) continue;
        const int64_t nb = (ovg + n - 1) / n, n_last = ovg - (nb - 1) * n;
        const double wait = weight_wait(pl, ax, n);
        for (int ur = 1; dot_tile_fits(ur, n, p.activation); ++ur) {
            if (ov.ur > 0 && ur != ov.ur) continue;
            double t = 0;
            for (int64_t rw = 0; rw < pl.stride[2]; ++rw) {
                const int64_t cw = ax.m_count[2][size_t(rw)], m_lo = ax.m_lo[2][size_t(rw)];
                const TapAxis& aw = ax.axes[2][size_t(rw)];
                for (int64_t m0 = 0; m0 < cw; m0 += ur) {
                    const int64_t w = std::min<int64_t>(ur, cw - m0);
                    const auto [lo, hi] = live_taps(aw, m_lo + m0, m_lo + m0 + w - 1, pl.in[2]);
                    const double taps = std::max(count_live ? hi - lo : aw.count, 1);
                    auto tile = [&](int64_t vectors) {
                        return double(pl.k_pairs) * taps * dot_cycles(w, vectors, wait) + 40.0 +
                               2.0 * double(w * vectors);
                    };
                    t += double(nb - 1) * tile(n) + tile(n_last);
                }
            }
            if (best == 0 || t < best * 0.999) best = t, pl.ur = ur, pl.n_oc = n;
        }
    }
}

// Whole rows per item, cut into shorter chunks (whole tiles) when a call has too few items to
// share among threads (a 1D layer's one row).
void w_chunks(PairPlan& pl, const PhaseAxes& ax) {
    int64_t max_row = 1;
    for (int64_t c : ax.m_count[2]) max_row = std::max(max_row, c);
    const int64_t whole = (max_row + pl.ur - 1) / pl.ur * pl.ur;
    pl.w_chunk = whole;
    const int64_t items = pl.batch * pl.out[0] * pl.out[1] * pl.oc_blocks;
    const int64_t want = (kParallelItems + items - 1) / items;
    if (want > 1) {
        const int64_t tiles = whole / pl.ur, per = std::max<int64_t>(1, (tiles + want - 1) / want);
        pl.w_chunk = per * pl.ur;
    }
    pl.w_chunks = (max_row + pl.w_chunk - 1) / pl.w_chunk;
}

// Blocks whose bf16 weights (every phase) stay within half the L2 run as a group over every
// row before the next group: large weights are read from L3 once per group, not per row.
void cache_groups(PairPlan& pl, const PlanOverrides& ov) {
    const double block_bytes = double(pl.packed_weight_floats) * 4.0 / double(pl.oc_vectors) *
                               double(pl.n_oc);
    const int64_t fit = int64_t(double(kL2WeightBudget) / std::max(block_bytes, 1.0));
    // vdpbf16ps, grouped layers too: StyleGAN2's 4 and 8 groups of 512 -> 512 on 8x8 and 4x4
    // ran 1.7x and 2.3x faster than with every block in one group (their 38 and 75 MB of
    // weights then streamed from memory once per output row). AMX keeps its measured choice.
    const bool per_fit = pl.groups == 1 || pl.isa == Isa::avx512_bf16;
    pl.oc_group = ov.oc_group > 0 ? std::min(ov.oc_group, pl.oc_blocks)
                  : per_fit       ? std::clamp<int64_t>(fit, 1, pl.oc_blocks)
                                  : pl.oc_blocks;
}

// Per phase: its packed weights and kernels [full tile, W tail][full oc block, last block].
void phase_kernels(const Problem& p, PairPlan& pl, const PhaseAxes& ax) {
    const int64_t VL = pl.vlen, nbg = pl.oc_blocks / pl.groups;
    const int oc_tail = int(pl.oc_g - ((pl.oc_g + VL - 1) / VL - 1) * VL);
    PairKernelDesc base;
    set_common(base, pl, p);
    base.groups = pl.groups;
    base.k_steps = pl.k_pairs / pl.step_pairs;
    base.step_pairs = pl.step_pairs;
    base.x_stride = kernel_strides(pl.input, p.rank);
    const bool cl = p.layout == Layout::channels_last;
    base.y_pix = pl.stride[2] * (cl ? pl.oc : pl.row_pitch);
    base.out = cl ? DType::bf16 : DType::f32;  // channels_first: the row buffer's floats
    const int64_t per_tap = pl.k_pairs * pl.oc_vectors * VL;  // lanes: PairPlan::weight_lane
    // The kernels [W width][block] of k's taps, for the widths `need`s.
    auto kernels_of = [&](const PhasePlan& ph, PairKernelDesc k, const bool (&need)[2],
                          int (&out)[2][2]) {
        const int widths[2] = {pl.ur, int(ph.m_count[2] % pl.ur)};
        for (int wv = 0; wv < 2; ++wv) {
            if (widths[wv] == 0 || !need[wv]) continue;
            for (int last = 0; last < 2; ++last) {
                if (!last && nbg < 2) continue;
                k.rows = widths[wv];
                k.nt = last ? pl.n_oc_last : pl.n_oc;
                k.oc_tail = last ? oc_tail : int(VL);
                out[wv][last] = kernel_index(pl, k);
            }
        }
    };
    const int64_t w_off = plan_phases(pl, ax, per_tap, [&](PhasePlan& ph) {
        if (ph.m_count[0] * ph.m_count[1] * ph.m_count[2] == 0) return;
        PairKernelDesc k = base;
        set_taps(k, ph);
        k.w_taps = k.taps;
        // vdpbf16ps leaves out the taps of tiny maps that read only the zero halo, as the
        // channel kernel does; the AMX kernel runs every tap.
        if (pl.isa == Isa::avx512_bf16 && ph.has_taps())
            live_tap_kernels(ph, pl.in, pl.ur, k, kernels_of);
        else
            kernels_of(ph, k, {ph.w_blocks > 0, true}, ph.kernel);
    });
    pl.packed_weight_floats = w_off;  // lanes of two bf16
    pl.packed_bias_floats = pl.oc_vectors * VL;
}

void describe(const Problem& p, PairPlan& pl) {
    if (pl.isa == Isa::amx)
        pl.lines.push_back(fmt::format(
            "family: amx (bf16 tiles: {} outputs along W x {} vectors of 16 output channels, "
            "tdpbf16ps over {} steps of 32 input channels per group, fp32 sums)",
            pl.ur, pl.n_oc, pl.k_pairs / 16));
    else
        pl.lines.push_back(fmt::format(
            "family: bf16 pairs (vdpbf16ps: {} outputs along W x {} vectors of 16 output "
            "channels, {} steps of {} input-channel pairs per group, fp32 sums)",
            pl.ur, pl.n_oc, pl.k_pairs / pl.step_pairs, pl.step_pairs));
    pl.lines.push_back(fmt::format(
        "input buffer: bf16 pairs, {} groups x {} padded, halo {}; {} oc blocks, groups of {}; "
        "W chunks of {} outputs",
        pl.groups, dims_string(p, pl.input.padded), dims_string(p, pl.input.halo_lo),
        pl.oc_blocks, pl.oc_group, pl.w_chunk));
    pl.lines.push_back(
        p.layout == Layout::channels_last
            ? "bf16 storage: the input copied in bf16 pairs, the output rounded to bf16 (RNE) in "
              "the kernels' stores"
            : "bf16 storage: the input transposed into bf16 pairs, each output row built in fp32 "
              "and rounded to bf16 (RNE) as it is transposed into the output");
}

}  // namespace

bool plan_pairs(const Problem& p, PairPlan& pl, const PhaseAxes& ax, const PlanOverrides& ov,
              std::string& why_not) {
    if (p.dtype != DType::bf16) {
        why_not = "the bf16 pair kernels compute bf16 layers only";
        return false;
    }
    // Tiles pay even a few channels' padding: 32-channel steps and 16-channel vectors mostly
    // zero still ran 1.05-3.9x the AVX-512 channel and spatial kernels (channels-last from 4
    // input channels per group, 1 to 8 output channels; 3 to 8 output channels in either
    // layout from 16 input channels); not the depthwise kernel's lanes across groups, which
    // the planner keeps for up to 8 inputs (plan.cpp). Channels-first layers copy their input and transpose their output rows
    // around the tiles: with little work per output (under 48 multiply-adds) and fewer than
    // 32 output channels per group those passes cost more (16 -> 8, 8 -> 16 and 4 groups of
    // 8 -> 8 at k4 s2: 0.7-1.0x the AVX-512 kernels; 8 -> 64, 16 -> 3 at k3 s1 in 3D, 12 -> 32
    // at k3 s2: 1.4-2.4x).
    const double macs = double(pl.ic_g) * double(pl.kernel_points()) /
                        double(pl.stride[0] * pl.stride[1] * pl.stride[2]);
    if (pl.ic_g < 4 || (p.layout == Layout::channels_first && macs < 48 && pl.oc_g < 32)) {
        why_not = fmt::format("{} input and {} output channels per group ({}): the AVX-512 "
                              "kernels serve it better",
                              pl.ic_g, pl.oc_g, to_string(p.layout));
        return false;
    }
    pl.io = DType::bf16;
    if (!input_pairs(pl, why_not)) return false;
    if (pl.isa == Isa::amx)
        choose_tiles(pl, ax, ov);
    else
        choose_dot_tile(p, pl, ax, ov);
    pl.oc_vectors = pl.groups * ((pl.oc_g + pl.vlen - 1) / pl.vlen);
    output_blocks(pl, 1);  // one input block per group
    w_chunks(pl, ax);
    phase_kernels(p, pl, ax);
    cache_groups(pl, ov);
    pl.batch_group = batch_group(pl, ov);
    pl.band_rows = band_rows(pl, ov);
    describe(p, pl);
    return true;
}

}  // namespace tconv::gen::detail
