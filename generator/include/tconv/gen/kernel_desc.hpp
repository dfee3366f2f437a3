// SPDX-License-Identifier: Apache-2.0
// The kernel families' descriptors: each holds everything that changes a family's emitted bytes
// (plus the layer geometry its name shows), has its own equality, hash and name, and is the key
// of the kernel cache. Every family is called through one ABI, KernelArgs.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "tconv/problem.hpp"

namespace tconv::gen {

using Dim3 = std::array<int64_t, 3>;  // canonical (D, H, W); rank < 3 leads with size-1 dims

// What a kernel reads at run time: one ABI for every kernel, read with offsetof. The fields
// after `blocks` carry what follows the input's extents, so that one kernel serves every input
// size of a layer (a descriptor holds only what changes the code's speed or shape).
struct KernelArgs {
    const float* x;     // input tile: the zero-halo buffer at the tile's first output m
    const float* w;     // packed weights of (phase, oc block)
    const float* bias;  // packed bias at the block's first channel
    void* y;            // output of the tile's first m, first channel of the block (float,
                        // or uint16_t where the kernel stores bf16)
    int64_t blocks;     // tiles to run along W, each advancing x and y
    int64_t x_next = 0;   // cvec: bytes between input-channel blocks; svec: between channels
    int64_t y_next = 0;   // svec: bytes between output channels of the row buffer
    int64_t w_tiles = 0;  // dwcf: full W tiles per output row
    // cvec with partial sums (ChannelKernelDesc::partial): bit 0 adds the tile's products to
    // the sums at y (else starts them), bit 1 finishes them with bias and activation (else
    // stores them as they are).
    int64_t sums = 0;
};
using KernelFn = void (*)(const KernelArgs*);

int vector_length(Isa isa);  // floats per vector register
int vector_registers(Isa isa);

// Channel-vectorised (docs/ALGORITHM.md §4, `cvec`): a tile of ur outputs along W of one stride
// phase x n_oc vectors of output channels, a run-time loop over the group's input channels.
struct ChannelKernelDesc {
    Isa isa = Isa::avx512;
    int rank = 2;
    Dim3 kernel{1, 1, 1}, stride{1, 1, 1}, dilation{1, 1, 1};  // for the name
    int64_t groups = 1;  // for the name: one group's code does not depend on the others
    int ur = 1;          // outputs along W in the tile
    int n_oc = 1;        // vectors of output channels
    int oc_tail = 0;     // lanes stored from the last vector (vlen when it is full)
    int64_t ic_block = 0;   // input channels per block (inner run-time loop)
    int64_t ic_blocks = 0;  // blocks (outer run-time loop); the last is zero-padded
    int ic_unroll = 1;      // channels per inner-loop iteration (divides ic_block)
    std::array<int, 3> taps{0, 0, 0};  // taps per dim this kernel runs (all 0: bias only)
    Dim3 c0{0, 0, 0}, cstep{0, 0, 0};  // input offset of phase tap t: i = m - (c0 + t * cstep)
    // Tiny maps skip the taps that read only the zero halo: the kernel runs phase taps
    // tap0 + [0, taps) of the w_taps per dim the packed weights hold (tap0 0, w_taps == taps:
    // every tap).
    std::array<int, 3> tap0{0, 0, 0}, w_taps{0, 0, 0};
    // Input buffer strides in floats: plane, row, pixel; the plane (row) stride is 0 below rank
    // 3 (2), where no tap moves along it. The stride between channel blocks comes at run time
    // (KernelArgs::x_next).
    Dim3 x_stride{0, 0, 0};
    int64_t y_pix = 0;                 // elements between outputs m and m + 1 of a phase
    // What the stores write: f32, or bf16 (a bf16 layer's channels-last output: rounded to
    // nearest even and narrowed in the epilogue, so the fp32 sums never reach memory).
    DType out = DType::f32;
    // Bytes ahead of the weights being read to prefetch into L1 (0: none), where each call
    // streams weights too large for L2 once (folded rows).
    int w_prefetch = 0;
    // A call reduces one chunk of the input channels (ChannelPlan::ic_split): KernelArgs::sums
    // says whether it starts or adds to the fp32 sums at y and whether it finishes them. A
    // kernel without taps (bias only) then writes only when it finishes.
    bool partial = false;
    // The finished fp32 outputs of full vectors bypass the caches (non-temporal stores) when
    // the call's y is 64-byte aligned (checked per tile; y_pix keeps whole lines), so a large
    // output does not pay the reads for ownership; the call ends with a store fence.
    bool stream = false;
    // The W taps of each (D, H) tap share their input broadcasts: every W tap's weights are
    // loaded once, then each input pixel is broadcast once and feeds every tap that reads it
    // (ur + taps - 1 broadcasts instead of ur x taps). Needs ur*n_oc + taps*n_oc + 1 registers
    // (channel_tile_fits with w_taps).
    bool shared_bcast = false;
    bool bias = false;
    Activation activation = Activation::none;
    float negative_slope = 0.0f;

