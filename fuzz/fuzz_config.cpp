// SPDX-License-Identifier: Apache-2.0
// Layer configs from arbitrary bytes: parse_config must either return a validated config or throw
// tconv::Error; any other exception, crash, leak or undefined behaviour is a bug.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "tconv/config.hpp"

namespace {

// Each kind's output size, stated here independently of the parser's rules: a transposed layer's
// ONNX formula; resize_conv convolves (stride 1) the input up-sampled by scale; pixel_shuffle
// convolves the input and multiplies the result by the upscale factor.
int64_t expected_output(const tconv::Problem& p, int i) {
    const int64_t reach = p.dilation[i] * (p.kernel[i] - 1);
    switch (p.kind) {
        case tconv::LayerKind::resize_conv:
            return p.input[i] * p.scale[i] + p.pad_begin[i] + p.pad_end[i] - reach;
        case tconv::LayerKind::pixel_shuffle:
            return (p.input[i] + p.pad_begin[i] + p.pad_end[i] - reach) * p.upscale_factor;
        case tconv::LayerKind::transposed: break;
    }
    return tconv::output_extent(p.input[i], p.kernel[i], p.stride[i], p.dilation[i],
                                p.pad_begin[i], p.pad_end[i], p.output_padding[i]);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    // A small limit, so that accepted layers also stay cheap to check below.
    tconv::ConfigLimits limits;
    limits.max_tensor_bytes = uint64_t(1) << 30;
    try {
        const tconv::Config c = tconv::parse_config(text, "<fuzz>", limits);
        // What the parser promises about an accepted layer.
        if (c.layers.empty()) std::abort();
        for (const tconv::Problem& p : c.layers) {
            if (p.rank < 1 || p.rank > tconv::kMaxRank || p.groups < 1 ||
                p.in_channels % p.groups != 0 || p.out_channels % p.groups != 0)
                std::abort();
            for (int i = 0; i < p.rank; ++i)
                if (p.output[i] < 1 || p.output[i] != expected_output(p, i) ||
                    p.output_padding[i] >= std::max(p.stride[i], p.dilation[i]))
                    std::abort();
            const uint64_t limit_elems = limits.max_tensor_bytes / sizeof(float);
            if (uint64_t(p.input_elems()) > limit_elems ||
                uint64_t(p.output_elems()) > limit_elems ||
                uint64_t(p.weight_elems()) > limit_elems)
                std::abort();
            (void)tconv::shape_string(tconv::input_shape(p));
            // A Problem built in code meets the same rules: an accepted layer passes them.
            try {
                tconv::validate_problem(p, limits);
            } catch (const tconv::Error&) {
                std::abort();
            }
        }
    } catch (const tconv::Error&) {
        // The expected outcome for most inputs.
    }
    return 0;
}
