// SPDX-License-Identifier: Apache-2.0
// Layer::reshape: a compiled layer at new batches and input sizes, its packed weights kept, its
// results those of the reference; bad shapes refused with the layer left as it was.
#include <doctest/doctest.h>

#include <array>
#include <optional>
#include <set>
#include <vector>

#include "helpers.hpp"

using namespace tconv;

namespace {

// Runs `layer` (already at shape `p`) on random data and compares with the reference.
void check_against_reference(const Layer& layer, const Problem& p, const test::LayerData& base,
                             uint64_t seed) {
    test::LayerData d = base;
    d.x = test::random_vector(size_t(p.input_elems()), seed);
    std::vector<float> y(size_t(p.output_elems()), -7.0f);
    layer.execute(d.x.data(), y.data());
    CHECK_MESSAGE(test::compare_to_reference(p, d, y.data()) == "", p.name);
}

// Compiles `json`, then reshapes it through `sizes` (batch, spatial dims), checking each.
void sweep(const std::string& json, const std::vector<std::vector<int64_t>>& sizes,
           std::optional<Isa> isa = {}) {
    const Problem p0 = test::problem_from_json(json);
    const test::LayerData d = test::random_layer_data(p0, 11);
    Options o;
    o.max_isa = isa;
    Layer layer = Layer::compile(p0, d.w.data(), p0.bias ? d.b.data() : nullptr, o);
    const std::string impl = layer.implementation();
    INFO(impl);
    uint64_t seed = 100;
    for (const std::vector<int64_t>& s : sizes) {
        const std::vector<int64_t> in(s.begin() + 1, s.end());
        layer.reshape(s[0], in);
        Problem q = p0;
        q.batch = s[0];
        for (size_t i = 0; i < in.size(); ++i) {
            q.input[i] = in[i];
            q.output[i] = output_extent(in[i], q.kernel[i], q.stride[i], q.dilation[i],
                                        q.pad_begin[i], q.pad_end[i], q.output_padding[i]);
        }
        CHECK(layer.problem().input == q.input);
        CHECK(layer.problem().output == q.output);
        CHECK(layer.output_elems() == q.output_elems());
        CHECK(layer.implementation() == impl);
        CHECK(layer.report().weight_packs == 1);  // the weights were never packed again
        check_against_reference(layer, q, d, seed++);
    }
    CHECK(layer.report().reshapes == sizes.size());
}

}  // namespace

TEST_CASE("reshape: every family at many sizes matches the reference, weights packed once") {
    // cvec 1D (HiFi-GAN-like, small), cvec 2D with tiny maps, svec, dwcf, grouped, dilated 3D.
    sweep(R"({"in_channels": 40, "out_channels": 24, "input_size": [37], "kernel_size": 16,
              "stride": 8, "padding": 4})",
          {{1, 37}, {1, 38}, {2, 5}, {1, 1}, {3, 100}, {1, 2}, {1, 37}});
    sweep(R"({"in_channels": 20, "out_channels": 36, "input_size": [6, 7], "kernel_size": 4,
              "stride": 2, "padding": 1, "activation": "relu"})",
          {{1, 6, 7}, {2, 1, 1}, {1, 13, 3}, {1, 2, 40}, {4, 5, 5}});
    sweep(R"({"in_channels": 12, "out_channels": 3, "input_size": [9, 11], "kernel_size": 5,
              "stride": 2, "padding": 2, "activation": "tanh"})",
          {{1, 9, 11}, {1, 1, 60}, {2, 17, 4}, {1, 3, 3}});
    sweep(R"({"in_channels": 16, "out_channels": 16, "groups": 16, "input_size": [8, 9],
              "kernel_size": 4, "stride": 2, "padding": 1})",
          {{1, 8, 9}, {1, 30, 2}, {3, 4, 61}, {1, 1, 1}});
    sweep(R"({"in_channels": 32, "out_channels": 64, "groups": 4, "input_size": [10],
              "kernel_size": 3, "stride": 3, "layout": "channels_last"})",
          {{1, 10}, {2, 129}, {1, 1}});
    sweep(R"({"in_channels": 8, "out_channels": 16, "input_size": [3, 4, 5], "kernel_size": 3,
              "stride": 2, "dilation": 2, "padding": 1})",
          {{1, 3, 4, 5}, {1, 5, 2, 9}, {2, 1, 1, 3}});
    // The column family (channels-first, 512 -> 1): tails and tile widths change with the size.
    sweep(R"({"in_channels": 96, "out_channels": 2, "input_size": [5, 9], "kernel_size": 4,
              "stride": 2, "padding": 1, "activation": "sigmoid"})",
          {{1, 5, 9}, {2, 1, 1}, {1, 16, 16}, {3, 3, 40}, {1, 5, 9}});
    // Sixteen W phases in the spatial kernel (DiffWave's upsampler: once an illegal opmask).
    sweep(R"({"in_channels": 1, "out_channels": 1, "input_size": [5, 20], "kernel_size": [3, 32],
              "stride": [1, 16], "padding": [1, 8], "activation": "leaky_relu",
              "negative_slope": 0.4})",
          {{1, 5, 20}, {1, 2, 70}});
    // Channels-first pointwise in every dim: planned as one row of the image's pixels.
    sweep(R"({"in_channels": 24, "out_channels": 20, "input_size": [5, 7], "kernel_size": 1,
              "activation": "relu"})",
          {{1, 5, 7}, {2, 13, 9}, {1, 1, 1}, {3, 4, 1}, {1, 1, 40}, {1, 5, 7}});
    if (cpu_info().avx2 && cpu_info().fma)
        sweep(R"({"in_channels": 40, "out_channels": 24, "input_size": [37], "kernel_size": 16,
                  "stride": 8, "padding": 4})",
              {{1, 37}, {1, 1000}, {1, 1001}}, Isa::avx2);
    sweep(R"({"in_channels": 5, "out_channels": 6, "input_size": [4], "kernel_size": 3})",
          {{1, 9}, {2, 2}}, Isa::scalar);
}

