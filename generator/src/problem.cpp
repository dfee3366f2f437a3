// SPDX-License-Identifier: Apache-2.0
#include "tconv/problem.hpp"

namespace tconv {

std::string_view to_string(LayerKind k) {
    switch (k) {
        case LayerKind::transposed: return "transposed";
        case LayerKind::resize_conv: return "resize_conv";
        case LayerKind::pixel_shuffle: return "pixel_shuffle";
    }
    return "?";
}

std::string_view to_string(ResizeMode m) { return m == ResizeMode::nearest ? "nearest" : "linear"; }

std::string_view to_string(Activation a) {
    switch (a) {
        case Activation::none: return "none";
        case Activation::relu: return "relu";
        case Activation::leaky_relu: return "leaky_relu";
        case Activation::sigmoid: return "sigmoid";
        case Activation::tanh: return "tanh";
    }
    return "?";
}

std::string_view to_string(Layout l) {
    return l == Layout::channels_first ? "channels_first" : "channels_last";
}

std::string_view to_string(DType d) { return d == DType::bf16 ? "bf16" : "f32"; }

std::string_view to_string(Isa i) {
    switch (i) {
        case Isa::scalar: return "scalar";
        case Isa::avx2: return "avx2";
        case Isa::avx512: return "avx512";
        case Isa::avx512_bf16: return "avx512_bf16";
        case Isa::amx: return "avx512_amx";
    }
    return "?";
}

static std::vector<int64_t> activation_shape(const Problem& p, int64_t channels, const Dims& sp) {
    std::vector<int64_t> s{p.batch};
    if (p.layout == Layout::channels_first) s.push_back(channels);
    for (int i = 0; i < p.rank; ++i) s.push_back(sp[i]);
    if (p.layout == Layout::channels_last) s.push_back(channels);
    return s;
}

bool Problem::operator==(const Problem&) const = default;

std::vector<int64_t> input_shape(const Problem& p) {
    return activation_shape(p, p.in_channels, p.input);
}

std::vector<int64_t> output_shape(const Problem& p) {
    return activation_shape(p, p.out_channels, p.output);
}

std::vector<int64_t> weight_shape(const Problem& p) {
    std::vector<int64_t> s{p.in_channels, p.oc_per_group()};
    if (p.kind != LayerKind::transposed) s = {p.conv_channels(), p.ic_per_group()};
    for (int i = 0; i < p.rank; ++i) s.push_back(p.kernel[i]);
    return s;
}

std::vector<int64_t> bias_shape(const Problem& p) { return {p.conv_channels()}; }

std::string shape_string(const std::vector<int64_t>& shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) {
        if (i) s += ", ";
        s += std::to_string(shape[i]);
    }
    return s + "]";
}

}  // namespace tconv
