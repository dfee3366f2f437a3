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
// Tap pairs count vectors two by two (chunks of 32 channels); n is returned in vectors.
bool row_tile(const Problem& p, const DepthwisePlan& pl, const PlanOverrides& ov, int& ur,
              int& n) {
    const int64_t unit = pl.tap_pairs ? 2 : 1, width = unit * pl.vlen;
    const int64_t nb = (pl.oc + width - 1) / width, S = pl.stride[2];
    const bool tail = pl.oc % width != 0;
    auto fits = [&](int u, int v) {
        return depthwise_row_tile_fits(pl.isa, u, int(v * unit), S, p.activation, tail,
                                       pl.tap_pairs);
    };
    const int64_t max_n = 4 / unit;
    n = ov.n_oc > 0 ? int(std::min<int64_t>(std::max<int64_t>(1, ov.n_oc / unit), nb))
                    : int(std::min<int64_t>(nb, max_n));
    while (n > 1 && !fits(1, n)) --n;
    if (!fits(1, n)) return false;
    if (ov.n_oc <= 0) {
        const int64_t blocks = (nb + n - 1) / n;
        n = int((nb + blocks - 1) / blocks);
    }
    ur = 1;
    while (fits(ur + 1, n)) ++ur;
    if (ov.ur > 0) ur = ov.ur;
    const bool ok = fits(ur, n);
    n = int(n * unit);
    return ok;
}

// Output lines prefetched for writing (DwKernelDesc::y_prefetch), from 8 MiB of output: the
// kernels do ~1 FMA per output float, so a large output's stores wait on the lines' reads for
// ownership. Measured in one process (DLA-34's 64-channel up-samplers to 224x224, 12.8 MB,
// k4 s2 / k8 s4 / k16 s8): 1.16-1.42x on 1 and 2 threads; outputs of 1-4 MB, whose lines the
// stores find sooner, 0.95-0.99x. 8 KiB ahead ran best of 4-32 KiB within noise.
constexpr int kPrefetchAheadBytes = 8 * 1024;
bool prefetch_output(const DepthwisePlan& pl, const PlanOverrides& ov) {
    const int64_t out_bytes = pl.batch * pl.oc * pl.out[0] * pl.out[1] * pl.out[2] *
                              (pl.io == DType::bf16 ? 2 : 4);
    return ov.dw_prefetch > 0 || (ov.dw_prefetch == 0 && out_bytes >= (int64_t(8) << 20));
}

}  // namespace

