// SPDX-License-Identifier: Apache-2.0
#include "upsample_rules.hpp"

#include <fmt/format.h>

namespace tconv::rules {

namespace {

std::string kind_name(const Problem& p) { return fmt::format("\"{}\"", to_string(p.kind)); }

}  // namespace

void check_upsample_fields(const Problem& p, const Spelling& s) {
    const bool resize = p.kind == LayerKind::resize_conv, shuffle = p.kind == LayerKind::pixel_shuffle;
    for (int i = 0; i < p.rank; ++i) {
        if (!resize && p.scale[size_t(i)] != 1)
            s.fail_value("scale", i, std::to_string(p.scale[size_t(i)]),
                         "is only allowed with kind \"resize_conv\" (kind is " + kind_name(p) + ")");
        if (resize) s.check_range("scale", i, p.scale[size_t(i)], 1);
    }
    if (!shuffle && p.upscale_factor != 1)
        s.fail_value("upscale_factor", -1, std::to_string(p.upscale_factor),
                     "is only allowed with kind \"pixel_shuffle\" (kind is " + kind_name(p) + ")");
    if (p.kind == LayerKind::transposed) {
        if (p.mode != ResizeMode::nearest)
            s.fail_value("mode", -1, "\"linear\"", "is only allowed with kind \"resize_conv\"");
        return;
    }
    // Their lowering merges the conv's taps into one transposed kernel; in bf16 the merged taps
    // would round differently from the layer as written, so bf16 stays with transposed layers.
    if (p.dtype == DType::bf16)
        s.fail_value("dtype", -1, "\"bf16\"", "is only allowed with kind \"transposed\" (kind is " +
                                                  kind_name(p) + ")");
    if (shuffle) {
        constexpr int64_t kMaxFactor = 1024;
        if (p.upscale_factor < 1 || p.upscale_factor > kMaxFactor)
            s.fail_value("upscale_factor", -1, std::to_string(p.upscale_factor),
                         fmt::format("must be from 1 to {}", kMaxFactor));
        if (p.rank != 2)
            s.fail_value("input_size", -1, fmt::format("({} entries)", p.rank),
                         "must have 2 entries [H, W] with kind \"pixel_shuffle\" (2D, as "
                         "torch.nn.PixelShuffle)");
        if (p.out_channels * p.upscale_factor * p.upscale_factor > kMaxInt)
            s.fail_value("upscale_factor", -1, std::to_string(p.upscale_factor),
                         fmt::format("gives out_channels * r^2 above {}", kMaxInt));
    }
    for (int i = 0; i < p.rank; ++i) {
        const size_t d = size_t(i);
        if (p.stride[d] != 1)
            s.fail_value("stride", i, std::to_string(p.stride[d]),
                         "must be 1 with kind " + kind_name(p) + " (its convolution has stride 1)");
        if (p.output_padding[d] != 0)
            s.fail_value("output_padding", i, std::to_string(p.output_padding[d]),
                         "is only allowed with kind \"transposed\"");
        if (shuffle && p.dilation[d] != 1)
            s.fail_value("dilation", i, std::to_string(p.dilation[d]),
                         "must be 1 with kind \"pixel_shuffle\"");
        const int64_t reach = p.dilation[d] * (p.kernel[d] - 1);
        for (int end = 0; end < 2; ++end) {
            const int64_t v = (end ? p.pad_end : p.pad_begin)[d];
            if (v > reach)
                s.fail_value(s.symmetric_pads ? "padding" : "pads",
                             s.symmetric_pads ? i : end * p.rank + i, std::to_string(v),
                             fmt::format("must be <= dilation*(kernel_size-1) = {} with kind {}",
                                         reach, kind_name(p)));
        }
    }
}

Dims derive_upsample_output(const Problem& p, const Spelling& s) {
    Dims out{1, 1, 1};
    const bool shuffle = p.kind == LayerKind::pixel_shuffle;
    for (int i = 0; i < p.rank; ++i) {
        const size_t d = size_t(i);
        const int64_t up = shuffle ? p.input[d] : p.input[d] * p.scale[d];
        const int64_t conv = up + p.pad_begin[d] + p.pad_end[d] - p.dilation[d] * (p.kernel[d] - 1);
        const int64_t o = shuffle ? conv * p.upscale_factor : conv;
        if (conv < 1 || o > kMaxInt)
            s.fail(fmt::format("output size along dim {} = {} + {} + {} - {}*({}-1){} = {}, must be "
                               "{}",
                               i, shuffle ? fmt::format("{}", p.input[d])
                                          : fmt::format("{}*{}", p.input[d], p.scale[d]),
                               p.pad_begin[d], p.pad_end[d], p.dilation[d], p.kernel[d],
                               shuffle ? fmt::format(", times r={}", p.upscale_factor) : "", o,
                               conv < 1 ? "at least 1" : fmt::format("at most {}", kMaxInt)));
        out[d] = o;
    }
    return out;
}

}  // namespace tconv::rules
