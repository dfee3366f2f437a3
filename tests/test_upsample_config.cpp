// SPDX-License-Identifier: Apache-2.0
// The resize_conv and pixel_shuffle kinds in configs and in code: sizes, weight shapes, FLOPs,
// and one-line errors naming the key and the rule; the CLI runs and checks them.
#include <doctest/doctest.h>

#include "helpers.hpp"
#include "tconv/reference.hpp"
#include "tconv/tconv.h"

using namespace tconv;

namespace {

std::string error_of(const std::string& json) {
    try {
        parse_config(json, "up.json");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::invalid_config);
        return e.what();
    }
    return "<accepted>";
}

// A 2D layer 8 -> 4 channels at 6x5 with a 3x3 kernel, plus `extra` keys.
std::string layer(const std::string& extra) {
    return R"({"in_channels": 8, "out_channels": 4, "input_size": [6, 5], "kernel_size": 3)" +
           (extra.empty() ? "" : ", " + extra) + "}";
}

}  // namespace

TEST_CASE("upsample config: sizes, weight shapes and FLOPs of each kind") {
    Problem t = test::problem_from_json(layer(R"("stride": 2, "padding": 1)"));
    CHECK(t.kind == LayerKind::transposed);  // the default
    Problem r = test::problem_from_json(
        layer(R"("kind": "resize_conv", "scale": 2, "mode": "bilinear", "padding": 1)"));
    CHECK(r.kind == LayerKind::resize_conv);
    CHECK(r.mode == ResizeMode::linear);
    CHECK(r.output == Dims{12, 10, 1});
    CHECK(weight_shape(r) == std::vector<int64_t>{4, 8, 3, 3});  // Conv2d [out, in, kh, kw]
    CHECK(r.flops() == doctest::Approx(2.0 * 8 * 4 * 9 * 12 * 10));
    Problem s = test::problem_from_json(
        layer(R"("kind": "pixel_shuffle", "upscale_factor": 3, "groups": 2)"));
    CHECK(s.output == Dims{12, 9, 1});  // 3 * (6-2), 3 * (5-2)
    CHECK(weight_shape(s) == std::vector<int64_t>{36, 4, 3, 3});
    CHECK(bias_shape(s) == std::vector<int64_t>{36});
    CHECK(s.flops() == doctest::Approx(2.0 * 4 * 36 * 9 * 4 * 3));  // conv output 4x3
    Problem one = test::problem_from_json(R"({"in_channels": 2, "out_channels": 2,
        "input_size": [7], "kernel_size": 3, "kind": "resize_conv", "scale": 3,
        "mode": "linear"})");
    CHECK(one.output[0] == 19);
}

TEST_CASE("upsample config: errors name the file, the key and the rule") {
    CHECK(error_of(layer(R"("kind": "resize", "scale": 2)")) ==
          "up.json: kind=\"resize\" must be one of: transposed, resize_conv, "
          "pixel_shuffle (did you mean \"resize_conv\"?)");
    CHECK(error_of(layer(R"("kind": "resize_conv")")) ==
          "up.json: missing required key \"scale\"");
    CHECK(error_of(layer(R"("kind": "resize_conv", "scale": 2, "stride": 2)")) ==
          "up.json: stride=2 is only allowed with kind \"transposed\" (kind is \"resize_conv\")");
    CHECK(error_of(layer(R"("kind": "pixel_shuffle", "upscale_factor": 2, "dtype": "bf16")")) ==
          "up.json: dtype=\"bf16\" is only allowed with kind \"transposed\" (kind is "
          "\"pixel_shuffle\")");
    CHECK(error_of(layer(R"("scale": 2)")) ==
          "up.json: scale=2 is only allowed with kind \"resize_conv\" (kind is \"transposed\")");
    CHECK(error_of(layer(R"("kind": "resize_conv", "scale": 2, "mode": "linear")")) ==
          "up.json: mode=\"linear\" must be one of: nearest, bilinear (did you mean "
          "\"bilinear\"?)");
    CHECK(error_of(layer(R"("kind": "resize_conv", "scale": [2, 0])")) ==
          "up.json: scale[1]=0 must be >= 1");
    CHECK(error_of(layer(R"("kind": "resize_conv", "scale": 2, "padding": 3)")) ==
          "up.json: padding=3 must be <= dilation*(kernel_size-1) = 2 with kind "
          "\"resize_conv\"");
    CHECK(error_of(layer(R"("kind": "pixel_shuffle")")) ==
          "up.json: missing required key \"upscale_factor\"");
    CHECK(error_of(layer(R"("kind": "pixel_shuffle", "upscale_factor": 0)")) ==
          "up.json: upscale_factor=0 must be from 1 to 1024");
    CHECK(error_of(layer(R"("kind": "pixel_shuffle", "upscale_factor": 2, "dilation": 2)")) ==
          "up.json: dilation=2 must be 1 with kind \"pixel_shuffle\"");
    CHECK(error_of(R"({"in_channels": 2, "out_channels": 2, "input_size": [7],
        "kernel_size": 3, "kind": "pixel_shuffle", "upscale_factor": 2})") ==
          "up.json: input_size=(1 entries) must have 2 entries [H, W] with kind "
          "\"pixel_shuffle\" (2D, as torch.nn.PixelShuffle)");
    CHECK(error_of(layer(R"("kind": "pixel_shuffle", "upscale_factor": 2, "mode": "nearest")")) ==
          "up.json: mode=\"nearest\" is only allowed with kind \"resize_conv\" (kind is "
          "\"pixel_shuffle\")");
    // A Problem built in code obeys the same rules.
    Problem p = test::problem_from_json(layer(R"("kind": "resize_conv", "scale": 2)"));
    p.stride[0] = 2;
    CHECK_THROWS_WITH_AS(validate_problem(p), doctest::Contains("stride[0]=2 must be 1"), Error);
}

