// SPDX-License-Identifier: Apache-2.0
// NaN, infinities, signed zeros, subnormals and the values where exp overflows, through every
// fused activation of every kernel family and ISA, of the run time's bias-and-activation
// rows and of the reference: as PyTorch computes them (NaN in -> NaN out; relu(-inf) = 0,
// sigmoid(+-inf) = 1 / 0, tanh(+-inf) = +-1).
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "activation_rows.hpp"
#include "helpers.hpp"
#include "jit_impl.hpp"
#include "tconv/reference.hpp"

using namespace tconv;

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
// The special values, then a sweep over [-30, 30] (both sides of tanh's small-|a| branch at
// 0.25; sigmoid's tail).
const std::vector<float> kSpecial = [] {
    std::vector<float> v = {
        0.0f, -0.0f, 1e-40f, -1e-40f, kInf, -kInf, std::nanf(""), -std::nanf(""), 0.1f, -0.1f,
        0.2f, -0.2f, 3.0f, -3.0f, 20.0f, -20.0f, 88.5f, -88.5f, 89.0f, -89.0f, 100.0f, -100.0f,
        1e30f, -1e30f, std::numeric_limits<float>::max(), -std::numeric_limits<float>::max(),
        0.2499f, 0.25f, 0.2501f, -0.25f};
    for (int i = -3000; i <= 3000; i += 7) v.push_back(float(i) / 100.0f + 0.003f);
    return v;
}();

// PyTorch's float result for a pre-activation value.
float expected(Activation act, float slope, float v) {
    switch (act) {
        case Activation::none: return v;
        case Activation::relu: return std::isnan(v) ? v : v > 0 ? v : 0.0f;
        case Activation::leaky_relu: return v > 0 ? v : v * slope;
        case Activation::sigmoid: return 1.0f / (1.0f + std::exp(-v));
        case Activation::tanh: return std::tanh(v);
    }
    return v;
}

// "" when got is what PyTorch gives for v: NaN for NaN, equal infinities, else within a few
// ulps (or 1e-37 absolute: sigmoid's far tail).
std::string check(Activation act, float slope, const float* in, const float* got, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
        const float want = expected(act, slope, in[i]);
        const bool ok = std::isnan(want) ? std::isnan(got[i])
                        : std::isinf(want)
                            ? got[i] == want
                            : std::abs(double(got[i]) - double(want)) <=
                                  2e-6 * std::abs(double(want)) + 1e-37;
        if (!ok)
            return std::string(to_string(act)) + "(" + std::to_string(in[i]) + "): got " +
                   std::to_string(got[i]) + ", want " + std::to_string(want);
    }
    return "";
}

// A 1x1 layer whose pre-activation is the input: y[c][i] = x[i] for every output channel.
struct Identity {
    const char* family;
    int64_t groups, ic, oc;
    Layout layout;
};

}  // namespace

TEST_CASE("activations: NaN, infinities, zeros, subnormals and exp overflow, as PyTorch") {
    const Identity layers[] = {
        {"cvec", 1, 1, 20, Layout::channels_last},   // lanes = channels, a tail vector
        {"svec", 1, 1, 1, Layout::channels_first},   // lanes = positions along W
        {"dw", 20, 20, 20, Layout::channels_last},   // lanes = channels, no reduction
        {"dwcf", 3, 3, 3, Layout::channels_first},   // lanes along W of one channel's plane
    };
    for (const Identity& l : layers)
        for (Activation act : {Activation::relu, Activation::leaky_relu, Activation::sigmoid,
                               Activation::tanh})
            for (float slope : {0.01f, -0.5f, 2.0f}) {
                if (act != Activation::leaky_relu && slope != 0.01f) continue;
                Problem p;
                p.name = std::string(l.family) + " " + std::string(to_string(act));
                p.rank = 1;
                p.groups = l.groups;
                p.in_channels = l.ic;
                p.out_channels = l.oc;
                const int64_t n = int64_t(kSpecial.size());
                p.input = p.output = {n, 1, 1};
                p.bias = false;
                p.activation = act;
                p.negative_slope = slope;
                p.layout = l.layout;
                REQUIRE_NOTHROW(validate_problem(p));
                // Every channel's input is the special values (channels-last: pixel-major).
                std::vector<float> x(size_t(p.input_elems()));
                for (int64_t i = 0; i < n; ++i)
                    for (int64_t c = 0; c < l.ic; ++c)
                        x[size_t(l.layout == Layout::channels_last ? i * l.ic + c : c * n + i)] =
                            kSpecial[size_t(i)];
                std::vector<float> w(size_t(p.weight_elems()), 1.0f);
                // The pre-activation of output channel c at pixel i is x[i] for each layout.
                auto verify = [&](const std::vector<float>& y, const std::string& who) {
                    CAPTURE(who);
                    for (int64_t c = 0; c < l.oc; ++c) {
                        std::vector<float> col(static_cast<size_t>(n));
                        for (int64_t i = 0; i < n; ++i)
                            col[size_t(i)] =
                                y[size_t(l.layout == Layout::channels_last ? i * l.oc + c : c * n + i)];
                        CHECK(check(act, slope, kSpecial.data(), col.data(), n) == "");
                    }
                };
                std::vector<float> ref(size_t(p.output_elems()));
                reference_conv_transpose(p, x.data(), w.data(), nullptr, ref.data(), 1);
                verify(ref, p.name + " reference");
                for (Isa isa : {Isa::avx512, Isa::avx2}) {
                    if (cpu_info().best_isa() < isa) continue;
                    std::string why;
                    auto impl = make_jit_impl(isa, p, w.data(), nullptr, {}, why);
                    REQUIRE_MESSAGE(impl, why);
                    // The family under test serves the layer.
                    CHECK(impl->report().kernel_names[0].find(std::string("_") + l.family + "_") !=
                          std::string::npos);
                    std::vector<float> y(size_t(p.output_elems()));
                    impl->execute(x.data(), y.data(), 1);
                    verify(y, p.name + " " + std::string(to_string(isa)));
                }
            }
}

TEST_CASE("activations: the run time's bias-and-activation rows, as PyTorch") {
    // The pass behind the pixel shuffle's bias and the factored resize's output (AVX2 eight at
    // a time, the reference's formula for the rest): the special values and the sweep.
    for (Activation act : {Activation::relu, Activation::leaky_relu, Activation::sigmoid,
                           Activation::tanh}) {
        Problem p;
        p.activation = act;
        p.negative_slope = 0.01f;
        const int64_t n = int64_t(kSpecial.size());
        std::vector<float> y = kSpecial, b(kSpecial.size(), 0.0f);
        add_bias_activate(p, y.data(), b.data(), n);
        CHECK(check(act, 0.01f, kSpecial.data(), y.data(), n) == "");
    }
}
