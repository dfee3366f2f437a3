// SPDX-License-Identifier: Apache-2.0
// Planning: from a layer to its stride phases, the register tile and the kernels to emit.
// Everything here is decided once per layer; generate() only emits what a descriptor says.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "tconv/gen/kernel_desc.hpp"
#include "tconv/problem.hpp"

namespace tconv::gen {

// Channel-vectorised (lanes = output channels), spatial-vectorised (lanes = consecutive outputs
// of a row, for few output channels) or depthwise (lanes = channels, one input channel per
// output channel; depthwise_cf: its channels-first variant, lanes along W of one channel's
// plane): docs/ALGORITHM.md §4. Each family has its own plan type below (the enum follows the
// order of Plan::family).
// gemm: channels-first layers with few output channels per group, as a matrix product over
// the input read in place into a column buffer, then col2im.
// pairs: bf16 layers on bf16 channel pairs, the channel family's walk with tiles of pixels x
// channels: on AMX tiles (Isa::amx) or vdpbf16ps (Isa::avx512_bf16).
enum class KernelShape { channel_vec, spatial_vec, depthwise, depthwise_cf, gemm, pairs };

// The taps of one phase residue along one dimension: k = k0 + t*kstep, i = m - (c0 + t*cstep).
struct TapAxis {
    int count = 0;
    int64_t k0 = 0, kstep = 0, c0 = 0, cstep = 0;
};

// One stride phase (r_d, r_h, r_w): a dense stride-1 correlation over its outputs m.
struct PhasePlan {
    Dim3 r{0, 0, 0};
    std::array<TapAxis, 3> taps{};
    Dim3 m_lo{0, 0, 0}, m_count{0, 0, 0};  // outputs o = S*m + r - pb for m in [m_lo, m_lo+count)
    int64_t w_offset = 0;                  // floats: this phase's packed weights
    // Kernels (indices into the plan's kernels): [full-width tile, W tail][full oc block, last
    // block]; -1 when unused.
    int kernel[2][2] = {{-1, -1}, {-1, -1}};
    int64_t w_blocks = 0;  // full ur tiles per row; the tail kernel covers the rest
    // Tiny maps (channel family): taps that read only the zero halo are left out. Rows fall in
    // classes of equal live taps along D and H (row_class[d][m - m_lo[d]]), W tiles in classes
    // along W, in runs of equal class; class (D, H, W) runs row_kernels[(cd * row_classes_h +
    // ch) * w_classes + cw]. Empty: every tile runs `kernel`.
    struct RowKernels {
        int kernel[2][2] = {{-1, -1}, {-1, -1}};
    };
    struct WRun {
        int64_t m0 = 0, tiles = 0;  // from output m_lo[2] + m0, `tiles` tiles
        int tail = 0;               // 1: the W tail tile
        int64_t cls = 0;            // its W class
    };
    std::array<std::vector<int>, 2> row_class;
    int64_t row_classes_h = 0, w_classes = 0;
    std::vector<WRun> w_runs;
    std::vector<RowKernels> row_kernels;