TEST_CASE("upsample config: the CLI verifies, compiles and lints every kind; bad keys exit 2") {
    test::TempDir dir;
    const std::string cfg = dir.write("up.json", R"({"layers": [)" +
        layer(R"("name": "nearest", "kind": "resize_conv", "scale": 2, "padding": 1)") + ", " +
        layer(R"("name": "bilinear", "kind": "resize_conv", "scale": 2, "mode": "bilinear",
                 "layout": "channels_last", "batch": 2)") + ", " +
        layer(R"("name": "shuffle", "kind": "pixel_shuffle", "upscale_factor": 2,
                 "padding": 1, "activation": "relu")") + "]}");
    auto v = test::run_cli({"verify", cfg});  // every implementation this CPU has
    CHECK_MESSAGE(v.exit_code == 0, v.out << v.err);
    CHECK(v.out.find("pixel_shuffle via") != std::string::npos);
    CHECK(v.out.find("resize_conv via") != std::string::npos);
    auto c = test::run_cli({"compile", cfg});
    CHECK_MESSAGE(c.exit_code == 0, c.err);
    CHECK(c.out.find("lowered to one transposed convolution") != std::string::npos);
    auto l = test::run_cli({"lint", cfg, "--strict"});
    CHECK_MESSAGE(l.exit_code == 0, l.err);
    CHECK(l.out.find("even by construction") != std::string::npos);
    auto bad = test::run_cli({"verify", dir.write("bad.json", layer(R"("kind": "pixel_shuffle",
        "upscale_factor": 2, "output_padding": 1)"))});
    CHECK(bad.exit_code == 2);
    CHECK(bad.err.find("output_padding=1 is only allowed with kind \"transposed\"") !=
          std::string::npos);
}

TEST_CASE("upsample config: the C API compiles and runs a pixel shuffle layer") {
    const std::string json = layer(R"("kind": "pixel_shuffle", "upscale_factor": 2,
        "padding": 1, "layout": "channels_last", "batch": 2, "activation": "tanh")");
    const Problem p = test::problem_from_json(json);
    const test::LayerData d = test::random_layer_data(p, 5);
    tconv_layer* layer = nullptr;
    REQUIRE(tconv_layer_create(json.c_str(), d.w.data(), d.b.data(), &layer) == TCONV_OK);
    int64_t w = 0, b = 0, in = 0, out = 0;
    CHECK(tconv_layer_param_elems(layer, &w, &b) == TCONV_OK);
    CHECK(w == 16 * 8 * 9);
    CHECK(b == 16);
    CHECK(tconv_layer_shape(layer, &in, &out) == TCONV_OK);
    CHECK(out == 2 * 4 * 12 * 10);
    std::vector<float> y(static_cast<size_t>(out));
    CHECK(tconv_layer_execute(layer, d.x.data(), y.data()) == TCONV_OK);
    tconv_layer_destroy(layer);
    CHECK(test::compare_to_reference(p, d, y.data()) == "");
}
