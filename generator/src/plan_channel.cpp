// SPDX-License-Identifier: Apache-2.0
// Channel-kernel planning (docs/ALGORITHM.md §4), in named steps after the shared ones:
// input-channel blocks per group, the register tile from a cost model, output-channel blocks per
// group, W chunks and L2 groups of blocks, the kernels, and the description.
#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "plan_util.hpp"

namespace tconv::gen::detail {

namespace {

// Input-channel blocks of at most 16 with minimal zero padding (17 -> 2 x 9, 3 -> 1 x 3), per
// group: a kernel call reduces over its group's blocks only.
bool input_blocks(ChannelPlan& pl, std::string& why_not) {
    pl.ic_blocks = (pl.ic_g + 15) / 16;
    const int64_t icb = (pl.ic_g + pl.ic_blocks - 1) / pl.ic_blocks;
    pl.input.lanes = icb;
    pl.w_rows = icb * pl.ic_blocks;
    for (int64_t g = 0; g < pl.groups; ++g)
        for (int64_t b = 0; b < pl.ic_blocks; ++b)
            pl.input.blocks.push_back({g * pl.ic_g + b * icb, std::min(icb, pl.ic_g - b * icb), 1});
    if (double(pl.input.block_floats()) * double(pl.ic_blocks) * 4.0 >
        double(std::numeric_limits<int32_t>::max())) {
        why_not = "the padded input is too large for 32-bit displacements";
        return false;
    }
    return true;
}

// An input the kernels can read where it lies (InputLayout::in_place): channels-last fp32
// (bf16 is widened by the copy) with no halo (every tap of every output lands inside: kernel
// <= stride, no padding) and channels that fill the blocks, on rows that are not folded (the
// fold driver reads a run across rows of the padded buffer). The copy it saves moved the whole
// input twice: U-Net's 128 -> 64 at 196x196 (20 MB) ran 1.1-1.25x faster without it.
void read_in_place(ChannelPlan& pl, const PlanOverrides& ov) {
    const InputLayout& L = pl.input;
    pl.input.in_place = ov.in_place >= 0 && pl.layout == Layout::channels_last &&
                        pl.io == DType::f32 && !pl.fold && L.halo_lo == Dim3{0, 0, 0} &&
                        L.padded == pl.in && pl.ic_g == pl.ic_blocks * L.lanes;
    // A copy of several blocks for narrow tiles goes pixel-major (InputLayout::interleaved),
    // as the in-place layout is: a tile's few pixels then hold every block's channels in one
    // run each, where block-major rows put each of its blocks on another page. Measured, 1
    // thread, in one process: U-Net's 1024 -> 512 at 28x28 (64 blocks, 6-wide tiles) 1.08x,
    // Mask R-CNN's 256 -> 256 1.03x, 19 other layers of 6-8-wide tiles 0.98-1.02x; but wide
    // tiles (16-31 outputs x one vector: 1D vocoders, folded rows) 0.55-0.93x and chunked
    // blocks 0.91x, whose tiles read a block's run of pixels. Ungrouped only: a slab of groups
    // stays together in its own blocks.
    const bool narrow = !pl.fold && pl.ic_split == 1 && pl.ur <= 8;
    pl.input.interleaved = !pl.input.in_place && pl.groups == 1 && pl.ic_blocks > 1 &&
                           ov.interleave >= 0 && (ov.interleave > 0 || narrow);
}

int64_t chunk_length(const ChannelPlan& pl, const PhaseAxes& ax, int ur, int64_t oc_blocks);

// Shared broadcasts (ChannelKernelDesc::shared_bcast) for tiles of one or two channel vectors
// whose phases run several W taps: each input pixel is broadcast once for all of them, where
// such tiles otherwise load an input per FMA (one vector) or per two. The tile narrows to
// free a register per W tap and vector where it must, unless that costs a row more than a
// tenth more tiles (a keypoint head's rows of 14 in tiles of 13: 0.94x).
// Measured, 1 thread, in one process, the 33 layers of configs/ it takes, both layouts:
// 1.07-1.08x in geometric mean (0.99-1.4x; vocoders' k16 s8 and k25 s4 1.1-1.4x). AVX2's 16
// registers leave too narrow a tile (forced on configs/: 0.78-1.0x on Intel, 0.58-1.3x on
// Zen 3) but where a group's outputs are one vector, or two under two W taps, whose tiles
// load a broadcast per FMA or two whatever their width: Zen 3, the 11 such layers of
// configs/ 0.95-1.39x, HiFi-GAN v2's 32 -> 16 and 16 -> 8 1.1-1.39x, ResNeXt's 8 channels a
// group 1.05-1.15x; random layers of seeds 2-4 that take it 0.97-3.3x. On rows of 4 tiles or
// more AVX2 narrows 6 -> 5 wide even past a tenth more tiles (32 -> 16 on 8192 steps 1.11x);
// on short rows the tenth still holds (a 6-wide row in 5 + 1: 0.85x).
void share_broadcasts(const Problem& p, ChannelPlan& pl, const PhaseAxes& ax,
                      const PlanOverrides& ov, bool avx2_tail) {
    int64_t taps = 0, row = 1;
    for (const TapAxis& a : ax.axes[2]) taps = std::max<int64_t>(taps, a.count);
    for (int64_t c : ax.m_count[2]) row = std::max(row, c);
    if (pl.fold) row = std::max<int64_t>(row, pl.ur);
    pl.shared_bcast = false;
    const int64_t ovg = pl.oc_vectors / pl.groups;
    const bool avx2 = pl.isa == Isa::avx2, avx2_pays = ovg == 1 || (ovg == 2 && taps == 2);
    if (ov.shared_bcast < 0 || taps < 2 ||
        (ov.shared_bcast == 0 && (pl.n_oc > 2 || (avx2 && !avx2_pays))))
        return;
    int ur = pl.ur;
    while (ur > 1 && !channel_tile_fits(pl.isa, ur, pl.n_oc, p.activation, avx2_tail, int(taps)))
        --ur;
    const int64_t tiles = (row + pl.ur - 1) / pl.ur, narrowed = (row + ur - 1) / ur;
    if (!channel_tile_fits(pl.isa, ur, pl.n_oc, p.activation, avx2_tail, int(taps)) ||
        (ov.shared_bcast == 0 &&
         (ur * 4 < pl.ur * 3 || ((!avx2 || row < 4 * pl.ur) && narrowed * 10 > tiles * 11))))
        return;
    pl.ur = ur;
    pl.shared_bcast = true;
}

// Streaming stores (ChannelPlan::stream): an output of 32 MiB or more is written around the
// caches, saving the reads for ownership of lines this layer will not read back. AVX-512 only,
// whose vectors are whole lines (AVX2's halves ran 0.94-0.96x):
// - channels_last by the kernels, which write the user's rows, where pixels are whole lines
//   and no block has a channel tail;
// - channels_first by the transposes of the output rows, from 32 channels.
// Measured in one process, 1 and 2 threads, outputs of 33-67 MB: channels_last 1.0-1.13x
// (U-Net 128 -> 64 at 196x196 1.08x, V-Net 64 -> 16); channels_first 0.99-1.25x (U-Net 1.16-
// 1.19x), but 16 channels 0.94-1.03x. From 4 to 17 MB it ranged 0.8-1.08x (0.8x: 12.8 MB of
// mostly bias-only phases, pure stores), below 1 MB 0.95-0.97x.
void stream_stores(ChannelPlan& pl, const PlanOverrides& ov) {
    const int64_t out_bytes = pl.batch * pl.oc * pl.out[0] * pl.out[1] * pl.out[2] * 4;
    const bool fits = pl.layout == Layout::channels_last
                          ? pl.oc % 16 == 0 && pl.oc_g % pl.vlen == 0
                          : pl.isa != Isa::avx2;
    const bool can = pl.io == DType::f32 && !pl.fold && fits;
    const bool pays = pl.isa != Isa::avx2 && out_bytes >= (int64_t(32) << 20) &&
                      (pl.layout == Layout::channels_last || pl.oc >= 32);
    pl.stream = can && ov.stream >= 0 && (ov.stream > 0 || pays);
}

// The register tile: ur outputs along W x n_oc vectors of channels.
//   main loop: ur*n_oc accumulators + n_oc weights + 1 broadcast <= registers (AVX-512 with
//              n_oc == 1 broadcasts inside the FMA: no broadcast register)
//   epilogue:  ur*n_oc accumulators + activation temps (+1 AVX2 store mask) <= registers
// Chosen by a cost model in FMA slots: a tile step (one input channel and tap) costs ur*n_oc
// FMAs plus a quarter slot per broadcast, separate or embedded in the FMA (Zen 4 spends a
// shuffle on either; small n_oc also re-reads the input per oc block: measured, 1-vector tiles
// ran 3-8% slower than 7x2 or 6x4 on U-Net, CycleGAN and HiFi-GAN layers) and per weight vector
// (streamed from L2 or further: large weights favour wide ur), at least (ur+n_oc)/2 loads, and
// at least 8 (FMAs in flight to hide the latency); summed over every tile a layer runs, plus a
// per-call toll. A tile costs the W taps it runs: those some output of it reads inside the
// input (phase_kernels leaves out the rest), so on tiny maps under dilated kernels narrow
// tiles can run fewer (192 -> 192, k3 dilation 3 on a 3-wide map: one live tap per output;
// a 9-wide tile runs all 3 for each: 1.5x faster in 3-wide tiles). Counted only where a
// quarter or more of the W taps read halo: elsewhere the edge tiles' savings would pick odd
// tiles for ordinary layers.
bool choose_tile(const Problem& p, ChannelPlan& pl, const PhaseAxes& ax, const PlanOverrides& ov,
                 bool avx2_tail, std::string& why_not) {
    const int64_t ovg = pl.oc_vectors / pl.groups;  // vectors per group
    int64_t max_row = 1;
    for (int64_t c : ax.m_count[2]) max_row = std::max(max_row, c);
    // Short rows (tiny maps) re-stream a block's weights for every few outputs: a block whose
    // packed weights overflow a 1 MiB L2 then streams them from L3 on every tile, at several
    // FMA slots per weight vector (measured: a 3D 512->256 layer on 11-wide rows ran 1.4x
    // faster in 1-vector tiles whose weights fit than in 4-vector ones; pix2pix's 1024->512 on
    // 8-wide rows 2x faster in whole-row tiles).
    // Taps summed over the phases, the most of one phase, and the most of one row's phases.
    int64_t all_taps = 0, phase_taps = 0, row_taps = 0;
    for (int64_t rd = 0; rd < pl.stride[0]; ++rd)
        for (int64_t rh = 0; rh < pl.stride[1]; ++rh) {
            int64_t row = 0;
            for (int64_t rw = 0; rw < pl.stride[2]; ++rw) {
                const int64_t taps = ax.phase({rd, rh, rw}).taps_total();
                all_taps += taps;
                row += taps;
                phase_taps = std::max(phase_taps, taps);
            }
            row_taps = std::max(row_taps, row);
        }
    auto block_bytes = [&](int n) {
        return double(pl.w_rows) * double(all_taps) * n * pl.vlen * 4.0;
    };
    // The weights a block's tiles cycle through before they are reused: every phase's for
    // short rows (each row re-streams them), the row's phases' for long ones (each tile does;
    // counted where the blocks may split, below, so that other layers keep their tiles).
    // Input-channel chunks (ChannelPlan::ic_split) for blocks of n vectors: the fewest that
    // bring a chunk's within the budget the cost below charges L3 streaming beyond. fp32
    // only: the sums wait in fp32 where the output goes. Measured 1 thread, AVX-512, against
    // one chunk: 512 -> 256 k3 dilation 2, 3D, at 6x7x7 1.35x (11-wide rows) and at 6x14x14
    // 1.9x (18-wide), dilation 1 at 6x14x14 1.26x.
    // One-row layers (1D) of long rows keep whole blocks: their W chunks share the block's
    // weights already (chunk_length), and chunking ran WaveGAN's 512 -> 256 k25 s4 0.88x,
    // WaveGlow's 0.83x. Short rows re-stream them per tile as 2D maps do: WaveGAN's 1024 ->
    // 512 on 16 steps (1.6 MB of weights a block) ran 1.3x faster in 2 chunks (AVX2, Zen 3).
    const bool may_split = ov.ic_split >= 0 && p.dtype == DType::f32 && pl.ic_blocks > 1 &&
                           (pl.out[0] * pl.out[1] > 1 || max_row <= 16);
    auto cycled_bytes = [&](int n) {
        if (max_row <= 16) return block_bytes(n);
        return may_split ? double(pl.w_rows) * double(row_taps) * n * pl.vlen * 4.0 : 0.0;
    };
    auto split_of = [&](int n) -> int64_t {
        int64_t s = 1;
        if (ov.ic_split > 0 && p.dtype == DType::f32) {
            for (int64_t d = 1; d <= std::min(ov.ic_split, pl.ic_blocks); ++d)
                if (pl.ic_blocks % d == 0) s = d;
            return s;
        }
        if (!may_split) return 1;
        const double fit = 2.0 * double(l2_chunk_budget(pl));
        while (s < pl.ic_blocks && (pl.ic_blocks % s != 0 || cycled_bytes(n) / double(s) > fit))
            ++s;
        // A block that fits L2 alone but not beside a group's input over 3/4 of the L2
        // (512 -> 512 k3 s1 at 14x14: 0.3 MB of weights a block, 0.5 MB of input, Zen 3's
        // 512 KiB L2) runs in chunks of half the L2: 1.35x there. Layers already chunked,
        // or whose group's input fits, keep theirs (further chunks ran 0.89-0.96x).
        const bool big_in = pl.input.image_floats() * 4 / pl.groups > pl.l2_bytes * 3 / 4;
        if (s == 1 && big_in)
            while (s < pl.ic_blocks &&
                   (pl.ic_blocks % s != 0 || cycled_bytes(n) / double(s) > fit / 2.0))
                ++s;
        return s;
    };
    // AVX2 (measured on Zen 3, whose L2 is half Zen 4's): when even a one-vector block
    // overflows the L2 budget, no tile keeps its weights there and every tile step streams them
    // from L3, at about 6 FMA slots a vector; wider blocks then re-read the input less
    // (simple-baselines' 2048 -> 256 k4 s2 at 8x6: 6 x 2 tiles 1.3x faster than 6 x 1).
    const bool none_fit = pl.isa == Isa::avx2 && max_row <= 16 &&
                          block_bytes(1) > double(kL2WeightBudget);
    auto weight_cost = [&](int n) {
        return !none_fit && cycled_bytes(n) / double(split_of(n)) > 2.0 * double(kL2WeightBudget)
                   ? 3.0
                   : 0.25;
    };
    // Narrow tiles (the live-tap count below) load a weight vector per few FMAs, streamed
    // from L2: a slot each (measured: 2-wide tiles 1.5x slower than 5-wide on AlexNet's
    // dilated 384 -> 384 at 9x9, where the 0.25 slot the model gives wide tiles chose them).
    double narrow_weight_cost = 0.25;
    // A tile step also waits for its n weight vectors when they come from L2 (a block's weights
    // of one phase overflow L1): about 3 FMA slots each, so tiles narrower than 3 outputs are
    // bound by the weights (measured, AVX2 on Zen 3: 2 x 5 tiles at 65-72% of the peak on
    // 14-wide maps of 320-512 channels k3 s1, where 4 x 3 and 5 x 2 ran 85-93%).
    auto step = [&](int u, int n) {
        const double fma = u * n + 0.25 * u + std::max(weight_cost(n), narrow_weight_cost) * n;
        const double weight_bytes = double(pl.w_rows * phase_taps) * n * pl.vlen * 4.0;
        const double stream = weight_bytes > double(kL1WeightBytes) ? (none_fit ? 6.0 : 3.0) * n
                                                                    : 0.0;
        return std::max({fma, stream, (u + n) / 2.0, 8.0});
    };
    auto fits = [&](int u, int n) {
        return channel_tile_fits(pl.isa, u, n, p.activation, avx2_tail);
    };
    const bool count_live = w_taps_mostly_halo(pl, ax);
    if (count_live) narrow_weight_cost = 1.0;
    const bool one_row = pl.out[0] * pl.out[1] == 1;
    double best = std::numeric_limits<double>::infinity();
    int best_u = 0, best_n = 0;
    // An override of n_oc (e.g. a reshape keeping the packed weights' blocks) picks the best
    // ur for that n_oc.
    const int n_lo = ov.n_oc > 0 ? int(std::min<int64_t>(ov.n_oc, ovg)) : 1;
    const int n_hi = ov.n_oc > 0 ? n_lo : int(std::min<int64_t>(ovg, 8));
    for (int n = n_lo; n <= n_hi; ++n) {
        // Each chunk past the first reloads and restores the tile's sums, one more call.
        const double split_toll = double(split_of(n) - 1);
        for (int u = 1; u <= std::min<int64_t>(max_row, 32); ++u) {
            if (!fits(u, n)) continue;
            double cost = 0;
            const int64_t full_b = ovg / n, last_n = ovg % n;
            for (int64_t rw = 0; rw < pl.stride[2]; ++rw) {
                const int64_t cw = ax.m_count[2][size_t(rw)], m_lo = ax.m_lo[2][size_t(rw)];
                const TapAxis& aw = ax.axes[2][size_t(rw)];
                for (auto [nn, cnt] : {std::pair{n, full_b}, std::pair{int(last_n), int64_t(1)}}) {
                    if (nn == 0 || cnt == 0) continue;
                    for (int64_t m0 = 0; m0 < cw; m0 += u) {
                        const int64_t w = std::min<int64_t>(u, cw - m0);
                        const auto [lo, hi] = live_taps(aw, m_lo + m0, m_lo + m0 + w - 1, pl.in[2]);
                        const double taps = std::max(count_live ? hi - lo : aw.count, 1);
                        cost += double(cnt) * (step(int(w), nn) * taps * double(pl.w_rows) + 40.0 +
                                               split_toll * (40.0 + 2.0 * double(w * nn)));
                    }
                }
            }
            // A 1D layer's one row is cut into W chunks (chunk_length), each re-reading its oc
            // block's weights: from beyond L2, at about 8 FMA slots a line, for every chunk
            // past the first when the block overflows it (WaveGAN's 512 -> 256 k25 s4 at 64
            // steps: 64-channel blocks of 3.3 MB in 4 chunks ran 1.3x slower than 16-channel
            // ones of 0.8 MB; WaveGlow's k1024 s256 1.45x, HiFi-GAN's 512 -> 256 k16 s8 1.08x).
            // Layers of many rows re-read the weights per row anyway: short rows are costed
            // above (2D and 3D maps of 11 and 32 outputs measured 0.95x with this term).
            const int64_t nblocks = pl.groups * ((ovg + n - 1) / n);
            const int64_t len = chunk_length(pl, ax, u, nblocks);
            // A channels-last block narrower than a line (one AVX2 vector: 32 bytes a pixel)
            // leaves each output line's other half to the next block, which comes after the
            // chunk's lines (more than L1) have left L1: every line is fetched twice. About 4
            // slots a pixel and block (Zen 3: 2 -> 128 channels k7x4 on 62-wide rows, and 2 ->
            // 256 k8 s4 1D, ran 1.7-1.9x and 1.9-2.8x faster in 6 x 2 tiles, which the model
            // had tied with 13 x 1 without this).
            if (pl.layout == Layout::channels_last && nblocks > 1 && n * pl.vlen * 4 < 64 &&
                std::min(len, max_row) * pl.stride[2] * pl.oc * 4 > kL1WeightBytes)
                cost += 4.0 * double(max_row * pl.stride[2] * nblocks);
            const int64_t chunks = (max_row + len - 1) / len;
            if (one_row && chunks > 1 && block_bytes(n) > 2.0 * double(kL2WeightBudget))
                cost += double(chunks - 1) * double(nblocks) * block_bytes(n) / 64.0 * 8.0;
            if (cost < best * 0.999) {
                best = cost;
                best_u = u;
                best_n = n;
            }
        }
    }
    if (best_n == 0) {
        why_not = "no register tile fits the budget";
        return false;
    }
    pl.ur = ov.ur > 0 ? ov.ur : best_u;
    pl.n_oc = ov.n_oc > 0 ? int(std::min<int64_t>(ov.n_oc, ovg)) : best_n;
    pl.ic_split = split_of(pl.n_oc);
    if (!fits(pl.ur, pl.n_oc)) {
        why_not = fmt::format("tile ur={} x n_oc={} does not fit {} registers", pl.ur, pl.n_oc,
                              vector_registers(pl.isa));
        return false;
    }
    return true;
}

// Rows folded into one run per phase and D plane (ChannelPlan::fold): on maps whose rows are
// short (at most 8 outputs of a phase: each weight vector feeds at most 8 FMAs) under weights
// of more than 4 MiB, which every row re-streams from beyond L2 (pix2pix's 1024 -> 512 at 4x4:
// 4x the 32 MiB of weights per call), and where the dropped outputs of the run (mw past the
// phase's W count) cost at most half the kept ones, and where a quarter or more of the taps
// read inside the input (a run computes every tap, rows leave out those that read only the
// zero halo: k4 s2 p1 at 2x2 reads a quarter and ran 1.4x faster folded, a 3D k7x4x4 on a
// 2x3x3 map about a sixth and 2.2x slower). Measured 1 thread, AVX-512, folded against
// rows: 32 MiB of weights at 2x2, 4x4, 8x6 and 8x8 1.1-1.8x (4 images at 4x4: 1.8x); 8 MiB at
// 4x4 0.99-1.08x (on Zen 4 0.72x, below); 2 MiB at 8x8 0.8x and 0.5 MiB at 16x16 0.55x (their
// weights stay in L2). A batch shares each weight among its images in rows too: 8 MiB at 4x4
// for 8 images ran 0.82x folded. So layers fold from 16 MiB.
// AVX2 rows fold up to 3 outputs only. Measured on an AVX2-only Zen 3 (1 thread, folded
// against rows): 2x2 and 3x3 maps under 16-32 MiB 1.0-1.9x faster folded; at 4x4 DCGAN's
// 512 -> 256 (8 MiB) 2x slower, its rows streaming the weights from L3 at 80-87% of the peak,
// and 1024 -> 512 even; 8x8 0.8-0.9x, 8x6 1.0-1.1x.
// The override forces it wherever a run has more than one row, or turns it off.
bool fold_rows(const ChannelPlan& pl, const PhaseAxes& ax, const PlanOverrides& ov) {
    if (ov.fold < 0 || pl.out[1] < 2) return false;
    int64_t max_row = 0, max_rows = 0, all_taps = 0;
    bool wasteful = false;
    double live_taps_run = 0, all_taps_run = 0;  // tap x output pairs: reading input, all
    const int64_t Wp = pl.input.padded[2];
    for (int64_t rd = 0; rd < pl.stride[0]; ++rd)
        for (int64_t rh = 0; rh < pl.stride[1]; ++rh)
            for (int64_t rw = 0; rw < pl.stride[2]; ++rw) {
                const int64_t ch = ax.m_count[1][size_t(rh)], cw = ax.m_count[2][size_t(rw)];
                if (ax.m_count[0][size_t(rd)] * ch * cw == 0) continue;
                max_row = std::max(max_row, cw);
                max_rows = std::max(max_rows, ch);
                // Each run's dropped outputs at most half its kept ones.
                if (ch > 1 && 2 * ((ch - 1) * Wp + cw) > 3 * ch * cw) wasteful = true;
                const int64_t taps = ax.phase({rd, rh, rw}).taps_total();
                if (taps == 0) continue;  // bias only: no weights, nothing to reuse
                all_taps += taps;
                // The taps the rows would run: those reading inside the input, per output.
                double live = double(ax.m_count[0][size_t(rd)] * ch * cw);
                const int64_t r[3] = {rd, rh, rw};
                for (size_t d = 0; d < 3; ++d) {
                    const TapAxis& a = ax.axes[d][size_t(r[d])];
                    int64_t sum = 0;
                    for (int64_t m = 0; m < ax.m_count[d][size_t(r[d])]; ++m) {
                        const int64_t at = ax.m_lo[d][size_t(r[d])] + m;
                        const auto [lo, hi] = live_taps(a, at, at, pl.in[d]);
                        sum += hi - lo;
                    }
                    live *= double(sum) / double(ax.m_count[d][size_t(r[d])]);
                }
                live_taps_run += live;
                all_taps_run += double(taps) * double(ax.m_count[0][size_t(rd)] * ch * cw);
            }
    if (max_rows < 2) return false;
    if (ov.fold > 0) return true;
    const double weight_bytes = double(pl.w_rows) * double(all_taps) * double(pl.oc_vectors) *
                                double(pl.vlen) * 4.0;
    // Rows whose blocks reduce in input-channel chunks (ic_split) read their weights from L2
    // for every row and image: folded against them, 1024 -> 512 k4 s2 at 4x4 and 6x6 ran
    // 1.2x and 1.06x, but at 8x8 0.9x (512 -> 512: 0.85x) and 4 images at 4x4 0.8x.
    const int64_t row_limit = pl.isa == Isa::avx2 ? 3 : pl.ic_split > 1 ? 6 : 8;
    if (pl.ic_split > 1 && pl.batch > 1) return false;
    // Weights from 16 MiB: on Zen 4 (AVX-512, 1 thread) DCGAN's 512 -> 256 at 4x4 (8 MiB) ran
    // 1.39x faster in rows (ic chunks, 4 x 6 tiles) than folded; pix2pix's 1024 -> 512 at 2x2
    // and 4x4 (32 MiB) 1.35x and 1.55x faster folded.
    return max_row <= row_limit && !wasteful &&
           live_taps_run >= 0.25 * all_taps_run &&
           weight_bytes > 32.0 * double(kL2WeightBudget) &&
           pl.input.image_floats() * 4 <= kL2InputBudget;
}

// Folded kernels prefetch the weights 4 KiB ahead (16 input channels of a 2x2-tap phase at
// one vector): measured on 1024 -> 512 k4 s2 at 4x4, 1.4x faster at 2-8 KiB, 1.1x at 512 B.
constexpr int kFoldPrefetch = 4096;

// The folded tile: ur outputs of the run x n_oc vectors, fewest FMA slots over the runs. A tile
// step costs its FMAs, a quarter slot per broadcast, at least 8 (the FMAs in flight), and 4 per
// weight vector: the weights stream from beyond L2 once per tile (1024 -> 512 k4 s2 at 4x4:
// one 22-wide tile of 1 vector 1.4x faster than 6-wide tiles of 4).
void choose_fold_tile(const Problem& p, ChannelPlan& pl, const PhaseAxes& ax, bool avx2_tail,
                      const PlanOverrides& ov) {
    const int64_t ovg = pl.oc_vectors / pl.groups;
    double best = std::numeric_limits<double>::infinity();
    const int n_hi = int(std::min<int64_t>(ovg, 4));
    for (int n = 1; n <= n_hi; ++n)
        for (int u = 1; u <= 32; ++u) {
            if (!channel_tile_fits(pl.isa, u, n, p.activation, avx2_tail)) continue;
            if (ov.n_oc > 0 && n != ov.n_oc) continue;
            if (ov.ur > 0 && u != ov.ur) continue;
            const double blocks = double((ovg + n - 1) / n);
            double cost = 0;
            for (int64_t rh = 0; rh < pl.stride[1]; ++rh)
                for (int64_t rw = 0; rw < pl.stride[2]; ++rw) {
                    const int64_t ch = ax.m_count[1][size_t(rh)], cw = ax.m_count[2][size_t(rw)];
                    if (ch * cw == 0) continue;
                    const int64_t len = (ch - 1) * pl.input.padded[2] + cw;
                    for (int64_t m0 = 0; m0 < len; m0 += u) {
                        const int64_t w = std::min<int64_t>(u, len - m0);
                        cost += std::max(double(w * n) + 0.25 * double(w), 8.0) + 4.0 * n;
                    }
                }
            cost *= blocks;
            if (cost < best * 0.999) {
                best = cost;
                pl.ur = u;
                pl.n_oc = n;
            }
        }
}


// The W chunk of tiles ur wide over oc_blocks blocks: ~96 KiB of input (its rows for every tap
// along D and H), so a chunk stays in L2 while every oc block reads it.
int64_t chunk_length(const ChannelPlan& pl, const PhaseAxes& ax, int ur, int64_t oc_blocks) {
    int64_t rows = 1, max_row = 1;
    for (size_t d = 0; d < 2; ++d) {
        int64_t most = 1;
        for (const TapAxis& a : ax.axes[d]) most = std::max<int64_t>(most, a.count);
        rows *= most;
    }
    for (int64_t c : ax.m_count[2]) max_row = std::max(max_row, c);
    const int64_t bytes_per_m = rows * pl.w_rows * 4;
    const int64_t fit = std::max<int64_t>(1, (96 * 1024) / bytes_per_m / ur) * ur;
    const int64_t whole = (max_row + ur - 1) / ur * ur;
    int64_t chunk = std::min(fit, whole);
    // Threads share a call's items (row x chunk x oc block): a layer with few of them (a 1D
    // layer's one row) is cut into shorter chunks, down to one tile, so that shares come out
    // even (HiFi-GAN's 128 -> 64 k16 s8 at 128 steps: one chunk, one thread busy).
    const int64_t items = pl.batch * pl.out[0] * pl.out[1] * oc_blocks;
    const int64_t want = (kParallelItems + items - 1) / items;
    if (want > 1) {
        const int64_t tiles = whole / ur, per = std::max<int64_t>(1, (tiles + want - 1) / want);
        chunk = std::min(chunk, per * ur);
    }
    return chunk;
}

void w_chunks(ChannelPlan& pl, const PhaseAxes& ax) {
    if (pl.fold) {  // a folded run is one call per (plane, phase, block)
        pl.w_chunk = pl.ur;
        pl.w_chunks = 1;
        return;
    }
    int64_t max_row = 1;
    for (int64_t c : ax.m_count[2]) max_row = std::max(max_row, c);
    pl.w_chunk = chunk_length(pl, ax, pl.ur, pl.oc_blocks);
    pl.w_chunks = (max_row + pl.w_chunk - 1) / pl.w_chunk;
}

// Per phase: its packed weights and its kernels [full tile, W tail][full oc block, last block].
// Taps that read only the zero halo are left out (tiny maps under large or dilated kernels read
// mostly halo): per row along D and H, per W tile along W, in classes of equal live taps.
void phase_kernels(const Problem& p, ChannelPlan& pl, const PhaseAxes& ax, int oc_tail) {
    const int64_t VL = pl.vlen, nbg = pl.oc_blocks / pl.groups;
    ChannelKernelDesc base;
    set_common(base, pl, p);
    base.ic_block = pl.input.lanes;
    base.ic_blocks = pl.chunk_blocks();
    base.partial = pl.ic_split > 1;
    base.stream = pl.stream && p.layout == Layout::channels_last;
    base.x_stride = kernel_strides(pl.input, p.rank);
    // A folded run is written into a buffer of row_pitch floats per output; rows otherwise
    // into the output (channels_last) or the row buffer, W phases interleaved.
    base.y_pix = pl.fold ? pl.row_pitch
                         : pl.stride[2] * (p.layout == Layout::channels_last ? pl.oc : pl.row_pitch);
    base.groups = pl.groups;
    if (pl.io == DType::bf16 && p.layout == Layout::channels_last) base.out = DType::bf16;
    if (pl.fold) base.w_prefetch = kFoldPrefetch;
    const int64_t weight_bytes = pl.ic_g * pl.oc * pl.kernel_points() * 4;
    // The kernels [W width][block] of one set of taps, for the widths `need`s.
    auto kernels_of = [&](const PhasePlan& ph, ChannelKernelDesc k, const bool (&need)[2],
                          int (&out)[2][2]) {
        const int64_t len = pl.fold ? pl.fold_len(ph) : ph.m_count[2];
        const int widths[2] = {pl.ur, int(len % pl.ur)};
        for (int wv = 0; wv < 2; ++wv) {
            if (widths[wv] == 0 || !need[wv]) continue;
            for (int last = 0; last < 2; ++last) {
                if (!last && nbg < 2) continue;
                k.ur = widths[wv];
                k.n_oc = last ? pl.n_oc_last : pl.n_oc;
                k.shared_bcast = pl.shared_bcast && k.taps[2] >= 2;
                // Shared-broadcast tiles load every W tap's weights at once: where the
                // weights stream from beyond L2 they are prefetched as folded rows' are.
                if (k.shared_bcast && weight_bytes > (int64_t(4) << 20))
                    k.w_prefetch = kFoldPrefetch;
                k.ic_unroll = ic_unroll(pl.input.lanes, k.taps_total() * k.ur * k.n_oc);
                k.oc_tail = last ? oc_tail : int(VL);
                out[wv][last] = kernel_index(pl, k);
            }
        }
    };
    const int64_t per_tap = pl.w_rows * pl.oc_vectors * VL;  // [w_rows][tap][lanes]
    const int64_t w_off = plan_phases(pl, ax, per_tap, [&](PhasePlan& ph) {
        const int64_t cw = ph.m_count[2];
        if (pl.fold) ph.w_blocks = pl.fold_len(ph) / pl.ur;  // tiles of the folded run
        if (ph.m_count[0] * ph.m_count[1] * cw == 0) return;
        ChannelKernelDesc k = base;
        set_taps(k, ph);
        for (size_t d = 0; d < 3; ++d) k.w_taps[d] = k.taps[d];
        if (!ph.has_taps() || pl.fold) {  // a run's outputs need every tap
            kernels_of(ph, k, {ph.w_blocks > 0, true}, ph.kernel);
            return;
        }
        live_tap_kernels(ph, pl.in, pl.ur, k, kernels_of);
    });
    pl.packed_weight_floats = w_off;
    pl.packed_bias_floats = pl.oc_vectors * VL;
}

constexpr int64_t kSplitSumBytes = int64_t(16) << 20;

// Groups of oc blocks whose packed weights fit the L2 budget, and images per copy.
void cache_groups(ChannelPlan& pl, const PlanOverrides& ov) {
    const int64_t block_bytes = pl.packed_weight_floats * 4 / pl.oc_blocks / pl.ic_split;
    pl.oc_group = std::clamp<int64_t>(kL2WeightBudget / std::max<int64_t>(block_bytes, 1), 1,
                                      pl.oc_blocks);
    // channels_first: a group's outputs are its own planes, so running one group's blocks over
    // every row before the next group's keeps its input rows and weights in L2 (grouped 8 x 32
    // k3 s2 at 56x56: 1.4-1.8x). channels_last interleaves the groups in every output pixel:
    // row-major order over all groups writes whole lines and measured faster.
    if (pl.groups > 1 && pl.layout == Layout::channels_first)
        pl.oc_group = std::min(pl.oc_group, pl.oc_blocks / pl.groups);
    if (ov.oc_group > 0) pl.oc_group = std::min(ov.oc_group, pl.oc_blocks);
    pl.batch_group = batch_group(pl, ov);
    // Channels-first sums of input-channel chunks wait in the thread's row buffers, a row per
    // item of its oc group (PhasedPlan::row_pitch floats per output): groups of fewer blocks,
    // then fewer images, keep that near 16 MiB where the image allows.
    if (pl.ic_split > 1 && pl.layout == Layout::channels_first) {
        const int64_t VL = pl.vlen, pixels = pl.out[0] * pl.out[1] * pl.out[2];
        auto slot_bytes = [&] { return pl.oc_group * pl.batch_group * pixels * pl.n_oc * VL * 4; };
        while (slot_bytes() > kSplitSumBytes && pl.oc_group > 1) --pl.oc_group;
        while (slot_bytes() > kSplitSumBytes && pl.batch_group > 1) --pl.batch_group;
    }
    // Group-major layers whose image overflows the L2 input budget copy slabs of groups (8 x 32
    // channels k3 s2 at 56x56: 0.45x -> 0.75-0.94x of a dense 32 -> 32 layer at batch 8).
    const int64_t image_bytes = pl.input.image_floats() * 4;
    if (pl.groups > 1 && pl.layout == Layout::channels_first && image_bytes > kL2InputBudget &&
        !pl.fold && pl.ic_split == 1)
        pl.group_slab = std::clamp<int64_t>(kL2InputBudget / (image_bytes / pl.groups), 1,
                                            pl.groups);
    if (ov.group_slab > 0) pl.group_slab = std::min(ov.group_slab, pl.groups);
    // Other images that overflow it, with every oc block in one L2 group, are copied in bands
    // of rows: each band's input is read from L2 right after it is written, instead of from
    // memory after the whole image is (U-Net 128 -> 64 at 196x196: a 20 MB copy).
    if (!pl.fold && !pl.input.in_place && pl.ic_split == 1 &&
        ((pl.group_slab == 0 && pl.oc_group >= pl.oc_blocks) || ov.band_rows > 0))
        pl.band_rows = band_rows(pl, ov);
    if (pl.band_rows > 0) pl.batch_group = 1;  // a band is rows of one image
}

// Rows H phase by H phase (PhasedPlan::phase_rows) when an oc group's weights over every
// phase (of its input-channel chunk) overflow 3/4 of the L2: in row order each row reads
// another phase's weights, so all of them cycle through L2 every S_h rows; by phase, one
// phase's stay for all its rows. The input rows are then read S_h times (once per phase):
// only for inputs that fit the L2 (CycleGAN's 4 MiB at 64x64: 0.95-0.97x). Not with bands
// of rows (band_rows, band_copies: a band's input is copied for rows in order). Measured on
// an AVX2 Zen 3 (512 KiB L2, 1 thread, the same plan in order and by phase in one process):
// `--random 100` seeds 1, 7, 23, 31 and 59, groups of 405-504 KiB 1.03-1.18x (192 -> 192
// k4x3 s4x1 d1x3 on 5x3 1.14-1.18x, 1.19x on 2 threads), FCN-32s' 21 -> 21 k64 s32 1.19x;
// smaller groups within noise either way, and 0.89x on one of 6 KiB (in order, its rows
// share input rows in L1). Images copied in groups (batch_group > 1) keep rows in order:
// three such layers ran 1.0-1.09x on 1 thread, 0.93-0.96x on 2; so do 3D layers, whose
// planes cycle the D phases' weights anyway (V-Net's 256 -> 128 k2 s2: 0.95-0.99x).
void phase_rows(ChannelPlan& pl, const PlanOverrides& ov) {
    const int64_t group_bytes = pl.packed_weight_floats * 4 / pl.oc_blocks / pl.ic_split *
                                std::min(pl.oc_group, pl.oc_blocks);
    pl.phase_rows = pl.stride[1] > 1 && pl.out[1] > 1 && !pl.band_copies && pl.band_rows == 0 &&
                    (ov.phase_rows > 0 ||
                     (ov.phase_rows == 0 && pl.batch_group == 1 && pl.out[0] == 1 &&
                      group_bytes > pl.l2_bytes * 3 / 4 &&
                      pl.input.image_floats() * 4 <= pl.l2_bytes));
}

// Widens [lo, hi) to the padded input positions that outputs [m0, m1] of a phase with tap
// axis `a` read: m + halo - c over its taps' offsets c.
void widen_reach(const TapAxis& a, int64_t m0, int64_t m1, int64_t halo, int64_t& lo,
                 int64_t& hi) {
    const int64_t reach0 = a.c0, reach1 = a.c0 + (a.count - 1) * a.cstep;
    lo = std::min(lo, m0 + halo - std::max(reach0, reach1));
    hi = std::max(hi, m1 + halo - std::min(reach0, reach1) + 1);
}

// Per-chunk copies of one-row images (PhasedPlan::chunk_copies) over half the L2 input
// budget, when every oc block is in one L2 group (each chunk is copied once) and the rows are
// not folded. A chunk's phase outputs m read padded columns m + halo - (c0 + t * cstep).
// Measured on an AVX2 Zen 3 against the whole-image copy (old and new builds alternated):
// HiFi-GAN v2's 16 -> 8 at 16384 steps 1.2x on 1 and 2 threads, 32 -> 16 at 8192 1.14x,
// HiFi-GAN's 64 -> 32 at 16384 1.1-1.2x, benchdnn's 64 -> 32 at 36224 (channels-last)
// 1.06-1.1x; the other 1D layers of configs/ over the budget 1.0-1.05x.
void chunk_copies(ChannelPlan& pl, const PhaseAxes& ax, const PlanOverrides& ov) {
    const InputLayout& L = pl.input;
    const bool one_row = L.padded[0] == 1 && L.padded[1] == 1;
    pl.chunk_copies = one_row && !pl.fold && !L.in_place && pl.ic_split == 1 &&
                      pl.oc_group >= pl.oc_blocks &&
                      pl.w_chunks > 1 && pl.group_slab == 0 &&
                      (ov.chunk_copies > 0 ||
                       (ov.chunk_copies == 0 && L.image_floats() * 4 > kL2InputBudget / 2));
    if (!pl.chunk_copies) return;
    const int64_t H = L.halo_lo[2];
    int64_t span = 0;
    for (int64_t c = 0; c < pl.w_chunks; ++c) {
        int64_t lo = L.padded[2], hi = 0;
        for (int64_t rw = 0; rw < pl.stride[2]; ++rw) {
            const TapAxis& a = ax.axes[2][size_t(rw)];
            const int64_t first = c * pl.w_chunk, count = ax.m_count[2][size_t(rw)];
            if (a.count == 0 || first >= count) continue;
            const int64_t m0 = ax.m_lo[2][size_t(rw)] + first;
            const int64_t m1 = ax.m_lo[2][size_t(rw)] + std::min(count, first + pl.w_chunk) - 1;
            widen_reach(a, m0, m1, H, lo, hi);
        }
        lo = std::clamp<int64_t>(lo, 0, L.padded[2]);
        hi = std::clamp<int64_t>(hi, lo, L.padded[2]);
        pl.chunk_columns.push_back({lo, hi});
        span = std::max(span, hi - lo);
    }
    pl.chunk_input = L;
    pl.chunk_input.padded[2] = std::max<int64_t>(span, 1);
}

// Per-band copies of 2D and 3D images whose input overflows the L2 budget, when every oc block
// is in one L2 group (each band is copied once) and the rows are neither folded nor read in
// place: the thread that computes a band copies its input window into a buffer that stays in
// its L2, instead of one pass over the whole image into a buffer the size of the image
// (written to and read back from memory) before any row is computed. Bands of the banded
// whole-image copy's size, at least 8 per image so that threads share them evenly: output
// rows of a 2D image, output planes of a 3D one. Output index o along the band's axis, of
// phase r = (o + pb) % S, reads padded positions m + halo - c over the phase's taps' c,
// m = (o + pb) / S.
void band_copies(ChannelPlan& pl, const PhaseAxes& ax, const PlanOverrides& ov) {
    const InputLayout& L = pl.input;
    const bool planes = L.padded[0] > 1 || pl.out[0] > 1;
    const size_t d = planes ? 0 : 1;
    const int64_t O = pl.out[d];
    if (ov.band_copies < 0 || pl.fold || L.in_place || pl.chunk_copies || pl.group_slab > 0 ||
        pl.ic_split > 1 || pl.oc_group < pl.oc_blocks || O < 2)
        return;
    PlanOverrides bands = ov;  // forced: bands of an eighth of the rows, whatever the size
    if (ov.band_copies > 0 && ov.band_rows <= 0)
        bands.band_rows = std::max<int64_t>(1, pl.out_rows() / 8);
    const int64_t rows = band_rows(pl, bands);  // output rows, D x H flattened
    if (rows <= 0) return;
    int64_t per = std::min(std::max<int64_t>(1, planes ? rows / pl.out[1] : rows), (O + 7) / 8);
    const int64_t H = L.halo_lo[d], S = pl.stride[d], pb = pl.pad_begin[d];
    // The bands' windows for bands of `per`, and how much of the input they copy in all.
    std::vector<std::array<int64_t, 2>> windows;
    auto cut = [&] {
        windows.clear();
        int64_t copied = 0;
        for (int64_t o0 = 0; o0 < O; o0 += per) {
            int64_t lo = L.padded[d], hi = 0;
            for (int64_t o = o0; o < std::min(O, o0 + per); ++o) {
                const TapAxis& a = ax.axes[d][size_t((o + pb) % S)];
                if (a.count == 0) continue;
                widen_reach(a, (o + pb) / S, (o + pb) / S, H, lo, hi);
            }
            lo = std::clamp<int64_t>(lo, 0, L.padded[d]);
            hi = std::clamp<int64_t>(hi, lo, L.padded[d]);
            windows.push_back({lo, hi});
            copied += hi - lo;
        }
        return copied;
    };
    // Windows overlap by the kernel's reach (and neighbouring output rows of a stride share
    // input rows): each band copies some of its predecessor's rows again. Bands grow until the
    // copies add up to less than 1.5 times the input, or the layer keeps the whole-image copy
    // (a 3D k4 s1 layer in one-plane bands copied each plane 4 times and ran 0.76x; V-Net's
    // k2 s2 in one-plane bands copied each input plane twice).
    while (ov.band_copies <= 0 && 2 * cut() > 3 * L.padded[d])
        if ((per *= 2) > (O + 1) / 2) return;
    if (ov.band_copies > 0) cut();
    int64_t span = 1;
    for (const auto& [lo, hi] : windows) span = std::max(span, hi - lo);
    pl.band_copies = true;
    pl.band_axis = int(d);
    pl.band_rows = per;
    pl.band_windows = std::move(windows);
    pl.band_input = L;
    pl.band_input.padded[d] = span;
}

void describe(const Problem& p, ChannelPlan& pl, int oc_tail) {
    const int64_t VL = pl.vlen;
    pl.lines.push_back(fmt::format(
        "channel-vectorised: input {} x {} ch -> output {} x {} ch, {} stride phases",
        dims_string(p, pl.in), pl.ic, dims_string(p, pl.out), pl.oc, pl.phases.size()));
    for (const PhasePlan& ph : pl.phases) {
        Dim3 t{ph.taps[0].count, ph.taps[1].count, ph.taps[2].count};
        if (!ph.has_taps()) t = {0, 0, 0};
        pl.lines.push_back(fmt::format("  phase r={}: taps {} ({}), outputs {}{}",
                                       dims_string(p, ph.r), dims_string(p, t), ph.taps_total(),
                                       dims_string(p, ph.m_count),
                                       ph.has_taps() ? "" : " (bias + activation only)"));
    }
    const double wkb = double(pl.w_rows) * double(pl.n_oc) * double(VL) * 4.0 / 1024.0;
    if (pl.groups > 1)
        pl.lines.push_back(fmt::format("{} groups of {} -> {} channels, each its own oc blocks and "
                                       "weights{}", pl.groups, pl.ic_g, pl.oc_g,
                                       oc_tail < VL / 2 ? " (few channels per group: most lanes "
                                                          "of each vector idle)" : ""));
    pl.lines.push_back(fmt::format(
        "tile ur={} x n_oc={} ({} accumulators of {} registers), {} oc blocks of {} channels "
        "(last {} vectors, {} lanes in its last)",
        pl.ur, pl.n_oc, pl.ur * pl.n_oc, vector_registers(pl.isa), pl.oc_blocks, pl.n_oc * VL,
        pl.n_oc_last, oc_tail));
    if (pl.stream)
        pl.lines.push_back(pl.layout == Layout::channels_last
                               ? "stores: the kernels stream the finished outputs past the "
                                 "caches (non-temporal) where the output is 64-byte aligned"
                               : "stores: the output rows' transposes stream whole lines past "
                                 "the caches (non-temporal)");
    if (pl.fold) {
        pl.lines.push_back(fmt::format(
            "rows folded: per D plane and phase, its rows are one run of outputs m_h x {} + m_w "
            "over the padded input (tiles span rows; outputs past a row's end dropped), written "
            "to a buffer, then scattered to the output"
            , pl.input.padded[2]));
        pl.lines.push_back(fmt::format(
            "loops: groups of {} images > planes x H phases x oc blocks (threads) > W phases > "
            "tiles of the run > ic blocks > ic > taps (unrolled); weights per (phase, oc block, "
            "tap) {:.1f} KiB; input copied {}to a zero-halo buffer {} x {} blocks of {} ch",
            pl.batch_group, wkb, pl.input.interleaved ? "pixel-major " : "",
            dims_string(p, pl.input.padded), pl.ic_blocks, pl.input.lanes));
        return;
    }
    pl.lines.push_back(fmt::format(
        "loops: groups of {} images > {}groups of {} oc blocks > {}rows{} x {} W chunks of {} x "
        "oc blocks (threads) > W tiles > ic blocks > ic > taps (unrolled); weights per (phase, "
        "oc block, tap) {:.1f} KiB; {} {} x {} blocks of {} ch{}",
        pl.batch_group,
        pl.group_slab > 0 ? fmt::format("slabs of {} groups (input copied per slab) > ",
                                        pl.group_slab)
        : pl.band_copies  ? fmt::format("bands of {0} {1} (threads; input {1} copied per band "
                                        "by its thread, {2} {1} at most) > ",
                                        pl.band_rows, pl.band_axis == 0 ? "planes" : "rows",
                                        pl.band_input.padded[size_t(pl.band_axis)])
        : pl.band_rows > 0 ? fmt::format("bands of {} rows (input copied per band) > ",
                                         pl.band_rows)
                           : std::string(),
        pl.oc_group,
        pl.ic_split > 1 ? fmt::format("{} chunks of {} ic blocks (fp32 sums kept {}) > ",
                                      pl.ic_split, pl.chunk_blocks(),
                                      pl.layout == Layout::channels_last
                                          ? "in the output"
                                          : "in the thread's row buffers")
                        : std::string(),
        pl.phase_rows ? " (H phase by H phase)" : "", pl.w_chunks, pl.w_chunk, wkb,
        pl.input.in_place ? "input read in place (channels-last, no halo), no copy:"
                          : pl.input.interleaved ? "input copied pixel-major to a zero-halo buffer"
                                                 : "input copied to a zero-halo buffer",
        dims_string(p, pl.input.padded), pl.ic_blocks, pl.input.lanes,
        pl.chunk_copies ? fmt::format(", per W chunk by its thread ({} columns at most)",
                                      pl.chunk_input.padded[2])
                        : std::string()));
}

}  // namespace

bool plan_channel(const Problem& p, ChannelPlan& pl, const PhaseAxes& ax,
                  const PlanOverrides& overrides, std::string& why_not) {
    const int64_t VL = pl.vlen, ovg = (pl.oc_g + VL - 1) / VL;  // vectors per group
    pl.oc_vectors = pl.groups * ovg;
    const int oc_tail = int(pl.oc_g - (ovg - 1) * VL);
    const bool avx2_tail = pl.isa == Isa::avx2 && oc_tail != VL;
    if (!input_blocks(pl, why_not)) return false;
    if (!choose_tile(p, pl, ax, overrides, avx2_tail, why_not)) return false;
    pl.fold = fold_rows(pl, ax, overrides);
    if (pl.fold) {  // kept when its tile spans more than a row (forced: always)
        const int ur = pl.ur, n_oc = pl.n_oc;
        choose_fold_tile(p, pl, ax, avx2_tail, overrides);
        int64_t max_row = 0;
        for (int64_t c : ax.m_count[2]) max_row = std::max(max_row, c);
        if (pl.ur <= max_row && overrides.fold <= 0) {
            pl.fold = false;
            pl.ur = ur;
            pl.n_oc = n_oc;
        }
    }
    if (pl.fold) pl.ic_split = 1;  // a folded run streams the weights once per call anyway
    share_broadcasts(p, pl, ax, overrides, avx2_tail);
    // bf16 storage is converted where the tensors move anyway: widened in the input copy,
    // narrowed in the output rows' transposes (channels_first) or the kernels' stores
    // (channels_last). Folded rows keep the conversion passes around fp32 storage.
    if (p.dtype == DType::bf16 && !pl.fold) pl.io = DType::bf16;
    read_in_place(pl, overrides);
    stream_stores(pl, overrides);
    output_blocks(pl, pl.ic_blocks);
    w_chunks(pl, ax);
    phase_kernels(p, pl, ax, oc_tail);
    cache_groups(pl, overrides);
    chunk_copies(pl, ax, overrides);
    band_copies(pl, ax, overrides);
    phase_rows(pl, overrides);
    describe(p, pl, oc_tail);
    return true;
}

}  // namespace tconv::gen::detail