    // The kernel calls of W chunk [start, start + len) (m from m_lo[2], whole tiles of `ur`
    // but for the row's tail) of output row (md, mh): f(kernels [full, last oc block], m offset
    // from start, tiles).
    template <class F>
    void for_each_call(int64_t md, int64_t mh, int64_t start, int64_t len, int ur, F f) const {
        if (row_kernels.empty()) {
            const int64_t full = len / ur;
            if (full > 0) f(kernel[0], int64_t(0), full);
            if (len % ur != 0) f(kernel[1], full * ur, int64_t(1));
            return;
        }
        const int64_t row = row_class[0][size_t(md - m_lo[0])] * row_classes_h +
                            row_class[1][size_t(mh - m_lo[1])];
        for (const WRun& r : w_runs) {
            const int64_t lo = std::max(r.m0, start);
            const int64_t hi = std::min(r.m0 + (r.tail ? m_count[2] - r.m0 : r.tiles * ur),
                                        start + len);
            if (lo >= hi) continue;
            f(row_kernels[size_t(row * w_classes + r.cls)].kernel[r.tail], lo - start,
              r.tail ? int64_t(1) : (hi - lo) / ur);
        }
    }
    bool has_taps() const { return taps[0].count * taps[1].count * taps[2].count > 0; }
    int64_t taps_total() const { return has_taps() ? int64_t(taps[0].count) * taps[1].count * taps[2].count : 0; }
};

// spatial_vec: the kernels and weights of the output rows of one (r_d, r_h).
struct RowPhasePlan {
    int kernel[2] = {-1, -1};  // [full oc block, last block]; -1 when no row has this phase
    int64_t w_offset = 0;      // floats: packed weights [oc block][ic][r_w][tap][oc]
    int64_t taps = 0;          // taps summed over the W phases
};

// depthwise_cf: the kernels of one D phase's output planes and its weights in a channel's.
struct PlanePhasePlan {
    int kernel[2] = {-1, -1};  // [every full group of S_h rows, the last shorter group]; -1: none
    int64_t w_offset = 0;      // floats into a channel's packed weights [r_d][r_h][r_w][tap]
    bool has_taps = false;     // false: bias and activation only, the input is not read
};

// One block of output channels: what one kernel call computes, and where its input, packed
// weights, bias and outputs sit. Grouped layers have blocks per group; a block never spans two
// groups, except depthwise blocks, whose lanes hold channels of several groups.
struct OcBlock {
    int64_t group = 0;
    int64_t x_block = 0;  // the input buffer's first channel block of the block's group
    int64_t x_lane = 0;   // lanes into that block's pixels where the block's inputs start
    int64_t oc0 = 0;      // first output channel
    int64_t valid = 0;    // output channels it writes (lanes past them are zero padding)
    int64_t vector0 = 0;  // vectors of channels in the blocks before it (spatial: channels)
    int vectors = 0;
    int last = 0;         // kernel column: 0 a full block, 1 its group's last block
};

// One channel block of the zero-halo input buffer: lane l holds the user's input channel
// first + (l / expand) * step, for l < lanes; the other lanes are zero. expand > 1 repeats each
// channel for the output channels it feeds and step > 1 takes one channel of each group (the
// depthwise family's lanes: output channels of several groups side by side).
struct InBlock {
    int64_t first = 0, lanes = 0, expand = 1, step = 1;
};

// The zero-halo input buffer every family reads, and the one owner of its layout: per image
// [block][padded D][padded H][padded W][block lanes], zero halo and zero padding lanes. The
// run-time copy fills it and the kernels' strides come from it. `in_place`: the user's
// channels-last input itself, [D][H][W][block][block lanes] (no halo, no padding lanes, blocks
// of equal width in channel order), which the kernels read without a copy. `interleaved`: the
// copy in that pixel-major order, [padded D][padded H][padded W][block][block lanes], so that
// a tile's pixels hold every block's channels in one contiguous run.
struct InputLayout {
    Dim3 halo_lo{0, 0, 0}, padded{1, 1, 1};
    int64_t lanes = 0;             // floats per pixel of a block (1: channels-first)
    // The bf16 dot-product kernels' buffer: each 4-byte lane holds two bf16 channels (first +
    // 2l, first + 2l + 1; the pair family's pixels) or, in one-lane blocks, a block's two
    // channels (the spatial kernel's pair planes); offsets and strides stay in lanes.
    bool bf16_pairs = false;
    bool in_place = false;
    bool interleaved = false;
    std::vector<InBlock> blocks;   // every group's blocks, group after group

