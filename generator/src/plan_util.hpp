// SPDX-License-Identifier: Apache-2.0
// Helpers shared by the planner's files (not part of the generator's interface).
#pragma once

#include <algorithm>
#include <utility>
#include <array>
#include <numeric>
#include <string>
#include <vector>

#include "tconv/gen/plan.hpp"

namespace tconv::gen::detail {

inline int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }
inline int64_t ceil_div(int64_t a, int64_t b) { return -floor_div(-a, b); }

// The taps of axis `a` that read inside the input [0, I) for some output m in [m_first,
// m_last] (tap t reads m - c0 - t*cstep), as [lo, hi); {0, 0} when none does.
inline std::pair<int, int> live_taps(const TapAxis& a, int64_t m_first, int64_t m_last,
                                     int64_t I) {
    const int64_t step = std::max<int64_t>(a.cstep, 1);
    const int64_t lo = std::max<int64_t>(0, ceil_div(m_first - a.c0 - (I - 1), step));
    const int64_t hi = std::min<int64_t>(a.count, floor_div(m_last - a.c0, step) + 1);
    return lo < hi ? std::pair{int(lo), int(hi)} : std::pair{0, 0};
}

inline Dim3 canonical(const Problem& p, const Dims& d, int64_t fill) {
    Dim3 c{fill, fill, fill};
    for (int i = 0; i < p.rank; ++i) c[size_t(3 - p.rank + i)] = d[size_t(i)];
    return c;
}

// Taps of residue r along one dimension (docs/ALGORITHM.md §2: k*D ≡ r mod S,
// c_k = (k*D - r) / S).
inline TapAxis tap_axis(int64_t k, int64_t s, int64_t d, int64_t r) {
    TapAxis a;
    for (int64_t k0 = 0; k0 < k; ++k0) {
        if ((k0 * d - r) % s != 0) continue;
        a.k0 = k0;
        a.kstep = s / std::gcd(d, s);
        a.c0 = (k0 * d - r) / s;
        a.cstep = a.kstep * d / s;
        a.count = int((k - 1 - k0) / a.kstep + 1);
        break;
    }
    return a;
}

// Vector registers the epilogue needs besides the accumulators (see vector_math.hpp).
inline int activation_temps(Activation a) {
    switch (a) {
        case Activation::none: return 0;
        case Activation::relu: return 1;        // AVX2's compare mask
        case Activation::leaky_relu: return 2;  // a * slope and AVX2's compare mask
        case Activation::sigmoid:
        case Activation::tanh: return 4;
    }
    return 4;
}

// Unrolls the channel loop of a block as far as ~512 FMAs of code: removes the loop overhead
// from short bodies (one tap, small tiles) without bloating long ones.
inline int ic_unroll(int64_t ic_block, int64_t fmas_per_channel) {
    int best = 1;
    for (int u = 1; u <= ic_block; ++u)
        if (ic_block % u == 0 && u * fmas_per_channel <= 512) best = u;
    return best;
}

// Cache budgets. The planned L2 (PlanBase::l2_bytes: the CPU's, at most 1 MiB) bounds a
// block's weights cycled between reuses: input channels are chunked until they fit half of it.
// The rest keep the 1 MiB they were calibrated at: half for the tile cost model and the groups
// of oc blocks (kL2WeightBudget), three quarters for the zero-halo input of a group of images
// and the bands of rows (kL2InputBudget). Sized for Zen 3's 512 KiB instead, the groups ran a
// 128 -> 64 k4 s2 at 128x128 0.95x, the model chose 8 x 1 tiles for pix2pix's 1024 -> 512 at
// 8x8 (0.24x), and halved bands ran two random layers 0.92-0.95x.
inline constexpr int64_t kL2WeightBudget = kDefaultL2Bytes / 2;
inline constexpr int64_t kL2InputBudget = kDefaultL2Bytes * 3 / 4;
inline int64_t l2_chunk_budget(const PlanBase& pl) { return pl.l2_bytes / 2; }
// An L1 data cache (32 KiB on Zen 3 and 4, 48 KiB on recent Intel cores).
inline constexpr int64_t kL1WeightBytes = 32 * 1024;
// Work items a call should offer its threads at least (when the layer has that many tiles):
// contiguous shares of fewer leave threads up to an item's work apart.
inline constexpr int64_t kParallelItems = 16;
// The spatial family's channels-last row buffer, in floats: 64 KiB, read back from L2 by the
// transpose; smaller chunks write each pixel's channels in more, shorter pieces (measured:
// 28x28 and 56x56 grouped layers, 16-64 KiB alike, 16 KiB up to 15% slower).
inline constexpr int64_t kSpatialRowFloats = 16 * 1024;
// Its bound when long rows take 16 channels anyway: 1 MiB, half the L2.
inline constexpr int64_t kSpatialRowMaxFloats = 256 * 1024;

