// SPDX-License-Identifier: Apache-2.0
#include "upsample_lowering.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "tconv/reference.hpp"
#include "activation_rows.hpp"
#include "scratch.hpp"
#include "thread_pool.hpp"

namespace tconv {

namespace {

// A tensor [N, C, *spatial] of rank 1-3 in either layout, seen as 3 spatial dims (leading 1s).
struct Tensor3 {
    int64_t n, c, d[3];
    bool cl;
    Tensor3(const Problem& p, int64_t channels, const Dims& spatial) : n(p.batch), c(channels) {
        for (int j = 0; j < 3; ++j) {
            const int i = j - (3 - p.rank);
            d[j] = i < 0 ? 1 : spatial[size_t(i)];
        }
        cl = p.layout == Layout::channels_last;
    }
    int64_t spatial() const { return d[0] * d[1] * d[2]; }
    int64_t at(int64_t b, int64_t ch, int64_t z, int64_t y, int64_t x) const {
        const int64_t sp = (z * d[1] + y) * d[2] + x;
        return cl ? (b * spatial() + sp) * c + ch : (b * c + ch) * spatial() + sp;
    }
};

// The problem's per-dim values as 3 dims, leading dims `neutral`.
std::array<int64_t, 3> dims3(const Problem& p, const Dims& v, int64_t neutral) {
    std::array<int64_t, 3> r{neutral, neutral, neutral};
    for (int i = 0; i < p.rank; ++i) r[size_t(3 - p.rank + i)] = v[size_t(i)];
    return r;
}

// The 1D up-sampling filter of a resize as a transposed convolution's taps: u[j] is
// sum_i x[i] * h[j - i*s + offset]. Linear runs on the input padded by one value per side.
struct Filter {
    std::vector<double> h;
    int64_t offset = 0;
};

Filter up_filter(UpsampleKind kind, int64_t s) {
    Filter f;
    if (kind == UpsampleKind::nearest) {
        f.h.assign(size_t(s), 1.0);
        return f;
    }
    // PyTorch (align_corners=False): source coordinate (j + 0.5)/s - 0.5; padded index i' = i+1.
    // The weight of x'[i'] on u[j] is max(0, 1 - |e + 0.5 + s/2| / s) with e = j - i'*s.
    const double sd = double(s);
    const auto e_min = int64_t(std::floor(-1.5 * sd - 0.5)) + 1;
    const auto e_max = int64_t(std::ceil(0.5 * sd - 0.5)) - 1;
    for (int64_t e = e_min; e <= e_max; ++e)
        f.h.push_back(std::max(0.0, 1.0 - std::fabs(double(e) + 0.5 + sd / 2) / sd));
    f.offset = -e_min;
    return f;
}

// One (oc, ic) kernel of k[0]xk[1]xk[2] taps merged into kt[0]xkt[1]xkt[2]:
// out[t] = sum_k m0[t0][k0] m1[t1][k1] m2[t2][k2] w[k], one dim at a time (the full product
// over every tap pair is too slow for 3D kernels with large scales). A zero coefficient skips
// its term, so a non-finite weight reaches only the taps it really feeds.
std::vector<double> merge_taps(const float* w, const std::array<int64_t, 3>& k,
                               const std::array<int64_t, 3>& kt,
                               const std::array<std::vector<double>, 3>& m) {
    std::vector<double> cur(w, w + k[0] * k[1] * k[2]);
    std::array<int64_t, 3> shape = k;
    for (size_t a = 3; a-- > 0;) {
        // cur is [outer][k[a]][inner]; the dims after a are already merged.
        int64_t outer = 1, inner = 1;
        for (size_t b = 0; b < a; ++b) outer *= shape[b];
        for (size_t b = a + 1; b < 3; ++b) inner *= shape[b];
        std::vector<double> next(size_t(outer * kt[a] * inner), 0.0);
        for (int64_t o = 0; o < outer; ++o)
            for (int64_t t = 0; t < kt[a]; ++t)
                for (int64_t q = 0; q < k[a]; ++q) {
                    const double f = m[a][size_t(t * k[a] + q)];
                    if (f == 0) continue;
                    const double* src = &cur[size_t((o * k[a] + q) * inner)];
                    double* dst = &next[size_t((o * kt[a] + t) * inner)];
                    for (int64_t i = 0; i < inner; ++i) dst[i] += f * src[i];
                }
        cur = std::move(next);
        shape[a] = kt[a];
    }
    return cur;
}

// The conv as written, channels first, in double: y[n][oc][o] = b + sum w * u[o + k*D - pb].
std::vector<double> conv_direct(const Problem& p, int64_t in_c, int64_t out_c,
                                const std::array<int64_t, 3>& in, const std::vector<double>& u,
                                const float* w, const float* b, const std::array<int64_t, 3>& out) {
    const auto k = dims3(p, p.kernel, 1), dl = dims3(p, p.dilation, 1), pb = dims3(p, p.pad_begin, 0);
    const int64_t icg = in_c / p.groups, ocg = out_c / p.groups;
    const int64_t in_sp = in[0] * in[1] * in[2], out_sp = out[0] * out[1] * out[2];
    const int64_t k_sp = k[0] * k[1] * k[2];
    std::vector<double> y(size_t(p.batch * out_c * out_sp));
    for (int64_t n = 0; n < p.batch; ++n)
        for (int64_t oc = 0; oc < out_c; ++oc)
            for (int64_t o = 0; o < out_sp; ++o) {
                const int64_t o3[3] = {o / (out[1] * out[2]), o / out[2] % out[1], o % out[2]};
                double acc = b ? double(b[oc]) : 0.0;
                for (int64_t t = 0; t < k_sp; ++t) {
                    const int64_t t3[3] = {t / (k[1] * k[2]), t / k[2] % k[1], t % k[2]};
                    int64_t j[3];
                    bool inside = true;
                    for (int a = 0; a < 3; ++a) {
                        j[a] = o3[a] + t3[a] * dl[a] - pb[a];
                        inside = inside && j[a] >= 0 && j[a] < in[a];
                    }
                    if (!inside) continue;
                    const int64_t jsp = (j[0] * in[1] + j[1]) * in[2] + j[2];
                    for (int64_t icl = 0; icl < icg; ++icl) {
                        const int64_t ic = (oc / ocg) * icg + icl;
                        acc += double(w[(oc * icg + icl) * k_sp + t]) *
                               u[size_t((n * in_c + ic) * in_sp + jsp)];
                    }
                }
                y[size_t((n * out_c + oc) * out_sp + o)] = acc;
            }
    return y;
}

// PyTorch's up-sampling of one dim at output index j: (i0, i1, weight of i1).
struct Taps {
    int64_t i0, i1;
    double l1;
};
Taps resize_taps(UpsampleKind kind, int64_t in, int64_t s, int64_t j) {
    if (kind == UpsampleKind::nearest) return {j / s, j / s, 0.0};
    const double c = std::max((double(j) + 0.5) / double(s) - 0.5, 0.0);
    const auto i0 = int64_t(std::floor(c));
    return {i0, std::min(i0 + 1, in - 1), c - double(i0)};
}

// One up-sampled value from the (up to 8) input values its taps name, in double.
double interpolate(const Tensor3& t, const float* x, int64_t n, int64_t ch, const Taps& tz,
                   const Taps& ty, const Taps& tx) {
    double v = 0;
    for (int corner = 0; corner < 8; ++corner) {
        const bool bz = corner & 4, by = corner & 2, bx = corner & 1;
        const double f =
            (bz ? tz.l1 : 1 - tz.l1) * (by ? ty.l1 : 1 - ty.l1) * (bx ? tx.l1 : 1 - tx.l1);
        if (f != 0)
            v += f * double(x[t.at(n, ch, bz ? tz.i1 : tz.i0, by ? ty.i1 : ty.i0,
                                   bx ? tx.i1 : tx.i0)]);
    }
    return v;
}

}  // namespace

UpsampleProblem upsample_problem(const Problem& p) {
    UpsampleProblem u;
    u.kind = p.kind == LayerKind::pixel_shuffle ? UpsampleKind::pixel_shuffle
             : p.mode == ResizeMode::nearest    ? UpsampleKind::nearest
                                                : UpsampleKind::linear;
    u.conv = p;
    u.scale = p.kind == LayerKind::resize_conv ? p.scale : Dims{1, 1, 1};
    u.upscale_factor = p.kind == LayerKind::pixel_shuffle ? p.upscale_factor : 1;
    return u;
}

Dims UpsampleProblem::output() const {
    Dims o{1, 1, 1};
    for (int i = 0; i < conv.rank; ++i) {
        const int64_t up = kind == UpsampleKind::pixel_shuffle ? conv.input[i] : conv.input[i] * scale[i];
        const int64_t c = up + conv.pad_begin[i] + conv.pad_end[i] -
                          conv.dilation[i] * (conv.kernel[i] - 1);
        o[i] = kind == UpsampleKind::pixel_shuffle ? c * upscale_factor : c;
    }
    return o;
}

int64_t UpsampleProblem::weight_elems() const {
    const int64_t r2 = kind == UpsampleKind::pixel_shuffle ? upscale_factor * upscale_factor : 1;
    return conv.out_channels * r2 * conv.ic_per_group() * conv.kernel_spatial();
}

int64_t UpsampleProblem::bias_elems() const {
    const int64_t r2 = kind == UpsampleKind::pixel_shuffle ? upscale_factor * upscale_factor : 1;
    return conv.bias ? conv.out_channels * r2 : 0;
}

double UpsampleProblem::flops() const {
    const Dims o = output();
    double f = 2.0 * double(conv.batch) * double(conv.ic_per_group()) *
               double(weight_elems() / (conv.ic_per_group() * conv.kernel_spatial())) *
               double(conv.kernel_spatial());
    for (int i = 0; i < conv.rank; ++i)
        f *= double(kind == UpsampleKind::pixel_shuffle ? o[i] / upscale_factor : o[i]);
    return f;
}

std::string lowering_rule(const UpsampleProblem& p) {
    const Problem& c = p.conv;
    for (int i = 0; i < c.rank; ++i) {
        const int64_t reach = c.dilation[i] * (c.kernel[i] - 1);
        if (p.kind == UpsampleKind::pixel_shuffle && c.dilation[i] != 1)
            return fmt::format("dilation[{}]={} must be 1 for pixel_shuffle", i, c.dilation[i]);
        if (c.pad_begin[i] > reach || c.pad_end[i] > reach)
            return fmt::format("pads of dim {} must be <= dilation*(kernel_size-1) = {}", i,
                               reach);
    }
    if (p.kind == UpsampleKind::pixel_shuffle && c.rank != 2)
        return "pixel_shuffle is 2D (input_size [H, W])";
    return "";
}

namespace {

// The border slabs of a padded linear resize_conv (upsample_lowering.hpp), per dim and side
// with a pad: along that dim the up-sampled values its outputs read (the kernel's reach, every
// up-sampled extent being at least that), the whole up-sampled extent along the others, with
// the conv's pads there. Each slab is one merged kernel: the layer runs it as is (no filter).
void add_border_slabs(const UpsampleProblem& p, const float* w, const float* b, Lowered& l) {
    const Problem& c = p.conv;
    const Dims out = p.output();
    Dims up = c.input;
    for (int i = 0; i < c.rank; ++i) up[i] *= p.scale[i];
    for (int i = 0; i < c.rank; ++i) {
        const int64_t reach = c.dilation[i] * (c.kernel[i] - 1);
        for (const bool end : {false, true}) {
            if ((end ? c.pad_end[i] : c.pad_begin[i]) == 0) continue;
            UpsampleProblem q = p;
            q.kind = UpsampleKind::nearest;
            q.scale = {1, 1, 1};
            BorderSlab slab;
            slab.box_hi = up;
            if (end) {
                slab.box_lo[i] = up[i] - reach;
                q.conv.pad_begin[i] = 0;
                slab.out_lo[i] = out[i] - c.pad_end[i];
            } else {
                slab.box_hi[i] = reach;
                q.conv.pad_end[i] = 0;
            }
            for (int j = 0; j < c.rank; ++j) q.conv.input[j] = slab.box_hi[j] - slab.box_lo[j];
            slab.swap_hw = c.rank >= 2 && i == c.rank - 1;
            if (!slab.swap_hw) {
                slab.conv = lower(q, w, b, LoweringChoice::merged);
            } else {
                const size_t h = size_t(c.rank - 2), v = size_t(c.rank - 1);
                Problem& qc = q.conv;
                for (Dims* d : {&qc.input, &qc.kernel, &qc.dilation, &qc.pad_begin, &qc.pad_end})
                    std::swap((*d)[h], (*d)[v]);
                // The kernel's last two dims exchanged too: [out][in/groups][..][kw][kh].
                const int64_t kh = c.kernel[h], kw = c.kernel[v], plane = kh * kw;
                std::vector<float> ws(size_t(p.weight_elems()));
                for (int64_t f = 0; f < p.weight_elems() / plane; ++f)
                    for (int64_t a = 0; a < kh; ++a)
                        for (int64_t e = 0; e < kw; ++e)
                            ws[size_t(f * plane + e * kh + a)] = w[f * plane + a * kw + e];
                slab.conv = lower(q, ws.data(), b, LoweringChoice::merged);
            }
            l.borders.push_back(std::move(slab));
        }
    }
}

// Whether the factored lowering runs faster, from a model of both per output value in ns: a
// kernel costs icg * taps / 100 (multiply-adds at ~100 per ns) + 2 (its stores and per-output
// work, paid by every output of v even where a phase has no tap); the pass 1 + 0.1 per filter
// term + a row's toll of 10 * (1 + 0.2 * L_D*L_H) over the row's floats. It must predict 1.1x;
// a dilated layer, 1.5x and rows of 48 floats or more (on tiny dilated maps the model missed,
// 0.4-0.9x). Fitted on 464 random resize_conv layers timed both ways (one thread, AVX-512). Of
// the 120 drawn like real decoders (scales 2-8, kernels 1-5, dilation 1-2, 16-256 channels) it
// factors 31, which ran 1.90x faster in geometric mean when timed again (slowest 0.93x);
// factoring all 120 would be 0.98x (scale-8 bilinear with few channels 0.02x, 1x1 convolutions
// 0.3x: v is mostly holes, written all the same).
bool factor_pays(double icg, double merged_taps, double factored_taps, int64_t l_dh, int64_t l_w,
                 int64_t row_floats, bool dilated) {
    const double merged = icg * merged_taps / 100 + 2;
    const double pass = 1 + 0.1 * double(l_dh + l_w) +
                        10 * (1 + 0.2 * double(l_dh)) / double(std::max<int64_t>(row_floats, 1));
    const double speedup = merged / (icg * factored_taps / 100 + 2 + pass);
    return dilated ? row_floats >= 48 && speedup > 1.5 : speedup > 1.1;
}

// The factored lowering (upsample_lowering.hpp): `l.transposed` gets the conv's own taps,
// flipped, at the resize's stride, and `l.filter` the up-sampling filter for the output pass.
// Per dim, with the merged kernel's pad_begin pm: v at index q holds the merged layer's
// position q - pm + pv before filtering, so output o reads v[o - e + pm - pv], e < L; v starts
// at pv = max(0, pm - (L-1)) and ends where the last output reads (or the input's reach does).
// False, leaving `l` alone, where v would be empty or, by default, where factor_pays() says no.
bool factor(const UpsampleProblem& p, const float* w, const float* b, LoweringChoice how,
            Lowered& l) {
    const Problem& c = p.conv;
    const Dims out = p.output();
    Problem t = l.transposed;
    OutputFilter f;
    double merged = 1, factored = 1;  // taps per output value
    int64_t l_dh = 1;                 // the pass's terms per row of v: L_D * L_H
    bool dilated = false;
    for (int i = 0; i < c.rank; ++i) {
        const Filter u = up_filter(p.kind, p.scale[i]);
        const int64_t L = int64_t(u.h.size()), K = c.kernel[i], D = c.dilation[i];
        const int64_t s = p.scale[i], in = c.input[i] + (l.replicate_pad ? 2 : 0);
        const int64_t pm = (K - 1) * D + u.offset - c.pad_begin[i];
        const int64_t full = (in - 1) * s + (K - 1) * D + 1;
        const int64_t pv = std::max<int64_t>(0, pm - (L - 1));
        const int64_t extent = std::min(full - pv, out[i] + pm - pv);
        if (extent < 1) return false;
        t.input[i] = in;
        t.stride[i] = s;
        t.kernel[i] = K;
        t.dilation[i] = D;
        t.pad_begin[i] = pv;
        t.pad_end[i] = full - pv - extent;
        t.output[i] = extent;
        const size_t j = size_t(3 - c.rank + i);
        f.h[j].assign(u.h.begin(), u.h.end());
        f.shift[j] = pm - pv;
        f.v_extent[j] = extent;
        merged *= double(L + (K - 1) * D) / double(s);
        factored *= double(K) / double(s);
        if (i + 1 < c.rank) l_dh *= L;
        dilated = dilated || D > 1;
    }
    if (how == LoweringChoice::automatic) {
        const int64_t row =
            out[c.rank - 1] * (c.layout == Layout::channels_last ? c.out_channels : 1);
        if (!factor_pays(double(c.in_channels / c.groups), merged, factored, l_dh,
                         int64_t(f.h[2].size()), row, dilated))
            return false;
    }
    t.bias = false;
    t.activation = Activation::none;
    const int64_t IC = c.in_channels, ocg = c.out_channels / c.groups, icpg = IC / c.groups;
    const int64_t k_sp = c.kernel_spatial();
    l.weights.resize(size_t(t.weight_elems()));
    for (int64_t ic = 0; ic < IC; ++ic)
        for (int64_t ocl = 0; ocl < ocg; ++ocl) {
            // Every dim flipped: the taps in reverse order.
            const float* wk = w + (((ic / icpg) * ocg + ocl) * icpg + ic % icpg) * k_sp;
            std::reverse_copy(wk, wk + k_sp, l.weights.begin() + (ic * ocg + ocl) * k_sp);
        }
    if (c.bias) f.bias.assign(b, b + c.out_channels);
    l.transposed = t;
    l.filter = std::move(f);
    l.factored = true;
    return true;
}

}  // namespace

Lowered lower(const UpsampleProblem& p, const float* w, const float* b, LoweringChoice how) {
    const Problem& c = p.conv;
    Lowered l;
    Problem& t = l.transposed;
    t = c;
    t.kind = LayerKind::transposed;
    t.scale = {1, 1, 1};
    t.upscale_factor = 1;
    t.mode = ResizeMode::nearest;
    t.output_padding = {0, 0, 0};
    t.dilation = {1, 1, 1};
    const Dims out = p.output();
    const int64_t IC = c.in_channels, OC = c.out_channels, G = c.groups;
    const int64_t icg = IC / G, ocg = OC / G;

    if (p.kind == UpsampleKind::pixel_shuffle) {
        const int64_t r = p.upscale_factor, kh = c.kernel[0], kw = c.kernel[1];
        for (int i = 0; i < 2; ++i) {
            t.stride[i] = r;
            t.kernel[i] = r * c.kernel[i];
            t.pad_begin[i] = (c.kernel[i] - 1 - c.pad_begin[i]) * r;
            t.pad_end[i] = (c.kernel[i] - 1 - c.pad_end[i]) * r;
        }
        t.output = out;
        l.weights.resize(size_t(t.weight_elems()));
        for (int64_t ic = 0; ic < IC; ++ic)
            for (int64_t cl = 0; cl < ocg; ++cl)
                for (int64_t th = 0; th < r * kh; ++th)
                    for (int64_t tw = 0; tw < r * kw; ++tw) {
                        const int64_t ch = (ic / icg) * ocg + cl;
                        const int64_t oc = (ch * r + th % r) * r + tw % r;
                        const int64_t k = (kh - 1 - th / r) * kw + (kw - 1 - tw / r);
                        l.weights[size_t(((ic * ocg + cl) * r * kh + th) * r * kw + tw)] =
                            w[(oc * icg + ic % icg) * kh * kw + k];
                    }
        if (c.bias) {  // per phase: added after the kernel, with the activation after it
            l.phase_bias.resize(size_t(OC * r * r));  // [C][r][r] -> [r][r][C]
            for (int64_t ch = 0; ch < OC; ++ch)
                for (int64_t a = 0; a < r * r; ++a)
                    l.phase_bias[size_t(a * OC + ch)] = b[ch * r * r + a];
            t.bias = false;
            t.activation = Activation::none;
        }
        return l;
    }

    // A padded linear resize recomputes its border slabs, thin layers with an up-sampling pass
    // each, so that no tensor the size of the up-sampled input is made. Only where an
    // up-sampled extent is shorter than the kernel's reach, every output being a border one
    // and no slab fitting, is the input up-sampled whole instead. On small maps the slabs cost
    // more than that buffer would with the merged kernel (one thread: 16 -> 16 at 14x14 and 64
    // depthwise channels at 14x14 1.28-1.37x slower, 8 -> 8 at 28x28 and 24 -> 24 1D 1.18-1.25x
    // faster); after the factored kernel they measured faster than it (x2_bilinear_conv3 1.47x).
    bool padded = false, short_extent = false;
    for (int i = 0; i < c.rank; ++i) {
        padded = padded || c.pad_begin[i] || c.pad_end[i];
        short_extent = short_extent ||
                       c.input[i] * p.scale[i] < c.dilation[i] * (c.kernel[i] - 1);
    }
    const bool linear_padded = p.kind == UpsampleKind::linear && padded;
    if (linear_padded && short_extent) {
        // The conv alone, on the up-sampled buffer: a nearest resize by 1 of that buffer.
        UpsampleProblem q = p;
        q.kind = UpsampleKind::nearest;
        for (int i = 0; i < c.rank; ++i) q.conv.input[i] = c.input[i] * p.scale[i], q.scale[i] = 1;
        Lowered r = lower(q, w, b, LoweringChoice::merged);
        r.upsampled_input = true;
        return r;
    }
    l.replicate_pad = p.kind == UpsampleKind::linear;
    if (how != LoweringChoice::merged && factor(p, w, b, how, l)) {
        if (linear_padded) add_border_slabs(p, w, b, l);
        return l;
    }
    // Per dim: M[t][k] = h[t - (K-1-k)*D], the tap t of the merged kernel from conv tap k.
    std::array<std::vector<double>, 3> m;
    std::array<int64_t, 3> k3{1, 1, 1}, kt3{1, 1, 1};
    for (int i = 0; i < c.rank; ++i) {
        const Filter f = up_filter(p.kind, p.scale[i]);
        const int64_t L = int64_t(f.h.size()), K = c.kernel[i], D = c.dilation[i];
        t.input[i] = c.input[i] + (l.replicate_pad ? 2 : 0);
        t.stride[i] = p.scale[i];
        t.kernel[i] = L + (K - 1) * D;
        t.pad_begin[i] = (K - 1) * D + f.offset - c.pad_begin[i];
        t.pad_end[i] = (t.input[i] - 1) * t.stride[i] + t.kernel[i] - t.pad_begin[i] - out[i];
        const size_t j = size_t(3 - c.rank + i);
        k3[j] = K;
        kt3[j] = t.kernel[i];
        m[j].assign(size_t(t.kernel[i] * K), 0.0);
        for (int64_t tt = 0; tt < t.kernel[i]; ++tt)
            for (int64_t k = 0; k < K; ++k) {
                const int64_t e = tt - (K - 1 - k) * D;
                if (e >= 0 && e < L) m[j][size_t(tt * K + k)] = f.h[size_t(e)];
            }
    }
    for (size_t j = 0; j < 3; ++j)
        if (m[j].empty()) m[j] = {1.0};
    t.output = out;
    const int64_t k_sp = c.kernel_spatial(), kt_sp = t.kernel_spatial();
    l.weights.resize(size_t(t.weight_elems()));
    for (int64_t ic = 0; ic < IC; ++ic)
        for (int64_t ocl = 0; ocl < ocg; ++ocl) {
            const int64_t oc = (ic / icg) * ocg + ocl;
            const float* wk = w + (oc * icg + ic % icg) * k_sp;
            const std::vector<double> merged = merge_taps(wk, k3, kt3, m);
            std::copy(merged.begin(), merged.end(),
                      l.weights.begin() + (ic * ocg + ocl) * kt_sp);
        }
    if (c.bias) l.bias.assign(b, b + OC);
    if (linear_padded) add_border_slabs(p, w, b, l);
    return l;
}

void replicate_pad_input(const Problem& c, const float* x, float* padded, int threads,
                         WaitPolicy wait) {
    Dims pin = c.input;
    for (int i = 0; i < c.rank; ++i) pin[i] += 2;
    const Tensor3 src(c, c.in_channels, c.input), dst(c, c.in_channels, pin);
    const int lead = 3 - c.rank;  // leading dims of size 1 are not padded
    auto clamped = [&](int a, int64_t q) {
        return a < lead ? q : std::clamp<int64_t>(q - 1, 0, src.d[a] - 1);
    };
    const int64_t C = c.in_channels, W = src.d[2];
    // One item per padded row (image, z, y): its source row, widened by one value per side.
    const int64_t rows = c.batch * dst.d[0] * dst.d[1];
    global_pool().run(1, int(rows), threads, wait, [&](int64_t, int item) {
        const int64_t n = item / (dst.d[0] * dst.d[1]), z = item / dst.d[1] % dst.d[0],
                      y = item % dst.d[1];
        const int64_t sz = clamped(0, z), sy = clamped(1, y);
        if (src.cl) {
            const float* in = x + src.at(n, 0, sz, sy, 0);
            float* out = padded + dst.at(n, 0, z, y, 0);
            std::copy(in, in + C, out);
            std::copy(in, in + W * C, out + C);
            std::copy(in + (W - 1) * C, in + W * C, out + (W + 1) * C);
        } else {
            for (int64_t ch = 0; ch < C; ++ch) {
                const float* in = x + src.at(n, ch, sz, sy, 0);
                float* out = padded + dst.at(n, ch, z, y, 0);
                out[0] = in[0];
                std::copy(in, in + W, out + 1);
                out[W + 1] = in[W - 1];
            }
        }
    });
}

int64_t upsample_row_floats(const UpsampleProblem& p) {
    const Tensor3 src(p.conv, p.conv.in_channels, p.conv.input);
    return src.cl ? src.d[2] * src.c : src.d[2];
}

void upsample_input(const UpsampleProblem& p, const float* x, float* u, int threads,
                    WaitPolicy wait) {
    const Problem& c = p.conv;
    Dims up = c.input;
    for (int i = 0; i < c.rank; ++i) up[i] *= p.scale[i];
    upsample_input(p, Dims{0, 0, 0}, up, x, u, threads, wait);
}

void upsample_input(const UpsampleProblem& p, const Dims& lo, const Dims& hi, const float* x,
                    float* u, int threads, WaitPolicy wait) {
    const Problem& c = p.conv;
    Dims box = c.input;
    for (int i = 0; i < c.rank; ++i) box[i] = hi[i] - lo[i];
    const Tensor3 src(c, c.in_channels, c.input), dst(c, c.in_channels, box);
    const auto s = dims3(c, p.scale, 1), first = dims3(c, lo, 0);
    std::array<std::vector<Taps>, 3> taps;
    for (size_t a = 0; a < 3; ++a)
        for (int64_t j = 0; j < dst.d[a]; ++j)
            taps[a].push_back(resize_taps(p.kind, src.d[a], s[a], first[a] + j));
    const int64_t C = c.in_channels, OW = dst.d[2];
    // Separable, as float (the kernel reads floats): each output row (image, z, y) first blends
    // its up to 4 source rows into one row of the input's width, then each output along x is
    // a 2-tap blend of that row. A channels-last row holds every channel of its pixels.
    const int64_t row_len = upsample_row_floats(p);
    const int64_t step = src.cl ? C : 1;  // the row's floats per pixel
    // The x taps once, as the row loop reads them: offsets into the blended row and weights.
    // Only the input columns they read are blended (a border slab's box reads a few).
    std::vector<int64_t> x0(static_cast<size_t>(OW)), x1(static_cast<size_t>(OW));
    std::vector<float> w0(static_cast<size_t>(OW)), w1(static_cast<size_t>(OW));
    int64_t k0 = row_len, k1 = 0;
    for (int64_t v = 0; v < OW; ++v) {
        const Taps& tx = taps[2][size_t(v)];
        x0[size_t(v)] = tx.i0 * step;
        x1[size_t(v)] = tx.i1 * step;
        w0[size_t(v)] = float(1 - tx.l1);
        w1[size_t(v)] = float(tx.l1);
        k0 = std::min(k0, std::min(tx.i0, tx.i1) * step);
        k1 = std::max(k1, (std::max(tx.i0, tx.i1) + 1) * step);
    }
    const int64_t rows = c.batch * dst.d[0] * dst.d[1];
    global_pool().run(1, int(rows), threads, wait, [&](int64_t, int item) {
        float* const blend = thread_scratch().row.get(row_len);
        const int64_t n = item / (dst.d[0] * dst.d[1]);
        const Taps& tz = taps[0][size_t(item / dst.d[1] % dst.d[0])];
        const Taps& ty = taps[1][size_t(item % dst.d[1])];
        const int64_t zy = item % (dst.d[0] * dst.d[1]);
        const int64_t z = zy / dst.d[1], y = zy % dst.d[1];
        const float wr[4] = {float((1 - tz.l1) * (1 - ty.l1)), float((1 - tz.l1) * ty.l1),
                             float(tz.l1 * (1 - ty.l1)), float(tz.l1 * ty.l1)};
        const int64_t rz[4] = {tz.i0, tz.i0, tz.i1, tz.i1}, ry[4] = {ty.i0, ty.i1, ty.i0, ty.i1};
        for (int64_t ch = 0; ch < (src.cl ? 1 : C); ++ch) {
            float* b = blend;
            bool first = true;
            for (int r = 0; r < 4; ++r) {
                if (wr[r] == 0) continue;
                const float* in = x + src.at(n, ch, rz[r], ry[r], 0);
                const float w = wr[r];
                if (first)
                    for (int64_t k = k0; k < k1; ++k) b[k] = w * in[k];
                else
                    for (int64_t k = k0; k < k1; ++k) b[k] += w * in[k];
                first = false;
            }
            if (first) std::fill(b + k0, b + k1, 0.f);  // every weight 0: never for a resize
            float* out = u + dst.at(n, ch, z, y, 0);
            if (step == 1) {
                for (int64_t v = 0; v < OW; ++v)
                    out[v] = w0[size_t(v)] * b[x0[size_t(v)]] + w1[size_t(v)] * b[x1[size_t(v)]];
            } else {
                for (int64_t v = 0; v < OW; ++v) {
                    const float a = w0[size_t(v)], c1 = w1[size_t(v)];
                    const float* b0 = b + x0[size_t(v)];
                    const float* b1 = b + x1[size_t(v)];
                    float* o = out + v * step;
                    for (int64_t k = 0; k < step; ++k) o[k] = a * b0[k] + c1 * b1[k];
                }
            }
        }
    });
}

namespace {

// dst[.., x, y] = src[.., y, x] over the last two spatial dims of a tensor of `channels` shaped
// `dims` (src's; the rank at least 2): a pixel's channels move together (channels_last).
void swap_last_dims(const Problem& c, int64_t channels, const Dims& dims, const float* src,
                    float* dst) {
    Dims sw = dims;
    std::swap(sw[size_t(c.rank - 2)], sw[size_t(c.rank - 1)]);
    const Tensor3 from(c, channels, dims), to(c, channels, sw);
    const int64_t pix = from.cl ? from.c : 1;
    for (int64_t n = 0; n < from.n; ++n)
        for (int64_t ch = 0; ch < (from.cl ? 1 : from.c); ++ch)
            for (int64_t z = 0; z < from.d[0]; ++z)
                for (int64_t r = 0; r < from.d[1]; ++r)
                    for (int64_t q = 0; q < from.d[2]; ++q) {
                        const float* in = src + from.at(n, ch, z, r, q);
                        std::copy(in, in + pix, dst + to.at(n, ch, z, q, r));
                    }
}

Dims box_of(const Problem& c, const BorderSlab& slab) {
    Dims box = c.input;
    for (int i = 0; i < c.rank; ++i) box[i] = slab.box_hi[i] - slab.box_lo[i];
    return box;
}

}  // namespace

int64_t slab_floats(const BorderSlab& slab) {
    const Problem& t = slab.conv.transposed;
    return (slab.swap_hw ? 2 : 1) * t.input_elems() + t.output_elems();
}

float* slab_output(const BorderSlab& slab, float* buf) {
    return buf + (slab.swap_hw ? 2 : 1) * slab.conv.transposed.input_elems();
}

const float* slab_input(const UpsampleProblem& p, const BorderSlab& slab, const float* x,
                        float* buf, int threads, WaitPolicy wait) {
    upsample_input(p, slab.box_lo, slab.box_hi, x, buf, threads, wait);
    if (!slab.swap_hw) return buf;
    float* swapped = buf + slab.conv.transposed.input_elems();
    swap_last_dims(p.conv, p.conv.in_channels, box_of(p.conv, slab), buf, swapped);
    return swapped;
}

void paste_output(const UpsampleProblem& p, const BorderSlab& slab, const float* src, float* y) {
    const Problem& c = p.conv;
    const Tensor3 from(c, c.out_channels, slab.conv.transposed.output), to(c, c.out_channels, p.output());
    const auto at = dims3(c, slab.out_lo, 0);
    const int64_t pix = from.cl ? from.c : 1;
    // Whole rows along W: each holds every channel of its pixels (channels_last) or one's;
    // exchanged, pixel by pixel.
    const int64_t row = from.d[2] * pix;
    for (int64_t n = 0; n < from.n; ++n)
        for (int64_t ch = 0; ch < (from.cl ? 1 : from.c); ++ch)
            for (int64_t z = 0; z < from.d[0]; ++z)
                for (int64_t r = 0; r < from.d[1]; ++r) {
                    const float* in = src + from.at(n, ch, z, r, 0);
                    if (!slab.swap_hw) {
                        std::copy(in, in + row, y + to.at(n, ch, at[0] + z, at[1] + r, at[2]));
                        continue;
                    }
                    for (int64_t q = 0; q < from.d[2]; ++q)
                        std::copy(in + q * pix, in + (q + 1) * pix,
                                  y + to.at(n, ch, at[0] + z, at[1] + q, at[2] + r));
                }
}

void add_phase_bias(const UpsampleProblem& p, const Lowered& l, float* y, int threads,
                    WaitPolicy wait) {
    if (l.phase_bias.empty()) return;
    const Problem& c = p.conv;
    const int64_t r = p.upscale_factor, C = c.out_channels;
    const Tensor3 out(c, C, p.output());
    const int64_t H = out.d[1], W = out.d[2];
    const float* pb = l.phase_bias.data();  // [h % r][w % r][C]
    // In float, each value gets its channel's bias of phase (h % r, w % r), then the
    // activation (add_bias_activate: the bias as a row of its own, no division per element).
    // Items stream through the output in memory order: channels-last rows (image, h);
    // channels-first bands of up to 64 rows of one plane (planes lie far apart: walking all
    // channels of one row made the pass a fifth of a 128 -> 64 layer's time at 256x256).
    const int64_t band = 64, bands = (H + band - 1) / band;
    const int64_t items = out.cl ? c.batch * H : c.batch * C * bands;
    // Channels-last: the r bias rows [h % r][w][C], built once per call.
    std::vector<float> cl_rows;
    if (out.cl) {
        cl_rows.resize(size_t(r * W * C));
        for (int64_t a = 0; a < r; ++a)
            for (int64_t v = 0; v < W; ++v)
                std::copy(pb + (a * r + v % r) * C, pb + (a * r + v % r + 1) * C,
                          cl_rows.begin() + (a * W + v) * C);
    }
    global_pool().run(1, int(items), threads, wait, [&](int64_t, int item) {
        if (out.cl) {
            const int64_t n = item / H, h = item % H;
            add_bias_activate(c, y + out.at(n, 0, 0, h, 0), cl_rows.data() + (h % r) * W * C,
                              W * C);
            return;
        }
        const int64_t plane = item / bands, h0 = item % bands * band;
        const int64_t n = plane / C, ch = plane % C;
        std::vector<float> brow(size_t(r * W));  // [h % r][w]
        for (int64_t a = 0; a < r; ++a)
            for (int64_t v = 0; v < W; ++v)
                brow[size_t(a * W + v)] = pb[(a * r + v % r) * C + ch];
        for (int64_t h = h0; h < std::min(H, h0 + band); ++h)
            add_bias_activate(c, y + out.at(n, ch, 0, h, 0), brow.data() + (h % r) * W, W);
    });
}

void reference_upsample(const UpsampleProblem& p, const float* x, const float* w, const float* b,
                        float* y) {
    const Problem& c = p.conv;
    const Tensor3 xin(c, c.in_channels, c.input), yout(c, c.out_channels, p.output());
    const bool shuffle = p.kind == UpsampleKind::pixel_shuffle;
    // The convolution's input, channels first in double: x, or x up-sampled as PyTorch does.
    std::array<int64_t, 3> in{xin.d[0], xin.d[1], xin.d[2]};
    const auto s = dims3(c, p.scale, 1);
    if (!shuffle)
        for (int a = 0; a < 3; ++a) in[size_t(a)] *= s[size_t(a)];
    std::vector<double> u(size_t(c.batch * c.in_channels * in[0] * in[1] * in[2]));
    std::array<std::vector<Taps>, 3> taps;
    for (size_t a = 0; a < 3; ++a)
        for (int64_t j = 0; j < in[a]; ++j)
            taps[a].push_back(shuffle ? Taps{j, j, 0.0} : resize_taps(p.kind, xin.d[a], s[a], j));
    size_t idx = 0;
    for (int64_t n = 0; n < c.batch; ++n)
        for (int64_t ch = 0; ch < c.in_channels; ++ch)
            for (const Taps& tz : taps[0])
                for (const Taps& ty : taps[1])
                    for (const Taps& tx : taps[2]) {
                        u[idx++] = interpolate(xin, x, n, ch, tz, ty, tx);
                    }
    const int64_t r = shuffle ? p.upscale_factor : 1;
    const int64_t conv_c = c.out_channels * r * r;
    const std::array<int64_t, 3> conv_out{yout.d[0], yout.d[1] / r, yout.d[2] / r};
    const std::vector<double> v = conv_direct(c, c.in_channels, conv_c, in, u, w, b, conv_out);
    const int64_t conv_sp = conv_out[0] * conv_out[1] * conv_out[2];
    for (int64_t n = 0; n < c.batch; ++n)
        for (int64_t ch = 0; ch < c.out_channels; ++ch)
            for (int64_t z = 0; z < yout.d[0]; ++z)
                for (int64_t h = 0; h < yout.d[1]; ++h)
                    for (int64_t q = 0; q < yout.d[2]; ++q) {
                        // Depth-to-space as torch.nn.PixelShuffle: channel c*r^2 + (h%r)*r + q%r.
                        const int64_t cc = (ch * r + h % r) * r + q % r;
                        const int64_t sp = (z * conv_out[1] + h / r) * conv_out[2] + q / r;
                        y[yout.at(n, ch, z, h, q)] = float(
                            apply_activation(c, v[size_t((n * conv_c + cc) * conv_sp + sp)]));
                    }
}

}  // namespace tconv