    int64_t block_floats() const { return padded[0] * padded[1] * padded[2] * lanes; }
    int64_t image_floats() const { return block_floats() * int64_t(blocks.size()); }
    // Floats between a block's neighbouring pixels, and between neighbouring blocks.
    bool pixel_major() const { return in_place || interleaved; }
    int64_t pixel_floats() const { return pixel_major() ? lanes * int64_t(blocks.size()) : lanes; }
    int64_t block_stride() const { return pixel_major() ? lanes : block_floats(); }
    int64_t offset(int64_t block, int64_t pd, int64_t ph, int64_t pw) const {
        return block * block_stride() + ((pd * padded[1] + ph) * padded[2] + pw) * pixel_floats();
    }
    // Strides in floats of a plane, a row and a pixel within a block.
    Dim3 strides() const {
        const int64_t px = pixel_floats();
        return {padded[1] * padded[2] * px, padded[2] * px, px};
    }
};

// The L2 size planning assumes unless told the CPU's: 1 MiB per core (Zen 4, Skylake-SP), the
// size the blocking thresholds were measured at. PlanOverrides::l2_bytes plans for smaller L2s
// (the input-channel chunks, plan_util.hpp); larger ones plan as this one.
inline constexpr int64_t kDefaultL2Bytes = int64_t(1) << 20;
// The L2 size to plan for on a CPU of `detected` bytes of L2 per core (0: unknown): within
// [256 KiB, kDefaultL2Bytes]. Capped above because the thresholds tuned at 1 MiB also held on
// 2 MiB L2s, where sizing for 2 MiB was never measured.
inline int64_t planning_l2_bytes(int64_t detected) {
    return detected <= 0 ? kDefaultL2Bytes
                         : std::clamp(detected, int64_t(256) << 10, kDefaultL2Bytes);
}

// What every family's plan holds: the layer in canonical (D, H, W) form, the input buffer, the
// output-channel blocks and the register tile, the kernels and the packed sizes.
struct PlanBase {
    Isa isa = Isa::avx512;
    int vlen = 16;
    Layout layout = Layout::channels_first;
    int64_t batch = 1, ic = 0, oc = 0;
    int64_t groups = 1, ic_g = 0, oc_g = 0;  // channels per group
    Dim3 in{1, 1, 1}, out{1, 1, 1}, stride{1, 1, 1}, pad_begin{0, 0, 0};
    Dim3 kernel{1, 1, 1}, dilation{1, 1, 1};
    bool bias = false;
    // Storage of the user's input and output as the run time copies and writes them: f32, or
    // bf16 where the family widens the input in its copy and narrows the output in its stores
    // (a bf16 layer planned with f32 here runs its fp32 kernels between conversion passes).
    DType io = DType::f32;
    InputLayout input;
    int ur = 1, n_oc = 1;         // the register tile (the family says along what)
    int64_t oc_blocks = 0;        // == blocks.size()
    int n_oc_last = 0;            // n_oc of each group's last block
    std::vector<OcBlock> blocks;
    // Images copied and computed together: as many as keep their zero-halo input within L2
    // (at least one), so a batch does not evict its own input before it is used.
    int64_t batch_group = 1;
    // Groups copied and computed together (all by default): a grouped layer whose image does
    // not fit L2 copies a slab of groups at a time, so each group's input is still in L2 when
    // its blocks run. A slab holds whole input and oc blocks (slab_blocks).
    int64_t group_slab = 0;
    // Large images are copied and computed in bands of band_rows output rows (D x H of an
    // image, flattened; 0: the whole image at once), one image at a time, when a call runs on
    // one thread: each band's input rows are copied just before the rows that read them, so
    // the compute finds them in L2 (band_input_rows).
    int64_t band_rows = 0;
    // The per-core L2 the input-channel chunks are sized for (PlanOverrides::l2_bytes).
    int64_t l2_bytes = kDefaultL2Bytes;
    std::vector<AnyKernelDesc> kernels;
    int64_t packed_weight_floats = 0;
    int64_t packed_bias_floats = 0;
    std::vector<std::string> lines;  // human-readable: shape, phases, tile, blocking

    int64_t kernel_points() const { return kernel[0] * kernel[1] * kernel[2]; }
    int64_t group_slabs() const { return group_slab > 0 ? (groups + group_slab - 1) / group_slab : 1; }
    // Input and oc blocks [first, last) of slab s: groups' blocks are consecutive, equal per group.
    std::array<int64_t, 2> slab_input_blocks(int64_t s) const {
        return slab_range(s, int64_t(input.blocks.size()));
    }
    std::array<int64_t, 2> slab_oc_blocks(int64_t s) const { return slab_range(s, oc_blocks); }
    int64_t out_rows() const { return out[0] * out[1]; }  // per image, D x H flattened
    int64_t bands() const { return band_rows > 0 ? (out_rows() + band_rows - 1) / band_rows : 1; }
    // The padded input rows (D x H of the buffer, flattened) that output rows [0, rows) read:
    // a phase output m reads inputs m - c with c >= 0 (docs/ALGORITHM.md §2), so rows up to m's.
    int64_t band_input_rows(int64_t rows) const {
        const Dim3& P = input.padded;
        if (rows >= out_rows() || band_rows <= 0) return P[0] * P[1];
        const int64_t od = (rows - 1) / out[1], oh = (rows - 1) % out[1];
        const int64_t md = (od + pad_begin[0]) / stride[0], mh = (oh + pad_begin[1]) / stride[1];
        if (P[0] > 1)  // whole planes
            return std::min(P[0], md + input.halo_lo[0] + 1) * P[1];
        return std::min(P[1], mh + input.halo_lo[1] + 1);
    }

