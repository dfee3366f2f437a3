// SPDX-License-Identifier: Apache-2.0
// bf16: the conversions' rounding, the "dtype" key, the Layer API on bf16 layers (both entry
// points, byte sizes, the error on an f32 layer) at every ISA cap the CPU has.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "helpers.hpp"

namespace tconv::test {
namespace {

float from_bits(uint32_t b) {
    float f;
    std::memcpy(&f, &b, sizeof f);
    return f;
}

std::vector<Isa> caps() {
    std::vector<Isa> out{Isa::scalar};
    const Isa best = cpu_info().best_isa();
    if (best >= Isa::avx2) out.push_back(Isa::avx2);
    if (best >= Isa::avx512) out.push_back(Isa::avx512);
    if (best >= Isa::avx512_bf16) out.push_back(Isa::avx512_bf16);
    if (best >= Isa::amx) out.push_back(Isa::amx);
    return out;
}

}  // namespace

TEST_CASE("bf16: conversions round to nearest even") {
    CHECK(float_to_bf16(1.0f) == 0x3f80);
    CHECK(bf16_to_float(0x3f80) == 1.0f);
    // Ties: 1 + 2^-8 is halfway between 1 and 1 + 2^-7: to the even 1; 1 + 3*2^-8 up to 1 + 2^-6.
    CHECK(float_to_bf16(from_bits(0x3f808000)) == 0x3f80);
    CHECK(float_to_bf16(from_bits(0x3f818000)) == 0x3f82);
    // Just above and below a tie.
    CHECK(float_to_bf16(from_bits(0x3f808001)) == 0x3f81);
    CHECK(float_to_bf16(from_bits(0x3f807fff)) == 0x3f80);
    CHECK(float_to_bf16(-1.0f) == 0xbf80);
    CHECK(float_to_bf16(from_bits(0xbf808000)) == 0xbf80);
    // Subnormals keep their bits (no flush to zero) and round the same way.
    CHECK(float_to_bf16(from_bits(0x00010000)) == 0x0001);
    CHECK(float_to_bf16(from_bits(0x00018000)) == 0x0002);
    CHECK(float_to_bf16(from_bits(0x00008000)) == 0x0000);
    CHECK(float_to_bf16(from_bits(0x00008001)) == 0x0001);
    CHECK(bf16_to_float(0x0001) == from_bits(0x00010000));
    CHECK(float_to_bf16(-0.0f) == 0x8000);
    // Infinities stay; the largest floats round up to infinity (IEEE round to nearest).
    const float inf = std::numeric_limits<float>::infinity();
    CHECK(float_to_bf16(inf) == 0x7f80);
    CHECK(float_to_bf16(-inf) == 0xff80);
    CHECK(float_to_bf16(std::numeric_limits<float>::max()) == 0x7f80);
    CHECK(float_to_bf16(from_bits(0x7f7f0000)) == 0x7f7f);
    CHECK(std::isinf(bf16_to_float(0x7f80)));
    // NaN stays NaN, even one whose payload lies only in the low bits.
    for (uint32_t nan : {0x7fc00000u, 0x7f800001u, 0xff800001u, 0x7fffffffu}) {
        const uint16_t h = float_to_bf16(from_bits(nan));
        CHECK(std::isnan(bf16_to_float(h)));
        CHECK((h & 0x8000) == ((nan >> 16) & 0x8000));
    }
    // Every bf16 value round-trips.
    for (uint32_t h = 0; h < 0x10000; ++h) {
        const float f = bf16_to_float(uint16_t(h));
        if (!std::isnan(f)) REQUIRE(float_to_bf16(f) == h);
    }
}

TEST_CASE("bf16: the dtype key") {
    CHECK(problem_from_json(R"({"in_channels": 2, "out_channels": 2, "input_size": [3],
                               "kernel_size": [2]})").dtype == DType::f32);
    CHECK(problem_from_json(R"({"in_channels": 2, "out_channels": 2, "input_size": [3],
                               "kernel_size": [2], "dtype": "bf16"})").dtype == DType::bf16);
    CHECK_THROWS_WITH_AS(problem_from_json(R"({"in_channels": 2, "out_channels": 2,
                              "input_size": [3], "kernel_size": [2], "dtype": "f16"})"),
                         doctest::Contains("dtype=\"f16\" must be one of: f32, bf16"), Error);
}