    int taps_total() const { return taps[0] * taps[1] * taps[2]; }
    int w_taps_total() const { return w_taps[0] * w_taps[1] * w_taps[2]; }
    bool operator==(const ChannelKernelDesc&) const = default;
};

// The taps along W of one W phase (a spatial kernel runs every W phase of a row).
struct WPhaseTaps {
    int count = 0;
    int64_t c0 = 0, cstep = 0;
    bool operator==(const WPhaseTaps&) const = default;
};

// Spatial-vectorised (docs/ALGORITHM.md §4, `svec`): ur vectors of consecutive outputs m of one
// row for every W phase x n_oc output channels, into a row buffer [oc][y_oc_stride].
struct SpatialKernelDesc {
    Isa isa = Isa::avx512;
    int rank = 2;
    Dim3 kernel{1, 1, 1}, stride{1, 1, 1}, dilation{1, 1, 1};  // for the name
    int64_t groups = 1;                                        // for the name
    int ur = 1;             // vectors of m per W phase
    int n_oc = 1;           // output channels
    int64_t ic_blocks = 0;  // input channels (pairs) of the group (run-time loop)
    // Isa::avx512_bf16: each input lane and packed weight holds two bf16 channels, summed by
    // vdpbf16ps (SpatialPlan::ic_steps pairs per group).
    bool pairs = false;
    std::array<int, 3> taps{0, 0, 0};  // taps along D and H (taps[2] unused: see w_phases)
    Dim3 c0{0, 0, 0}, cstep{0, 0, 0};  // along D and H as in ChannelKernelDesc
    // Channels-first input buffer: plane, row, 1 (zero below the rank, as in ChannelKernelDesc);
    // the strides between input channels and between the row buffer's output channels come
    // at run time (KernelArgs::x_next, y_next).
    Dim3 x_stride{0, 0, 0};
    std::vector<WPhaseTaps> w_phases;  // taps along W per W phase
    bool bias = false;
    Activation activation = Activation::none;
    float negative_slope = 0.0f;

