// SPDX-License-Identifier: Apache-2.0
// Depthwise planning, channels-first: each output channel's planes are computed from its one
// input channel's plane, lanes along W, and stored straight into the user's rows.
#include <fmt/format.h>

#include <limits>

#include "plan_util.hpp"

namespace tconv::gen::detail {

namespace {

// Vectors of m per W phase in a full tile: as many as the registers hold, but no more than a
// row needs (a row shorter than the tile is one partial tile).
int plane_ur(const DepthwiseCfPlan& pl, Activation act, bool avx2_tail) {
    const int64_t SW = pl.stride[2], VL = pl.vlen;
    int ur = 1;
    for (int u = 2; u <= 8; ++u)
        if (depthwise_cf_tile_fits(pl.isa, u, SW, act, avx2_tail) && (u - 1) * SW * VL < pl.out[2])
            ur = u;
    return ur;
}

}  // namespace

// Rows are taken in groups of S_h consecutive outputs oh = S_h*k + s: row s of every group has
// H phase (s + pb) mod S_h and reads input row k + (s + pb) div S_h - c, so one kernel holds the
// taps of every row of a group as immediates and steps k by one input row. Likewise a row's
// tiles start at outputs that are multiples of S_w, so lane i of W phase r holds output
// o_r + S_w*i with o_r = (r - pb) mod S_w, and reads m = (o_r + pb - r) / S_w + i.
bool plan_depthwise_cf(const Problem& p, DepthwiseCfPlan& pl, const PhaseAxes& ax,
                       const PlanOverrides& ov, std::string& why_not) {
    const auto& axes = ax.axes;
    const int64_t SD = pl.stride[0], SH = pl.stride[1], SW = pl.stride[2], VL = pl.vlen;
    const Dim3 pb = pl.pad_begin;
    const int64_t width = pl.out[2];
    const bool avx2_tail = pl.isa == Isa::avx2 && width % VL != 0;
    const int ur = ov.ur > 0 ? ov.ur : plane_ur(pl, p.activation, avx2_tail);
    if (!depthwise_cf_tile_fits(pl.isa, ur, SW, p.activation, avx2_tail)) {
        why_not = fmt::format("depthwise_cf tile ur={} x {} W phases does not fit {} registers",
                              ur, SW, vector_registers(pl.isa));
        return false;
    }
    pl.ur = ur;
    pl.n_oc = pl.n_oc_last = 1;
    pl.w_tiles = width / (SW * ur * VL);
    const int64_t tile = SW * ur * VL;
    const int64_t full_tiles = width / tile, rest = width % tile;
    const int64_t ur_rest = (rest + SW * VL - 1) / (SW * VL);
    const int64_t m_end = full_tiles * ur * VL + ur_rest * VL;  // lanes m computed per row

    // W phases: taps with the phase's m offset folded into c0; the halo covers every lane
    // computed, stored or not.
    std::vector<WPhaseTaps> w_phases;
    int64_t lo = pl.input.halo_lo[2], hi = pl.input.padded[2] - pl.in[2] - pl.input.halo_lo[2];
    for (int64_t r = 0; r < SW; ++r) {
        const TapAxis& a = axes[2][size_t(r)];
        const int64_t o_r = ((r - pb[2]) % SW + SW) % SW, e_r = floor_div(o_r + pb[2] - r, SW);
        WPhaseTaps t;
        if (a.count > 0) {
            t = {a.count, a.c0 - e_r, a.count > 1 ? a.cstep : 0};
            lo = std::max(lo, t.c0 + (a.count - 1) * t.cstep);
            hi = std::max(hi, m_end - 1 - t.c0 - (pl.in[2] - 1));
        }
        w_phases.push_back(t);
    }
    pl.input.halo_lo[2] = lo;
    pl.input.padded[2] = pl.in[2] + lo + hi;
    // bf16 on vdpbf16ps: W taps in pairs, where a phase has two or more (all of them step by
    // the same cstep along W: it depends on the stride and dilation only).
    if (pl.isa == Isa::avx512_bf16) {
        for (const WPhaseTaps& t : w_phases)
            if (t.count > 1) pl.pair_shift = t.cstep;
        if (p.dtype != DType::bf16 || pl.pair_shift == 0) {
            why_not = "vdpbf16ps runs channels-first depthwise layers in bf16 with two or more "
                      "W taps in a phase (taps in pairs)";
            return false;
        }
        pl.tap_pairs = true;
    }
    auto weight_taps = [&](const WPhaseTaps& t) {  // packed entries of a phase's W taps
        return pl.tap_pairs ? (t.count + 1) / 2 : t.count;
    };

    // One zero-halo plane (block) per input channel; a thread holds one channel at a time.
    pl.input.lanes = 1;
    for (int64_t c = 0; c < pl.ic; ++c) pl.input.blocks.push_back({c, 1, 1});
    if (double(pl.input.block_floats()) * 4.0 > double(std::numeric_limits<int32_t>::max())) {
        why_not = "the padded input is too large for 32-bit displacements";
        return false;
    }
    const int64_t M = pl.oc_g;
    for (int64_t c = 0; c < pl.oc; ++c) {
        OcBlock blk;
        blk.group = blk.x_block = c / M;
        blk.oc0 = blk.vector0 = c;
        blk.valid = blk.vectors = 1;
        pl.blocks.push_back(blk);
    }
    pl.oc_blocks = pl.oc;

    // Packed weights per channel: [r_d][r_h][r_w][td][th][tw]; every kernel position is one
    // tap of one phase.
    int64_t w_taps = 0;
    for (const WPhaseTaps& t : w_phases) w_taps += weight_taps(t);
    std::vector<int64_t> rh_offset;  // within a D phase's weights, per unit of D taps
    int64_t h_taps = 0;
    for (int64_t rh = 0; rh < SH; ++rh) {
        rh_offset.push_back(h_taps * w_taps);
        h_taps += axes[1][size_t(rh)].count;
    }
    pl.row_groups = pl.out[1] / SH;
    const int64_t tail_rows = pl.out[1] % SH;

    DwPlaneKernelDesc base;
    set_common(base, pl, p);
    base.ur = ur;
    base.w_phases = w_phases;
    base.w_rot = int(((pb[2] % SW) + SW) % SW);
    base.rest = rest;
    base.x_stride = kernel_strides(pl.input, p.rank);
    base.y_row = p.rank >= 2 ? width : 0;
    base.tap_pairs = pl.tap_pairs;
    // The kernels store into the user's output: bf16 storage is rounded there, the input
    // widened in the plane copy.
    if (p.dtype == DType::bf16) pl.io = base.out = DType::bf16;
    int64_t w_off = 0;
    for (int64_t rd = 0; rd < SD; ++rd) {
        const TapAxis& ad = axes[0][size_t(rd)];
        PlanePhasePlan pp;
        pp.w_offset = w_off;
        pp.has_taps = ad.count > 0;
        w_off += int64_t(ad.count) * h_taps * w_taps;
        DwPlaneKernelDesc k = base;
        k.taps = {ad.count, 0, 0};
        k.c0 = {ad.c0, 0, 0};
        k.cstep = {ad.count > 1 ? ad.cstep : 0, 0, 0};
        for (int64_t s = 0; s < SH; ++s) {
            const int64_t rh = ((s + pb[1]) % SH + SH) % SH, e = floor_div(s + pb[1], SH);
            const TapAxis& ah = axes[1][size_t(rh)];
            k.rows.push_back({ah.count, ah.c0 - e, ah.count > 1 ? ah.cstep : 0,
                              ad.count * rh_offset[size_t(rh)]});
        }
        if (ax.m_count[0][size_t(rd)] > 0) {
            if (pl.row_groups > 0) pp.kernel[0] = kernel_index(pl, k);
            if (tail_rows > 0) {
                k.rows.resize(size_t(tail_rows));
                pp.kernel[1] = kernel_index(pl, k);
            }
        }
        pl.plane_phases.push_back(pp);
    }
    pl.channel_taps = w_off;
    pl.packed_weight_floats = pl.oc * w_off;
    pl.packed_bias_floats = pl.oc;
    pl.batch_group = 1;

    pl.lines.push_back(fmt::format(
        "depthwise, channels-first: input {} x {} ch -> output {} x {} ch ({} groups, channel "
        "multiplier {}), {} stride phases",
        dims_string(p, pl.in), pl.ic, dims_string(p, pl.out), pl.oc, pl.groups, M,
        SD * SH * SW));
    pl.lines.push_back(fmt::format(
        "tile {} outputs of a row ({} W phases x {} vectors of m), {} full tiles + {} outputs "
        "per row; phases interleaved in registers, stored into the output rows",
        tile, SW, ur, full_tiles, rest));
    pl.lines.push_back(fmt::format(
        "loops: images x channels (threads) > output planes > groups of {} rows (in the kernel) "
        "> tiles > taps (unrolled); each channel's input copied to a per-thread zero-halo plane "
        "{} {}",
        SH, dims_string(p, pl.input.padded),
        pl.tap_pairs ? fmt::format("of bf16 pairs (x[i], x[i - {}]): W taps in pairs on "
                                   "vdpbf16ps, an odd last tap alone",
                                   pl.pair_shift)
                     : "floats"));
    return true;
}

}  // namespace tconv::gen::detail
