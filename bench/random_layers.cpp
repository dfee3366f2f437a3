// SPDX-License-Identifier: Apache-2.0
// Draws layers the way real networks are shaped (channel counts from common widths, small odd
// or stride-multiple kernels, up-sampling strides) with the corners users still hit (dilation
// with stride, asymmetric pads, output_padding, tiny and huge maps), then sizes the input so
// the layer's flops land in the spec's range, log-uniformly.
#include "random_layers.hpp"

#include <algorithm>
#include <cmath>
#include <random>
#include <string>

#include "tconv/config.hpp"

namespace tconv::bench {

namespace {

class Draw {
  public:
    explicit Draw(uint64_t seed) : rng_(seed) {}
    int64_t range(int64_t lo, int64_t hi) {  // inclusive
        return std::uniform_int_distribution<int64_t>(lo, hi)(rng_);
    }
    double uniform() { return std::uniform_real_distribution<double>(0, 1)(rng_); }
    bool chance(double p) { return uniform() < p; }
    double log_uniform(double lo, double hi) {
        return std::exp(std::uniform_real_distribution<double>(std::log(lo), std::log(hi))(rng_));
    }
    template <class T, size_t N>
    T pick(const T (&v)[N]) {
        return v[size_t(range(0, int64_t(N) - 1))];
    }

  private:
    std::mt19937_64 rng_;
};

constexpr int64_t kWidths[] = {1, 2, 3, 4, 8, 16, 17, 21, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512};

// The kind of layer and its channels: (groups, in_channels, out_channels).
void channels(Draw& r, Problem& p) {
    const double kind = r.uniform();
    if (kind < 0.55) {  // dense
        p.groups = 1;
        p.in_channels = r.pick(kWidths);
        p.out_channels = r.pick(kWidths);
    } else if (kind < 0.75) {  // depthwise, multiplier 1 or 2
        constexpr int64_t kDw[] = {8, 16, 24, 32, 64, 96, 128, 256, 512};
        p.groups = r.pick(kDw);
        p.in_channels = p.groups;
        p.out_channels = p.groups * (r.chance(0.75) ? 1 : 2);
    } else {  // grouped: few channels per group, or wide groups
        constexpr int64_t kGroups[] = {2, 3, 4, 8, 16, 32};
        constexpr int64_t kPerGroup[] = {2, 3, 4, 8, 16, 32, 64, 128};
        p.groups = r.pick(kGroups);
        p.in_channels = p.groups * r.pick(kPerGroup);
        p.out_channels = p.groups * r.pick(kPerGroup);
    }
}

// Kernel, stride, dilation, pads and output_padding of one dimension; the input size is set
// later (from the flops), so pads are bounded by what the kernel reaches.
void geometry(Draw& r, Problem& p, int d, bool symmetric) {
    constexpr int64_t kKernels[] = {1, 2, 3, 3, 4, 4, 5, 7};
    constexpr int64_t kStrides[] = {1, 1, 2, 2, 2, 3, 4};
    int64_t k = r.pick(kKernels), s = r.pick(kStrides);
    if (p.rank == 1 && r.chance(0.3)) {  // vocoder-style up-samplers: k = 2s
        s = r.pick(kStrides) * 2;
        k = 2 * s;
    }
    const int64_t dil = r.chance(0.2) ? r.range(2, 3) : 1;
    p.kernel[size_t(d)] = k;
    p.stride[size_t(d)] = s;
    p.dilation[size_t(d)] = dil;
    const int64_t reach = dil * (k - 1);
    p.pad_begin[size_t(d)] = reach > 0 ? r.range(0, reach) : 0;
    p.pad_end[size_t(d)] = symmetric ? p.pad_begin[size_t(d)] : (reach > 0 ? r.range(0, reach) : 0);
    p.output_padding[size_t(d)] = r.chance(0.25) ? r.range(0, std::max(s, dil) - 1) : 0;
}

// The input extent per dimension for `target` flops (a random aspect ratio in 2D and 3D), at
// least what keeps every output extent positive.
bool size_input(Draw& r, Problem& p, double target) {
    const double per_pixel = 2.0 * double(p.batch) * double(p.ic_per_group()) *
                             double(p.out_channels) * double(p.kernel_spatial());
    const double pixels = target / per_pixel;
    if (pixels < 1) return false;
    const double side = std::pow(pixels, 1.0 / p.rank);
    for (int d = 0; d < p.rank; ++d) {
        const double skew = p.rank > 1 ? r.log_uniform(0.5, 2.0) : 1.0;
        p.input[size_t(d)] = std::clamp<int64_t>(std::llround(side * skew), 1, 1 << 16);
    }
    for (int d = 0; d < p.rank; ++d) {
        const size_t i = size_t(d);
        p.output[i] = output_extent(p.input[i], p.kernel[i], p.stride[i], p.dilation[i],
                                    p.pad_begin[i], p.pad_end[i], p.output_padding[i]);
        if (p.output[i] < 1) return false;
    }
    return true;
}

}  // namespace

std::vector<Problem> random_layers(int count, uint64_t seed, const RandomLayerSpec& spec) {
    Draw r(seed);
    std::vector<Problem> out;
    while (int(out.size()) < count) {
        Problem p;
        p.name = "random_" + std::to_string(seed) + "_" + std::to_string(out.size());
        const int64_t rank = r.range(1, 10);  // 20% 1D, 60% 2D, 20% 3D
        p.rank = rank <= 2 ? 1 : rank <= 8 ? 2 : 3;
        channels(r, p);
        p.batch = r.chance(0.7) ? 1 : r.range(2, 8);
        const bool symmetric = r.chance(0.7);
        for (int d = 0; d < p.rank; ++d) geometry(r, p, d, symmetric);
        p.bias = r.chance(0.7);
        constexpr Activation kActs[] = {Activation::none, Activation::none, Activation::relu,
                                        Activation::leaky_relu, Activation::sigmoid,
                                        Activation::tanh};
        p.activation = r.pick(kActs);
        p.layout = r.chance(0.5) ? Layout::channels_first : Layout::channels_last;
        if (!size_input(r, p, r.log_uniform(spec.min_flops, spec.max_flops))) continue;
        if (p.flops() < spec.min_flops || p.flops() > spec.max_flops) continue;
        try {
            validate_problem(p);
        } catch (const Error&) {
            continue;  // e.g. a tensor over the size limit: draw again
        }
        out.push_back(std::move(p));
    }
    return out;
}

}  // namespace tconv::bench
