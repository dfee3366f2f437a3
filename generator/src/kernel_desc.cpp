// SPDX-License-Identifier: Apache-2.0
// The descriptors' hashes and names (one per family).
#include "tconv/gen/kernel_desc.hpp"

#include <fmt/format.h>

#include <bit>
#include <cstdint>
#include <cstdlib>
#include <functional>

namespace tconv::gen {

// AMX kernels' epilogues are AVX-512 code.
int vector_length(Isa isa) { return isa >= Isa::avx512 ? 16 : isa == Isa::avx2 ? 8 : 1; }
int vector_registers(Isa isa) { return isa >= Isa::avx512 ? 32 : 16; }

namespace {

// FNV-1a over the fields, one 64-bit value at a time: the same value in every process, so a
// kernel's name (which shows it) is stable.
struct Mixer {
    size_t h = 1469598103934665603ull;
    void operator()(int64_t v) { h = (h ^ size_t(v)) * 1099511628211ull; }
    void dims(const Dim3& v) {
        for (int64_t x : v) (*this)(x);
    }
    template <class D>
    void common(const D& d) {
        (*this)(int64_t(d.isa));
        (*this)(d.rank);
        dims(d.kernel), dims(d.stride), dims(d.dilation);
        dims(d.c0), dims(d.cstep), dims(d.x_stride);
        for (int t : d.taps) (*this)(t);
        (*this)(d.ur);
        (*this)(d.bias);
        (*this)(int64_t(d.activation));
        (*this)(int64_t(std::bit_cast<uint32_t>(d.negative_slope)));
    }
};

std::string dims_of(int rank, const Dim3& v) {
    std::string s;
    for (int i = 3 - rank; i < 3; ++i) s += (s.empty() ? "" : "x") + std::to_string(v[size_t(i)]);
    return s;
}

// "tconv_<dtype>_<family>_k.._s..[_d..][_g..]": what every family's name starts with; the
// data type is what the kernel stores.
template <class D>
std::string name_head(const char* family, const D& d, int64_t groups, DType out = DType::f32) {
    std::string n = fmt::format("tconv_{}_{}_k{}_s{}", to_string(out), family,
                                dims_of(d.rank, d.kernel), dims_of(d.rank, d.stride));
    if (d.dilation != Dim3{1, 1, 1}) n += "_d" + dims_of(d.rank, d.dilation);
    if (groups > 1) n += fmt::format("_g{}", groups);
    return n;
}

// "[_c..]" then the tile, "[_activation]_h<hash>__isa": the tail of every family's name. The
// readable part cannot show every field (strides, per-phase offsets, tap subsets); 48 bits of
// the descriptor's hash tell apart the descriptors that share it.
template <class D>
std::string hash_tail(const D& d) {
    const uint64_t h = KernelDescHash{}(d);
    return fmt::format("_h{:012x}__", (h ^ (h >> 48)) & 0xffffffffffffull) +
           std::string(to_string(d.isa));
}

template <class D>
std::string name_tail(const D& d, const std::string& tile) {
    std::string n;
    if (d.c0 != Dim3{0, 0, 0}) n += "_c" + dims_of(d.rank, d.c0);
    n += tile;
    if (d.activation != Activation::none) n += "_" + std::string(to_string(d.activation));
    return n + hash_tail(d);
}

// A subset of the phase's taps: _t1x2_from1x0_of3x3 runs taps 1 x 0-1 of 3x3.
template <class D>
std::string tap_subset(const D& d) {
    if (d.taps_total() == 0 || d.taps == d.w_taps) return "";
    return "_from" + dims_of(d.rank, Dim3{d.tap0[0], d.tap0[1], d.tap0[2]}) + "_of" +
           dims_of(d.rank, Dim3{d.w_taps[0], d.w_taps[1], d.w_taps[2]});
}

}  // namespace

size_t KernelDescHash::operator()(const ChannelKernelDesc& d) const {
    Mixer m;
    m.common(d);
    m(d.groups), m(d.n_oc), m(d.oc_tail), m(d.ic_block), m(d.ic_blocks), m(d.ic_unroll);
    m(d.y_pix), m(d.w_prefetch), m(int64_t(d.out)), m(int64_t(d.partial));
    m(int64_t(d.stream)), m(int64_t(d.shared_bcast));
    for (size_t i = 0; i < 3; ++i) m(d.tap0[i]), m(d.w_taps[i]);
    return m.h;
}

size_t KernelDescHash::operator()(const SpatialKernelDesc& d) const {
    Mixer m;
    m.common(d);
    m(d.groups), m(d.n_oc), m(d.ic_blocks), m(int64_t(d.pairs)), m(int64_t(d.w_phases.size()));
    for (const WPhaseTaps& t : d.w_phases) m(t.count), m(t.c0), m(t.cstep);
    return m.h;
}

size_t KernelDescHash::operator()(const DwKernelDesc& d) const {
    Mixer m;
    m.common(d);
    m(d.n_oc), m(d.oc_tail), m(d.y_pix), m(int64_t(d.out)), m(d.ic_steps), m(d.x_block), m(d.lane_groups);
    m(d.in_place), m(d.y_prefetch), m(d.x_lo), m(d.x_hi), m(d.o_lo), m(d.o_hi);  // dw in place
    m(int64_t(d.tap_pairs));
    for (const WPhaseTaps& t : d.w_phases) m(t.count), m(t.c0), m(t.cstep);
    return m.h;
}

size_t KernelDescHash::operator()(const DwPlaneKernelDesc& d) const {
    Mixer m;
    m.common(d);
    m(int64_t(d.rows.size())), m(int64_t(d.w_phases.size()));
    for (const DwRowTaps& r : d.rows) m(r.count), m(r.c0), m(r.cstep), m(r.w_offset);
    for (const WPhaseTaps& t : d.w_phases) m(t.count), m(t.c0), m(t.cstep);
    m(d.w_rot), m(d.rest), m(d.y_row), m(int64_t(d.out)), m(int64_t(d.tap_pairs));
    return m.h;
}

size_t KernelDescHash::operator()(const GemmKernelDesc& d) const {
    Mixer m;
    m(int64_t(d.isa)), m(d.rank);
    m.dims(d.kernel), m.dims(d.stride), m.dims(d.dilation);
    m(d.groups), m(d.mr), m(d.ur), m(d.tail), m(d.accumulate);
    return m.h;
}

size_t KernelDescHash::operator()(const GemmEpilogueDesc& d) const {
    Mixer m;
    m(int64_t(d.isa)), m(int64_t(d.activation));
    m(int64_t(std::bit_cast<uint32_t>(d.negative_slope)));
    return m.h;
}

size_t KernelDescHash::operator()(const PairKernelDesc& d) const {
    Mixer m;
    m(int64_t(d.isa)), m(d.rank);
    m.dims(d.kernel), m.dims(d.stride), m.dims(d.dilation);
    m.dims(d.c0), m.dims(d.cstep), m.dims(d.x_stride);
    for (int t : d.taps) m(t);
    for (int t : d.tap0) m(t);
    for (int t : d.w_taps) m(t);
    m(d.groups), m(d.rows), m(d.nt), m(d.oc_tail), m(d.k_steps), m(d.step_pairs), m(d.y_pix);
    m(int64_t(d.out));
    m(d.bias), m(int64_t(d.activation));
    m(int64_t(std::bit_cast<uint32_t>(d.negative_slope)));
    return m.h;
}

size_t KernelDescHash::operator()(const AnyKernelDesc& d) const {
    return std::visit([this](const auto& x) { return (*this)(x); }, d) ^ d.index();
}

std::string kernel_name(const ChannelKernelDesc& d) {
    std::string tile = fmt::format("_ur{}_oc{}", d.ur, d.n_oc);
    if (d.oc_tail != vector_length(d.isa)) tile += fmt::format("_m{}", d.oc_tail);
    if (d.w_prefetch > 0) tile += fmt::format("_pf{}", d.w_prefetch);
    if (d.partial) tile += "_ps";  // partial sums: one chunk of the input channels per call
    if (d.stream) tile += "_nt";   // non-temporal stores of the finished outputs
    if (d.shared_bcast) tile += "_sb";  // W taps sharing their input broadcasts
    return name_head("cvec", d, d.groups, d.out) + "_t" +
           dims_of(d.rank, Dim3{d.taps[0], d.taps[1], d.taps[2]}) + tap_subset(d) +
           name_tail(d, tile);
}

std::string kernel_name(const SpatialKernelDesc& d) {
    // Taps per dim, the W phases' counts joined by '.': t3x2.1 = 3 x (2 | 1).
    std::string w;
    for (const WPhaseTaps& p : d.w_phases) w += (w.empty() ? "" : ".") + std::to_string(p.count);
    const std::string dh = d.rank == 1 ? "" : dims_of(d.rank, Dim3{d.taps[0], d.taps[1], 0});
    const std::string t = dh.empty() ? w : dh.substr(0, dh.rfind('x') + 1) + w;
    return name_head("svec", d, d.groups, d.pairs ? DType::bf16 : DType::f32) + "_t" + t +
           name_tail(d, fmt::format("_ur{}_oc{}", d.ur, d.n_oc));
}

// --- dw in place: ..._dw_k4x4_s2x2_nhwc_t2.2_ch64_ur3_oc4[_m8][_tp][_lo1.2][_hi0.1][_bias]__avx512
// (W taps per phase, the pixel's channels, the tile and its last vector's lanes or chunk's
// channels, taps in pairs, the edge bounds on inputs and outputs).
static std::string dw_in_place_name(const DwKernelDesc& d) {
    std::string t;
    for (const WPhaseTaps& p : d.w_phases) t += (t.empty() ? "" : ".") + std::to_string(p.count);
    std::string tile = fmt::format("_ch{}_ur{}_oc{}", d.y_pix, d.ur, d.n_oc);
    if (d.oc_tail != (d.tap_pairs ? 2 : 1) * vector_length(d.isa))
        tile += fmt::format("_m{}", d.oc_tail);
    if (d.tap_pairs) tile += "_tp";  // W taps in pairs on vdpbf16ps
    auto bound = [](int64_t v) {
        return std::abs(v) >= DwKernelDesc::kNoBound ? std::string("n") : std::to_string(v);
    };
    if (d.x_lo != -DwKernelDesc::kNoBound || d.o_lo != -DwKernelDesc::kNoBound)
        tile += "_lo" + bound(d.x_lo) + "." + bound(d.o_lo);
    if (d.x_hi != DwKernelDesc::kNoBound || d.o_hi != DwKernelDesc::kNoBound)
        tile += "_hi" + bound(d.x_hi) + "." + bound(d.o_hi);
    if (d.y_prefetch > 0) tile += fmt::format("_pfw{}k", d.y_prefetch / 1024);  // KiB ahead
    if (d.bias) tile += "_bias";
    if (d.activation == Activation::leaky_relu) tile += fmt::format("_ns{}", d.negative_slope);
    return name_head("dw", d, 1, d.out) + "_nhwc_t" + t + name_tail(d, tile);
}
// --- end dw in place ---

std::string kernel_name(const DwKernelDesc& d) {
    if (d.in_place) return dw_in_place_name(d);
    // Grouped layers ("dwg", depthwise-style lanes across groups) add the input channels per
    // group they reduce over: ..._dwg_k4x4_s2x2_t2x2_ic8_ur8_oc1...
    std::string tile = d.ic_steps > 1 ? fmt::format("_ic{}", d.ic_steps) : std::string();
    if (d.lane_groups > 0) tile += fmt::format("_bc{}", d.lane_groups);  // groups per broadcast
    tile += fmt::format("_ur{}_oc{}", d.ur, d.n_oc);
    if (d.oc_tail != vector_length(d.isa)) tile += fmt::format("_m{}", d.oc_tail);
    return name_head(d.ic_steps > 1 ? "dwg" : "dw", d, 1, d.out) + "_t" +
           dims_of(d.rank, Dim3{d.taps[0], d.taps[1], d.taps[2]}) + name_tail(d, tile);
}

std::string kernel_name(const DwPlaneKernelDesc& d) {
    // Taps per dim as in svec (rows of a group joined by '.' when they differ: t2.1x2.2), the
    // row's tail after its full tiles, the rows of a group when it is the layer's last, shorter
    // one.
    auto joined = [](const auto& list) {
        std::string s;
        for (const auto& t : list) s += (s.empty() ? "" : ".") + std::to_string(t.count);
        return s;
    };
    std::string t = d.rank == 3 ? std::to_string(d.taps[0]) + "x" : "";
    bool same = true;
    for (const DwRowTaps& r : d.rows) same = same && r.count == d.rows[0].count;
    if (d.rank >= 2) t += (same ? std::to_string(d.rows[0].count) : joined(d.rows)) + "x";
    std::string tile = fmt::format("_wt{}", d.rest);
    if (int64_t(d.rows.size()) != d.stride[1]) tile += fmt::format("_r{}", d.rows.size());
    tile += fmt::format("_ur{}", d.ur);
    if (d.tap_pairs) tile += "_tp";  // W taps in pairs on vdpbf16ps
    return name_head("dwcf", d, 1, d.out) + "_t" + t + joined(d.w_phases) + name_tail(d, tile);
}

std::string kernel_name(const GemmKernelDesc& d) {
    std::string tile = fmt::format("_mr{}_ur{}", d.mr, d.ur);
    if (d.tail != vector_length(d.isa)) tile += fmt::format("_m{}", d.tail);
    if (d.accumulate) tile += "_acc";
    return name_head("gemm", d, d.groups) + tile + hash_tail(d);
}

// tconv_f32_gemm_epilogue_relu_h..__avx512: bias and activation, whatever the layer.
std::string kernel_name(const GemmEpilogueDesc& d) {
    std::string n = "tconv_f32_gemm_epilogue_" + std::string(to_string(d.activation));
    if (d.activation == Activation::leaky_relu) n += fmt::format("_ns{}", d.negative_slope);
    return n + hash_tail(d);
}

// tconv_bf16_amx_k4x4_s2x2_t2x2_r32_oc2[_m8][_k8]_h..__avx512_amx: the tile's rows (outputs
// along W) and vectors of output channels; what it stores (bf16, or f32 into a row buffer).
std::string kernel_name(const PairKernelDesc& d) {
    // Tiles: rows x vectors; vdpbf16ps: the channel kernel's ur x oc, and the pairs per step.
    const bool tiles = d.isa == Isa::amx;
    std::string tile = tiles ? fmt::format("_r{}_oc{}", d.rows, d.nt)
                             : fmt::format("_ur{}_oc{}_p{}", d.rows, d.nt, d.step_pairs);
    if (d.oc_tail != 16) tile += fmt::format("_m{}", d.oc_tail);
    // The data type multiplied (bf16), whichever the stores write.
    return name_head(tiles ? "amx" : "cvec", d, d.groups, DType::bf16) + "_t" +
           dims_of(d.rank, Dim3{d.taps[0], d.taps[1], d.taps[2]}) + tap_subset(d) +
           name_tail(d, tile);
}

std::string kernel_name(const AnyKernelDesc& d) {
    return std::visit([](const auto& x) { return kernel_name(x); }, d);
}

}  // namespace tconv::gen
