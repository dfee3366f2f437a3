// SPDX-License-Identifier: Apache-2.0
// The planner's shared steps: stride phases and the input halo, then the kernel family, whose
// own planner (plan_channel.cpp, plan_spatial.cpp, plan_depthwise.cpp) does the rest.
#include "tconv/gen/plan.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "plan_util.hpp"
#include "tconv/gen/lowering.hpp"

namespace tconv::gen {

using namespace detail;

namespace {

// Step 1, per dimension and residue: taps and the phase's output range; the halo covers every
// read (docs/ALGORITHM.md §2).
PhaseAxes phase_axes(PlanBase& pl) {
    PhaseAxes ax;
    for (size_t d = 0; d < 3; ++d) {
        const int64_t S = pl.stride[d], O = pl.out[d], pb = pl.pad_begin[d], I = pl.in[d];
        int64_t lo = 0, hi = 0;
        for (int64_t r = 0; r < S; ++r) {
            TapAxis a = tap_axis(pl.kernel[d], S, pl.dilation[d], r);
            const int64_t first = ceil_div(pb - r, S), last = floor_div(O - 1 + pb - r, S);
            const int64_t count = std::max<int64_t>(0, last - first + 1);
            if (a.count > 0 && count > 0) {
                const int64_t i_min = first - (a.c0 + (a.count - 1) * a.cstep), i_max = last - a.c0;
                lo = std::max(lo, -i_min);
                hi = std::max(hi, i_max - (I - 1));
            }
            ax.axes[d].push_back(a);
            ax.m_lo[d].push_back(first);
            ax.m_count[d].push_back(count);
        }
        pl.input.halo_lo[d] = lo;
        pl.input.padded[d] = I + lo + hi;
    }
    return ax;
}

// Channels-first, ungrouped: the fraction of lanes each family fills, channel vectors with
// output channels or W vectors with a phase's outputs of a row, favours the spatial kernel by
// 30% or more (which also reads and writes the layout as it is). Measured, 1 thread, CF, k4s2
// and k3s2, batch 2: oc 9, 17, 21 at W 14-56 the spatial kernel 1.05-1.6x faster, at W 7
// (half its lanes empty) 0.6x; oc 12, 24, 33 (lanes 69-75% full) either way by 0.8-1.2x.
bool cf_lanes_favour_w(const Problem& p, const PlanBase& pl) {
    if (p.layout != Layout::channels_first) return false;
    const auto filled = [&](int64_t n) {
        return double(n) / double((n + pl.vlen - 1) / pl.vlen * pl.vlen);
    };
    const int64_t row = (pl.out[2] + pl.stride[2] - 1) / pl.stride[2];  // a W phase's outputs
    return filled(row) >= 1.3 * filled(pl.oc);
}

// Channels-last, ungrouped, rows no wider than max(2, oc) outputs: the spatial kernel's W
// vectors would hold at most as many outputs as the channel kernel's vectors hold channels,
// and it transposes every row where the channel kernel stores the layout as it is. Measured,
// 1 thread, channels-last, channel against spatial kernel (time ratio, > 1: channel faster):
// AVX-512 oc 8 at W 1-8 1.03-2.0x, at W 16 0.68-1.1x; oc 4 at W 4 1.05-1.4x, at W 8 0.85-1.1x;
// oc 2 at W 2 1.4-1.6x, at W 4 0.8-1.25x; AVX2 oc 2-4 at W 2 1.4x, at W 4 0.9-1.2x, at W 8
// 0.65-0.9x (k3 s1 and k4 s2, 16-64 input channels, batch 2).
bool cl_rows_within_channels(const Problem& p, const PlanBase& pl) {
    return p.layout == Layout::channels_last && pl.groups == 1 &&
           pl.out[2] <= std::max<int64_t>(2, pl.oc);
}

// A column buffer of one image within 256 MiB (a tenth of the planner's 32-bit bound: past it
// the families that stream their input serve better).
bool columns_fit(const PlanBase& pl) {
    const double col_bytes = 4.0 * double(pl.oc * pl.kernel_points()) *
                             double(pl.in[0] * pl.in[1] * pl.in[2]);
    return col_bytes <= double(256 << 20);
}

// q <= 1 with at least 32 input channels per group, and the columns fit.
bool columns_pay(const PlanBase& pl) {
    return pl.ic_g >= 32 && pl.oc_g * pl.kernel_points() <= pl.ic_g && columns_fit(pl);
}

// Few output channels per group and many input channels: the other families copy the input
// into a zero-halo buffer (channels-last: transposed), while the column family reads it in place
// (channels-last: a small transposed panel per tile) and writes q = oc_g * taps / ic_g column
// floats per input float (read back by col2im). Measured on the layers of `--random 100` seeds
// 1-3 with ic_g >= 32 and oc_g <= 8, made channels-first and then channels-last (1 thread,
// AVX-512, against the faster of the channel and spatial kernels): q <= 1, 33 of 35 layers
// 1.1-7x faster in each layout (the others 0.78x and 0.98x; 0.34x and 0.76x); q > 1, 0.4-1.7x.
// More output channels per group (9-64, seeds 1-5): 0.34-1.4x, so they stay with the others,
// but for dense channels-first AVX-512 layers of up to a vector and a half of outputs at
// q <= 1/2: 1D and 2D, k2-k4, s2-s3, oc 9-24, 48-1600 inputs, 1 thread, against the spatial
// kernel: 0.99-2.1x (10 layers; a 96 -> 17 1D layer at 6010 steps 1.9x); at q 0.53-0.83
// 0.73-1.07x, and channels-last at q <= 1/2 0.73-1.8x (the channel kernel keeps those).
// Ungrouped kernels that fit in the stride (one tap per phase: col2im only scatters) keep the
// spatial kernel at q > 1/2. Measured, 1 thread, both layouts, spatial against columns:
// benchdnn's 36 -> 4 k3 s3 at 90x160 to 360x640 1.2-2.1x, 72 -> 8 and 45 -> 5 k3 s3, 63 ->
// 7 k3 s3 0.98-1.23x, 64 -> 4 k4 s4 1.07-1.37x, 32 -> 8 k2 s2 1.23-1.4x, 36 -> 3 k3 s3 (q
// 0.75) 1.13-1.56x; at q 1/5-1/3 the columns stay 1.3-1.6x faster (96 -> 2 k3 s3, 48 -> 4
// k2 s2), as they do with overlapping taps at q 1 (k4 s2: 1.4x).
bool gemm_favoured(const Problem& p, const PlanBase& pl) {
    bool disjoint = true;
    for (size_t d = 0; d < 3; ++d)
        disjoint = disjoint && pl.dilation[d] * (pl.kernel[d] - 1) + 1 <= pl.stride[d];
    if (pl.groups == 1 && disjoint && pl.oc_g * pl.kernel_points() * 2 > pl.ic_g) return false;
    const bool cf_low_q = p.layout == Layout::channels_first && pl.isa == Isa::avx512 &&
                          pl.groups == 1 && pl.oc_g * 2 <= pl.vlen * 3 &&
                          pl.oc_g * pl.kernel_points() * 2 <= pl.ic_g;
    return (pl.oc_g * 2 <= pl.vlen || cf_low_q) && columns_pay(pl);
}

// AVX2: groups whose channels fill at most 3/4 of the channel kernel's lanes (5-6, 9-12, 17-18
// of 8-lane vectors) take the column family over the channel one, at q <= 1 on maps of 128 or
// more pixels. Measured on Zen 3 (ic_g 64-512, k4s2, k3s2 and k3s1 at 14-56, both layouts, 1
// and 2 threads, against the channel kernel): 1.02-2.0x faster (one 0.92x); lanes 82-88% full
// 0.89-1.18x and full ones 0.48-0.93x stay. A 4-pixel map ran 0.5-0.8x (a vector of pixels half
// empty), and the spatial family keeps what it serves (a 1D k2 s2 layer: 0.93x as columns).
// Channels-last groups of 5-6 channels take them up to q = 2 from 32 input channels per group:
// 20x20 and 40x40 maps, k3-k4, 4-8 groups 1.1-1.6x; 16 drawn layers (ranks 1-3, 1-8 groups,
// 32-128 inputs per group, 128-3000 pixels) 1.02-1.47x, two 0.83x and 0.89x; 16 inputs per
// group and a 48-pixel map 0.66-0.9x.
bool avx2_gemm_over_channel(const Problem& p, const PlanBase& pl) {
    const int64_t lanes = (pl.oc_g + pl.vlen - 1) / pl.vlen * pl.vlen;
    const bool cl_q2 = p.layout == Layout::channels_last && pl.oc_g < pl.vlen &&
                       pl.ic_g >= 32 && pl.oc_g * pl.kernel_points() <= 2 * pl.ic_g &&
                       columns_fit(pl);
    return pl.isa == Isa::avx2 && pl.oc_g * 4 <= lanes * 3 &&
           pl.in[0] * pl.in[1] * pl.in[2] >= 128 && (columns_pay(pl) || cl_q2);
}

// AVX2, at most half a vector of output channels per group with q = oc_g * taps / ic_g up to 2
// (columns_pay: q <= 1 from 32 input channels per group): the column family, over the channel
// kernel (channels-last, its vectors holding 2-4 of 8 lanes) and over the spatial kernel (short
// W rows, a row walk per group). Measured on Zen 3 (1 thread, batch 1-7, 1-32 groups, ranks
// 1-3, against the family chosen without this rule): channels-last from 16 input channels per
// group on 6-56808 pixels 1.03-3.7x (sweeps, and 15 layers of `--random 100` seeds 1-12), 0.88x
// and 0.98x on two 1D layers of 16-32 groups (q 2-3: 0.66-3.5x, so they stay); channels-first
// ungrouped from 48 on 64-400 pixels 1.03-1.9x (from 1600: 0.7-1.1x), 1D within the same
// limits 0.92-1.7x; 16-47 input channels at q <= 1.25 on 6-48 pixels in rows of 2-8 1.5-2.5x
// (q 1.5: 0.8-1.7x; a 1D row of 53: 0.67x). Channels-first groups from 32 input channels, any
// map (with the two-channel product loop): 13 such layers of `--random 100` seeds 1-40 and 7
// built ones (2-16 groups of 32-64 -> 2-4, 24-48065 pixels, 1 thread) 1.22x in geometric
// mean, 0.80-2.5x (1.3-1.5x on 5977-9216 pixels from 48-64 channels, which a 2048-pixel
// limit kept out; below 0.95x five layers of 32 channels per group, 0.80-0.95x).
bool avx2_columns_for_few_outputs(const Problem& p, const PlanBase& pl) {
    if (pl.isa != Isa::avx2 || pl.oc_g * 2 > pl.vlen || !columns_fit(pl)) return false;
    const int64_t rows = pl.oc_g * pl.kernel_points(), icg = pl.ic_g;
    const int64_t pixels = pl.in[0] * pl.in[1] * pl.in[2];
    if (rows > 2 * icg) return false;
    if (p.layout == Layout::channels_last) return icg >= 16;
    if (pl.groups > 1 && icg >= 32) return true;
    if (icg >= 48) return pixels <= 512;
    return icg >= 16 && 4 * rows <= 5 * icg && pixels <= 64 && pl.in[2] <= 8;
}

// AVX2, channels-first, three or more groups of exactly one vector of output channels (8) from
// 64 or more input channels each: the column family over the channel kernel, whose one-vector
// tile takes a broadcast per FMA. Measured on Zen 3 (1 and 2 threads, columns against the
// channel kernel; 17 built layers of ranks 1-3, 3-16 groups, k2-k5, s1-s4, batch 1-4, and the
// 4 such layers of `--random 100` seeds 1-3, 7, 11, 23, 31, 59): 0.95-1.66x, geometric mean
// 1.2x (`random_59_42`, 4 groups of 128 -> 8: 1.16-1.3x). Two groups ran 0.89-0.97x;
// channels-last 0.43-1.5x (three random layers of 8-32 groups 0.46-0.86x): both stay.
bool avx2_columns_for_vector_groups(const Problem& p, const PlanBase& pl) {
    return pl.isa == Isa::avx2 && p.layout == Layout::channels_first && pl.groups >= 3 &&
           pl.oc_g == pl.vlen && pl.ic_g >= 64 && columns_fit(pl);
}

// AVX2, channels-first: three output channels per group (the RGB layer that ends generators,
// super-resolution and decoders) from at most 64 input channels on maps of 32768 or more pixels
// leave the column family for the spatial kernel. Measured on Zen 3 (1 and 2 threads, against
// the columns with their aliasing panel, plan_gemm.cpp): 64 -> 3 k4s2 at 256x256 1.34-1.5x,
// 64 -> 3 k3 at 512x512 about 2x, at 256x256 0.94-1.1x; at 32x32 to 128x128 the columns were
// as fast or faster (DCGAN's 64 -> 3 at 32x32: 1.2-1.3x), as they are with more input channels
// and with 1, 2 or 4 output channels. Maps only: on 1D rows of 33000-65536 steps (32-64 -> 3,
// k3-k16, s1-s8, 1 or 4 groups) the columns ran 1.04-3.8x faster than the spatial kernel.
bool avx2_rgb_spatial(const Problem& p, const PlanBase& pl) {
    return pl.isa == Isa::avx2 && p.layout == Layout::channels_first && pl.oc_g == 3 &&
           pl.ic_g <= 64 && pl.in[0] * pl.in[1] * pl.in[2] >= 32768 &&
           pl.in[0] * pl.in[1] > 1 && spatial_tile_fits(pl.isa, 1, 1, pl.stride[2], p.activation);
}

// AVX2, channels-first, ungrouped, few output channels (the spatial kernel's layers) from 32 or
// more input channels, when some W phase has no taps (dilation sharing a factor with the
// stride: AlexNet's k11 s4 d2 leaves two of four W phases bias only): the column family,
// whatever q. Measured on Zen 3 (1 and 2 threads, against the spatial kernel): 96 -> 3 k11 s4
// d2 at 52x52 (benchdnn's dilated AlexNet layer) 1.44-1.48x, 128 -> 3 k7 s4 d2 at 28x28 1.38x,
// 64 -> 4 k5 s2 d2 at 64x64 1.54x, 64 -> 3 k7 s2 d2 at 109x109 (batch 2) 1.07x, 64 -> 3 k5 s2
// d2 1.04x. Without dilation the spatial kernel stays faster (k5 s2 and k11 s4: 1.1x); with
// 16 input channels too (k5 s2 d2: 1.5x).
bool avx2_columns_over_empty_phases(const Problem& p, const PlanBase& pl, const PhaseAxes& ax) {
    const bool empty_w_phase = std::any_of(ax.axes[2].begin(), ax.axes[2].end(),
                                           [](const TapAxis& a) { return a.count == 0; });
    return pl.isa == Isa::avx2 && p.layout == Layout::channels_first && pl.groups == 1 &&
           pl.oc * 2 <= pl.vlen && pl.ic >= 32 && empty_w_phase && columns_fit(pl);
}

// The fraction of (output, tap) pairs that read inside the input, the others reading the zero
// halo: per dimension over its phases' outputs, multiplied (the taps of a pixel are the
// product of its dimensions').
double live_tap_fraction(const PlanBase& pl, const PhaseAxes& ax) {
    double fraction = 1;
    for (size_t d = 0; d < 3; ++d) {
        double live = 0, all = 0;
        for (size_t r = 0; r < ax.axes[d].size(); ++r)
            for (int64_t m = 0; m < ax.m_count[d][r]; ++m) {
                const int64_t at = ax.m_lo[d][r] + m;
                const auto [lo, hi] = live_taps(ax.axes[d][r], at, at, pl.in[d]);
                live += hi - lo;
                all += ax.axes[d][r].count;
            }
        if (all > 0) fraction *= live / all;
    }
    return fraction;
}

// AVX2, channels-first, ungrouped: maps so small against their dilated kernels that fewer
// than 45% of the (output, tap) pairs read inside the input, under more than 2 MiB of
// weights, take the column family: the
// channel kernel's rows each run a few live taps in narrow tiles and re-stream their block's
// weights from L3, while the product streams them once and computes only what reads the input.
// Measured on Zen 3 (1 thread, against the channel kernel, no padding): benchdnn's 3D
// 512 -> 256 k3 d2 at 6x7x7 (24% live) 1.25-1.34x, 256 -> 128 1.2x, 512 -> 256 at 8x8x8
// 1.35x, 2D 1024 -> 512 k5 d2 at 10x10 1.65x, 512 -> 512 k3 d3 at 12x12 1.14x; padded so
// that 50% read inside (k3 d4 p2 at 14x14, k3 d2 p2 at 6x7x7) 0.81-0.86x. Maps of fewer than
// 64 pixels keep the channel kernel (a vector of pixels half empty: 384 -> 256 k4x7 on 2x2
// ran 10x slower as columns), and so do channels-last and grouped layers (AlexNet's dilated
// 2 x 192 -> 192 k3 d3 at 9x9, channels-last: 0.7x as columns).
bool avx2_halo_bound_columns(const Problem& p, const PlanBase& pl, const PhaseAxes& ax) {
    const double weight_bytes = 4.0 * double(pl.ic * pl.oc * pl.kernel_points());
    return pl.isa == Isa::avx2 && p.layout == Layout::channels_first && pl.groups == 1 &&
           pl.ic >= 32 && pl.in[0] * pl.in[1] * pl.in[2] >= 64 &&
           weight_bytes > double(2 << 20) && columns_fit(pl) && live_tap_fraction(pl, ax) < 0.45;
}

// Grouped layers of a few channels per group take the depthwise kernel with a reduction over
// the group's input channels (lanes: output channels of several groups, full whatever the
// group's width). With 2, 4 or 8 outputs per group its input vectors are broadcasts of a lane
// per group; other widths copy each input channel once per output (DepthwisePlan::
// lane_groups). Measured, 1 thread, AVX-512 and AVX2, against the best of the channel, spatial
// and column kernels (64-256 channels, 2-32 in and 1-15 out per group; 2D k4s2 28x28, k3s2
// 56x56, k2s2 28x28, k3 s1 d2 28x28, k4s2 14x14 channels-first, 1D k4s2 and k8s4, 3D k4s2):
// - broadcasts, up to 16 inputs per group: 1.1-2.8x (k3 s1 d2 0.86-1.4x, 16 -> 4 at 28x28
//   0.92x) in channels_last; 32 inputs 0.6-1.1x; channels-first 0.34-0.88x but at 14x14
//   with 2-4 channels (1.1-1.7x): the rows are transposed;
// - one output per group, up to 8 inputs, a stride along W and 2+ taps per output: 1.4-2.3x
//   (k2s2: 0.64-1.27x, stride 1: 0.75-1.25x); in 3D 2.0-4.5x;
// - repeated channels: 3D 1.1-1.7x; 3 -> 3 channels-last k4s2 1.1-1.3x; 5+ 0.2-1.0x (from 4
//   vectors of output channels: 9-12 channels in all ran 0.5-0.9x).
bool lanes_across_groups(const Problem& p, const PlanBase& pl) {
    const int64_t icg = pl.ic_g, ocg = pl.oc_g;
    if (pl.groups == 1 || icg == 1 || ocg * 2 > pl.vlen || icg > 16) return false;
    // Fewer output channels than a vector leave its lanes idle: lanes along W fill them
    // (random layers of 8-12 channels in 2-4 groups: 0.4-0.9x the spatial kernel).
    if (pl.oc < pl.vlen) return false;
    if (p.rank == 1 && p.layout == Layout::channels_first) return false;
    if ((ocg == 2 || ocg == 4 || ocg == 8) && p.layout == Layout::channels_last) return true;
    const int64_t phases = pl.stride[0] * pl.stride[1] * pl.stride[2];
    const bool taps = pl.kernel_points() >= 2 * phases && pl.stride[2] >= 2 && icg <= 8;
    if (!taps) return false;
    if (ocg == 1) return true;
    // Repeated channels: only where the copy's repeats fill several vectors (AVX2, 9-12
    // channels of 3 per group: 0.5-0.9x the spatial and channel kernels).
    return pl.oc >= 4 * pl.vlen &&
           (p.rank == 3 || (ocg == 3 && icg <= 4 && p.layout == Layout::channels_last));
}

// Every W phase holds at most one output (W outputs <= S_w: a 3D layer whose W axis is a
// pixel): the kernels with lanes along W (spatial, channels-first depthwise) would fill one
// lane of each vector. Channels-first few outputs per group then take the column family where
// the columns fit, whatever q; the others the channel kernel (channels-last rows this narrow
// already ran 2x faster on channel lanes: the 8 -> 8 case of the spatial rules). Measured on
// Zen 3 (AVX2, 1 thread): 4 x 128 -> 4 x 2, k7x3x7 on 2x4x3 (`random_61_95`) 47x faster as
// columns than on the spatial kernel (14x on the channel kernel), two built 3D layers of one
// W output 3.1x and 4.1x; with 2-6 W outputs a phase the spatial kernel stays (0.3-1.4x as
// columns on 7 random layers). Depthwise layers take the depthwise kernel, channels in lanes
// (512 channels, 10x6x4 -> 19x6x2 with W stride 4: 4x faster than lanes along W, 49x than
// columns).
bool one_w_output(const PhaseAxes& ax) {
    return std::all_of(ax.m_count[2].begin(), ax.m_count[2].end(),
                       [](int64_t m) { return m <= 1; });
}

// Step 2, the kernel family: depthwise when lanes can hold channels of several groups,
// spatial when lanes along W waste fewer, else channel (docs/ALGORITHM.md §4). Overrides force
// a family; false when the forced family cannot serve the layer.
bool choose_family(const Problem& p, const PlanBase& pl, const PhaseAxes& ax,
                   const PlanOverrides& ov, KernelShape& family, std::string& why_not) {
    // One input channel per group, few output channels each: the channel kernel would use one
    // lane in a vector per group; the depthwise kernel fills the lanes with several groups.
    if (ov.shape == 3 && pl.groups == 1) {
        why_not = "the depthwise kernel needs groups > 1";
        return false;
    }
    // Channels-first depthwise layers take the dw family's channels-first kernel: lanes along
    // W of one channel's plane, no transposes, each output written once into the user's rows.
    const bool dw_layer = p.layout == Layout::channels_first && pl.groups > 1 && pl.ic_g == 1;
    if (ov.shape == 4 && !dw_layer) {
        why_not = "the channels-first depthwise kernel needs a channels_first layer with groups > "
                  "1 and one input channel each";
        return false;
    }
    const bool lanes_along_w = !one_w_output(ax);
    if (ov.shape == 4 ||
        (ov.shape == 0 && dw_layer && pl.oc_g < pl.vlen && lanes_along_w &&
         depthwise_cf_tile_fits(pl.isa, 1, pl.stride[2], p.activation, pl.isa == Isa::avx2))) {
        family = KernelShape::depthwise_cf;
        return true;
    }
    if (ov.shape == 5 ||
        (ov.shape == 0 && (gemm_favoured(p, pl) || avx2_columns_over_empty_phases(p, pl, ax) ||
                            avx2_halo_bound_columns(p, pl, ax) ||
                            avx2_columns_for_few_outputs(p, pl) ||
                            avx2_columns_for_vector_groups(p, pl) ||
                            (!lanes_along_w && p.layout == Layout::channels_first &&
                             pl.ic_g > 1 && pl.oc_g * 2 <= pl.vlen && columns_fit(pl))) &&
         !avx2_rgb_spatial(p, pl))) {
        family = KernelShape::gemm;
        return true;
    }
    // Channels-first few-channel groups take the spatial kernel: lanes along W, with no
    // transposes of the input or output, whatever their input channels (as dense layers with
    // few outputs do). Measured, AVX2, 1 thread, 4-16 groups of 16-32 -> 2-4 channels (k4 s2
    // 28x28 and 14x14, k3 s2 56x56, 1D k8 s4, 3D k3 s2): 2.2-4.3x faster than the channel
    // kernel, whose vectors held 2-4 of 8 lanes.
    const bool few_per_group = pl.groups > 1 && pl.oc_g * 2 <= pl.vlen;
    const bool spatial_fit =
        lanes_along_w && spatial_tile_fits(pl.isa, 1, 1, pl.stride[2], p.activation);
    const bool cf_spatial = p.layout == Layout::channels_first && few_per_group && spatial_fit;
    // Channels-last ones too with at most 4 channels per group filling at most 3/8 of the
    // channel kernel's lanes (AVX-512: up to 4, AVX2: up to 3), their rows transposed in
    // chunks of blocks. Measured (1 thread, spatial vs channel kernel, groups x c = 255-256
    // channels both ways, c 2-15; k4s2 28x28, k3s2 14x14 and 56x56, k3s1 28x28, 1D k4s2 1024,
    // 3D k4s2 8^3): AVX-512 c 2-3: 1.2-3.1x faster, c 4: 1.1-1.5x, c 5-7: 0.8-1.3x, c 8:
    // 0.7-1.0x, c 12-15: 0.45-0.9x; AVX2 c 2-3: 1.2-3.0x, c 4: 0.85-1.3x, c >= 5 0.45-1.0x.
    // One input channel per group stays with the depthwise kernel.
    const bool cl_spatial = p.layout == Layout::channels_last && pl.groups > 1 && pl.ic_g > 1 &&
                            pl.ic_g <= pl.vlen && pl.oc_g <= 4 && pl.oc_g * 8 <= pl.vlen * 3 &&
                            spatial_fit;
    // Channels-last depthwise layers with a channel multiplier m up to 6 stay on the depthwise
    // kernel; larger ones leave it for lanes along W (up to half a vector) or the channel
    // kernel. Measured on Zen 4, 1 thread, the depthwise kernel against the one chosen before
    // (lanes along W from m 2): AVX-512 m 2-6 1.3-2.5x faster (k4s2 and k3s2 at 14x14-56x56,
    // k3s1, 1D k6s3, k4s2 and k1 on 1024-65536 steps, 3D k4s2 8^3; a 65536-step k1 row 2.9x,
    // the spatial kernel's channels-first copy of it striding 256 KiB), m 8 0.88x; AVX2 m 2-6
    // 1.5-2.7x, m 8 0.79x (against the channel kernel); pointwise 256x256 maps 0.95-0.99x.
    // Strides of 4 and more along W stay with the depthwise kernel whatever m (1D and 2D,
    // m 2-6: 1.0-1.5x faster than the spatial kernel).
    const bool cl_multiplier = p.layout == Layout::channels_last && pl.groups > 1 &&
                               pl.ic_g == 1 && pl.oc_g > 6 && pl.stride[2] <= 3;
    if (ov.shape == 3 || (ov.shape == 0 && pl.groups > 1 && pl.ic_g == 1 && pl.oc_g < pl.vlen &&
                          !cf_spatial && !cl_multiplier) ||
        (ov.shape == 0 && lanes_across_groups(p, pl)))
        family = KernelShape::depthwise;
    // Few output channels waste most lanes of a channel vector: vectorise along W instead,
    // when the W phases' accumulators fit.
    else if (ov.shape == 2 ||
             (ov.shape == 0 &&
              (cf_spatial || cl_spatial ||
               (cl_multiplier && pl.oc_g * 2 <= pl.vlen && spatial_fit) ||
               (pl.groups == 1 && pl.oc * 2 <= pl.vlen && spatial_fit &&
                !cl_rows_within_channels(p, pl)) ||
               (pl.groups == 1 && cf_lanes_favour_w(p, pl) && spatial_fit))))
        family = KernelShape::spatial_vec;
    else if (ov.shape == 0 && avx2_gemm_over_channel(p, pl))
        family = KernelShape::gemm;
    else
        family = KernelShape::channel_vec;
    return true;
}

// vdpbf16ps doubles the channel kernel's multiply-adds per instruction, with its lanes of output
// channels. Where the fp32 planner chooses another family (lanes along W, columns, depthwise
// lanes) because few output channels per group would leave those lanes idle, the pair kernel
// pays only when the doubling outweighs the idle lanes: more than half of them busy, and never
// against columns or depthwise lanes (plan_steps then weighs lanes along W in pairs). `family`:
// the fp32 planner's choice. Measured (bf16, one thread, against the fp32-compute
// kernels): columns' 64 -> 3, 64 -> 1 and 96 -> 3 layers 0.18-0.74x, lanes along W on 56 -> 1
// (FSRCNN) 0.15x, 64 -> 3 0.49x; lanes along W on 17 and 21 output channels 1.19x and 1.35x.
bool dot_products_pay(const Problem& p, const PlanBase& pl, const PhaseAxes& ax,
                      KernelShape& family, std::string& why_not) {
    PlanBase f32 = pl;
    f32.isa = Isa::avx512;
    std::string why;
    family = KernelShape::pairs;
    if (!choose_family(p, f32, ax, PlanOverrides{}, family, why)) return true;
    const int64_t lanes = (pl.oc_g + 15) / 16 * 16;
    if (family == KernelShape::channel_vec ||
        (family == KernelShape::spatial_vec && 2 * pl.oc_g > lanes))
        return true;
    why_not = fmt::format("{} output channels per group fill {} of {} lanes of the bf16 dot "
                          "products: the AVX-512 {} kernel serves it better",
                          pl.oc_g, pl.oc_g, lanes,
                          family == KernelShape::spatial_vec ? "spatial"
                          : family == KernelShape::gemm      ? "column"
                                                             : "depthwise");
    return false;
}

// The share of the spatial kernel's lanes that hold outputs: an output row against its W
// phases' rows of whole vectors.
double w_lanes_busy(const PlanBase& pl) {
    const int64_t SW = pl.stride[2], VL = pl.vlen;
    const int64_t m0 = floor_div(pl.pad_begin[2], SW);
    const int64_t count = floor_div(pl.out[2] - 1 + pl.pad_begin[2], SW) - m0 + 1;
    return double(pl.out[2]) / double(SW * ceil_div(count, VL) * VL);
}

// vdpbf16ps, bf16 layers of 9-31 output channels per group: lanes along W (the spatial kernel
// in channel pairs) where they idle less than the pair kernel's lanes of output channels
// (oc_g of its vectors' lanes busy). Channels-last rows also pay two transposes there, so they
// need a wider margin. Measured (one thread, 54 layers of 32-512 -> 9-28 channels, k2-k16, 7x7
// to 2000-step maps): lanes along W 1.2-1.75x where the rule picks them but for a 64 -> 21
// k2 s2 channels-last layer (0.86x); the pair kernel 1.05-2.3x where it keeps them (7x7 maps:
// 16 lanes for 7 phase outputs). The 512 -> 17 keypoint head: 1.4-1.5x.
bool lanes_along_w_pay(const Problem& p, const PlanBase& pl) {
    if (pl.oc_g < 9 || pl.oc_g >= 32 || pl.ic_g % 2 != 0 || p.dtype != DType::bf16) return false;
    const double channels = double(pl.oc_g) / double(ceil_div(pl.oc_g, pl.vlen) * pl.vlen);
    return w_lanes_busy(pl) > channels * (p.layout == Layout::channels_last ? 1.3 : 1.1);
}

// Step 2 for the bf16 pair ISAs: the families to plan, in order (the next where one declines),
// or none (why_not: the AVX-512 kernels serve the layer). AMX plans its tiles; vdpbf16ps the
// pair kernel or lanes along W in channel pairs (plan_spatial: groups of an even channel
// count), whichever idles fewer lanes.
std::vector<KernelShape> pair_isa_families(const Problem& p, const PlanBase& pl,
                                           const PhaseAxes& ax, const PlanOverrides& ov,
                                           std::string& why_not) {
    const bool dot = pl.isa == Isa::avx512_bf16;
    if (ov.shape == 6) return {KernelShape::pairs};
    if (dot && ov.shape == 2) return {KernelShape::spatial_vec};
    if (dot && ov.shape == 3) return {KernelShape::depthwise};
    if (dot && ov.shape == 4) return {KernelShape::depthwise_cf};
    if (ov.shape != 0) {
        why_not = fmt::format("Isa::{} plans the bf16 pair family{} only", to_string(pl.isa),
                              dot ? ", lanes along W and depthwise tap pairs" : "");
        return {};
    }
    // Channels-last depthwise layers (one input and one output channel per group) where the
    // fp32 planner takes the depthwise kernel: in place, W taps in pairs (plan_depthwise; it
    // declines rows too short for an interior, which the AVX-512 kernels then serve).
    if (dot && p.layout == Layout::channels_last && pl.groups > 1 && pl.ic_g == 1 &&
        pl.oc_g == 1) {
        KernelShape f32_family{};
        std::string why;
        if (choose_family(p, pl, ax, ov, f32_family, why) &&
            f32_family == KernelShape::depthwise)
            return {KernelShape::depthwise};
    }
    // Tiles pad a group to 32-channel steps and 16-channel vectors: with up to 8 inputs per
    // group the AVX-512 depthwise kernel's full lanes ran 1.4-4.7x faster (bf16, 1 thread:
    // 8 -> 2, 4 -> 4, 4 -> 8, 8 -> 8 at k4 s2 28x28 and 1D); with 16 the tiles ran 0.9-1.6x
    // its speed, so they keep those.
    if (pl.ic_g <= 8 && lanes_across_groups(p, pl)) {
        why_not = fmt::format("{} -> {} channels per group: the AVX-512 depthwise kernel's "
                              "lanes across groups serve it better",
                              pl.ic_g, pl.oc_g);
        return {};
    }
    if (!dot) return {KernelShape::pairs};
    // Where the lanes of output channels would idle, lanes along W take vdpbf16ps too, also in
    // place of columns where a quarter of their lanes hold outputs. Columns measured (bf16,
    // one thread): configs/' 11 column layers (64 -> 3, 96 -> 3, 256 -> 3, 128 -> 1, DCGAN's
    // 64 -> 3) 1.5-2.6x faster on lanes along W; 3D layers of 1-3 outputs a row 0.37-0.82x, so
    // they keep columns.
    KernelShape f32_family{};
    if (!dot_products_pay(p, pl, ax, f32_family, why_not)) {
        // Channels-first depthwise layers: W taps in pairs (plan_depthwise_cf declines layers
        // of one tap per W phase, which the AVX-512 kernel then serves).
        if (f32_family == KernelShape::depthwise_cf) return {KernelShape::depthwise_cf};
        if (f32_family == KernelShape::spatial_vec ||
            (f32_family == KernelShape::gemm && w_lanes_busy(pl) >= 0.25))
            return {KernelShape::spatial_vec};
        return {};
    }
    if (lanes_along_w_pay(p, pl)) return {KernelShape::spatial_vec, KernelShape::pairs};
    // What the pair kernel declines (channels-first layers of little work per output and few
    // outputs) runs lanes along W in pairs where 4 in 5 of the W lanes hold outputs: 8 such
    // layers (4 -> 16 k5 s2 up to 32 -> 16 k2 s2, 1D 16 -> 16 k4 s2; 86-100% busy) ran
    // 1.2-1.7x faster than on the AVX-512 kernels (bf16, one thread); 34 random ones of short
    // rows (6-73% busy) 0.52-1.23x, geomean 0.82x. Checked on 33 new layers of 4-28 -> 8-31
    // channels the rule moves: 1.13-2.23x, geomean 1.51x.
    // Channels-last layers keep the AVX-512 kernels: lanes along W transpose each row into the
    // user's pixels, 4.4x slower on a 1D 8 -> 128 layer in 4 groups (`--random 100 --seed 8`).
    if (p.layout == Layout::channels_first && w_lanes_busy(pl) >= 0.8)
        return {KernelShape::pairs, KernelShape::spatial_vec};
    return {KernelShape::pairs};
}

// Steps 1-5 for the problem itself.
bool plan_steps(const Problem& p, Isa isa, Plan& out, std::string& why_not,
                const PlanOverrides& overrides) {
    if (isa != Isa::avx512 && isa != Isa::avx2 && isa != Isa::amx && isa != Isa::avx512_bf16) {
        why_not = "the JIT emits AVX-512 (with or without AVX512_BF16 or AMX) and AVX2 only";
        return false;
    }
    PlanBase pl;
    pl.isa = isa;
    pl.vlen = vector_length(isa);
    pl.layout = p.layout;
    pl.batch = p.batch;
    pl.ic = p.in_channels;
    pl.oc = p.out_channels;
    pl.groups = p.groups;
    pl.ic_g = pl.ic / pl.groups;
    pl.oc_g = pl.oc / pl.groups;
    pl.in = canonical(p, p.input, 1);
    pl.out = canonical(p, p.output, 1);
    pl.stride = canonical(p, p.stride, 1);
    pl.pad_begin = canonical(p, p.pad_begin, 0);
    pl.kernel = canonical(p, p.kernel, 1);
    pl.dilation = canonical(p, p.dilation, 1);
    pl.bias = p.bias;
    if (overrides.l2_bytes > 0) pl.l2_bytes = overrides.l2_bytes;
    const PhaseAxes ax = phase_axes(pl);
    std::vector<KernelShape> families(1);
    if (isa == Isa::amx || isa == Isa::avx512_bf16) {
        families = pair_isa_families(p, pl, ax, overrides, why_not);
        if (families.empty()) return false;
    } else if (overrides.shape == 6) {
        why_not = "the bf16 pair family needs Isa::amx or Isa::avx512_bf16";
        return false;
    } else if (!choose_family(p, pl, ax, overrides, families[0], why_not)) {
        return false;
    }
    // Steps 3-5 per family: tile, chunking and cache groups, kernels and the description.
    auto run = [&](auto family_plan, auto planner) {
        static_cast<PlanBase&>(family_plan) = pl;
        if (!planner(p, family_plan, ax, overrides, why_not)) return false;
        out.family = std::move(family_plan);
        return true;
    };
    auto plan_family = [&](KernelShape family) {
        switch (family) {
            case KernelShape::channel_vec: return run(ChannelPlan{}, plan_channel);
            case KernelShape::spatial_vec: return run(SpatialPlan{}, plan_spatial);
            case KernelShape::depthwise: return run(DepthwisePlan{}, plan_depthwise);
            case KernelShape::depthwise_cf: return run(DepthwiseCfPlan{}, plan_depthwise_cf);
            case KernelShape::gemm: return run(GemmPlan{}, plan_gemm);
            case KernelShape::pairs: return run(PairPlan{}, plan_pairs);
        }
        return false;
    };
    std::string first_why;  // a decline reports the first family's reason
    for (KernelShape family : families) {
        if (plan_family(family)) return true;
        if (first_why.empty()) first_why = why_not;
    }
    why_not = first_why;
    return false;
}

}  // namespace

bool plan(const Problem& p, Isa isa, Plan& out, std::string& why_not,
          const PlanOverrides& overrides) {
    if (overrides.lower >= 0 && !is_single_pixel_product(p) && is_flat_pointwise(p)) {
        const Problem q = as_flat_pointwise(p);
        std::string why_flat;
        if (plan_steps(q, isa, out, why_flat, overrides)) {
            out.lowered = q;
            std::vector<std::string>& lines = out.base().lines;
            lines.insert(lines.begin(), fmt::format("pointwise in every dim: each image's "
                                                    "channels-first planes planned as one row "
                                                    "of {} pixels",
                                                    q.input[0]));
            return true;
        }
        out = Plan{};  // planned as it is
    }
    if (overrides.lower < 0 || !is_single_pixel_product(p))
        return plan_steps(p, isa, out, why_not, overrides);
    const Problem q = as_pointwise(p);
    if (!plan_steps(q, isa, out, why_not, overrides)) return false;
    out.lowered = q;
    std::vector<std::string>& lines = out.base().lines;
    lines.insert(lines.begin(),
                     "single input pixels along the kernel's dims, each output reading one tap: "
                     "a matrix product, planned as a pointwise layer over the batch's pixels "
                     "with out_channels x (the taps read) channels");
    return true;
}

}  // namespace tconv::gen