  private:
    std::array<int64_t, 2> slab_range(int64_t s, int64_t blocks) const {
        if (group_slab <= 0) return {0, blocks};
        const int64_t per_group = blocks / groups;
        return {s * group_slab * per_group, std::min(groups, (s + 1) * group_slab) * per_group};
    }
};

// The channel and depthwise families: every stride phase a dense correlation, tiles of ur
// outputs along W x n_oc vectors of channels, walked over (row, W chunk, channel block).
struct PhasedPlan : PlanBase {
    std::vector<PhasePlan> phases;  // index (r_d * S_h + r_h) * S_w + r_w
    int64_t oc_vectors = 0;         // vectors of output channels, summed over the groups
    int64_t row_pitch = 0;          // channels_first: floats per pixel of the per-row buffer
    // Rows are split into chunks of w_chunk phase outputs m (a multiple of ur), so a chunk's
    // input stays in L2 while every oc block reads it; chunk c holds outputs
    // [S_w * c * w_chunk, S_w * (c + 1) * w_chunk).
    int64_t w_chunk = 0, w_chunks = 1;
    // Weight-heavy layers run oc blocks in groups of oc_group whose packed weights stay in L2
    // while every row streams past them: the input is then re-read from L3 once per group
    // instead of all the weights once per row.
    int64_t oc_group = 1;
    // One-row images (1D layers) whose input overflows L2 (vocoders' long sequences) are not
    // copied whole: the thread that computes a W chunk copies the padded input columns it
    // reads, chunk_columns[c] = [first, last), into its own buffer laid out as `chunk_input`
    // (the input's blocks, padded W the widest chunk's columns), then runs every oc block
    // over it. The copy stays in that core's L2 for the reads, with no pass over the whole
    // image and no wait between copy and compute.
    bool chunk_copies = false;
    InputLayout chunk_input;
    std::vector<std::array<int64_t, 2>> chunk_columns;
    // The same for 2D and 3D images that overflow L2, by bands of band_rows output rows (2D)
    // or planes (3D) along band_axis (1: H, 0: D): the thread that computes a band copies the
    // padded input rows or planes it reads, band_windows[b] = [first, last), into its own
    // buffer laid out as `band_input` (that axis padded to the widest window), then runs the
    // band's rows over it (channel family).
    bool band_copies = false;
    int band_axis = 1;
    InputLayout band_input;
    std::vector<std::array<int64_t, 2>> band_windows;
    // Output rows visited H phase by H phase (the rows of r_h = 0, then of r_h = 1, ...)
    // rather than top to bottom: a row reads one H phase's weights, so in order an oc group
    // cycles every phase's through L2 each S_h rows (channel family; see row_order()).
    bool phase_rows = false;
    // The output rows (H indices) in the order items visit them: top to bottom, or each H
    // phase's outputs S_h * m + r_h - pad (its PhasePlan's m range) in turn.
    std::vector<int64_t> row_order() const {
        std::vector<int64_t> rows;
        if (!phase_rows) {
            for (int64_t oh = 0; oh < out[1]; ++oh) rows.push_back(oh);
            return rows;
        }
        for (int64_t rh = 0; rh < stride[1]; ++rh) {
            const PhasePlan& ph = phase(0, rh, 0);
            for (int64_t m = ph.m_lo[1]; m < ph.m_lo[1] + ph.m_count[1]; ++m)
                rows.push_back(stride[1] * m + rh - pad_begin[1]);
        }
        return rows;
    }