    bool operator==(const SpatialKernelDesc&) const = default;
};

// Depthwise (docs/ALGORITHM.md §4, `dw`): ur outputs along W of one stride phase x n_oc vectors
// of channels, each lane its own channel: no reduction over input channels. The input buffer is
// channels-last, lane for lane with the output channels; the taps' offsets are immediates.
struct DwKernelDesc {
    Isa isa = Isa::avx512;
    int rank = 2;
    Dim3 kernel{1, 1, 1}, stride{1, 1, 1}, dilation{1, 1, 1};  // for the name
    int ur = 1;
    int n_oc = 1;     // vectors of channels
    int oc_tail = 0;  // lanes stored from the last vector (vlen when full)
    std::array<int, 3> taps{0, 0, 0};
    Dim3 c0{0, 0, 0}, cstep{0, 0, 0};  // input offset of tap t: i = m - (c0 + t * cstep)
    Dim3 x_stride{0, 0, 0};            // input buffer strides in floats: plane, row, pixel
    int64_t y_pix = 0;                 // elements between outputs m and m + 1 of a phase
    // Grouped layers: a run-time loop over the input buffer's ic_steps blocks (one input
    // channel of every lane's group each, x_block floats apart), their weights one after the
    // other ([step][tap][n_oc * vlen]); 1 for depthwise layers.
    int ic_steps = 1;
    int64_t x_block = 0;
    // > 0: each input vector is a broadcast of lane_groups floats (one per group; the buffer's
    // pixels hold one lane per group) into lanes ordered (output of the group, group), which
    // the epilogue permutes into channel order before the bias (DepthwisePlan::lane_groups).
    int lane_groups = 0;
    DType out = DType::f32;            // what the stores write (as ChannelKernelDesc::out)
    bool bias = false;
    Activation activation = Activation::none;
    float negative_slope = 0.0f;
    // --- dw in place (channels_last, multiplier 1; DwRowArgs) ---
    // The kernel reads the user's input and runs every W phase of ur consecutive m per tile, so
    // a tile stores S_w * ur consecutive output pixels. Taps along D and H are run-time loops
    // (the driver clamps them to the rows inside the input); taps along W are immediates, those
    // reading past the input's left/right edge left out by the bounds below.
    bool in_place = false;
    // > 0: each tile prefetches for writing the output lines this many bytes further along
    // the row, so their reads for ownership overlap the tiles before (large outputs).
    int y_prefetch = 0;
    // bf16 on vdpbf16ps (Isa::avx512_bf16): each phase's W taps in pairs (2i, 2i + 1; an odd
    // last one alone), a lane summing two taps' products of its channel. A pair's input
    // vectors interleave the words of the pixels the two taps read (vpunpcklwd/hwd of 32
    // channels: lanes in the order DepthwisePlan::pair_lane_channel), a lone tap's with zeros.
    // n_oc counts vectors two by two (32-channel chunks); oc_tail is the channels of the last
    // chunk (32 when full); input and output are bf16.
    bool tap_pairs = false;
    std::vector<WPhaseTaps> w_phases;  // per W phase: i_w = m - (c0 + t * cstep)
    // Relative to the tile's first m (edge tiles; kNoBound elsewhere): tap t of output m0 + j
    // runs when x_lo <= j - c_t <= x_hi; output pixel S_w * j + r of the tile is stored when
    // o_lo <= S_w * j + r <= o_hi.
    static constexpr int64_t kNoBound = int64_t(1) << 40;
    int64_t x_lo = -kNoBound, x_hi = kNoBound, o_lo = -kNoBound, o_hi = kNoBound;
    // --- end dw in place ---

