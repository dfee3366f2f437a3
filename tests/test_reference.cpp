// SPDX-License-Identifier: Apache-2.0
// The reference pinned by hand-computed numbers, and by identities between features (layout
// permutation, groups as independent layers, lower rank as a size-1 higher rank).
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "helpers.hpp"

using namespace tconv;

static Problem make2d(int64_t ic, int64_t oc, int64_t ih, int64_t iw, int64_t k, int64_t s,
                      int64_t pad, bool bias = false) {
    Problem p;
    p.name = "t";
    p.in_channels = ic;
    p.out_channels = oc;
    p.rank = 2;
    p.input = {ih, iw, 1};
    p.kernel = {k, k, 1};
    p.stride = {s, s, 1};
    p.pad_begin = p.pad_end = {pad, pad, 0};
    p.bias = bias;
    for (int d = 0; d < 2; ++d)
        p.output[d] = output_extent(p.input[d], k, s, 1, pad, pad, 0);
    return p;
}

static std::vector<float> run(const Problem& p, const std::vector<float>& x,
                              const std::vector<float>& w, const std::vector<float>& b = {}) {
    std::vector<float> y(static_cast<size_t>(p.output_elems()), -999.f);
    reference_conv_transpose(p, x.data(), w.data(), b.empty() ? nullptr : b.data(), y.data());
    return y;
}

TEST_CASE("reference: 2x2 input, 2x2 kernel, stride 1, padding 0 sums the overlaps") {
    Problem p = make2d(1, 1, 2, 2, 2, 1, 0);
    CHECK(p.output[0] == 3);
    CHECK(p.output[1] == 3);
    auto y = run(p, {1, 2, 3, 4}, {5, 6, 7, 8});
    CHECK(y == std::vector<float>{5, 16, 12, 22, 60, 40, 21, 52, 32});
}

