// SPDX-License-Identifier: Apache-2.0
// Shape B planning: lanes hold consecutive phase outputs m of one row, for layers with few
// output channels.
#include <fmt/format.h>

#include <limits>

#include "plan_util.hpp"

namespace tconv::gen::detail {

// Shape B: lanes hold consecutive m of one output row; every W phase of the row in one kernel,
// interleaved in registers into contiguous outputs. Fills the W halo, tiles and kernels.
bool plan_spatial(const Problem& p, SpatialPlan& pl, const PhaseAxes& ax, const PlanOverrides& ov,
                  std::string& why_not) {
    const auto& axes = ax.axes;
    const auto& m_count = ax.m_count;
    const int R = vector_registers(pl.isa), VL = pl.vlen;
    const int64_t SW = pl.stride[2];
    // vdpbf16ps sums two input channels a lane: bf16 layers whose groups pair up evenly (an
    // odd channel would pair with the next group's in a channels-last pixel).
    const bool pairs = pl.isa == Isa::avx512_bf16;
    if (pairs && (p.dtype != DType::bf16 || pl.ic_g % 2 != 0)) {
        why_not = p.dtype != DType::bf16
                      ? "the bf16 dot products compute bf16 layers only"
                      : fmt::format("{} input channels per group do not pair up", pl.ic_g);
        return false;
    }
    pl.ic_steps = pairs ? pl.ic_g / 2 : pl.ic_g;
    // Output channels per tile: all of the group's when they fit with one vector of m per phase.
    int n = ov.n_oc > 0 ? int(std::min<int64_t>(ov.n_oc, pl.oc_g)) : int(pl.oc_g);
    while (n > 1 && !spatial_tile_fits(pl.isa, 1, n, SW, p.activation)) --n;
    if (!spatial_tile_fits(pl.isa, 1, n, SW, p.activation)) {
        why_not = "a spatial tile does not fit the registers at this stride";
        return false;
    }
    // W: every m of the row from the one producing o = 0.
    const int64_t m0 = floor_div(pl.pad_begin[2], SW);
    const int64_t m_last = floor_div(pl.out[2] - 1 + pl.pad_begin[2], SW);
    const int64_t count = m_last - m0 + 1;
    int ur = 1;
    for (int u = 2; u <= 8; ++u)
        if (spatial_tile_fits(pl.isa, u, n, SW, p.activation) && (u - 1) * VL < count) ur = u;
    if (ov.ur > 0) ur = ov.ur;
    if (!spatial_tile_fits(pl.isa, ur, n, SW, p.activation)) {
        why_not = fmt::format("spatial tile ur={} x oc={} does not fit {} registers", ur, n, R);
        return false;
    }
    pl.ur = ur;
    pl.n_oc = n;
    // Rows are built in floats and copied or transposed into the output: bf16 storage is
    // widened in the input copy and rounded in that output copy, on either ISA.
    if (p.dtype == DType::bf16) pl.io = DType::bf16;
    // Blocks of n channels per group, each reading its group's ic_g input channels.
    const int64_t nbg = (pl.oc_g + n - 1) / n;
    pl.oc_blocks = pl.groups * nbg;
    pl.n_oc_last = int(pl.oc_g - (nbg - 1) * n);
    for (int64_t g = 0; g < pl.groups; ++g)
        for (int64_t b = 0; b < nbg; ++b) {
            OcBlock blk;
            blk.group = g;
            blk.x_block = g * pl.ic_steps;
            blk.oc0 = g * pl.oc_g + b * n;
            blk.last = b == nbg - 1 ? 1 : 0;
            blk.valid = blk.vectors = blk.last ? pl.n_oc_last : n;
            blk.vector0 = blk.oc0;  // one "vector" per channel: weights and bias by channel
            pl.blocks.push_back(blk);
        }
    pl.row_m0 = m0;
    pl.row_tiles = (count + ur * VL - 1) / (ur * VL);
    pl.row_len = SW * pl.row_tiles * ur * VL;
    if (pl.layout == Layout::channels_last) {  // blocks whose rows fit the row buffer budget,
        // and 16 channels' worth for long rows (1D k4s2 4096 wide, 4 per group: 1.6-1.9x the
        // channel kernel, against 0.9x with one block per transpose) while they fit the bound
        const int64_t fit = kSpatialRowFloats / (n * pl.row_len), min16 = (16 + n - 1) / n;
        const bool long_fits = min16 * n * pl.row_len <= kSpatialRowMaxFloats;
        pl.item_blocks = std::clamp<int64_t>(std::max(fit, long_fits ? min16 : 1), 1, pl.oc_blocks);
    }
    const int64_t m_end = m0 + pl.row_tiles * ur * VL - 1;
    int64_t lo = 0, hi = 0;
    for (int64_t r = 0; r < SW; ++r) {
        const TapAxis& a = axes[2][size_t(r)];
        if (a.count == 0) continue;
        lo = std::max(lo, a.c0 + (a.count - 1) * a.cstep - m0);
        hi = std::max(hi, m_end - a.c0 - (pl.in[2] - 1));
    }
    pl.input.halo_lo[2] = lo;
    pl.input.padded[2] = pl.in[2] + lo + hi;
    // Channels-first buffer: one one-lane block per input channel, or per pair of channels.
    pl.input.lanes = 1;
    pl.input.bf16_pairs = pairs;
    for (int64_t c = 0; c < pl.ic; c += pairs ? 2 : 1)
        pl.input.blocks.push_back({c, pairs ? 2 : 1, 1});
    const int64_t chan = pl.input.block_floats();
    if (double(chan) * double(pl.ic_steps) * 4.0 > double(std::numeric_limits<int32_t>::max())) {
        why_not = "the padded input is too large for 32-bit displacements";
        return false;
    }

    SpatialKernelDesc base;
    set_common(base, pl, p);
    base.ur = ur;
    base.ic_blocks = pl.ic_steps;
    base.pairs = pairs;
    base.x_stride = kernel_strides(pl.input, p.rank);
    base.groups = pl.groups;

    int64_t w_off = 0;
    for (int64_t rd = 0; rd < pl.stride[0]; ++rd)
        for (int64_t rh = 0; rh < pl.stride[1]; ++rh) {
            RowPhasePlan rp;
            SpatialKernelDesc k = base;
            const TapAxis &ad = axes[0][size_t(rd)], &ah = axes[1][size_t(rh)];
            const bool dh = ad.count > 0 && ah.count > 0;
            k.taps = {dh ? ad.count : 0, dh ? ah.count : 0, 0};
            k.c0 = {ad.c0, ah.c0, 0};
            k.cstep = {ad.count > 1 ? ad.cstep : 0, ah.count > 1 ? ah.cstep : 0, 0};
            for (int64_t rw = 0; rw < SW; ++rw) {
                const TapAxis& aw = axes[2][size_t(rw)];
                WPhaseTaps t;
                if (dh && aw.count > 0) t = {aw.count, aw.c0, aw.count > 1 ? aw.cstep : 0};
                k.w_phases.push_back(t);
                rp.taps += int64_t(k.taps[0]) * k.taps[1] * t.count;
            }
            rp.w_offset = w_off;
            w_off += rp.taps * pl.ic_steps * pl.oc;
            if (m_count[0][size_t(rd)] * m_count[1][size_t(rh)] > 0) {
                for (int last = 0; last < 2; ++last) {
                    if (!last && nbg < 2) continue;
                    k.n_oc = last ? pl.n_oc_last : pl.n_oc;
                    rp.kernel[last] = kernel_index(pl, k);
                }
            }
            pl.row_phases.push_back(rp);
        }
    pl.packed_weight_floats = w_off;
    pl.packed_bias_floats = pl.oc;
    pl.batch_group = batch_group(pl, ov);
    // Channels-first images over the L2 input budget are copied in bands of rows, as in the
    // channel family (1D k16 s8 512 -> 1 on 4000 steps is one row: no bands).
    if (pl.layout == Layout::channels_first) pl.band_rows = band_rows(pl, ov);
    if (pl.band_rows > 0) pl.batch_group = 1;

    pl.lines.push_back(fmt::format(
        "spatial-vectorised: input {} x {} ch -> output {} x {} ch{}, {} stride phases",
        dims_string(p, pl.in), pl.ic, dims_string(p, pl.out), pl.oc,
        pl.groups > 1 ? fmt::format(" in {} groups of {} -> {}", pl.groups, pl.ic_g, pl.oc_g) : "",
        pl.stride[0] * pl.stride[1] * SW));
    for (int64_t rd = 0; rd < pl.stride[0]; ++rd)
        for (int64_t rh = 0; rh < pl.stride[1]; ++rh) {
            std::string w;
            for (int64_t rw = 0; rw < SW; ++rw)
                w += (w.empty() ? "" : " ") + std::to_string(axes[2][size_t(rw)].count);
            const std::string rows = p.rank == 3   ? fmt::format("rows r_d={} r_h={}", rd, rh)
                                     : p.rank == 2 ? fmt::format("rows r_h={}", rh)
                                                   : std::string("the row");
            const std::string dh = p.rank == 3   ? fmt::format("{}x{} x ", axes[0][size_t(rd)].count,
                                                               axes[1][size_t(rh)].count)
                                   : p.rank == 2 ? fmt::format("{} x ", axes[1][size_t(rh)].count)
                                                 : std::string();
            pl.lines.push_back(fmt::format("  {}: taps {}W phases ({}), {} in all", rows, dh, w,
                                           pl.row_phases[size_t(rd * pl.stride[1] + rh)].taps));
        }
    pl.lines.push_back(fmt::format(
        "tile {} x {} outputs of a row ({} W phases x {} vectors of m) x {} channels, {} tiles "
        "per row; phases interleaved in registers (permutes), stored contiguously",
        SW * ur * VL, n, SW, ur, n, pl.row_tiles));
    const std::string items =
        pl.layout == Layout::channels_last
            ? fmt::format("rows x chunks of {} oc blocks (threads; a chunk's rows transposed at "
                          "once; too few rows: spans of W tiles)",
                          pl.item_blocks)
            : std::string("rows x oc blocks (threads; too few rows: spans of W tiles)");
    pl.lines.push_back(fmt::format(
        "loops: groups of {} images > {}{} > W tiles > ic > taps (unrolled); input copied to a "
        "zero-halo channels-first buffer {} x {} ch{}",
        pl.batch_group,
        pl.band_rows > 0 ? fmt::format("bands of {} rows (input copied per band) > ", pl.band_rows)
                         : "",
        items, dims_string(p, pl.input.padded), pl.ic,
        pairs ? " in bf16 pairs (vdpbf16ps: two input channels a lane)" : ""));
    return true;
}


}  // namespace tconv::gen::detail