    const PhasePlan& phase(int64_t rd, int64_t rh, int64_t rw) const {
        return phases[size_t((rd * stride[1] + rh) * stride[2] + rw)];
    }
    // Packed bias of an oc block: whole vectors per block.
    int64_t bias_offset(int64_t block) const { return blocks[size_t(block)].vector0 * vlen; }
};

// Channel-vectorised: a run-time reduction over the group's input-channel blocks.
struct ChannelPlan : PhasedPlan {
    // ic_blocks blocks of input.lanes channels per group: a block's packed weights hold w_rows
    // = input.lanes * ic_blocks rows per tap.
    int64_t ic_blocks = 0, w_rows = 0;
    // Blocks whose weights overflow L2 reduce their input channels in ic_split chunks of
    // ic_blocks / ic_split blocks (ChannelKernelDesc::partial): per oc group, chunk after chunk
    // over every row, so that a chunk's weights stay in L2 while the rows stream past. The fp32
    // sums wait at the output (channels_last) or in the thread's row buffers (channels_first).
    int64_t ic_split = 1;
    int64_t chunk_blocks() const { return ic_blocks / ic_split; }
    // Outputs too large to stay in cache are written around it (ChannelKernelDesc::stream):
    // channels_last rows of whole 64-byte pixels, the kernels writing the user's output.
    bool stream = false;
    // Kernels whose phases run several W taps share each input broadcast among them
    // (ChannelKernelDesc::shared_bcast).
    bool shared_bcast = false;
    // Packed weights of (phase, oc block), from input-channel chunk `chunk`: [w_rows][tap]
    // [vectors * vlen].
    int64_t weight_offset(const PhasePlan& ph, int64_t block, int64_t chunk = 0) const {
        const OcBlock& b = blocks[size_t(block)];
        return ph.w_offset + (b.vector0 * w_rows + chunk * (w_rows / ic_split) * b.vectors) *
                                 vlen * ph.taps_total();
    }
    // Folded rows (tiny maps under large weights): a phase's output rows of one D plane are one
    // run p = mh * padded W + mw over the zero-halo buffer, so a tile spans rows and each weight
    // vector loaded feeds up to ur outputs instead of one short row's. Outputs at mw >= the
    // phase's W count are computed and dropped. The kernels write the run into a per-thread
    // buffer [p][row_pitch]; its outputs are then scattered into the user's layout.
    bool fold = false;
    int64_t fold_len(const PhasePlan& ph) const {  // the run's length (0: no outputs)
        if (ph.m_count[0] * ph.m_count[1] * ph.m_count[2] == 0) return 0;
        return (ph.m_count[1] - 1) * input.padded[2] + ph.m_count[2];
    }
};

// Depthwise: lanes are output channels of several groups side by side. The input buffer has
// one block per input channel j of a group (ic_g blocks; one for depthwise layers), whose lane
// c holds channel j of output channel c's group, repeated for the group's output channels;
// the kernels reduce over the blocks.
struct DepthwisePlan : PhasedPlan {
    // Grouped layers of 2, 4 or 8 output channels per group (dividing vlen): the buffer is not
    // repeated but holds one lane per group, and a kernel's input vector is a broadcast of
    // lane_groups = vlen / oc_g groups' values; lane l of a vector then computes output
    // channel (l % lane_groups) * oc_g + l / lane_groups of its vlen channels (lane_channel),
    // and the packed weights follow that order. 0: lanes in channel order.
    int64_t lane_groups = 0;
    int64_t lane_channel(int64_t l) const {
        return lane_groups > 0 ? l % lane_groups * oc_g + l / lane_groups : l;
    }
    // Packed weights of (phase, oc block): [j < ic_g][tap][vectors * vlen].
    int64_t weight_offset(const PhasePlan& ph, int64_t block) const {
        return ph.w_offset + blocks[size_t(block)].vector0 * vlen * ph.taps_total() * ic_g;
    }

    // --- dw in place (channels_last, multiplier 1): no input buffer, every W phase per call ---
    // Each output row is the same run of segments along m: edge tiles (taps and stores
    // bounded), the interior's full tiles and its tail; kernel [full oc block, last block].
    struct RowSegment {
        int64_t m0 = 0, tiles = 0;
        int kernel[2] = {-1, -1};
    };
    bool in_place = false;
    // bf16 on vdpbf16ps: W taps in pairs (DwKernelDesc::tap_pairs); blocks are whole chunks
    // of 32 channels (two vectors), their lanes in the order the input's interleave leaves.
    bool tap_pairs = false;
    // Channel of lane l (< 32) of a chunk: vpunpcklwd of two pixels' 32 channels gives lanes
    // 0-15 channels 0-3, 8-11, 16-19, 24-27 (128-bit lanes), vpunpckhwd lanes 16-31 the others;
    // vpackusdw of the two vectors restores channel order.
    static int64_t pair_lane_channel(int64_t l) {
        const int64_t half = l / 16, k = l % 16;
        return k / 4 * 8 + half * 4 + k % 4;
    }
    std::vector<RowSegment> row_segments;
    // The interior segment's tiles in pieces of piece_tiles (the segments before it go with
    // the first piece, those after it with the last): threads take (row, piece, block) items
    // with the blocks innermost, so each piece's output lines are whole while in cache.
    int64_t interior_segment = -1, piece_tiles = 1, pieces = 1;
    int64_t w_taps_row = 0;              // taps (tap pairs) along W summed over the W phases
    std::vector<int64_t> row_w_offset;   // per (r_d, r_h), index r_d * S_h + r_h
    // Packed weights of (r_d, r_h), oc block: [td][th][r_w][tw][vectors * vlen].
    int64_t row_weight_offset(int64_t rd, int64_t rh, int64_t block) const {
        const PhasePlan& ph = phase(rd, rh, 0);
        return row_w_offset[size_t(rd * stride[1] + rh)] + blocks[size_t(block)].vector0 * vlen *
                                                                 ph.taps[0].count *
                                                                 ph.taps[1].count * w_taps_row;
    }
    // --- end dw in place ---
};

// bf16 pairs (bf16 layers on AMX tiles or vdpbf16ps): the channel family's phases, walk and
// blocks; a tile is ur outputs along W (AMX: up to two A tiles of 16) x n_oc vectors of 16
// output channels. The input buffer holds one block per group, its channels in bf16 pairs
// padded to whole steps (input.lanes = k_pairs lanes per pixel).
struct PairPlan : PhasedPlan {
    int64_t k_pairs = 0;  // channel pairs per group: step_pairs per step
    int step_pairs = 16;  // 16 on AMX (a tile row of 32 channels); vdpbf16ps: 1-16
    // Packed weights of (phase, oc block), in lanes of two bf16, 16 lanes (output channels)
    // per (step, tap, vector, pair).
    int64_t weight_offset(const PhasePlan& ph, int64_t block) const {
        return ph.w_offset + blocks[size_t(block)].vector0 * vlen * k_pairs * ph.taps_total();
    }
    // Lanes from weight_offset to the 16 of (step s, tap t, vector v, pair j) of a block of
    // `vectors` in a phase of `taps`: AMX [step][tap][vector][pair] (each B tile 1 KiB in one
    // piece); vdpbf16ps [step][pair][tap][vector], the order the kernel reads them, so that a
    // call streams a block's weights front to back.
    int64_t weight_lane(int64_t taps, int64_t vectors, int64_t s, int64_t t, int64_t v,
                        int64_t j) const {
        const int64_t in_step = isa == Isa::amx ? (t * vectors + v) * step_pairs + j
                                                : (j * taps + t) * vectors + v;
        return (s * step_pairs * taps * vectors + in_step) * vlen;
    }
};

// Spatial-vectorised: rows of W outputs computed in tiles of ur*vlen m's from row_m0 into a
// row buffer [oc][row_len] (o = S_w*m + r - pb sits at S_w*(m - row_m0) + r); the input buffer
// is channels-first (one-lane blocks).
struct SpatialPlan : PlanBase {
    int64_t row_m0 = 0, row_tiles = 0, row_len = 0;
    // Consecutive oc blocks per work item: channels-last rows are computed for this many
    // blocks into one row buffer, then transposed at once (a group's few channels alone would
    // make partial tiles); the driver may take fewer to give every thread items.
    int64_t item_blocks = 1;
    // Input rows per group the kernels sum over: its channels, or (Isa::avx512_bf16) its
    // channel pairs, each lane two bf16 (InputLayout::bf16_pairs, one-lane blocks).
    int64_t ic_steps = 0;
    std::vector<RowPhasePlan> row_phases;  // index r_d * S_h + r_h

