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
    // Channels-first keeps a pixel's channels apart: only a single pixel is a product there.
    return !pixels || p.layout == Layout::channels_last;
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