TEST_CASE("bf16: layers at every ISA cap against the bf16 reference") {
    const char* configs[] = {
        // channel family, channels_first, with an activation
        R"({"in_channels": 32, "out_channels": 48, "input_size": [6, 7], "kernel_size": [4, 4],
            "stride": [2, 2], "padding": [1, 1], "activation": "relu", "dtype": "bf16"})",
        // channels_last, groups, 1D
        R"({"in_channels": 16, "out_channels": 24, "groups": 4, "input_size": [19],
            "kernel_size": [5], "stride": [3], "layout": "channels_last", "dtype": "bf16"})",
        // depthwise, both layouts
        R"({"in_channels": 24, "out_channels": 24, "groups": 24, "input_size": [9, 9],
            "kernel_size": [4, 4], "stride": [2, 2], "layout": "channels_last", "dtype": "bf16"})",
        R"({"in_channels": 8, "out_channels": 8, "groups": 8, "input_size": [9, 9],
            "kernel_size": [3, 3], "stride": [2, 2], "dtype": "bf16", "bias": false})",
        // few channels (spatial family), 3D with dilation
        R"({"in_channels": 2, "out_channels": 3, "input_size": [3, 4, 5], "kernel_size": [3, 3, 3],
            "stride": [2, 1, 2], "dilation": [1, 2, 1], "activation": "tanh", "dtype": "bf16"})",
    };
    uint64_t seed = 77;
    for (const char* json : configs) {
        const Problem p = problem_from_json(json);
        const LayerData d = random_layer_data(p, seed++);
        const float* b = p.bias ? d.b.data() : nullptr;
        for (Isa cap : caps()) {
            Options opt;
            opt.max_isa = cap;
            const Layer layer = Layer::compile(p, d.w.data(), b, opt);
            INFO(p.name, " at cap ", to_string(cap), ": ", layer.implementation());
            CHECK(layer.input_bytes() == uint64_t(p.input_elems()) * 2);
            CHECK(layer.output_bytes() == uint64_t(p.output_elems()) * 2);
            CHECK(layer.weight_bytes() == uint64_t(p.weight_elems()) * 4);
            // bf16 bit patterns in and out.
            std::vector<uint16_t> xb(d.x.size()), yb(size_t(p.output_elems()), 0x7fc0);
            float_to_bf16(d.x.data(), xb.data(), int64_t(xb.size()));
            layer.execute_bf16(xb.data(), yb.data(), 2);
            std::vector<float> y(yb.size());
            bf16_to_float(yb.data(), y.data(), int64_t(y.size()));
            CHECK_MESSAGE(compare_bf16_to_reference(p, d, y.data()).empty(),
                          compare_bf16_to_reference(p, d, y.data()));
            // floats in and out: the same bf16 values.
            std::vector<float> yf(y.size(), std::nanf(""));
            layer.execute(d.x.data(), yf.data(), 1);
            CHECK(std::memcmp(yf.data(), y.data(), y.size() * sizeof(float)) == 0);
        }
    }
}

TEST_CASE("bf16: execute_bf16 on an f32 layer is an error") {
    const Problem p = problem_from_json(
        R"({"name": "up", "in_channels": 2, "out_channels": 2, "input_size": [3], "kernel_size": [2]})");
    const LayerData d = random_layer_data(p, 5);
    const Layer layer = Layer::compile(p, d.w.data(), d.b.data());
    CHECK(layer.input_bytes() == uint64_t(p.input_elems()) * 4);
    std::vector<uint16_t> x(size_t(p.input_elems())), y(size_t(p.output_elems()));
    try {
        layer.execute_bf16(x.data(), y.data());
        FAIL("no error");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::invalid_argument);
        CHECK(std::string(e.what()).find("up: execute_bf16 needs a layer with \"dtype\": \"bf16\"") == 0);
    }
}

TEST_CASE("bf16: a reshaped bf16 layer stays bf16") {
    Problem p = problem_from_json(R"({"in_channels": 16, "out_channels": 16, "input_size": [4, 4],
                                      "kernel_size": [2, 2], "stride": [2, 2], "dtype": "bf16"})");
    const LayerData d = random_layer_data(p, 9);
    Layer layer = Layer::compile(p, d.w.data(), d.b.data());
    const int64_t size[] = {6, 5};
    layer.reshape(1, Span<const int64_t>(size, 2));
    CHECK(layer.problem().dtype == DType::bf16);
    const Problem q = layer.problem();
    const LayerData dq{random_vector(size_t(q.input_elems()), 3), d.w, d.b};
    std::vector<float> y(size_t(q.output_elems()));
    layer.execute(dq.x.data(), y.data());
    CHECK_MESSAGE(compare_bf16_to_reference(q, dq, y.data()).empty(),
                  compare_bf16_to_reference(q, dq, y.data()));
}

}  // namespace tconv::test
