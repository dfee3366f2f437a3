// SPDX-License-Identifier: Apache-2.0
// Depthwise planning: one input channel per group, so each output channel reads one input
// channel and lanes can hold channels of different groups side by side.
#include <fmt/format.h>

#include <limits>

#include "plan_util.hpp"

namespace tconv::gen::detail {

// Lanes hold vlen consecutive output channels, of several groups; with M output channels per
// group the input buffer repeats each input channel M times (InBlock::expand), so lane l of
// every tap reads the input of its own output channel. Grouped layers (ic_g > 1 input
// channels per group) get one buffer block per input channel j of a group (lane c: channel j
// of c's group), which the kernels reduce over: the lanes stay full however few channels a
// group has. Their buffer repeats nothing when M is 2, 4 or 8 and divides the vector: it holds
// a lane per group and the kernels broadcast a vector's groups (DepthwisePlan::lane_groups),
// so the copy and the kernels' loads move M times fewer bytes; other M repeat as above.
bool plan_depthwise(const Problem& p, DepthwisePlan& pl, const PhaseAxes& ax,
                    const PlanOverrides& ov, std::string& why_not) {
    // bf16 storage is converted in the input copy and the output stores (channels_last) or the
    // rows' transposes (channels_first); the in-place rows read and write bf16 only on
    // vdpbf16ps (tap pairs), and are not planned for it on the other ISAs.
    const bool bf16_io = p.dtype == DType::bf16;
    if (pl.isa == Isa::avx512_bf16) {  // bf16 on vdpbf16ps: W taps in pairs, in place only
        // Chunks of 32 channels: with fewer than 7 in 10 lanes holding channels the AVX-512
        // kernel's full vectors serve better. Measured (bf16, 1 thread, 60 random layers
        // against that kernel): 8 and 16 channels 0.6-0.93x, 24 1.2-2.0x, 32 1.1-1.4x, 48
        // 0.9-1.25x, 64-512 0.9-2.1x.
        const int64_t chunks = (pl.oc + 31) / 32;
        if (bf16_io && pl.ic_g == 1 && pl.oc * 10 >= chunks * 32 * 7 &&
            plan_depthwise_in_place(p, pl, ax, ov))
            return true;
        why_not = "vdpbf16ps runs depthwise layers channels-last with one output channel per "
                  "group (in place, W taps in pairs) and chunks of 32 channels 70% full";
        return false;
    }
    if (!bf16_io && pl.ic_g == 1 && plan_depthwise_in_place(p, pl, ax, ov)) return true;
    if (bf16_io) pl.io = DType::bf16;
    const auto& m_count = ax.m_count;
    const int R = vector_registers(pl.isa), VL = pl.vlen;
    const int64_t C = pl.oc, M = pl.oc_g, icg = pl.ic_g, nb = (C + VL - 1) / VL;
    const int oc_tail = int(C - (nb - 1) * VL);
    // The input buffer: a block per input channel of a group, each a lane per output channel,
    // padded to whole vectors, so a pixel's channels are adjacent as in the output; or, with
    // broadcasts, a lane per group (whole vectors' groups).
    const bool broadcast = icg > 1 && (M == 2 || M == 4 || M == 8) && VL % M == 0;
    pl.lane_groups = broadcast ? VL / M : 0;
    pl.input.lanes = broadcast ? nb * pl.lane_groups : nb * VL;
    for (int64_t j = 0; j < icg; ++j)
        pl.input.blocks.push_back(broadcast ? InBlock{j, pl.groups, 1, icg} : InBlock{j, C, M, icg});
    const Dim3 x_stride = pl.input.strides();
    if (double(pl.input.block_floats()) * 4.0 > double(std::numeric_limits<int32_t>::max())) {
        why_not = "the padded input is too large for 32-bit displacements";
        return false;
    }

    // The tile: up to 4 vectors of channels (whole lines of a pixel per store), then as many
    // outputs along W as the registers hold (each weight load is shared by them), evened out
    // so the W tail is not a sliver.
    const bool avx2_tail = pl.isa == Isa::avx2 && oc_tail != VL;
    auto fits = [&](int ur, int n_oc) {
        return depthwise_tile_fits(pl.isa, ur, n_oc, p.activation, avx2_tail, broadcast);
    };
    int64_t max_row = 1;
    for (int64_t c : m_count[2]) max_row = std::max(max_row, c);
    int n = ov.n_oc > 0 ? int(std::min<int64_t>(ov.n_oc, nb)) : int(std::min<int64_t>(nb, 4));
    while (n > 1 && !fits(3, n)) --n;
    int ur_max = 1;
    while (ur_max < max_row && fits(ur_max + 1, n)) ++ur_max;
    const int64_t tiles = (max_row + ur_max - 1) / ur_max;
    pl.ur = ov.ur > 0 ? ov.ur : int((max_row + tiles - 1) / tiles);
    if (!fits(pl.ur, n)) {
        why_not = fmt::format("depthwise tile ur={} x {} vectors does not fit {} registers", pl.ur,
                              n, R);
        return false;
    }
    pl.n_oc = n;
    pl.oc_vectors = nb;
    pl.oc_blocks = (nb + n - 1) / n;
    pl.n_oc_last = int(nb - (pl.oc_blocks - 1) * n);
    for (int64_t b = 0; b < pl.oc_blocks; ++b) {
        OcBlock blk;
        blk.oc0 = b * n * VL;
        blk.group = blk.oc0 / M;  // the first lane's group
        // The buffer's lanes are the output channels, or the groups with broadcasts.
        blk.x_lane = broadcast ? blk.oc0 / M : blk.oc0;
        blk.last = b == pl.oc_blocks - 1 ? 1 : 0;
        blk.vectors = blk.last ? pl.n_oc_last : n;
        blk.valid = std::min<int64_t>(blk.vectors * VL, C - blk.oc0);
        blk.vector0 = b * n;
        pl.blocks.push_back(blk);
    }
    pl.row_pitch = int64_t(n) * VL;
    // Rows in chunks whose outputs of every W phase (the phases' kernels write interleaved
    // pixels) take ~8 KiB: each output line is complete while it is still in L1, and the
    // chunks give two threads even shares (10-15% faster than whole rows, DLA-34 layers).
    constexpr int64_t kChunkBytes = 8 * 1024;
    const int64_t per_m = pl.stride[2] * int64_t(n) * VL * 4;
    const int64_t whole = (max_row + pl.ur - 1) / pl.ur * pl.ur;
    pl.w_chunk = std::min(whole, std::max<int64_t>(1, kChunkBytes / per_m / pl.ur) * pl.ur);
    pl.w_chunks = (max_row + pl.w_chunk - 1) / pl.w_chunk;

    DwKernelDesc base;
    set_common(base, pl, p);
    base.x_stride = x_stride;
    base.ic_steps = int(icg);
    base.x_block = pl.input.block_floats();
    base.lane_groups = int(pl.lane_groups);
    base.y_pix = pl.stride[2] * (p.layout == Layout::channels_last ? pl.oc : pl.row_pitch);
    if (pl.io == DType::bf16 && p.layout == Layout::channels_last) base.out = DType::bf16;
    // Per phase, the blocks' weights [j][tap][vectors * VL].
    const int64_t w_off = plan_phases(pl, ax, nb * VL * icg, [&](PhasePlan& ph) {
        const int64_t cw = ph.m_count[2];
        if (ph.m_count[0] * ph.m_count[1] * cw > 0) {
            DwKernelDesc k = base;
            set_taps(k, ph);
            const int widths[2] = {pl.ur, int(cw % pl.ur)};
            for (int wv = 0; wv < 2; ++wv) {
                if (widths[wv] == 0 || (wv == 0 && ph.w_blocks == 0)) continue;
                for (int last = 0; last < 2; ++last) {
                    if (last == 0 && pl.oc_blocks < 2) continue;
                    k.ur = widths[wv];
                    k.n_oc = last ? pl.n_oc_last : pl.n_oc;
                    k.oc_tail = last ? oc_tail : VL;
                    ph.kernel[wv][last] = kernel_index(pl, k);
                }
            }
        }
    });
    pl.packed_weight_floats = w_off;
    pl.packed_bias_floats = nb * VL;
    pl.oc_group = pl.oc_blocks;  // a few KiB of weights in all
    pl.batch_group = batch_group(pl, ov);
    // Grouped layers' buffers (M times the input where channels repeat) can outgrow L2: large
    // maps are copied in bands of rows, each just before the rows that read it.
    if (icg > 1) pl.band_rows = band_rows(pl, ov);

    pl.lines.push_back(fmt::format(
        "depthwise{}: input {} x {} ch -> output {} x {} ch ({} groups, {} -> {} channels each), "
        "{} stride phases",
        icg > 1 ? " lanes across groups" : "", dims_string(p, pl.in), pl.ic,
        dims_string(p, pl.out), pl.oc, pl.groups, icg, M, pl.phases.size()));
    for (const PhasePlan& ph : pl.phases) {
        Dim3 t{ph.taps[0].count, ph.taps[1].count, ph.taps[2].count};
        if (!ph.has_taps()) t = {0, 0, 0};
        pl.lines.push_back(fmt::format("  phase r={}: taps {} ({}), outputs {}{}",
                                       dims_string(p, ph.r), dims_string(p, t), ph.taps_total(),
                                       dims_string(p, ph.m_count),
                                       ph.has_taps() ? "" : " (bias + activation only)"));
    }
    pl.lines.push_back(fmt::format(
        "tile ur={} x {} vectors of {} channels, {} blocks ({} lanes in the last vector); loops: "
        "groups of {} images > rows x {} chunks of {} m x channel blocks (threads) > W phases > "
        "W tiles > {}taps (unrolled); input copied to a zero-halo channels-last buffer {}{} x {} "
        "lanes{}{}",
        pl.ur, pl.n_oc, VL, pl.oc_blocks, oc_tail, pl.batch_group, pl.w_chunks, pl.w_chunk,
        icg > 1 ? fmt::format("{} input blocks (a run-time loop) > ", icg) : "",
        icg > 1 ? fmt::format("{} blocks x ", icg) : "", dims_string(p, pl.input.padded),
        pl.input.lanes,
        pl.lane_groups > 0 ? fmt::format(", a lane per group, broadcast {} groups at a time", pl.lane_groups)
        : M > 1            ? fmt::format(", each input channel repeated {} times", M)
                           : "",
        pl.band_rows > 0 ? fmt::format(", in bands of {} output rows", pl.band_rows) : ""));
    return true;
}

}  // namespace tconv::gen::detail