    int taps_total() const { return taps[0] * taps[1] * taps[2]; }
    bool operator==(const DwKernelDesc&) const = default;
};

// --- dw in place: the arguments of an in-place depthwise kernel (KernelArgs first) ---
struct DwRowArgs {
    KernelArgs k;         // x: the tile's first m in the first live (D, H) tap's input row
    int64_t taps_d = 0;   // live taps along D (0: bias and activation only)
    int64_t taps_h = 0;   // live taps along H (>= 1 when taps_d > 0)
    int64_t x_step_d = 0, x_step_h = 0;  // bytes between the input rows of consecutive taps
    int64_t w_step_d = 0;                // bytes between the weights of consecutive D taps
};
// --- end dw in place ---

// The taps along H of one output row of a channels-first depthwise row group: i_h = k - (c0 +
// t * cstep) for the group k, and where the row's H phase starts in a channel's packed weights.
struct DwRowTaps {
    int count = 0;
    int64_t c0 = 0, cstep = 0;
    int64_t w_offset = 0;  // floats from the D phase's weights to the row's H phase
    bool operator==(const DwRowTaps&) const = default;
};

// Depthwise, channels-first (docs/ALGORITHM.md §4, `dwcf`): one channel's output planes of one
// D phase, read from that channel's zero-halo plane. Lanes hold consecutive outputs m of a row
// (ur vectors per W phase, phases interleaved in registers as in `svec`), stored straight into
// the user's rows; each call runs `blocks` groups of rows.size() consecutive output rows (one per
// H phase), every row whole: full tiles of S_w * ur * vlen outputs (as many as
// KernelArgs::w_tiles says), then a shorter last tile of `rest` outputs.
struct DwPlaneKernelDesc {
    Isa isa = Isa::avx512;
    int rank = 2;
    Dim3 kernel{1, 1, 1}, stride{1, 1, 1}, dilation{1, 1, 1};  // for the name
    int ur = 1;                        // vectors of m per W phase in a full tile
    std::array<int, 3> taps{0, 0, 0};  // taps along D (taps[1], taps[2] unused: rows, w_phases)
    Dim3 c0{0, 0, 0}, cstep{0, 0, 0};  // along D: i_d = m_d - (c0 + t * cstep)
    std::vector<DwRowTaps> rows;       // the output rows of a group, in order
    std::vector<WPhaseTaps> w_phases;  // per W phase; c0 already holds the phase's m offset
    int w_rot = 0;                     // W phase of a row's first output: pad_begin mod S_w
    int64_t rest = 0;                  // outputs per row after the full tiles (the W tail)
    // The channel's input buffer: plane, row, 1, and the elements between output rows: zero
    // for a 1D layer (one row), whose kernels then serve every length with the same W tail.
    Dim3 x_stride{0, 0, 0};
    int64_t y_row = 0;
    DType out = DType::f32;  // what the stores write (as ChannelKernelDesc::out)
    // bf16 on vdpbf16ps (Isa::avx512_bf16): each W phase's taps in pairs (2i, 2i + 1). The plane
    // holds at element i the bf16 word pair (x[i], x[i - cstep]) of the phases' common W
    // cstep, so one 4-byte load serves both taps of a pair; a phase's odd last tap takes the
    // low word alone (shifted into a float). Weights per phase: [td][th][tw / 2] lanes of two
    // bf16 (tap 2i low), an odd last tap's a float.
    bool tap_pairs = false;
    bool bias = false;
    Activation activation = Activation::none;
    float negative_slope = 0.0f;

    bool operator==(const DwPlaneKernelDesc&) const = default;
};

// The column family's matrix product (docs/ALGORITHM.md §4, `gemm`): a tile of mr rows of
// the packed weights (pairs of output channel and kernel tap) x ur vectors of input pixels,
// summed over the group's input channels (KernelArgs::blocks), read in place from the user's
// channels-first rows (x_next bytes apart), stored into the column buffer (y_next bytes
// between its rows). The driver's col2im then adds the columns into the output.
struct GemmKernelDesc {
    Isa isa = Isa::avx512;
    int rank = 2;
    Dim3 kernel{1, 1, 1}, stride{1, 1, 1}, dilation{1, 1, 1};  // for the name
    int64_t groups = 1;                                        // for the name
    int mr = 1;    // rows of weights (accumulators per vector of pixels)
    int ur = 1;    // vectors of pixels
    int tail = 0;  // lanes read of the last vector (vlen: full); the rest load as zeros
    bool accumulate = false;  // add to the column tile (a later chunk of input channels)

    bool operator==(const GemmKernelDesc&) const = default;
};

// The column family's epilogue: bias (one float, KernelArgs::bias) and activation over
// KernelArgs::blocks whole vectors at KernelArgs::y, in place.
struct GemmEpilogueDesc {
    Isa isa = Isa::avx512;
    Activation activation = Activation::none;
    float negative_slope = 0.0f;

