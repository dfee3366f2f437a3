// SPDX-License-Identifier: Apache-2.0
// The one problem descriptor: a validated transposed-convolution layer.
// Plain data with derived sizes; it knows nothing of JSON or files (runtime/ builds it from a
// config) and nothing of instruction encodings (generator/ plans from it).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tconv {

enum class Activation { none, relu, leaky_relu, sigmoid, tanh };
enum class Layout { channels_first, channels_last };
// Storage type of the input and output tensors. bf16: bit patterns in uint16_t, weights rounded
// to bf16 once at compile, bias and every accumulation in fp32 (README "bf16").
enum class DType { f32, bf16 };
// Ordered by capability: a cap of avx2 allows avx2 and scalar.
// avx512_bf16: AVX-512 with vdpbf16ps; amx: with AMX tiles (AMX-BF16) too. The bf16 layers'
// pair kernels use them (each CPU with AMX-BF16 has AVX512_BF16).
enum class Isa { scalar = 0, avx2 = 1, avx512 = 2, avx512_bf16 = 3, amx = 4 };

// What the layer computes. resize_conv and pixel_shuffle are the two usual alternatives to a
// transposed convolution for up-sampling; the runtime lowers both onto one (upsample_lowering).
enum class LayerKind { transposed, resize_conv, pixel_shuffle };
// resize_conv's up-sampling: nearest, or (bi|tri)linear with PyTorch's align_corners=False.
enum class ResizeMode { nearest, linear };

std::string_view to_string(LayerKind k);
std::string_view to_string(ResizeMode m);
std::string_view to_string(Activation a);
std::string_view to_string(Layout l);
std::string_view to_string(DType d);
std::string_view to_string(Isa i);

inline constexpr int kMaxRank = 3;
using Dims = std::array<int64_t, kMaxRank>;

// Spatial arrays hold `rank` entries in the user's order (D, H, W for 3D; H, W for 2D; W for 1D);
// entries past `rank` are unused (kept at neutral values: sizes 1, strides 1, pads 0).
struct Problem {
    std::string name;
    int64_t batch = 1;
    int64_t in_channels = 0;
    int64_t out_channels = 0;
    int64_t groups = 1;
    int rank = 2;
    Dims input{1, 1, 1};
    Dims kernel{1, 1, 1};
    Dims stride{1, 1, 1};
    Dims dilation{1, 1, 1};
    Dims pad_begin{0, 0, 0};
    Dims pad_end{0, 0, 0};
    Dims output_padding{0, 0, 0};
    Dims output{1, 1, 1};  // derived: (I-1)*S - pb - pe + D*(K-1) + OP + 1
    bool bias = true;
    Activation activation = Activation::none;
    float negative_slope = 0.01f;  // leaky_relu only
    Layout layout = Layout::channels_first;
    DType dtype = DType::f32;
    // resize_conv: up-sample by `scale` (`mode`), then a stride-1 convolution with kernel,
    // dilation, pads, groups, bias, activation. pixel_shuffle: a stride-1 convolution to
    // out_channels * r^2 channels, then depth-to-space by r = upscale_factor. Both: weights in
    // PyTorch's Conv layout [conv out channels, in/groups, *kernel]; stride 1, no output_padding.
    LayerKind kind = LayerKind::transposed;
    ResizeMode mode = ResizeMode::nearest;
    Dims scale{1, 1, 1};
    int64_t upscale_factor = 1;

    int64_t ic_per_group() const { return in_channels / groups; }
    int64_t oc_per_group() const { return out_channels / groups; }
    int64_t input_spatial() const { return prod(input); }
    int64_t output_spatial() const { return prod(output); }
    int64_t kernel_spatial() const { return prod(kernel); }
    int64_t input_elems() const { return batch * in_channels * input_spatial(); }
    int64_t output_elems() const { return batch * out_channels * output_spatial(); }
    // The convolution's output channels: out_channels * r^2 for pixel_shuffle.
    int64_t conv_channels() const {
        return kind == LayerKind::pixel_shuffle ? out_channels * upscale_factor * upscale_factor
                                                : out_channels;
    }
    // PyTorch layout [in_channels, out_channels/groups, *kernel] (the other kinds: Conv's
    // [conv_channels, in_channels/groups, *kernel], the same count but for pixel_shuffle's r^2).
    int64_t weight_elems() const { return in_channels * (conv_channels() / groups) * kernel_spatial(); }
    int64_t bias_elems() const { return bias ? conv_channels() : 0; }
    // Bytes of one input or output element in storage (weights and bias are given as fp32).
    int64_t activation_bytes() const { return dtype == DType::bf16 ? 2 : 4; }
    // Multiply-adds counted as 2 flops, every (input, tap) pair once: no inserted zeros. The
    // other kinds as written: the stride-1 convolution over its output grid (resize_conv: the
    // layer's output; pixel_shuffle: the output / r^2).
    double flops() const {
        const double positions =
            kind == LayerKind::resize_conv     ? double(output_spatial())
            : kind == LayerKind::pixel_shuffle ? double(output_spatial() /
                                                        (upscale_factor * upscale_factor))
                                               : double(input_spatial());
        return 2.0 * double(batch) * double(ic_per_group()) * double(conv_channels()) *
               double(kernel_spatial()) * positions;
    }

    // Every field compared (defaulted out of line: the header stays C++17).
    bool operator==(const Problem& other) const;
    bool operator!=(const Problem& other) const { return !(*this == other); }

  private:
    int64_t prod(const Dims& d) const {
        int64_t p = 1;
        for (int i = 0; i < rank; ++i) p *= d[i];
        return p;
    }
};

// O = (I-1)*S - pb - pe + D*(K-1) + OP + 1 (may be <= 0 for an invalid layer: callers check).
inline int64_t output_extent(int64_t in, int64_t k, int64_t s, int64_t d, int64_t pb, int64_t pe,
                             int64_t op) {
    return (in - 1) * s - pb - pe + d * (k - 1) + op + 1;
}

// Tensor shapes as the user sees them: activations in the layer's layout (N,C,spatial... or
// N,spatial...,C), weights [IC, OC/G, *K], bias [OC] (resize_conv, pixel_shuffle: [CC, IC/G,
// *K] and [CC], CC = conv_channels()).
std::vector<int64_t> input_shape(const Problem& p);
std::vector<int64_t> output_shape(const Problem& p);
std::vector<int64_t> weight_shape(const Problem& p);
std::vector<int64_t> bias_shape(const Problem& p);
std::string shape_string(const std::vector<int64_t>& shape);  // "[1, 256, 14, 14]"

}  // namespace tconv