    // Packed weights of (row phase, oc block): [ic step of the group][r_w][tap][oc], a float
    // or (pairs) the step's two channels' bf16 per entry.
    int64_t weight_offset(const RowPhasePlan& rp, int64_t block) const {
        return rp.w_offset + blocks[size_t(block)].oc0 * ic_steps * rp.taps;
    }
    // Packed bias of an oc block: one float per channel.
    int64_t bias_offset(int64_t block) const { return blocks[size_t(block)].oc0; }
};

// Depthwise, channels-first: one block per output channel. Per (image, channel) the channel's
// input is copied into a per-thread zero-halo plane (the input layout's block 0), then each
// output plane is one call per row-group kernel of its D phase.
struct DepthwiseCfPlan : PlanBase {
    std::vector<PlanePhasePlan> plane_phases;  // index r_d
    int64_t row_groups = 0;                    // full groups of S_h output rows per plane
    int64_t w_tiles = 0;                       // full W tiles per output row
    int64_t channel_taps = 0;                  // packed weight floats per output channel
    // bf16 on vdpbf16ps: W taps in pairs (DwPlaneKernelDesc::tap_pairs); the plane copy pairs
    // element i with element i - pair_shift of the same row (the W taps' cstep).
    bool tap_pairs = false;
    int64_t pair_shift = 0;