TEST_CASE("reshape: 2000 lengths of one 1D layer reuse a few kernels") {
    if (cpu_info().best_isa() == Isa::scalar) return;
    const Problem p0 = test::problem_from_json(
        R"({"in_channels": 64, "out_channels": 32, "input_size": [100], "kernel_size": 16,
            "stride": 8, "padding": 4})");
    const test::LayerData d = test::random_layer_data(p0, 3);
    Layer layer = Layer::compile(p0, d.w.data(), d.b.data());
    std::set<std::string> names;
    for (int64_t len = 100; len < 2100; ++len) {
        const std::array<int64_t, 1> in{len};
        layer.reshape(1, in);
        for (const std::string& n : layer.report().kernel_names) names.insert(n);
    }
    MESSAGE("2000 lengths: " << names.size() << " distinct kernels");
    CHECK(names.size() <= 32);
    CHECK(layer.report().weight_packs == 1);
}

TEST_CASE("reshape: bad shapes are clear errors and leave the layer as it was") {
    const Problem p0 = test::problem_from_json(
        R"({"name": "up", "in_channels": 8, "out_channels": 8, "input_size": [5, 6],
            "kernel_size": 3, "stride": 1, "padding": 2})");
    const test::LayerData d = test::random_layer_data(p0, 5);
    Layer layer = Layer::compile(p0, d.w.data(), d.b.data());
    const std::vector<std::string> kernels = layer.report().kernel_names;
    struct Bad {
        int64_t batch;
        std::vector<int64_t> in;
        ErrorKind kind;
        const char* text;
    };
    const Bad bad[] = {
        {1, {5}, ErrorKind::invalid_argument, "the input size has 1 dims, the layer has rank 2"},
        {1, {5, 6, 7}, ErrorKind::invalid_argument, "has 3 dims"},
        {0, {5, 6}, ErrorKind::invalid_argument, "batch=0 must be >= 1"},
        {1, {-1, 6}, ErrorKind::invalid_argument, "input_size[0]=-1 must be >= 1"},
        {1, {5, 0}, ErrorKind::invalid_argument, "input_size[1]=0 must be >= 1"},
        // k3 p2 (2 each side): O = I - 2, so I = 2 gives no output.
        {1, {2, 6}, ErrorKind::invalid_argument, "gives an output size of 0"},
        {int64_t(1) << 40, {5, 6}, ErrorKind::invalid_argument, "must be <= 2147483647"},
        {int64_t(1) << 30, {5, 6}, ErrorKind::out_of_memory, "reshape:"},
    };
    for (const Bad& b : bad) {
        INFO(std::string(b.text));
        try {
            layer.reshape(b.batch, b.in);
            FAIL("accepted");
        } catch (const Error& e) {
            CHECK_MESSAGE(e.kind() == b.kind, std::string(e.what()));
            CHECK(std::string(e.what()).find(b.text) != std::string::npos);
            CHECK(std::string(e.what()).find('\n') == std::string::npos);
        }
        CHECK(layer.problem().input == p0.input);
        CHECK(layer.problem().batch == 1);
        CHECK(layer.report().kernel_names == kernels);
        CHECK(layer.report().reshapes == 0);
    }
    check_against_reference(layer, p0, d, 9);
}

TEST_CASE("reshape: a matrix-product layer keeps its batch shapes, refuses larger inputs") {
    if (cpu_info().best_isa() == Isa::scalar) return;
    // Single input pixels, no padding: planned as a pointwise product over the batch.
    const Problem p0 = test::problem_from_json(
        R"({"in_channels": 16, "out_channels": 8, "input_size": [1, 1], "kernel_size": 4})");
    const test::LayerData d = test::random_layer_data(p0, 8);
    Layer layer = Layer::compile(p0, d.w.data(), d.b.data());
    const std::array<int64_t, 2> one{1, 1}, two{2, 2};
    layer.reshape(3, one);
    Problem q = p0;
    q.batch = 3;
    check_against_reference(layer, q, d, 4);
    try {
        layer.reshape(1, two);
        // Served without the lowering: then the packing agreed, and the result must too.
        Problem r = p0;
        r.input = {2, 2, 1};
        r.output = {5, 5, 1};
        check_against_reference(layer, r, d, 5);
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::unsupported);
        CHECK(std::string(e.what()).find("matrix product") != std::string::npos);
        CHECK(layer.problem().batch == 3);  // unchanged
    }
}