TEST_CASE("reference: 2x2 input, 3x3 kernel, stride 2, padding 1") {
    Problem p = make2d(1, 1, 2, 2, 3, 2, 1);
    CHECK(p.output[0] == 3);
    auto y = run(p, {1, 2, 3, 4}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
    CHECK(y == std::vector<float>{5, 14, 10, 14, 36, 24, 15, 34, 20});
}

TEST_CASE("reference: 256->128, kernel 4, stride 2, padding 1 maps 14x14 to 28x28") {
    Problem p = make2d(256, 128, 14, 14, 4, 2, 1);
    CHECK(output_shape(p) == std::vector<int64_t>{1, 128, 28, 28});
    CHECK(weight_shape(p) == std::vector<int64_t>{256, 128, 4, 4});
    CHECK(p.flops() == doctest::Approx(2.0 * 256 * 128 * 16 * 196));
}

TEST_CASE("reference: bias, then activation, per output channel") {
    Problem p = make2d(1, 2, 1, 1, 1, 1, 0, true);
    // y[c] = act(x * w[c] + b[c]) with x = 2, w = {1, -3}, b = {0.5, 1}: pre-activation {2.5, -5}.
    const std::vector<float> x{2}, w{1, -3}, b{0.5f, 1};
    CHECK(run(p, x, w, b) == std::vector<float>{2.5f, -5});
    p.activation = Activation::relu;
    CHECK(run(p, x, w, b) == std::vector<float>{2.5f, 0});
    p.activation = Activation::leaky_relu;
    p.negative_slope = 0.25f;
    CHECK(run(p, x, w, b) == std::vector<float>{2.5f, -1.25f});
    p.activation = Activation::sigmoid;
    auto y = run(p, x, w, b);
    CHECK(y[0] == doctest::Approx(1 / (1 + std::exp(-2.5))));
    CHECK(y[1] == doctest::Approx(1 / (1 + std::exp(5.0))));
    p.activation = Activation::tanh;
    y = run(p, x, w, b);
    CHECK(y[0] == doctest::Approx(std::tanh(2.5)));
    CHECK(y[1] == doctest::Approx(std::tanh(-5.0)));
}

TEST_CASE("reference: dilation and asymmetric pads in 1D, by hand") {
    Problem p;
    p.rank = 1;
    p.in_channels = p.out_channels = 1;
    p.bias = false;
    p.input = {3, 1, 1};
    p.kernel = {2, 1, 1};
    p.stride = {2, 1, 1};
    p.dilation = {3, 1, 1};
    p.pad_begin = {1, 0, 0};
    p.pad_end = {0, 0, 0};
    p.output_padding = {1, 0, 0};
    p.output[0] = output_extent(3, 2, 2, 3, 1, 0, 1);  // (3-1)*2 - 1 + 3 + 1 + 1 = 8
    REQUIRE(p.output[0] == 8);
    // Full (unpadded) positions i*2 + k*3 for x = {1, 2, 3}, w = {10, 100}:
    // pos 0:10, 2:20, 3:100, 4:30, 5:200, 7:300; crop 1 at the start, output 8 long.
    auto y = run(p, {1, 2, 3}, {10, 100});
    CHECK(y == std::vector<float>{0, 20, 100, 30, 200, 0, 300, 0});
}

TEST_CASE("reference: channels_last is the permutation of channels_first") {
    Problem p = make2d(3, 5, 4, 3, 3, 2, 1, true);
    p.activation = Activation::tanh;
    auto d = test::random_layer_data(p, 7);
    auto y_cf = run(p, d.x, d.w, d.b);
    Problem q = p;
    q.layout = Layout::channels_last;
    const int64_t IC = 3, OC = 5, ISP = 12, OSP = p.output_spatial();
    std::vector<float> x_cl(d.x.size());
    for (int64_t c = 0; c < IC; ++c)
        for (int64_t s = 0; s < ISP; ++s) x_cl[size_t(s * IC + c)] = d.x[size_t(c * ISP + s)];
    auto y_cl = run(q, x_cl, d.w, d.b);
    for (int64_t c = 0; c < OC; ++c)
        for (int64_t s = 0; s < OSP; ++s)
            REQUIRE(y_cl[size_t(s * OC + c)] == y_cf[size_t(c * OSP + s)]);
}

TEST_CASE("reference: groups are independent layers on channel slices") {
    Problem p = make2d(4, 6, 3, 3, 3, 2, 0, true);
    p.groups = 2;
    auto d = test::random_layer_data(p, 11);
    auto y = run(p, d.x, d.w, d.b);
    Problem g = make2d(2, 3, 3, 3, 3, 2, 0, true);  // one group
    const size_t in_half = d.x.size() / 2, w_half = d.w.size() / 2, out_half = y.size() / 2;
    for (size_t grp = 0; grp < 2; ++grp) {
        std::vector<float> x(d.x.begin() + grp * in_half, d.x.begin() + (grp + 1) * in_half);
        std::vector<float> w(d.w.begin() + grp * w_half, d.w.begin() + (grp + 1) * w_half);
        std::vector<float> b(d.b.begin() + grp * 3, d.b.begin() + (grp + 1) * 3);
        auto yg = run(g, x, w, b);
        for (size_t i = 0; i < out_half; ++i) REQUIRE(yg[i] == y[grp * out_half + i]);
    }
}

TEST_CASE("reference: a 1D layer equals the 2D layer with height 1 and a 3D with depth 1") {
    Problem p1;
    p1.rank = 1;
    p1.in_channels = 3;
    p1.out_channels = 2;
    p1.input = {7, 1, 1};
    p1.kernel = {4, 1, 1};
    p1.stride = {3, 1, 1};
    p1.pad_begin = {2, 0, 0};
    p1.pad_end = {1, 0, 0};
    p1.output[0] = output_extent(7, 4, 3, 1, 2, 1, 0);
    auto d = test::random_layer_data(p1, 3);
    auto y1 = run(p1, d.x, d.w, d.b);

    Problem p2 = p1;
    p2.rank = 2;
    p2.input = {1, 7, 1};
    p2.kernel = {1, 4, 1};
    p2.stride = {1, 3, 1};
    p2.pad_begin = {0, 2, 0};
    p2.pad_end = {0, 1, 0};
    p2.output = {1, p1.output[0], 1};
    CHECK(run(p2, d.x, d.w, d.b) == y1);

    Problem p3 = p1;
    p3.rank = 3;
    p3.input = {1, 1, 7};
    p3.kernel = {1, 1, 4};
    p3.stride = {1, 1, 3};
    p3.pad_begin = {0, 0, 2};
    p3.pad_end = {0, 0, 1};
    p3.output = {1, 1, p1.output[0]};
    CHECK(run(p3, d.x, d.w, d.b) == y1);
}

TEST_CASE("reference: results do not depend on the thread count") {
    Problem p = make2d(5, 7, 6, 5, 3, 2, 1, true);
    p.batch = 3;
    auto d = test::random_layer_data(p, 5);
    std::vector<float> y1(static_cast<size_t>(p.output_elems())), y2(y1.size());
    reference_conv_transpose(p, d.x.data(), d.w.data(), d.b.data(), y1.data(), 1);
    reference_conv_transpose(p, d.x.data(), d.w.data(), d.b.data(), y2.data(), 2);
    CHECK(y1 == y2);
}

TEST_CASE("deviation_from_reference: zero for the reference itself, large for a wrong value") {
    Problem p = make2d(2, 3, 3, 3, 3, 2, 1, true);
    auto d = test::random_layer_data(p, 9);
    auto y = run(p, d.x, d.w, d.b);
    Deviation dev = deviation_from_reference(p, d.x.data(), d.w.data(), d.b.data(), y.data());
    CHECK(dev.max_abs == 0);
    CHECK(dev.max_rel == 0);
    y[4] += 0.01f;
    dev = deviation_from_reference(p, d.x.data(), d.w.data(), d.b.data(), y.data());
    CHECK(dev.worst == 4);
    CHECK(dev.max_rel > 1e-4);
    y[4] = NAN;
    dev = deviation_from_reference(p, d.x.data(), d.w.data(), d.b.data(), y.data());
    CHECK(dev.max_rel > 1);
}