    // Packed weights of output channel c's D phase r_d: [r_h][r_w][tap].
    int64_t weight_offset(int64_t c, int64_t rd) const {
        return c * channel_taps + plane_phases[size_t(rd)].w_offset;
    }
    // Packed bias of an oc block (one channel): one float per channel.
    int64_t bias_offset(int64_t block) const { return blocks[size_t(block)].oc0; }
};

// Column family (channels-first, few output channels per group): per image and group, a matrix
// product of the packed weights [rows = oc_g x kernel taps][ic_g] with the input's rows read in
// place [ic_g][pixels], into a column buffer [group][row][col_pitch]; then col2im adds each
// (channel, tap) row into the outputs its pixels reach, with bias and activation. The input
// buffer of the other families is not used (input.blocks stays empty).
struct GemmPlan : PlanBase {
    // Consecutive rows of a group's product computed by one kernel call per tile of pixels;
    // kernel[tail][more]: tail 0 runs the full tiles of ur vectors, 1 the last, shorter tile
    // (-1: none); more 0 starts the tile's sums with the first chunk of input channels, 1 adds
    // a later chunk to them.
    struct RowBlock {
        int64_t row0 = 0;
        int rows = 0;
        int kernel[2][2] = {{-1, -1}, {-1, -1}};
    };
    int64_t rows = 0;       // per group: oc_g * kernel_points(), row = oc_l * taps + tap
    int64_t pixels = 0;     // input pixels per image (D x H x W)
    int64_t tiles = 0;      // full tiles of ur vectors along the pixels
    int tail_vectors = 0;   // vectors of the last tile (0: the full tiles cover the pixels)
    int64_t col_pitch = 0;  // floats per column row: the pixels padded to whole vectors
    // Input channels per chunk: the product runs a thread's tiles chunk by chunk, so that the
    // chunk's rows (each on its own pages, pixels*4 bytes apart) stay in the TLB and L1.
    int64_t k_chunk = 0;
    // With several chunks: tiles per block, the product running a block's tiles chunk by chunk
    // before the next block, so that the block's column sums stay in L2 between chunks.
    int64_t tile_block = 1;
    // channels_last: a tile's pixels x a chunk's channels are transposed into a per-thread panel
    // [channel][tile pixels] the kernel reads as it reads channels-first rows (0: in place).
    int64_t panel_floats = 0;
    std::vector<RowBlock> row_blocks;
    int epilogue = -1;  // the kernel adding bias and activation to a col2im row
    // col2im's stride phases per dim (docs/ALGORITHM.md §2): residue r's outputs
    // o = S*m + r - pb for m in [m_lo, m_lo + m_count), tap t reading input m - (c0 + t*cstep).
    struct Residue {
        TapAxis taps;
        int64_t m_lo = 0, m_count = 0;
    };
    std::array<std::vector<Residue>, 3> residues;
    // col2im's items: bands of col2im_rows output rows (D x H flattened) of one channel, each
    // row w_row floats (every W residue's outputs, residue after residue), back to back in a
    // per-thread buffer of band_floats (whole vectors for the epilogue): a map of short rows
    // pays one item's walk and one epilogue call per band, not per row.
    int64_t w_row = 0, col2im_rows = 1, band_floats = 0;
    // ... and over W spans of the phase indices m: [w_m0 + s * w_span_m, ... + w_span_m) up to
    // w_m_end, s < w_spans. Channels-last layers of few long rows (1D) cut each row into spans,
    // so threads take whole spans of every channel rather than some channels of one row whose
    // lines the other threads write too; one span (the whole row) otherwise.
    int64_t w_m0 = 0, w_m_end = 0, w_span_m = 0, w_spans = 1;

    // Packed weights of (group, row block): [ic of the group][the block's rows].
    int64_t weight_offset(int64_t g, const RowBlock& b) const { return (g * rows + b.row0) * ic_g; }
    // The column buffer of one image: [group][row][col_pitch].
    int64_t col_floats() const { return groups * rows * col_pitch; }
    // Packed bias: one float per channel (blocks: one per group).
    int64_t bias_offset(int64_t block) const { return blocks[size_t(block)].oc0; }
};

// A layer's plan: its family's, and the problem planned instead of the layer's when it was
// lowered (lowering.hpp): packing and the run time then see that problem and its rearranged
// tensors.
struct Plan {
    std::variant<ChannelPlan, SpatialPlan, DepthwisePlan, DepthwiseCfPlan, GemmPlan, PairPlan>
        family;
    std::optional<Problem> lowered;

