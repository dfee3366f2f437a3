// Depthwise planning: one input channel per group, so each output channel reads one input
// channel and lanes can hold channels of different groups side by side.
#include <fmt/format.h>

#include <limits>

#include "plan_util.hpp"

namespace tconv::gen::detail {

// Registers a depthwise tile needs: ur accumulators + 2 weight registers in the loop; ur
// accumulators + the activation temps (+ the AVX2 tail mask) in the epilogue.
bool depthwise_fits(int R, int ur, Activation act, bool avx2_tail) {
    return ur + std::max(2, activation_temps(act) + (avx2_tail ? 1 : 0)) <= R;
}

// Lanes hold vlen consecutive output channels; with a channel multiplier M (out_channels =
// M x groups) the input buffer repeats each input channel M times (InBlock::expand), so lane l
// of every tap reads the input of its own output channel.
bool plan_depthwise(const Problem& p, Plan& pl, const PhaseAxes& ax, const PlanOverrides& ov,
                    std::string& why_not) {
    const auto& axes = ax.axes;
    const auto& m_lo = ax.m_lo;
    const auto& m_count = ax.m_count;
    const Dim3 kernel = ax.kernel, dilation = ax.dilation;
    const int R = vector_registers(pl.isa), VL = pl.vlen;
    pl.shape = KernelShape::depthwise;
    const int64_t C = pl.oc, M = pl.oc_g, nb = (C + VL - 1) / VL;
    const int oc_tail = int(C - (nb - 1) * VL);
    pl.ic_block = VL;
    pl.ic_blocks = 1;
    pl.w_rows = 1;
    for (int64_t b = 0; b < nb; ++b) pl.in_blocks.push_back({b * VL, std::min<int64_t>(VL, C - b * VL), M});
    const Dim3 x_stride{pl.padded[1] * pl.padded[2] * VL, pl.padded[2] * VL, VL};
    if (double(pl.input_block_floats()) * 4.0 > double(std::numeric_limits<int32_t>::max())) {
        why_not = "the padded input is too large for 32-bit displacements";
        return false;
    }

    // The tile: as many outputs along W as the registers hold (each tap's weight load is shared
    // by them), then evened out so the W tail is not a sliver.
    const bool avx2_tail = pl.isa == Isa::avx2 && oc_tail != VL;
    int64_t max_row = 1;
    for (int64_t c : m_count[2]) max_row = std::max(max_row, c);
    int ur_max = 1;
    while (ur_max < max_row && depthwise_fits(R, ur_max + 1, p.activation, avx2_tail)) ++ur_max;
    const int64_t tiles = (max_row + ur_max - 1) / ur_max;
    pl.ur = ov.ur > 0 ? ov.ur : int((max_row + tiles - 1) / tiles);
    if (!depthwise_fits(R, pl.ur, p.activation, avx2_tail)) {
        why_not = fmt::format("depthwise tile ur={} does not fit {} registers", pl.ur, R);
        return false;
    }
    pl.n_oc = 1;
    pl.n_oc_last = 1;
    pl.oc_vectors = pl.oc_blocks = nb;
    for (int64_t b = 0; b < nb; ++b) {
        OcBlock blk;
        blk.group = b * VL / M;  // the first lane's group
        blk.x_block = b;
        blk.oc0 = b * VL;
        blk.valid = std::min<int64_t>(VL, C - b * VL);
        blk.vector0 = b;
        blk.vectors = 1;
        blk.last = blk.valid < VL ? 1 : 0;
        pl.blocks.push_back(blk);
    }
    pl.row_pitch = VL;
    // Each block reads its own input: nothing to share between the blocks of a row chunk.
    pl.w_chunk = (max_row + pl.ur - 1) / pl.ur * pl.ur;
    pl.w_chunks = 1;

    DwKernelDesc base;
    base.isa = pl.isa;
    base.rank = p.rank;
    base.kernel = kernel;
    base.stride = pl.stride;
    base.dilation = dilation;
    base.x_stride = x_stride;
    base.y_pix = pl.stride[2] * (p.layout == Layout::channels_last ? pl.oc : pl.row_pitch);
    base.bias = p.bias;
    base.activation = p.activation;
    base.negative_slope = p.activation == Activation::leaky_relu ? p.negative_slope : 0.0f;
    int64_t w_off = 0;
    for (int64_t rd = 0; rd < pl.stride[0]; ++rd)
        for (int64_t rh = 0; rh < pl.stride[1]; ++rh)
            for (int64_t rw = 0; rw < pl.stride[2]; ++rw) {
                PhasePlan ph;
                ph.r = {rd, rh, rw};
                for (size_t d = 0; d < 3; ++d) {
                    ph.taps[d] = axes[d][size_t(ph.r[d])];
                    ph.m_lo[d] = m_lo[d][size_t(ph.r[d])];
                    ph.m_count[d] = m_count[d][size_t(ph.r[d])];
                }
                ph.w_offset = w_off;
                w_off += ph.taps_total() * nb * VL;
                const int64_t cw = ph.m_count[2];
                ph.w_blocks = cw / pl.ur;
                if (ph.m_count[0] * ph.m_count[1] * cw > 0) {
                    DwKernelDesc k = base;
                    if (ph.has_taps())
                        for (size_t d = 0; d < 3; ++d) {
                            k.taps[d] = ph.taps[d].count;
                            k.c0[d] = ph.taps[d].c0;
                            k.cstep[d] = ph.taps[d].count > 1 ? ph.taps[d].cstep : 0;
                        }
                    const int widths[2] = {pl.ur, int(cw % pl.ur)};
                    for (int wv = 0; wv < 2; ++wv) {
                        if (widths[wv] == 0 || (wv == 0 && ph.w_blocks == 0)) continue;
                        for (int last = 0; last < 2; ++last) {
                            if (last == 1 && oc_tail == VL) continue;
                            if (last == 0 && nb == 1 && oc_tail != VL) continue;
                            k.ur = widths[wv];
                            k.oc_tail = last ? oc_tail : VL;
                            ph.kernel[wv][last] = kernel_index(pl, k);
                        }
                    }
                }
                pl.phases.push_back(ph);
            }
    pl.packed_weight_floats = w_off;
    pl.packed_bias_floats = nb * VL;
    pl.oc_group = nb;  // a few KiB of weights in all
    pl.batch_group = batch_group(pl, ov);

    pl.lines.push_back(fmt::format(
        "depthwise: input {} x {} ch -> output {} x {} ch ({} groups, channel multiplier {}), {} "
        "stride phases",
        dims_string(p, pl.in), pl.ic, dims_string(p, pl.out), pl.oc, pl.groups, M,
        pl.phases.size()));
    for (const PhasePlan& ph : pl.phases) {
        Dim3 t{ph.taps[0].count, ph.taps[1].count, ph.taps[2].count};
        if (!ph.has_taps()) t = {0, 0, 0};
        pl.lines.push_back(fmt::format("  phase r={}: taps {} ({}), outputs {}{}",
                                       dims_string(p, ph.r), dims_string(p, t), ph.taps_total(),
                                       dims_string(p, ph.m_count),
                                       ph.has_taps() ? "" : " (bias + activation only)"));
    }
    pl.lines.push_back(fmt::format(
        "tile ur={} x 1 vector of {} channels ({} lanes in the last of {}); loops: groups of {} "
        "images > rows x channel vectors (threads) > W tiles > taps (unrolled); input copied to "
        "a zero-halo buffer {} x {} vectors of channels{}",
        pl.ur, VL, oc_tail, nb, pl.batch_group, dims_string(p, pl.padded), nb,
        M > 1 ? fmt::format(", each input channel repeated {} times", M) : ""));
    return true;
}

}  // namespace tconv::gen::detail