bool plan_depthwise_in_place(const Problem& p, DepthwisePlan& pl, const PhaseAxes& ax,
                             const PlanOverrides& ov) {
    const int64_t VL = pl.vlen, C = pl.oc, S = pl.stride[2], pb = pl.pad_begin[2];
    const int64_t IW = pl.in[2], OW = pl.out[2];
    if (ov.dw_in_place < 0 || p.layout != Layout::channels_last || pl.oc_g != 1)
        return false;
    pl.tap_pairs = pl.isa == Isa::avx512_bf16;  // row_tile sizes the tile for it
    int ur = 1, n = 1;
    if (!row_tile(p, pl, ov, ur, n)) {
        pl.tap_pairs = false;
        return false;
    }

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
        w_taps += pl.tap_pairs ? (t.count + 1) / 2 : t.count;  // weight vectors per row
    }
    if (c_min == INT64_MAX) c_min = 0;
    const int64_t A = std::max({m_begin, ceil_div(pb, S), c_max});
    const int64_t B = std::min(IW - 1 + c_min, floor_div(OW - S + pb, S)) + 1;
    // A row too short for an interior: the zero-halo copy serves it, or (tap pairs, which no
    // other kernel runs) tiles bounded on both sides.
    const bool interior = B > A;
    if (!interior && !pl.tap_pairs) return false;

    pl.w_taps_row = w_taps;
    DwKernelDesc base;
    set_common(base, pl, p);
    base.in_place = true;
    base.tap_pairs = pl.tap_pairs;
    if (pl.tap_pairs) base.out = pl.io = DType::bf16;
    base.y_prefetch = prefetch_output(pl, ov) ? kPrefetchAheadBytes : 0;
    base.w_phases = w_phases;
    base.x_stride = {0, 0, C};
    base.y_pix = C;
    // Vectors of channels (pairs: whole chunks of two), the last one's lanes (chunk's channels).
    const int64_t lanes = pl.tap_pairs ? 2 * VL : VL;  // channels a vector (pairs: a chunk)
    const int64_t nb = (C + lanes - 1) / lanes * (lanes / VL), blocks = (nb + n - 1) / n;
    const int oc_tail = int(C - (C - 1) / lanes * lanes);
    const int n_last = int(nb - (blocks - 1) * n);
    auto segment = [&](int64_t m0, int64_t tiles, int width, DwKernelDesc k) {
        DepthwisePlan::RowSegment s;
        s.m0 = m0;
        s.tiles = tiles;
        k.ur = width;
        for (int last = 0; last < 2; ++last) {
            if (last == 0 && blocks < 2) continue;
            k.n_oc = last ? n_last : n;
            k.oc_tail = last ? oc_tail : int(lanes);
            s.kernel[last] = kernel_index(pl, k);
        }
        pl.row_segments.push_back(s);
    };
    auto edge = [&](int64_t m, int64_t end, bool lo, bool hi) {
        DwKernelDesc k = base;
        if (lo) k.x_lo = -m, k.o_lo = pb - S * m;
        if (hi) k.x_hi = IW - 1 - m, k.o_hi = OW - 1 - (S * m - pb);
        segment(m, 1, int(std::min<int64_t>(ur, end - m)), k);
    };
    const int64_t full = interior ? (B - A) / ur : 0, tail = interior ? (B - A) % ur : 0;
    if (!interior) {
        for (int64_t m = m_begin; m < m_end; m += ur) edge(m, m_end, true, true);
    } else {
        for (int64_t m = m_begin; m < A; m += ur) edge(m, A, true, false);
        if (full > 0) {
            pl.interior_segment = int64_t(pl.row_segments.size());
            segment(A, full, ur, base);
        }
        if (tail > 0) segment(A + full * ur, 1, int(tail), base);
        for (int64_t m = B; m < m_end; m += ur) edge(m, m_end, false, true);
    }

    // Rows of 1 MiB of output or more in pieces of ~8 KiB per block (the zero-halo kernels'
    // chunks): each block streaming a whole row reads and writes a few lines of every pixel,
    // and lines the prefetchers bring for the next blocks' channels leave the caches before
    // those blocks come. Measured (1 thread, in one process), a 1D row of 512 channels, 3341
    // -> 13362 steps (k3 s4 d2): 1.35x (fp32), 1.65x (bf16); rows of 10-800 KB (60 random
    // layers) 0.9-1.1x either way, so they stay whole.
    constexpr int64_t kPieceBytes = 8 * 1024, kLongRowBytes = int64_t(1) << 20;
    const int64_t e = pl.io == DType::bf16 ? 2 : 4;
    const int64_t tile_bytes = S * ur * n * VL * e;
    pl.piece_tiles = std::max<int64_t>(1, kPieceBytes / tile_bytes);
    const bool long_row = OW * C * e >= kLongRowBytes;
    pl.pieces = full > 0 && blocks > 1 && ov.dw_pieces >= 0 && (long_row || ov.dw_pieces > 0)
                    ? (full + pl.piece_tiles - 1) / pl.piece_tiles
                    : 1;
    if (pl.pieces == 1) pl.piece_tiles = std::max<int64_t>(1, full);
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
        "blocks ({} {} the last {}); row: {}",
        ur, S, ur * S, n, VL, blocks, oc_tail, pl.tap_pairs ? "channels in" : "lanes in",
        pl.tap_pairs ? "chunk of 32" : "vector",
        interior ? fmt::format("{} left edge tiles, {} interior tiles (+{} tail), {} right "
                               "edge tiles",
                               (A - m_begin + ur - 1) / ur, full, tail, (m_end - B + ur - 1) / ur)
                 : fmt::format("{} tiles bounded on both sides (no interior)",
                               (m_end - m_begin + ur - 1) / ur)));
    pl.lines.push_back(fmt::format(
        "loops: images x rows x {}channel blocks (threads) > row segments > tiles > live D, H "
        "taps (run time) > W taps (unrolled); the user's input is read in place",
        pl.pieces > 1 ? fmt::format("{} pieces of {} interior tiles x ", pl.pieces,
                                    pl.piece_tiles)
                      : ""));
    if (pl.tap_pairs)
        pl.lines.push_back(
            "bf16 on vdpbf16ps: each phase's W taps in pairs, their two input pixels' channels "
            "interleaved word by word in registers (chunks of 32 channels), a lone tap's with "
            "zeros");
    if (base.y_prefetch > 0)
        pl.lines.push_back(fmt::format("stores: each tile prefetches for writing the output "
                                       "lines {} KiB further along the row",
                                       base.y_prefetch / 1024));
    return true;
}

}  // namespace tconv::gen::detail