    KernelShape shape() const { return KernelShape(family.index()); }
    const PlanBase& base() const {
        return std::visit([](const auto& f) -> const PlanBase& { return f; }, family);
    }
    PlanBase& base() {
        return std::visit([](auto& f) -> PlanBase& { return f; }, family);
    }
};

// The register budgets of the kernel families (docs/ALGORITHM.md §4), shared by the planners
// and the tests: whether a tile fits `isa`'s vector registers with the epilogue of `act`
// (avx2_tail: AVX2 stores a partial last vector under a mask held in a register).
bool channel_tile_fits(Isa isa, int ur, int n_oc, Activation act, bool avx2_tail,
                       int shared_w_taps = 0);
bool spatial_tile_fits(Isa isa, int ur, int n_oc, int64_t w_phases, Activation act);
// broadcast: the depthwise kernel's broadcast inputs (DwKernelDesc::lane_groups).
bool depthwise_tile_fits(Isa isa, int ur, int n_oc, Activation act, bool avx2_tail,
                         bool broadcast = false);
bool depthwise_cf_tile_fits(Isa isa, int ur, int64_t w_phases, Activation act, bool avx2_tail);
// gemm: mr x ur accumulators, ur input vectors, a broadcast weight (AVX2: the tail's mask).
bool gemm_tile_fits(Isa isa, int mr, int ur, bool partial);
// bf16 dot products (Isa::avx512_bf16): rows x nt accumulators, nt weight vectors, a broadcast.
bool dot_tile_fits(int rows, int nt, Activation act);
// --- dw in place: ur m x w_phases x n_oc vectors; tail: a last vector of fewer channels;
// tap_pairs: vdpbf16ps on interleaved pixels (DwKernelDesc::tap_pairs) ---
bool depthwise_row_tile_fits(Isa isa, int ur, int n_oc, int64_t w_phases, Activation act,
                             bool tail, bool tap_pairs = false);
// --- end dw in place ---

// Overrides of the planner's choices, for tests and tuning (0: the planner decides).
struct PlanOverrides {
    int ur = 0, n_oc = 0;  // gemm: ur vectors of pixels, n_oc the rows per block
    int shape = 0;  // 1: channel_vec, 2: spatial_vec, 3: depthwise, 4: depthwise_cf, 5: gemm,
                    // 6: bf16 pairs (Isa::amx and Isa::avx512_bf16 only, which plan
                    // nothing else)
    int64_t oc_group = 0, batch_group = 0;  // clamped to [1, oc blocks] and [1, batch]
    int64_t group_slab = 0;  // channel family, groups > 1: clamped to [1, groups]
    int64_t band_rows = 0;   // channel and channels-first spatial families: output rows per
                             // band (>= the rows: no bands)
    int fold = 0;            // channel family: 1 folds rows where it can, -1 never
    int64_t ic_split = 0;    // channel family, fp32: chunks of the input channels (the largest
                             // divisor of the blocks per group up to it), -1 never
    int chunk_copies = 0;    // channel family, one-row images: 1 copies per W chunk, -1 never
    int in_place = 0;        // channel family: -1 copies an input it could read in place
    int interleave = 0;      // channel family, ungrouped: 1 copies pixel-major where it copies
                             // several blocks (InputLayout::interleaved), -1 never
    int band_copies = 0;     // channel family, 2D and 3D images over L2: 1 copies per band
                             // of rows or planes wherever it can, -1 never
    int stream = 0;          // channel family: 1 streams the stores where it can, -1 never
    int phase_rows = 0;      // channel family: 1 visits rows H phase by H phase, -1 never
    int shared_bcast = 0;    // channel family: 1 shares W taps' broadcasts where they fit, -1 never
    int64_t l2_bytes = 0;    // the per-core L2 to size cache blocking for (0: kDefaultL2Bytes);
                             // the runtime passes planning_l2_bytes of the CPU's
    int lower = 0;           // -1: a single-pixel product is planned as it is, not as a matrix
                             // product (a reshape keeping the phase kernels' packed weights)
    // --- dw in place ---
    int dw_in_place = 0;  // depthwise channels_last: -1 never in place (zero-halo copy)
    int64_t gemm_tile_block = 0;  // column family: tiles per block (GemmPlan::tile_block)
    int dw_pieces = 0;    // depthwise in place: 1 runs rows in pieces wherever it can, -1
                          // whole per channel block (DepthwisePlan::pieces)
    int dw_prefetch = 0;  // depthwise in place: 1 prefetches the output lines for writing, -1
                          // never (DwKernelDesc::y_prefetch)
    // --- end dw in place ---
};

// Plans the channel-vectorised path for `isa`; returns false with `why_not` when it declines
// (or when an override does not fit the register budget).
bool plan(const Problem& p, Isa isa, Plan& out, std::string& why_not,
          const PlanOverrides& overrides = {});

// Packs PyTorch-layout weights [IC, OC, *K] of the planned problem into the order the kernels
// stream them, and the bias padded to whole vectors (zeros without bias): the plan alone says
// where every float goes. Sizes: packed_weight/bias_floats.
void pack_weights(const Plan& plan, const float* w, float* packed);
// The same in independent parts [0, pack_weight_parts): each writes its own floats of `packed`,
// so parts may be packed concurrently, and any split gives the same bytes.
int64_t pack_weight_parts(const Plan& plan);
void pack_weights(const Plan& plan, const float* w, float* packed, int64_t first_part,
                  int64_t end_part);
void pack_bias(const Plan& plan, const float* b, float* packed);

// Everything the packed weights' and bias' layout depends on: two plans with equal signatures
// pack to the same bytes, so a layer re-shaped to a new input size (whose plan may differ in
// tiles, chunks and kernels) keeps the weights packed at compile when the signatures agree.
std::vector<int64_t> packing_signature(const Plan& plan);
// The overrides that keep the packing choices of `plan` (its family, its channel blocks) when
// planning the same layer at another input size.
PlanOverrides packing_overrides(const Plan& plan);

}  // namespace tconv::gen