// Images per group: those whose zero-halo input fits kL2InputBudget, at least one (or the
// override, at most the batch).
inline int64_t batch_group(const PlanBase& pl, const PlanOverrides& ov) {
    if (ov.batch_group > 0) return std::min(ov.batch_group, pl.batch);
    const int64_t image_bytes = pl.input.image_floats() * 4;
    return std::clamp<int64_t>(kL2InputBudget / std::max<int64_t>(image_bytes, 1), 1, pl.batch);
}

// Output rows per band of an image whose zero-halo input overflows kL2InputBudget (0: none):
// each band's input rows, a quarter of the L2 (half the budget), are copied just before the
// rows that read them (PlanBase::band_rows). The override wins when below the rows.
inline int64_t band_rows(const PlanBase& pl, const PlanOverrides& ov) {
    if (ov.band_rows > 0) return ov.band_rows < pl.out_rows() ? ov.band_rows : 0;
    const Dim3& P = pl.input.padded;
    const int64_t image_bytes = pl.input.image_floats() * 4, in_rows = P[0] * P[1];
    if (image_bytes <= kL2InputBudget || in_rows <= 1) return 0;
    const int64_t band_in_rows = std::max<int64_t>(1, kL2InputBudget / 2 / (image_bytes / in_rows));
    const int64_t rows = std::max<int64_t>(1, band_in_rows * pl.out_rows() / in_rows);
    return rows < pl.out_rows() ? rows : 0;
}

// Output-channel blocks of n_oc vectors per group (the last one of a group may hold fewer),
// each reading its group's input blocks, x_blocks of them per group; the per-row buffer's pitch
// holds a full block. pl.oc_vectors (summed over the groups) must be set.
inline void output_blocks(PhasedPlan& pl, int64_t x_blocks) {
    const int64_t VL = pl.vlen, ovg = pl.oc_vectors / pl.groups;
    const int64_t nbg = (ovg + pl.n_oc - 1) / pl.n_oc;  // blocks per group
    pl.oc_blocks = pl.groups * nbg;
    pl.n_oc_last = int(ovg - (nbg - 1) * pl.n_oc);
    for (int64_t g = 0; g < pl.groups; ++g)
        for (int64_t b = 0; b < nbg; ++b) {
            OcBlock blk;
            blk.group = g;
            blk.x_block = g * x_blocks;
            blk.oc0 = g * pl.oc_g + b * pl.n_oc * VL;
            blk.valid = std::min<int64_t>(pl.n_oc * VL, pl.oc_g - b * pl.n_oc * VL);
            blk.vector0 = g * ovg + b * pl.n_oc;
            blk.last = b == nbg - 1 ? 1 : 0;
            blk.vectors = blk.last ? pl.n_oc_last : pl.n_oc;
            pl.blocks.push_back(blk);
        }
    pl.row_pitch = int64_t(pl.n_oc) * VL;
}

// The index of `d` in the plan's kernels, added when new: layers share equal kernels.
inline int kernel_index(PlanBase& pl, const AnyKernelDesc& d) {
    for (size_t i = 0; i < pl.kernels.size(); ++i)
        if (pl.kernels[i] == d) return int(i);
    pl.kernels.push_back(d);
    return int(pl.kernels.size() - 1);
}

inline std::string dims_string(const Problem& p, const Dim3& d) {
    std::string s;
    for (int i = 3 - p.rank; i < 3; ++i) s += (s.empty() ? "" : "x") + std::to_string(d[size_t(i)]);
    return s;
}

// The stride phases of every dimension (index: residue r), from the planner's first step.
struct PhaseAxes {
    std::array<std::vector<TapAxis>, 3> axes;          // taps of residue r
    std::array<std::vector<int64_t>, 3> m_lo, m_count;  // its outputs m