    bool operator==(const GemmEpilogueDesc&) const = default;
};

// bf16 pairs (docs/ALGORITHM.md §4, `amx`): the channel family's tile for bf16 layers, `rows`
// outputs along W of one stride phase x nt vectors of 16 output channels, summed in fp32 over
// k_steps steps of step_pairs input-channel pairs (a run-time loop) and the phase's taps
// (unrolled, offsets as displacements). The input buffer holds bf16 pairs (InputLayout::
// bf16_pairs), the packed weights bf16 pairs, 16 output channels per (step, tap, vector, pair)
// in the order PairPlan::weight_lane gives.
// Isa::amx runs it on tile registers (one A tile per 16 rows, each a pixel's 32 channels; B
// tiles of 16 pairs); Isa::avx512_bf16 on zmm accumulators with vdpbf16ps (dot_tile_fits).
struct PairKernelDesc {
    Isa isa = Isa::amx;
    int rank = 2;
    Dim3 kernel{1, 1, 1}, stride{1, 1, 1}, dilation{1, 1, 1};  // for the name
    int64_t groups = 1;                                        // for the name
    int rows = 16;      // outputs along W per tile (1-32); KernelArgs::blocks tiles per call
    int nt = 1;         // vectors of output channels (B tiles)
    int oc_tail = 16;   // lanes stored from the last vector (16 when it is full)
    int64_t k_steps = 1;  // steps of 2 * step_pairs input channels (the group's, zero-padded)
    int step_pairs = 16;  // channel pairs per step: 16 on AMX (a tile row), 1-16 on vdpbf16ps
    std::array<int, 3> taps{0, 0, 0};  // taps per dim this kernel runs (all 0: bias only)
    Dim3 c0{0, 0, 0}, cstep{0, 0, 0};  // input offset of tap t: i = m - (c0 + t * cstep)
    // vdpbf16ps on tiny maps: taps tap0 + [0, taps) of the w_taps per dim the packed weights
    // hold (as ChannelKernelDesc's). AMX runs every tap: tap0 0, w_taps == taps.
    std::array<int, 3> tap0{0, 0, 0}, w_taps{0, 0, 0};
    Dim3 x_stride{0, 0, 0};  // input buffer strides in 4-byte lanes (channel pairs): plane, row, pixel
    int64_t y_pix = 0;       // elements between outputs m and m + 1 of a phase
    DType out = DType::bf16;  // bf16: the user's channels-last output; f32: a row buffer
    bool bias = false;
    Activation activation = Activation::none;
    float negative_slope = 0.0f;

    int taps_total() const { return taps[0] * taps[1] * taps[2]; }
    int w_taps_total() const { return w_taps[0] * w_taps[1] * w_taps[2]; }
    bool operator==(const PairKernelDesc&) const = default;
};

// Any family's descriptor: the kernel cache's key.
using AnyKernelDesc = std::variant<ChannelKernelDesc, SpatialKernelDesc, DwKernelDesc,
                                   DwPlaneKernelDesc, GemmKernelDesc, GemmEpilogueDesc,
                                   PairKernelDesc>;

struct KernelDescHash {
    size_t operator()(const ChannelKernelDesc& d) const;
    size_t operator()(const SpatialKernelDesc& d) const;
    size_t operator()(const DwKernelDesc& d) const;
    size_t operator()(const DwPlaneKernelDesc& d) const;
    size_t operator()(const GemmKernelDesc& d) const;
    size_t operator()(const GemmEpilogueDesc& d) const;
    size_t operator()(const PairKernelDesc& d) const;
    size_t operator()(const AnyKernelDesc& d) const;
};

// A readable name, family and shape first, then a short hash of the whole descriptor, then the
// ISA, e.g. tconv_f32_cvec_k4x4_s2x2_t2x2_ur14_oc2_h3f9a0c12d4e7__avx512: two descriptors (so
// two codes) never share a name, and the name is the kernel's identity in the cache, the
// dump file and the perf map.
std::string kernel_name(const ChannelKernelDesc& d);
std::string kernel_name(const SpatialKernelDesc& d);
std::string kernel_name(const DwKernelDesc& d);
std::string kernel_name(const DwPlaneKernelDesc& d);
std::string kernel_name(const GemmKernelDesc& d);
std::string kernel_name(const GemmEpilogueDesc& d);
std::string kernel_name(const PairKernelDesc& d);
std::string kernel_name(const AnyKernelDesc& d);

}  // namespace tconv::gen
