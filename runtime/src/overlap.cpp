// SPDX-License-Identifier: Apache-2.0
#include "tconv/overlap.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace tconv {

namespace {

// Euclidean remainder: phases of negative offsets wrap like positive ones.
int64_t mod(int64_t a, int64_t m) { return ((a % m) + m) % m; }

// Taps of an unbounded input reaching an output of phase `o` (mod stride).
int64_t unbounded_count(int64_t kernel, int64_t stride, int64_t dilation, int64_t pad_begin,
                        int64_t o) {
    int64_t n = 0;
    for (int64_t k = 0; k < kernel; ++k) n += mod(o + pad_begin - k * dilation, stride) == 0;
    return n;
}

bool even_pattern(int64_t kernel, int64_t stride, int64_t dilation) {
    const int64_t first = unbounded_count(kernel, stride, dilation, 0, 0);
    for (int64_t r = 1; r < stride; ++r)
        if (unbounded_count(kernel, stride, dilation, 0, r) != first) return false;
    return first > 0;
}

std::string joined(const std::vector<int64_t>& v, const char* sep, size_t max_entries = 16) {
    std::string s;
    for (size_t i = 0; i < v.size() && i < max_entries; ++i)
        s += (i ? sep : "") + std::to_string(v[i]);
    if (v.size() > max_entries) s += std::string(sep) + "...";
    return s;
}

// The interior counts of an N-D period: the outer product of the dims' patterns, last dim fastest.
std::vector<int64_t> period_products(const Overlap& o) {
    std::vector<int64_t> out{1};
    for (int d = 0; d < o.rank; ++d) {
        std::vector<int64_t> next;
        for (int64_t a : out)
            for (int64_t b : o.dims[d].pattern) next.push_back(a * b);
        out = std::move(next);
    }
    return out;
}

std::string verdict(const Overlap& o) {
    std::vector<std::string> per_dim;
    int64_t band = 0;
    for (int d = 0; d < o.rank; ++d) {
        per_dim.push_back(pattern_text(o.dims[d].pattern));
        band = std::max({band, o.dims[d].band_begin, o.dims[d].band_end});
    }
    const std::vector<int64_t> period = period_products(o);
    const std::string dims = fmt::format("{}", fmt::join(per_dim, " x "));
    for (int d = 0; d < o.rank; ++d)
        if (o.dims[d].interior_begin >= o.dims[d].interior_end)
            return fmt::format("no interior: the input is shorter than the kernel's footprint "
                               "along {}, so every output is a border output ({} inside "
                               "a larger input: {})",
                               std::string_view("DHW").substr(size_t(3 - o.rank + d), 1), o.even ? "even" : "uneven", dims);
    if (o.even) {
        std::string s = fmt::format("even: {} pairs per output inside ({})", period[0], dims);
        if (band == 1) s += "; the outermost output at each border gets fewer";
        else if (band > 1) s += fmt::format("; the outermost {} outputs at each border get fewer", band);
        return s;
    }
    return fmt::format("uneven, {}: interior counts {} ({})",
                       o.holes ? "with holes (outputs no tap reaches)" : "checkerboard-prone",
                       joined(period, "/"), dims);
}

}  // namespace

std::string pattern_text(const std::vector<int64_t>& pattern) {
    constexpr size_t kShown = 16;
    if (pattern.size() <= kShown) return joined(pattern, ",", kShown);
    if (std::all_of(pattern.begin(), pattern.end(), [&](int64_t c) { return c == pattern[0]; }))
        return fmt::format("{} at all {} phases", pattern[0], pattern.size());
    return fmt::format("{} ({} phases)", joined(pattern, ",", kShown), pattern.size());
}

int64_t overlap_count(int64_t in, int64_t kernel, int64_t stride, int64_t dilation,
                      int64_t pad_begin, int64_t o) {
    int64_t n = 0;
    for (int64_t k = 0; k < kernel; ++k) {
        const int64_t t = o + pad_begin - k * dilation;  // = i * stride
        n += t >= 0 && t % stride == 0 && t / stride < in;
    }
    return n;
}

DimOverlap dim_overlap(int64_t in, int64_t kernel, int64_t stride, int64_t dilation,
                       int64_t pad_begin, int64_t out) {
    DimOverlap d;
    d.counts.resize(size_t(std::max<int64_t>(out, 0)));
    for (int64_t o = 0; o < out; ++o)
        d.counts[size_t(o)] = overlap_count(in, kernel, stride, dilation, pad_begin, o);
    // Every tap of output o lands on the input iff o + pb - (K-1)*D >= 0 and o + pb <= (I-1)*S.
    d.interior_begin = std::clamp<int64_t>((kernel - 1) * dilation - pad_begin, 0, out);
    d.interior_end = std::clamp<int64_t>((in - 1) * stride - pad_begin + 1, d.interior_begin, out);
    const int64_t start = d.interior_end > d.interior_begin ? d.interior_begin : 0;
    for (int64_t r = 0; r < stride; ++r)
        d.pattern.push_back(unbounded_count(kernel, stride, dilation, pad_begin, start + r));
    auto below = [&](int64_t o) {
        return d.counts[size_t(o)] < unbounded_count(kernel, stride, dilation, pad_begin, o);
    };
    while (d.band_begin < out && below(d.band_begin)) ++d.band_begin;
    while (d.band_end < out - d.band_begin && below(out - 1 - d.band_end)) ++d.band_end;
    d.even = even_pattern(kernel, stride, dilation);
    d.holes = *std::min_element(d.pattern.begin(), d.pattern.end()) == 0;
    // An even kernel size exists within one period of any size when dilation and stride are
    // coprime; otherwise some phase is never reached and none does.
    for (int64_t k = kernel - 1; k >= 1 && !d.even_kernel_below; --k)
        if (even_pattern(k, stride, dilation)) d.even_kernel_below = k;
    for (int64_t k = kernel + 1; k <= kernel + stride && !d.even_kernel_above; ++k)
        if (even_pattern(k, stride, dilation)) d.even_kernel_above = k;
    return d;
}

