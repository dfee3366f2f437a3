// SPDX-License-Identifier: Apache-2.0
// The column family's planner: the rows of the product cut into register blocks, the tile of
// pixels, the column buffer.
#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "plan_util.hpp"

namespace tconv::gen::detail {

namespace {

struct GemmTile {
    int ur = 1;
    std::vector<int> block_rows;  // rows per row block, in order
    double cost = std::numeric_limits<double>::infinity();
};

// Cycles per input channel of one tile of pixels, summed over the row blocks: the FMA ports
// (2 per cycle), the loads (ur vectors and a broadcast per row, ~2 per cycle) and each
// accumulator's chain (an FMA's latency, 4 cycles, per channel) bound it; on AVX2 also the
// loop body's instructions at ~4 per cycle, counted as the one-channel loop issued them (ur
// loads and prefetches, broadcasts, FMAs and 4 of loop control), which leave tiles of 8-9
// accumulators short of the FMA ports: 6 rows x 2 vectors ran 1.05-1.4x faster than 3 x 3,
// 2 x 4 or 12 x 1 on Zen 3. (With the two-channel loop, 3 x 3 and 2 x 4 ran 7-15% ahead of
// 6 x 2 on 12-27 rows whose weights stay in L1, and 3-27% behind on 60-392 rows.) Times the
// tiles the pixels need: a short last tile pays for whole vectors.
GemmTile choose_gemm_tile(Isa isa, int64_t rows, int64_t pixels, const PlanOverrides& ov) {
    const int VL = vector_length(isa);
    GemmTile best;
    for (int ur = 1; ur <= 4; ++ur) {
        if (ov.ur > 0 && ur != ov.ur) continue;
        int mr_max = 0;
        while (gemm_tile_fits(isa, mr_max + 1, ur, true) && mr_max + 1 <= rows) ++mr_max;
        // An override pins the row blocks (a reshape keeps the packed weights' blocks): tiles
        // that cannot hold that many rows are out.
        if (ov.n_oc > 0) mr_max = mr_max >= ov.n_oc ? ov.n_oc : 0;
        if (mr_max == 0) continue;
        const int64_t nb = (rows + mr_max - 1) / mr_max;
        const int mr = int((rows + nb - 1) / nb);
        GemmTile t;
        t.ur = ur;
        double per_channel = 0;
        for (int64_t r = 0; r < rows; r += mr) {
            const int m = int(std::min<int64_t>(mr, rows - r));
            t.block_rows.push_back(m);
            const double issue = isa == Isa::avx2 ? (2.0 * ur + m + m * ur + 4) / 4.0 : 0.0;
            per_channel += std::max({m * ur / 2.0, (ur + m) / 2.0, 4.0, issue});
        }
        const double tiles = double((pixels + int64_t(ur) * VL - 1) / (int64_t(ur) * VL));
        t.cost = tiles * per_channel;
        if (t.cost < best.cost) best = t;
    }
    return best;
}

}  // namespace

bool plan_gemm(const Problem& p, GemmPlan& pl, const PhaseAxes& ax, const PlanOverrides& ov,
               std::string& why_not) {
    const int VL = pl.vlen;
    pl.rows = pl.oc_g * pl.kernel_points();
    pl.pixels = pl.in[0] * pl.in[1] * pl.in[2];
    const GemmTile tile = choose_gemm_tile(pl.isa, pl.rows, pl.pixels, ov);
    if (tile.block_rows.empty()) {
        why_not = "no gemm tile fits the registers";
        return false;
    }
    const int64_t tile_px = int64_t(tile.ur) * VL;
    pl.ur = tile.ur;
    pl.n_oc = tile.block_rows.front();
    pl.tiles = pl.pixels / tile_px;
    const int64_t rest = pl.pixels - pl.tiles * tile_px;
    pl.tail_vectors = int((rest + VL - 1) / VL);
    pl.col_pitch = (pl.tiles * tile.ur + pl.tail_vectors) * VL;
    // Column rows 4 KiB apart would share L1 sets as the tile's rows are written: two vectors
    // more apart.
    if (pl.col_pitch * 4 % 4096 == 0) pl.col_pitch += 2 * VL;
    if (double(pl.col_floats()) * 4.0 > double(std::numeric_limits<int32_t>::max()) ||
        double(pl.col_pitch) * 4.0 * double(tile.block_rows.front()) >
            double(std::numeric_limits<int32_t>::max())) {
        why_not = "the column buffer is too large";
        return false;
    }

    // 64 channels: a chunk's rows fit the L1 TLB; the tile's sums are re-read once per chunk
    // (1/32 of the loads of its FMAs at 64). Even chunks, so none is a sliver.
    constexpr int64_t kChunk = 64;
    const int64_t chunks = (pl.ic_g + kChunk - 1) / kChunk;
    pl.k_chunk = (pl.ic_g + chunks - 1) / chunks;
    GemmKernelDesc base;
    base.isa = pl.isa;
    base.rank = p.rank;
    base.kernel = pl.kernel;
    base.stride = pl.stride;
    base.dilation = pl.dilation;
    base.groups = pl.groups;
    int64_t row0 = 0;
    for (int rows : tile.block_rows) {
        GemmPlan::RowBlock b;
        b.row0 = row0;
        b.rows = rows;
        GemmKernelDesc k = base;
        k.mr = rows;
        for (int more = 0; more < (pl.ic_g > pl.k_chunk ? 2 : 1); ++more) {
            k.accumulate = more == 1;
            if (pl.tiles > 0) {
                k.ur = tile.ur;
                k.tail = VL;
                b.kernel[0][more] = kernel_index(pl, k);
            }
            if (pl.tail_vectors > 0) {
                k.ur = pl.tail_vectors;
                k.tail = int(rest - int64_t(pl.tail_vectors - 1) * VL);
                b.kernel[1][more] = kernel_index(pl, k);
            }
        }
        pl.row_blocks.push_back(b);
        row0 += rows;
    }
    for (int64_t g = 0; g < pl.groups; ++g) {  // one block per group: its channels' bias
        OcBlock blk;
        blk.group = g;
        blk.oc0 = g * pl.oc_g;
        blk.valid = blk.vectors = int(pl.oc_g);
        blk.vector0 = blk.oc0;
        pl.blocks.push_back(blk);
    }
    pl.oc_blocks = pl.groups;
    pl.n_oc_last = int(pl.oc_g);
    pl.packed_weight_floats = pl.groups * pl.rows * pl.ic_g;
    pl.packed_bias_floats = pl.oc;
    pl.batch_group = 1;
    GemmEpilogueDesc epi;
    epi.isa = pl.isa;
    epi.activation = p.activation;
    epi.negative_slope = p.activation == Activation::leaky_relu ? p.negative_slope : 0.0f;
    pl.epilogue = kernel_index(pl, epi);
    for (size_t d = 0; d < 3; ++d)
        for (size_t r = 0; r < ax.axes[d].size(); ++r)
            pl.residues[d].push_back({ax.axes[d][r], ax.m_lo[d][r], ax.m_count[d][r]});
    for (const GemmPlan::Residue& r : pl.residues[2]) pl.w_row += r.m_count;
    // Bands of up to 2048 floats (8 KiB, L1-resident): a band pays its per-item costs (W
    // segments, zeroing, an epilogue call) once and each tap's strided add covers its rows
    // (random_12_39's 2-output rows, 5 x 512 -> 48 in 16 groups, k3x4 on 3x2, spent 3/4 of the
    // layer's time in per-row costs). Measured against 256 floats (AVX2, Zen 3, 1 and 2
    // threads, in one process): 24 outputs of 136 x 83 (k2 s4x3) 1.2-1.3x, 220 x 62 x 6
    // 1.15-1.2x, 4 x 83 x 80 1.06-1.1x, AlexNet's 3 x 227 x 227 and the keypoint head within
    // noise. Bands stay at least kMinBands per image over the channels, so that threads share
    // col2im (a few-channel map would otherwise be a band or two).
    constexpr int64_t kBandFloats = 2048, kMinBands = 8;
    const int64_t per_channel = (kMinBands + pl.oc - 1) / pl.oc;
    pl.col2im_rows = std::clamp<int64_t>(
        std::min(kBandFloats / std::max<int64_t>(pl.w_row, 1), pl.out_rows() / per_channel), 1,
        pl.out_rows());
    pl.w_m0 = std::numeric_limits<int64_t>::max();
    for (const GemmPlan::Residue& r : pl.residues[2])
        if (r.m_count > 0) {
            pl.w_m0 = std::min(pl.w_m0, r.m_lo);
            pl.w_m_end = std::max(pl.w_m_end, r.m_lo + r.m_count);
        }
    pl.w_span_m = pl.w_m_end - pl.w_m0;
    // Channels-last rows, fewer than 32 per image and longer than 512 floats, in spans of
    // about 256 floats when a thread's share of one row's channels would share lines with the
    // next thread's (16 or fewer channels: 64 -> 8 1D at 3 x 8229 on two threads 0.87 -> 0.62
    // ms, 64 -> 16 1D at 2000: 0.57 -> 0.10 ms) or the row's buffer leaves L1 (more than 4096
    // floats: 256 -> 32 1D at 4269, 3.3 -> 1.6 ms on one thread). With 32-128 channels on
    // shorter rows spans measured 0.8-1.1x on two threads, so those rows stay whole.
    constexpr int64_t kSpanFloats = 256;
    if (p.layout == Layout::channels_last && pl.out_rows() < 32 && pl.w_row > 512 &&
        (pl.oc <= 16 || pl.w_row > 4096)) {
        pl.w_span_m = std::max<int64_t>(1, kSpanFloats / pl.stride[2]);
        pl.w_spans = (pl.w_m_end - pl.w_m0 + pl.w_span_m - 1) / pl.w_span_m;
    }
    // A band row holds a span's outputs: at most S_w per phase index m of the span.
    const int64_t band_row =
        pl.w_spans > 1 ? std::min(pl.w_row, pl.stride[2] * pl.w_span_m) : pl.w_row;
    pl.band_floats = (pl.col2im_rows * band_row + VL - 1) / VL * VL;

    // A channels-first chunk's rows lie pixels * 4 bytes apart: a multiple of 1 KiB puts them
    // in a few L1 sets (4 KiB of sets), so a tile's inputs, read again by each row block, are
    // evicted before the next block reads them. Several row blocks then read them from a
    // per-thread panel. Measured (AVX2, Zen 3, 1 thread): 64 -> 3 k3 at 256x256 1.55x, DCGAN's
    // 64 -> 3 at 32x32 1.2x, 512 -> 4 k3 at 32x32 1.35x faster; one row block reads each input
    // once, where the copy cost up to 1.5x (128 -> 1 at 128x128), and 196-pixel planes (512 ->
    // 17 at 14x14) ran 0.9x with it.
    const bool aliased = pl.pixels * 4 % 1024 == 0 && pl.row_blocks.size() > 1;
    // Several chunks: each re-reads and re-writes the tiles' sums, which for all of a thread's
    // tiles (the column buffer, rows x pixels) may overflow L2. Blocks of tiles whose sums
    // fit half of it then take every chunk before the next block, unless the weights of all
    // chunks, cycled per tile instead of one chunk's, overflow it too (6912 rows x 512
    // inputs, 14 MB: 0.78x). Measured (AVX2, Zen 3, 1 thread): 256 -> 3 k3 s2 on 296x187
    // (6 MB of sums per image, 4 chunks) 1.45-1.65x for blocks of 1-151 tiles, AlexNet's 96
    // -> 3 k11 s4 (2 chunks) 1.01-1.08x. Blocks that fit L1 instead ran a layer whose sums fit
    // L2 anyway (8 rows x 17440 pixels) 0.89x: each block restarts the input rows' streams.
    const int64_t all_tiles = pl.tiles + (pl.tail_vectors > 0 ? 1 : 0);
    const int64_t sums = pl.rows * tile_px * 4, weights = pl.rows * pl.ic_g * 4;
    const int64_t budget = l2_chunk_budget(pl);
    const bool blocked = pl.k_chunk < pl.ic_g && weights <= budget && sums * all_tiles > budget;
    pl.tile_block = ov.gemm_tile_block > 0 ? ov.gemm_tile_block
                    : ov.gemm_tile_block < 0 || !blocked
                        ? all_tiles
                        : std::max<int64_t>(1, budget / sums);
    if (p.layout == Layout::channels_last || aliased) pl.panel_floats = pl.k_chunk * tile_px;
    pl.lines.push_back(fmt::format(
        "column family: per image{}, a matrix product [{} (oc x taps)] x [{} ic] x [{} input "
        "pixels] reading the {}, then col2im into the output",
        pl.groups > 1 ? fmt::format(" and group ({} of {} -> {})", pl.groups, pl.ic_g, pl.oc_g)
                      : "",
        pl.rows, pl.ic_g, pl.pixels,
        p.layout == Layout::channels_first
            ? (aliased ? "channels-first input through a per-thread panel per tile and chunk "
                         "(its planes share L1 sets)"
                       : "channels-first input in place")
            : "channels-last input through a per-thread panel per tile and chunk (transposed)"));
    // Runs of equal blocks print as "192 x 6": a layer of 6912 rows would print 1152 terms.
    std::string blocks;
    const auto& br = tile.block_rows;
    for (size_t i = 0; i < br.size();) {
        size_t j = i;
        while (j < br.size() && br[j] == br[i]) ++j;
        const std::string term = j - i > 1 ? fmt::format("{} x {}", j - i, br[i])
                                           : std::to_string(br[i]);
        blocks += (blocks.empty() ? "" : " + ") + term;
        i = j;
    }
    pl.lines.push_back(fmt::format(
        "tile {} rows x {} pixels ({} vectors); row blocks {}; {} full tiles{}; input channels "
        "in chunks of {}{}; column buffer {} x {} floats per image and group",
        pl.n_oc, tile_px, tile.ur, blocks, pl.tiles,
        pl.tail_vectors > 0 ? fmt::format(" + a tail of {} pixels", rest) : "", pl.k_chunk,
        pl.k_chunk < pl.ic_g && pl.tile_block < all_tiles
            ? fmt::format(", every chunk over blocks of {} tiles (their sums in L2)",
                          pl.tile_block)
            : "",
        pl.rows, pl.col_pitch));
    pl.lines.push_back(
        pl.w_spans > 1
            ? fmt::format("col2im: each output row in {} W spans of {} phase outputs, all "
                          "channels of a span on one thread",
                          pl.w_spans, pl.w_span_m)
            : fmt::format("col2im: bands of {} output rows of one channel", pl.col2im_rows));
    return true;
}

}  // namespace tconv::gen::detail
