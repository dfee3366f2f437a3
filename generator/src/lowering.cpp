// SPDX-License-Identifier: Apache-2.0
#include "tconv/gen/lowering.hpp"

#include <vector>

namespace tconv::gen {

bool is_single_pixel_product(const Problem& p) {
    if (p.groups != 1) return false;
    // Leading dims with a 1-wide kernel (stride 1, no padding: output == input), then dims of
    // one input pixel whose output is the kernel (no padding or dilation).
    bool folding = false, pixels = false;
    for (int d = 0; d < p.rank; ++d) {
        const bool no_pad = !p.pad_begin[d] && !p.pad_end[d] && !p.output_padding[d];
        const bool fold = p.input[d] == 1 && no_pad && p.dilation[d] == 1 &&
                          p.output[d] == p.kernel[d];
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
    return !pixels || p.layout == Layout::channels_last || p.kernel_spatial() > 1;
}

Problem as_pointwise(const Problem& p) {
    Problem q;
    q.name = p.name;
    q.batch = 1;
    q.in_channels = p.in_channels;
    q.out_channels = p.out_channels * p.kernel_spatial();
    q.rank = 1;
    q.input = q.output = {p.batch * p.input_spatial(), 1, 1};
    q.bias = p.bias;
    q.activation = p.activation;
    q.negative_slope = p.negative_slope;
    q.layout = Layout::channels_last;
    return q;
}

PixelTranspose pixel_transpose(const Problem& p) {
    PixelTranspose t;
    if (p.layout != Layout::channels_first || !is_single_pixel_product(p)) return t;
    // The leading dims' pixels: the kernel is 1 wide there, so input and output agree.
    int64_t pixels = 1;
    for (int d = 0; d < p.rank; ++d)
        if (p.kernel[d] == 1 && p.input[d] == p.output[d]) pixels *= p.input[d];
    if (pixels * p.kernel_spatial() != p.output_spatial() || pixels == 1) return t;
    t.images = p.batch;
    t.pixels = pixels;
    t.in_channels = p.in_channels;
    t.out_channels = p.out_channels;
    t.kernel = p.kernel_spatial();
    return t;
}

void pointwise_tensors(const Problem& p, const float* w, const float* b, std::vector<float>& qw,
                       std::vector<float>& qb) {
    const int64_t OC = p.out_channels, K = p.kernel_spatial();
    const bool cl = p.layout == Layout::channels_last;
    if (cl) {
        qw.resize(size_t(p.in_channels * OC * K));
        for (int64_t ic = 0; ic < p.in_channels; ++ic)
            for (int64_t oc = 0; oc < OC; ++oc)
                for (int64_t k = 0; k < K; ++k)
                    qw[size_t((ic * K + k) * OC + oc)] = w[(ic * OC + oc) * K + k];
    }
    if (p.bias && b) {
        qb.resize(size_t(OC * K));
        for (int64_t oc = 0; oc < OC; ++oc)
            for (int64_t k = 0; k < K; ++k) qb[size_t(cl ? k * OC + oc : oc * K + k)] = b[oc];
    }
}

}  // namespace tconv::gen
