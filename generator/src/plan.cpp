// The planner: stride phases, the input halo, the register tile from the register budget, and
// the distinct kernels a layer needs.
#include "tconv/gen/plan.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <map>
#include <numeric>

namespace tconv::gen {

int vector_length(Isa isa) { return isa == Isa::avx512 ? 16 : isa == Isa::avx2 ? 8 : 1; }
int vector_registers(Isa isa) { return isa == Isa::avx512 ? 32 : 16; }

namespace {

int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }
int64_t ceil_div(int64_t a, int64_t b) { return -floor_div(-a, b); }

Dim3 canonical(const Problem& p, const Dims& d, int64_t fill) {
    Dim3 c{fill, fill, fill};
    for (int i = 0; i < p.rank; ++i) c[size_t(3 - p.rank + i)] = d[size_t(i)];
    return c;
}

// Taps of residue r along one dimension (ALGORITHM.md: k*D ≡ r mod S, c_k = (k*D - r) / S).
TapAxis tap_axis(int64_t k, int64_t s, int64_t d, int64_t r) {
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

// Vector registers the epilogue needs besides the accumulators (see emit_activation.hpp).
int activation_temps(Activation a) {
    switch (a) {
        case Activation::none:
        case Activation::relu: return 0;
        case Activation::leaky_relu: return 1;
        case Activation::sigmoid:
        case Activation::tanh: return 4;
    }
    return 4;
}

std::string dims_string(const Problem& p, const Dim3& d) {
    std::string s;
    for (int i = 3 - p.rank; i < 3; ++i) s += (s.empty() ? "" : "x") + std::to_string(d[size_t(i)]);
    return s;
}

}  // namespace

size_t KernelDescHash::operator()(const KernelDesc& d) const {
    size_t h = 1469598103934665603ull;
    auto mix = [&h](int64_t v) { h = (h ^ size_t(v)) * 1099511628211ull; };
    mix(int64_t(d.isa));
    mix(d.rank);
    for (int i = 0; i < 3; ++i) {
        mix(d.kernel[size_t(i)]); mix(d.stride[size_t(i)]); mix(d.dilation[size_t(i)]);
        mix(d.taps[size_t(i)]); mix(d.c0[size_t(i)]); mix(d.cstep[size_t(i)]);
        mix(d.x_stride[size_t(i)]);
    }
    mix(d.ur); mix(d.n_oc); mix(d.oc_tail); mix(d.ic_block); mix(d.ic_blocks); mix(d.x_block_stride); mix(d.y_pix); mix(d.bias);
    mix(int64_t(d.activation));
    mix(int64_t(std::hash<float>{}(d.negative_slope)));
    return h;
}

std::string kernel_name(const KernelDesc& d) {
    auto dims = [&](const Dim3& v) {
        std::string s;
        for (int i = 3 - d.rank; i < 3; ++i) s += (s.empty() ? "" : "x") + std::to_string(v[size_t(i)]);
        return s;
    };
    std::string n = "tconv_f32_cvec_k" + dims(d.kernel) + "_s" + dims(d.stride);
    if (d.dilation != Dim3{1, 1, 1}) n += "_d" + dims(d.dilation);
    Dim3 t{d.taps[0], d.taps[1], d.taps[2]};
    n += "_t" + dims(t);
    if (d.c0 != Dim3{0, 0, 0}) n += "_c" + dims(d.c0);
    n += fmt::format("_ur{}_oc{}", d.ur, d.n_oc);
    if (d.oc_tail != vector_length(d.isa)) n += fmt::format("_m{}", d.oc_tail);
    if (d.activation != Activation::none) n += "_" + std::string(to_string(d.activation));
    return n + "__" + std::string(to_string(d.isa));
}

bool plan(const Problem& p, Isa isa, Plan& out, std::string& why_not) {
    if (isa != Isa::avx512 && isa != Isa::avx2) {
        why_not = "the JIT emits AVX-512 and AVX2 only";
        return false;
    }
    if (p.groups != 1) {
        why_not = "groups > 1 is served by the reference";
        return false;
    }
    Plan pl;
    pl.isa = isa;
    pl.vlen = vector_length(isa);
    pl.layout = p.layout;
    pl.batch = p.batch;
    pl.ic = p.in_channels;
    pl.oc = p.out_channels;
    pl.in = canonical(p, p.input, 1);
    pl.out = canonical(p, p.output, 1);
    pl.stride = canonical(p, p.stride, 1);
    pl.pad_begin = canonical(p, p.pad_begin, 0);
    const Dim3 kernel = canonical(p, p.kernel, 1), dilation = canonical(p, p.dilation, 1);

    // Per dimension and residue: taps and the phase's output range; the halo covers every read.
    std::array<std::vector<TapAxis>, 3> axes;
    std::array<std::vector<int64_t>, 3> m_lo, m_count;
    for (size_t d = 0; d < 3; ++d) {
        const int64_t S = pl.stride[d], O = pl.out[d], pb = pl.pad_begin[d], I = pl.in[d];
        int64_t lo = 0, hi = 0;
        for (int64_t r = 0; r < S; ++r) {
            TapAxis a = tap_axis(kernel[d], S, dilation[d], r);
            const int64_t first = ceil_div(pb - r, S), last = floor_div(O - 1 + pb - r, S);
            const int64_t count = std::max<int64_t>(0, last - first + 1);
            if (a.count > 0 && count > 0) {
                const int64_t i_min = first - (a.c0 + (a.count - 1) * a.cstep), i_max = last - a.c0;
                lo = std::max(lo, -i_min);
                hi = std::max(hi, i_max - (I - 1));
            }
            axes[d].push_back(a);
            m_lo[d].push_back(first);
            m_count[d].push_back(count);
        }
        pl.halo_lo[d] = lo;
        pl.padded[d] = I + lo + hi;
    }
    // Input-channel blocks of at most 16 with minimal zero padding (17 -> 2 x 9, 3 -> 1 x 3).
    pl.ic_blocks = (pl.ic + 15) / 16;
    pl.ic_block = (pl.ic + pl.ic_blocks - 1) / pl.ic_blocks;
    const int64_t icb = pl.ic_block;
    const Dim3 x_stride{pl.padded[1] * pl.padded[2] * icb, pl.padded[2] * icb, icb};
    const int64_t x_block_stride = pl.padded[0] * x_stride[0];
    if (double(x_block_stride) * double(pl.ic_blocks) * 4.0 >
        double(std::numeric_limits<int32_t>::max())) {
        why_not = "the padded input is too large for 32-bit displacements";
        return false;
    }

    // The register tile: ur outputs along W x n_oc vectors of channels.
    //   main loop: ur*n_oc accumulators + n_oc weights + 1 broadcast <= registers
    //   epilogue:  ur*n_oc accumulators + activation temps (+1 AVX2 store mask) <= registers
    // Chosen by a cost model in FMA slots: a tile step costs max(ur*n_oc, loads/2, 8) (8 FMAs
    // in flight hide the latency), summed over every tile a layer runs, plus a per-call toll.
    const int R = vector_registers(isa), VL = pl.vlen;
    pl.oc_vectors = (pl.oc + VL - 1) / VL;
    const int oc_tail = int(pl.oc - (pl.oc_vectors - 1) * VL);
    const int temps = activation_temps(p.activation) + (isa == Isa::avx2 && oc_tail != VL ? 1 : 0);
    int64_t max_row = 1;
    for (int64_t c : m_count[2]) max_row = std::max(max_row, c);
    double best = std::numeric_limits<double>::infinity();
    int best_u = 0, best_n = 0;
    for (int n = 1; n <= std::min<int64_t>(pl.oc_vectors, 8); ++n) {
        for (int u = 1; u <= std::min<int64_t>(max_row, 32); ++u) {
            if (u * n + n + 1 > R || u * n + temps > R) continue;
            auto step = [](int uu, int nn) {
                return std::max({double(uu * nn), (uu + nn) / 2.0, 8.0});
            };
            double cost = 0;
            const int64_t full_b = pl.oc_vectors / n, last_n = pl.oc_vectors % n;
            for (int64_t rw = 0; rw < pl.stride[2]; ++rw) {
                const int64_t cw = m_count[2][size_t(rw)];
                const int64_t full_w = cw / u, tail_w = cw % u;
                double taps = std::max(axes[2][size_t(rw)].count, 1);
                double row = 0;
                for (auto [nn, cnt] : {std::pair{n, full_b}, std::pair{int(last_n), int64_t(1)}}) {
                    if (nn == 0 || cnt == 0) continue;
                    double c = full_w * step(u, nn) + (tail_w ? step(int(tail_w), nn) : 0.0);
                    row += cnt * (c * taps * double(pl.ic_block * pl.ic_blocks) + 40.0 * (full_w + (tail_w ? 1 : 0)));
                }
                cost += row;
            }
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
    pl.ur = best_u;
    pl.n_oc = best_n;
    pl.oc_blocks = (pl.oc_vectors + pl.n_oc - 1) / pl.n_oc;
    pl.n_oc_last = int(pl.oc_vectors - (pl.oc_blocks - 1) * pl.n_oc);
    pl.row_pitch = int64_t(pl.n_oc) * VL;

    KernelDesc base;
    base.isa = isa;
    base.rank = p.rank;
    base.kernel = kernel;
    base.stride = pl.stride;
    base.dilation = dilation;
    base.ic_block = pl.ic_block;
    base.ic_blocks = pl.ic_blocks;
    base.x_stride = x_stride;
    base.x_block_stride = x_block_stride;
    base.y_pix = pl.stride[2] * (p.layout == Layout::channels_last ? pl.oc : pl.row_pitch);
    base.bias = p.bias;
    base.activation = p.activation;
    base.negative_slope = p.activation == Activation::leaky_relu ? p.negative_slope : 0.0f;

    auto kernel_index = [&pl](const KernelDesc& d) {
        for (size_t i = 0; i < pl.kernels.size(); ++i)
            if (pl.kernels[i] == d) return int(i);
        pl.kernels.push_back(d);
        return int(pl.kernels.size() - 1);
    };
    int64_t w_off = 0;
    for (int64_t rd = 0; rd < pl.stride[0]; ++rd)
        for (int64_t rh = 0; rh < pl.stride[1]; ++rh)
            for (int64_t rw = 0; rw < pl.stride[2]; ++rw) {
                PhasePlan ph;
                ph.r = {rd, rh, rw};
                const Dim3 r = ph.r;
                for (size_t d = 0; d < 3; ++d) {
                    ph.taps[d] = axes[d][size_t(r[d])];
                    ph.m_lo[d] = m_lo[d][size_t(r[d])];
                    ph.m_count[d] = m_count[d][size_t(r[d])];
                }
                ph.w_offset = w_off;
                w_off += ph.taps_total() * pl.ic_blocks * pl.ic_block * pl.oc_vectors * VL;
                const int64_t cw = ph.m_count[2];
                ph.w_blocks = cw / pl.ur;
                if (ph.m_count[0] * ph.m_count[1] * cw > 0) {
                    KernelDesc k = base;
                    if (ph.has_taps())
                        for (size_t d = 0; d < 3; ++d) {
                            k.taps[d] = ph.taps[d].count;
                            k.c0[d] = ph.taps[d].c0;
                            k.cstep[d] = ph.taps[d].count > 1 ? ph.taps[d].cstep : 0;
                        }
                    const int widths[2] = {pl.ur, int(cw % pl.ur)};
                    for (int wv = 0; wv < 2; ++wv) {
                        if (widths[wv] == 0 || (wv == 0 && ph.w_blocks == 0)) continue;
                        for (int ob = 0; ob < 2; ++ob) {
                            const bool last = ob == 1;
                            if (!last && pl.oc_blocks < 2) continue;
                            k.ur = widths[wv];
                            k.n_oc = last ? pl.n_oc_last : pl.n_oc;
                            k.oc_tail = last ? oc_tail : VL;
                            ph.kernel[wv][ob] = kernel_index(k);
                        }
                    }
                }
                pl.phases.push_back(ph);
            }
    pl.packed_weight_floats = w_off;
    pl.packed_bias_floats = pl.oc_vectors * VL;

    // Human-readable plan.
    pl.lines.push_back(fmt::format(
        "channel-vectorised: input {} x {} ch -> output {} x {} ch, {} stride phases",
        dims_string(p, pl.in), pl.ic, dims_string(p, pl.out), pl.oc, pl.phases.size()));
    for (const PhasePlan& ph : pl.phases) {
        Dim3 t{ph.taps[0].count, ph.taps[1].count, ph.taps[2].count};
        if (!ph.has_taps()) t = {0, 0, 0};
        pl.lines.push_back(fmt::format("  phase r={}: taps {} ({}), outputs {}{}", dims_string(p, ph.r),
                                       dims_string(p, t), ph.taps_total(),
                                       dims_string(p, ph.m_count),
                                       ph.has_taps() ? "" : " (bias + activation only)"));
    }
    const double wkb = double(pl.ic) * double(pl.n_oc) * VL * 4.0 / 1024.0;
    pl.lines.push_back(fmt::format(
        "tile ur={} x n_oc={} ({} accumulators of {} registers), {} oc blocks of {} channels "
        "(last {} vectors, {} lanes in its last)",
        pl.ur, pl.n_oc, pl.ur * pl.n_oc, R, pl.oc_blocks, pl.n_oc * VL, pl.n_oc_last, oc_tail));
    pl.lines.push_back(fmt::format(
        "loops: rows x oc blocks (threads) > W tiles > ic blocks > ic > taps (unrolled); "
        "weights per (phase, oc block, tap) {:.1f} KiB; input copied to a zero-halo buffer "
        "{} x {} blocks of {} ch",
        wkb, dims_string(p, pl.padded), pl.ic_blocks, pl.ic_block));
    out = std::move(pl);
    return true;
}

void pack_weights(const Problem& p, const Plan& pl, const float* w, float* packed) {
    const int VL = pl.vlen;
    const Dim3 K = canonical(p, p.kernel, 1);
    std::fill(packed, packed + pl.packed_weight_floats, 0.0f);
    for (const PhasePlan& ph : pl.phases) {
        if (!ph.has_taps()) continue;
        const int64_t taps = ph.taps_total();
        for (int64_t b = 0; b < pl.oc_blocks; ++b) {
            const int64_t nv = (b == pl.oc_blocks - 1) ? pl.n_oc_last : pl.n_oc;
            const int64_t icp = pl.ic_blocks * pl.ic_block;  // channels past ic stay zero
            float* dst = packed + ph.w_offset + b * icp * taps * pl.n_oc * VL;
            for (int64_t ic = 0; ic < pl.ic; ++ic) {
                int64_t t = 0;
                for (int td = 0; td < ph.taps[0].count; ++td)
                    for (int th = 0; th < ph.taps[1].count; ++th)
                        for (int tw = 0; tw < ph.taps[2].count; ++tw, ++t) {
                            const int64_t kd = ph.taps[0].k0 + td * ph.taps[0].kstep;
                            const int64_t kh = ph.taps[1].k0 + th * ph.taps[1].kstep;
                            const int64_t kw = ph.taps[2].k0 + tw * ph.taps[2].kstep;
                            float* v = dst + (ic * taps + t) * nv * VL;
                            for (int64_t j = 0; j < nv * VL; ++j) {
                                const int64_t oc = b * pl.n_oc * VL + j;
                                if (oc >= pl.oc) break;
                                v[j] = w[(((ic * pl.oc + oc) * K[0] + kd) * K[1] + kh) * K[2] + kw];
                            }
                        }
            }
        }
    }
}

void pack_bias(const Problem& p, const Plan& pl, const float* b, float* packed) {
    std::fill(packed, packed + pl.packed_bias_floats, 0.0f);
    if (p.bias && b) std::copy(b, b + pl.oc, packed);
}

}  // namespace tconv::gen
