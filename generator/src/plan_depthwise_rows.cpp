// SPDX-License-Identifier: Apache-2.0
// Depthwise planning, channels_last in place: with one output channel per input channel the
// user's pixels already hold the kernel's lanes, so no zero-halo copy is made. A row of outputs
// runs as segments along m: the left edge (taps left of the input and outputs left of the row
// left out), the interior's tiles, the right edge; taps along D and H are clamped per row at run
// time. The kernels depend on the input's extents only through the edges' bounds, which are
// fixed by the kernel, stride, dilation and pads (docs/ALGORITHM.md §4).
#include <fmt/format.h>

#include "plan_util.hpp"

namespace tconv::gen::detail {

namespace {

// Vectors of channels per tile (at most 4, blocks of equal size) and m per tile: as many
// outputs as the registers hold with every W phase of each m.
bool row_tile(const Problem& p, const DepthwisePlan& pl, const PlanOverrides& ov, int& ur,
              int& n) {
    const int64_t nb = (pl.oc + pl.vlen - 1) / pl.vlen, S = pl.stride[2];
    const bool tail = pl.oc % pl.vlen != 0;
    auto fits = [&](int u, int v) {
        return depthwise_row_tile_fits(pl.isa, u, v, S, p.activation, tail);
    };
    n = ov.n_oc > 0 ? int(std::min<int64_t>(ov.n_oc, nb)) : int(std::min<int64_t>(nb, 4));
    while (n > 1 && !fits(1, n)) --n;
    if (!fits(1, n)) return false;
    if (ov.n_oc <= 0) {
        const int64_t blocks = (nb + n - 1) / n;
        n = int((nb + blocks - 1) / blocks);
    }
    ur = 1;
    while (fits(ur + 1, n)) ++ur;
    if (ov.ur > 0) ur = ov.ur;
    return fits(ur, n);
}

// Output lines prefetched for writing (DwKernelDesc::y_prefetch), from 8 MiB of output: the
// kernels do ~1 FMA per output float, so a large output's stores wait on the lines' reads for
// ownership. Measured in one process (DLA-34's 64-channel up-samplers to 224x224, 12.8 MB,
// k4 s2 / k8 s4 / k16 s8): 1.16-1.42x on 1 and 2 threads; outputs of 1-4 MB, whose lines the
// stores find sooner, 0.95-0.99x. 8 KiB ahead ran best of 4-32 KiB within noise.
constexpr int kPrefetchAheadBytes = 8 * 1024;
bool prefetch_output(const DepthwisePlan& pl, const PlanOverrides& ov) {
    const int64_t out_bytes = pl.batch * pl.oc * pl.out[0] * pl.out[1] * pl.out[2] * 4;
    return ov.dw_prefetch > 0 || (ov.dw_prefetch == 0 && out_bytes >= (int64_t(8) << 20));
}

}  // namespace

bool plan_depthwise_in_place(const Problem& p, DepthwisePlan& pl, const PhaseAxes& ax,
                             const PlanOverrides& ov) {
    const int64_t VL = pl.vlen, C = pl.oc, S = pl.stride[2], pb = pl.pad_begin[2];
    const int64_t IW = pl.in[2], OW = pl.out[2];
    if (ov.dw_in_place < 0 || p.layout != Layout::channels_last || pl.oc_g != 1)
        return false;
    int ur = 1, n = 1;
    if (!row_tile(p, pl, ov, ur, n)) return false;

    // The row along m: outputs o = S*m + r - pb. Inside [A, B) every tap reads the input and
    // every phase's output is in the row.
    int64_t m_begin = INT64_MAX, m_end = INT64_MIN, c_min = INT64_MAX, c_max = 0;
    std::vector<WPhaseTaps> w_phases;
    int64_t w_taps = 0;
    for (int64_t r = 0; r < S; ++r) {
        const TapAxis& a = ax.axes[2][size_t(r)];
        const int64_t lo = ax.m_lo[2][size_t(r)], count = ax.m_count[2][size_t(r)];
        if (count > 0) m_begin = std::min(m_begin, lo), m_end = std::max(m_end, lo + count);
        WPhaseTaps t;
        if (a.count > 0) {
            t = {a.count, a.c0, a.count > 1 ? a.cstep : 0};
            c_min = std::min(c_min, a.c0);
            c_max = std::max(c_max, a.c0 + (a.count - 1) * t.cstep);
        }
        w_phases.push_back(t);
        w_taps += t.count;
    }
    if (c_min == INT64_MAX) c_min = 0;
    const int64_t A = std::max({m_begin, ceil_div(pb, S), c_max});
    const int64_t B = std::min(IW - 1 + c_min, floor_div(OW - S + pb, S)) + 1;
    if (B <= A) return false;  // a row too short for an interior: the zero-halo copy serves it

    pl.w_taps_row = w_taps;
    DwKernelDesc base;
    set_common(base, pl, p);
    base.in_place = true;
    base.y_prefetch = prefetch_output(pl, ov) ? kPrefetchAheadBytes : 0;
    base.w_phases = w_phases;
    base.x_stride = {0, 0, C};
    base.y_pix = C;
    const int64_t nb = (C + VL - 1) / VL, blocks = (nb + n - 1) / n;
    const int oc_tail = int(C - (nb - 1) * VL);
    const int n_last = int(nb - (blocks - 1) * n);
    auto segment = [&](int64_t m0, int64_t tiles, int width, DwKernelDesc k) {
        DepthwisePlan::RowSegment s;
        s.m0 = m0;
        s.tiles = tiles;
        k.ur = width;
        for (int last = 0; last < 2; ++last) {
            if (last == 0 && blocks < 2) continue;
            k.n_oc = last ? n_last : n;
            k.oc_tail = last ? oc_tail : int(VL);
            s.kernel[last] = kernel_index(pl, k);
        }
        pl.row_segments.push_back(s);
    };
    for (int64_t m = m_begin; m < A; m += ur) {  // left edge
        DwKernelDesc k = base;
        k.x_lo = -m;
        k.o_lo = pb - S * m;
        segment(m, 1, int(std::min<int64_t>(ur, A - m)), k);
    }
    const int64_t full = (B - A) / ur, tail = (B - A) % ur;
    if (full > 0) segment(A, full, ur, base);
    if (tail > 0) segment(A + full * ur, 1, int(tail), base);
    for (int64_t m = B; m < m_end; m += ur) {  // right edge
        DwKernelDesc k = base;
        k.x_hi = IW - 1 - m;
        k.o_hi = OW - 1 - (S * m - pb);
        segment(m, 1, int(std::min<int64_t>(ur, m_end - m)), k);
    }

    pl.in_place = true;
    pl.ur = ur;
    pl.n_oc = n;
    pl.n_oc_last = n_last;
    pl.oc_vectors = nb;
    pl.oc_blocks = blocks;
    for (int64_t b = 0; b < blocks; ++b) {
        OcBlock blk;
        blk.oc0 = blk.x_lane = b * n * VL;
        blk.group = blk.oc0;
        blk.last = b == blocks - 1 ? 1 : 0;
        blk.vectors = blk.last ? n_last : n;
        blk.valid = std::min<int64_t>(blk.vectors * VL, C - blk.oc0);
        blk.vector0 = b * n;
        pl.blocks.push_back(blk);
    }
    // Phases for the description and the D/H taps; weights per (r_d, r_h).
    int64_t w_off = 0;
    for (int64_t rd = 0; rd < pl.stride[0]; ++rd)
        for (int64_t rh = 0; rh < pl.stride[1]; ++rh) {
            pl.row_w_offset.push_back(w_off);
            const PhasePlan ph = ax.phase({rd, rh, 0});
            w_off += int64_t(ph.taps[0].count) * ph.taps[1].count * pl.w_taps_row * nb * VL;
            for (int64_t rw = 0; rw < S; ++rw) pl.phases.push_back(ax.phase({rd, rh, rw}));
        }
    pl.packed_weight_floats = w_off;
    pl.packed_bias_floats = nb * VL;
    pl.oc_group = blocks;
    pl.batch_group = 1;
    pl.input = InputLayout{};  // unused: the kernels read the user's input

    pl.lines.push_back(fmt::format(
        "depthwise in place: input {} x {} ch -> output {} x {} ch ({} groups), {} stride "
        "phases",
        dims_string(p, pl.in), pl.ic, dims_string(p, pl.out), pl.oc, pl.groups,
        pl.stride[0] * pl.stride[1] * S));
    pl.lines.push_back(fmt::format(
        "tile {} m x {} W phases = {} consecutive output pixels x {} vectors of {} channels, {} "
        "blocks ({} lanes in the last vector); row: {} left edge tiles, {} interior tiles "
        "(+{} tail), {} right edge tiles",
        ur, S, ur * S, n, VL, blocks, oc_tail, (A - m_begin + ur - 1) / ur, full, tail,
        (m_end - B + ur - 1) / ur));
    pl.lines.push_back(
        "loops: images x rows x channel blocks (threads) > row segments > tiles > live D, H "
        "taps (run time) > W taps (unrolled); the user's input is read in place");
    if (base.y_prefetch > 0)
        pl.lines.push_back(fmt::format("stores: each tile prefetches for writing the output "
                                       "lines {} KiB further along the row",
                                       base.y_prefetch / 1024));
    return true;
}

}  // namespace tconv::gen::detail