    // The phase of residues r: its taps and outputs per dimension (kernels and weights unset).
    PhasePlan phase(const Dim3& r) const {
        PhasePlan ph;
        ph.r = r;
        for (size_t d = 0; d < 3; ++d) {
            ph.taps[d] = axes[d][size_t(r[d])];
            ph.m_lo[d] = m_lo[d][size_t(r[d])];
            ph.m_count[d] = m_count[d][size_t(r[d])];
        }
        return ph;
    }
};

// The stride phases, in order (r_d, r_h, r_w), into pl.phases: each given the offset of its
// packed weights (the phases' weights back to back, per_tap floats per tap) and its full W
// tiles of ur, then f(ph) adds its kernels. Returns the packed weights' floats.
template <class F>
int64_t plan_phases(PhasedPlan& pl, const PhaseAxes& ax, int64_t per_tap, F f) {
    int64_t w_off = 0;
    for (int64_t rd = 0; rd < pl.stride[0]; ++rd)
        for (int64_t rh = 0; rh < pl.stride[1]; ++rh)
            for (int64_t rw = 0; rw < pl.stride[2]; ++rw) {
                PhasePlan ph = ax.phase({rd, rh, rw});
                ph.w_offset = w_off;
                w_off += ph.taps_total() * per_tap;
                ph.w_blocks = ph.m_count[2] / pl.ur;
                f(ph);
                pl.phases.push_back(std::move(ph));
            }
    return w_off;
}

// A phase's taps into a kernel descriptor (the channel and depthwise families share the fields).
template <class Desc>
void set_taps(Desc& k, const PhasePlan& ph) {
    if (!ph.has_taps()) return;
    for (size_t d = 0; d < 3; ++d) {
        k.taps[d] = ph.taps[d].count;
        k.c0[d] = ph.taps[d].c0;
        k.cstep[d] = ph.taps[d].count > 1 ? ph.taps[d].cstep : 0;
    }
}

// Tiny maps: under 3/4 of the W taps read inside the input, output by output over every W
// phase. The tile models then count a tile's live W taps only (its kernel runs only those).
inline bool w_taps_mostly_halo(const PlanBase& pl, const PhaseAxes& ax) {
    double live = 0, all = 0;
    for (int64_t rw = 0; rw < pl.stride[2]; ++rw)
        for (int64_t m = 0; m < ax.m_count[2][size_t(rw)]; ++m) {
            const int64_t at = ax.m_lo[2][size_t(rw)] + m;
            const auto [lo, hi] = live_taps(ax.axes[2][size_t(rw)], at, at, pl.in[2]);
            live += hi - lo;
            all += ax.axes[2][size_t(rw)].count;
        }
    return live < 0.75 * all;
}

// Narrows kernel k to taps [lo, hi) along dim d of the phase's; no tap at all: the bias-only
// kernel (the channel and bf16 pair descriptors share the fields).
template <class Desc>
void narrow_taps(Desc& k, size_t d, std::pair<int, int> live) {
    if (k.taps_total() == 0) return;
    if (live.second == 0) {
        k.taps = k.tap0 = k.w_taps = {0, 0, 0};
        k.c0 = k.cstep = {0, 0, 0};
        return;
    }
    k.tap0[d] += live.first;
    k.taps[d] = live.second - live.first;
}

