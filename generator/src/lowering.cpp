// SPDX-License-Identifier: Apache-2.0
#include "tconv/gen/lowering.hpp"

#include <cstdint>
#include <vector>

namespace tconv::gen {

namespace {

// A dim of one input pixel whose outputs each read one tap: output o reads tap o + pad_begin
// (dilation 1, or a 1-wide kernel), inside the kernel when output_padding <= pad_end. Without
// padding the outputs are the whole kernel (DCGAN's first layer); with it, a window of it
// (pix2pix's innermost 512 -> 512 k4 s2 p1 from 1x1: taps 1-2 of 4).
bool one_tap_per_output(const Problem& p, int d) {
    return p.input[d] == 1 && (p.dilation[d] == 1 || p.kernel[d] == 1) &&
           p.output_padding[d] <= p.pad_end[d];
}

// The window's taps, row-major over the dims, as indices into the kernel (leading 1-wide dims
// read tap 0).
std::vector<int64_t> window_taps(const Problem& p) {
    std::vector<int64_t> taps{0};
    for (int d = 0; d < p.rank; ++d) {
        const bool folds = p.kernel[d] > 1 || p.input[d] == 1;
        const int64_t count = folds ? p.output[d] : 1, first = folds ? p.pad_begin[d] : 0;
        std::vector<int64_t> next;
        for (int64_t t : taps)
            for (int64_t o = 0; o < count; ++o) next.push_back(t * p.kernel[d] + first + o);
        taps = std::move(next);
    }
    return taps;
}

int64_t window_points(const Problem& p) { return int64_t(window_taps(p).size()); }

}  // namespace

bool is_single_pixel_product(const Problem& p) {
    if (p.groups != 1) return false;
    // Leading dims with a 1-wide kernel (stride 1, no padding: output == input), then dims of
    // one input pixel whose outputs read one tap each.
    bool folding = false, pixels = false;
    for (int d = 0; d < p.rank; ++d) {
        const bool no_pad = !p.pad_begin[d] && !p.pad_end[d] && !p.output_padding[d];
        const bool fold = one_tap_per_output(p, d);
        const bool pixel = p.kernel[d] == 1 && p.stride[d] == 1 && no_pad;
        if (!folding && pixel && !fold) {
            pixels |= p.input[d] > 1;
            continue;
        }
        if (!fold) return false;
        folding = true;
    }
    // Channels-first, pixels need the transposes of pixel_transpose(): a pointwise layer (no
    // kernel dim) gains nothing from them, its own plan reads and writes that layout.
    return !pixels || p.layout == Layout::channels_last || window_points(p) > 1;
}

bool is_flat_pointwise(const Problem& p) {
    if (p.layout != Layout::channels_first || p.kind != LayerKind::transposed || p.rank < 2 ||
        p.input_spatial() > INT32_MAX)  // a valid extent, as every dim of a config
        return false;
    for (int d = 0; d < p.rank; ++d)
        if (p.kernel[d] != 1 || p.stride[d] != 1 || p.pad_begin[d] || p.pad_end[d] ||
            p.output_padding[d])
            return false;
    return true;
}

Problem as_flat_pointwise(const Problem& p) {
    Problem q = p;
    q.rank = 1;
    q.input = q.output = {p.input_spatial(), 1, 1};
    q.kernel = q.stride = q.dilation = {1, 1, 1};
    q.pad_begin = q.pad_end = q.output_padding = {0, 0, 0};
    return q;
}

Problem as_pointwise(const Problem& p) {
    Problem q;
    q.name = p.name;
    q.batch = 1;
    q.in_channels = p.in_channels;
    q.out_channels = p.out_channels * window_points(p);
    q.rank = 1;
    q.input = q.output = {p.batch * p.input_spatial(), 1, 1};
    q.bias = p.bias;
    q.activation = p.activation;
    q.negative_slope = p.negative_slope;
    q.layout = Layout::channels_last;
    // The product reads and writes the user's tensors unless transposes run around it.
    q.dtype = pixel_transpose(p).pixels == 0 ? p.dtype : DType::f32;
    return q;
}

PixelTranspose pixel_transpose(const Problem& p) {
    PixelTranspose t;
    if (p.layout != Layout::channels_first || !is_single_pixel_product(p)) return t;
    // The leading dims' pixels: the kernel is 1 wide there, so input and output agree.
    int64_t pixels = 1;
    for (int d = 0; d < p.rank; ++d)
        if (p.kernel[d] == 1 && p.input[d] == p.output[d]) pixels *= p.input[d];
    const int64_t window = window_points(p);
    if (pixels * window != p.output_spatial() || pixels == 1) return t;
    t.images = p.batch;
    t.pixels = pixels;
    t.in_channels = p.in_channels;
    t.out_channels = p.out_channels;
    t.kernel = window;
    return t;
}

void pointwise_tensors(const Problem& p, const float* w, const float* b, std::vector<float>& qw,
                       std::vector<float>& qb) {
    const int64_t OC = p.out_channels, K = p.kernel_spatial();
    const std::vector<int64_t> taps = window_taps(p);
    const int64_t J = int64_t(taps.size());
    const bool cl = p.layout == Layout::channels_last;
    if (cl || J != K) {  // channels (j, oc) or (oc, j) of the window's taps
        qw.resize(size_t(p.in_channels * OC * J));
        for (int64_t ic = 0; ic < p.in_channels; ++ic)
            for (int64_t oc = 0; oc < OC; ++oc)
                for (int64_t j = 0; j < J; ++j)
                    qw[size_t(cl ? (ic * J + j) * OC + oc : (ic * OC + oc) * J + j)] =
                        w[(ic * OC + oc) * K + taps[size_t(j)]];
    }
    if (p.bias && b) {
        qb.resize(size_t(OC * J));
        for (int64_t oc = 0; oc < OC; ++oc)
            for (int64_t j = 0; j < J; ++j) qb[size_t(cl ? j * OC + oc : oc * J + j)] = b[oc];
    }
}

}  // namespace tconv::gen