namespace {

// resize_conv and pixel_shuffle: a stride-1 convolution reads K taps for every output of its
// grid (fewer where its padding reaches past the input), spread by the shuffle's r.
Overlap conv_overlap(const Problem& p) {
    Overlap o;
    o.rank = p.rank;
    o.even = true;
    const int64_t r = p.kind == LayerKind::pixel_shuffle ? p.upscale_factor : 1;
    for (int i = 0; i < p.rank; ++i) {
        const int64_t in = p.kind == LayerKind::resize_conv ? p.input[i] * p.scale[i] : p.input[i];
        // A stride-1 convolution is a stride-1 transposed one with flipped taps.
        DimOverlap d = dim_overlap(in, p.kernel[i], 1, p.dilation[i],
                                   p.dilation[i] * (p.kernel[i] - 1) - p.pad_begin[i],
                                   p.output[i] / r);
        std::vector<int64_t> spread;
        for (int64_t x = 0; x < p.output[i]; ++x) spread.push_back(d.counts[size_t(x / r)]);
        d.counts = std::move(spread);
        d.interior_begin *= r, d.interior_end *= r, d.band_begin *= r, d.band_end *= r;
        d.pattern.assign(size_t(r), d.pattern[0]);
        o.dims[i] = std::move(d);
    }
    o.verdict = fmt::format("even by construction: {} ends in a stride-1 convolution, {} taps "
                            "per output inside",
                            to_string(p.kind), p.kernel_spatial());
    o.resize_conv.why_not = o.pixel_shuffle.why_not = "the layer is already an alternative";
    return o;
}

}  // namespace

Overlap analyse_overlap(const Problem& p) {
    if (p.kind != LayerKind::transposed) return conv_overlap(p);
    Overlap o;
    o.rank = p.rank;
    o.even = true;
    bool same_stride = true;
    for (int i = 0; i < p.rank; ++i) {
        o.dims[i] = dim_overlap(p.input[i], p.kernel[i], p.stride[i], p.dilation[i],
                                p.pad_begin[i], p.output[i]);
        o.even = o.even && o.dims[i].even;
        o.holes = o.holes || o.dims[i].holes;
        same_stride = same_stride && p.stride[i] == p.stride[0];
    }
    o.verdict = verdict(o);

    // resize + 3-wide stride-1 conv, its pads chosen so the output size matches; a layer whose
    // output is smaller than the up-sampled input by more than 2 gets a wider kernel, no pads.
    ResizeConvAlternative& rc = o.resize_conv;
    const double pairs = 2.0 * double(p.batch) * double(p.ic_per_group()) * double(p.out_channels);
    rc.flops = pairs;
    bool upsamples = false;
    for (int i = 0; i < p.rank; ++i) upsamples = upsamples || p.stride[i] > 1;
    if (!upsamples) rc.why_not = "stride 1 does not up-sample";
    rc.applicable = upsamples;
    for (int i = 0; i < p.rank; ++i) {
        rc.scale[i] = p.stride[i];
        const int64_t total = p.output[i] - p.input[i] * p.stride[i] + 2;
        rc.kernel[i] = total >= 0 ? 3 : 3 - total;
        rc.pad_begin[i] = std::max<int64_t>(total, 0) / 2;
        rc.pad_end[i] = std::max<int64_t>(total, 0) - rc.pad_begin[i];
        rc.flops *= double(rc.kernel[i]) * double(p.output[i]);
    }

    // 3x3 conv to out*r^2 channels at the input's size, then depth-to-space by r.
    PixelShuffleAlternative& ps = o.pixel_shuffle;
    if (p.rank != 2) ps.why_not = "pixel shuffle is 2D";
    else if (!same_stride) ps.why_not = "the strides differ between dims";
    else if (p.stride[0] < 2) ps.why_not = "stride 1 does not up-sample";
    ps.applicable = ps.why_not.empty();
    if (ps.applicable) {
        const int64_t r = p.stride[0];
        ps.upscale_factor = r;
        ps.conv_out_channels = p.out_channels * r * r;
        ps.same_size = true;
        ps.flops = pairs * double(r * r);
        for (int i = 0; i < 2; ++i) {
            ps.output[i] = p.input[i] * r;
            ps.same_size = ps.same_size && ps.output[i] == p.output[i];
            ps.flops *= double(ps.kernel[i]) * double(p.input[i]);
        }
    }
    return o;
}

}  // namespace tconv