// Tiny maps (PhasePlan::row_kernels): the taps that read only the zero halo are left out (tiny
// maps under large or dilated kernels read mostly halo), per row along D and H and per W tile
// of `ur`, in classes of equal live taps; where the tiles would still run 97% of the taps, one
// set of kernels runs every tap. k runs every tap of phase ph (w_taps == taps);
// kernels_of(ph, k, need, out) makes the kernels [W width][block] of k's taps for the widths
// need[] asks into out.
template <class Desc, class KernelsOf>
void live_tap_kernels(PhasePlan& ph, const Dim3& in, int ur, const Desc& k,
                      const KernelsOf& kernels_of) {
    using Range = std::pair<int, int>;
    const int64_t cw = ph.m_count[2];
    std::array<std::vector<Range>, 3> classes;
    std::array<double, 3> live_share{0, 0, 0};  // of the taps, output-weighted
    auto live = [&](size_t d, int64_t m0, int64_t m1) {
        const Range t = live_taps(ph.taps[d], m0, m1, in[d]);
        live_share[d] += double(t.second - t.first) * double(m1 - m0 + 1) /
                         (double(ph.taps[d].count) * double(ph.m_count[d]));
        std::vector<Range>& c = classes[d];
        const auto i = std::find(c.begin(), c.end(), t) - c.begin();
        if (i == std::ssize(c)) c.push_back(t);
        return int(i);
    };
    for (size_t d = 0; d < 2; ++d)
        for (int64_t m = ph.m_lo[d]; m < ph.m_lo[d] + ph.m_count[d]; ++m)
            ph.row_class[d].push_back(live(d, m, m));
    for (int64_t m0 = 0; m0 < cw; m0 += ur) {
        const int tail = m0 + ur > cw ? 1 : 0;
        const int64_t cls = live(2, ph.m_lo[2] + m0, ph.m_lo[2] + std::min(cw, m0 + ur) - 1);
        PhasePlan::WRun* prev = ph.w_runs.empty() ? nullptr : &ph.w_runs.back();
        if (prev && !tail && !prev->tail && prev->cls == cls)
            ++prev->tiles;
        else
            ph.w_runs.push_back({m0, 1, tail, cls});
    }
    // Edge rows of large maps save too little for their extra kernels and calls.
    if (live_share[0] * live_share[1] * live_share[2] >= 0.97) {  // every tile runs every tap
        ph.row_class = {};
        ph.w_runs.clear();
        kernels_of(ph, k, {ph.w_blocks > 0, true}, ph.kernel);
        return;
    }
    ph.row_classes_h = int64_t(classes[1].size());
    ph.w_classes = int64_t(classes[2].size());
    for (const Range& cd : classes[0])
        for (const Range& ch : classes[1])
            for (int64_t c = 0; c < ph.w_classes; ++c) {
                Desc kr = k;
                narrow_taps(kr, 0, cd);
                narrow_taps(kr, 1, ch);
                narrow_taps(kr, 2, classes[2][size_t(c)]);
                bool need[2] = {false, false};
                for (const PhasePlan::WRun& r : ph.w_runs)
                    if (r.cls == c) need[r.tail] = true;
                ph.row_kernels.emplace_back();
                kernels_of(ph, kr, need, ph.row_kernels.back().kernel);
            }
}

// The input buffer's (plane, row, pixel) strides as a kernel descriptor holds them: zero along
// the dims a layer of this rank does not have (no tap moves along them), so the kernels of a 1D
// layer do not depend on its length, nor a 2D layer's on its height.
inline Dim3 kernel_strides(const InputLayout& in, int rank) {
    Dim3 s = in.strides();
    for (int d = 0; d < 3 - rank; ++d) s[size_t(d)] = 0;
    return s;
}

// The fields every family's descriptor shares: the layer's geometry (for the name) and the
// epilogue.
template <class Desc>
void set_common(Desc& k, const PlanBase& pl, const Problem& p) {
    k.isa = pl.isa;
    k.rank = p.rank;
    k.kernel = pl.kernel;
    k.stride = pl.stride;
    k.dilation = pl.dilation;
    k.bias = p.bias;
    k.activation = p.activation;
    k.negative_slope = p.activation == Activation::leaky_relu ? p.negative_slope : 0.0f;
}

// The families' planners: each fills its plan, whose PlanBase holds the shared steps' results
// (layer, phases' halo), or declines with why_not.
bool plan_channel(const Problem& p, ChannelPlan& pl, const PhaseAxes& ax, const PlanOverrides& ov,
                  std::string& why_not);
bool plan_depthwise(const Problem& p, DepthwisePlan& pl, const PhaseAxes& ax,
                    const PlanOverrides& ov, std::string& why_not);
// Depthwise channels_last with multiplier 1, reading the user's input in place; false (nothing
// changed) when the layer does not qualify.
bool plan_depthwise_in_place(const Problem& p, DepthwisePlan& pl, const PhaseAxes& ax,
                             const PlanOverrides& ov);
bool plan_depthwise_cf(const Problem& p, DepthwiseCfPlan& pl, const PhaseAxes& ax,
                       const PlanOverrides& ov, std::string& why_not);
bool plan_spatial(const Problem& p, SpatialPlan& pl, const PhaseAxes& ax, const PlanOverrides& ov,
                  std::string& why_not);
bool plan_gemm(const Problem& p, GemmPlan& pl, const PhaseAxes& ax, const PlanOverrides& ov,
               std::string& why_not);
bool plan_pairs(const Problem& p, PairPlan& pl, const PhaseAxes& ax, const PlanOverrides& ov,
              std::string& why_not);

}  // namespace tconv::gen::detail
