// SPDX-License-Identifier: Apache-2.0
// The bench's comparators must compute the same layer as tconv: checked against the reference
// on small layers that exercise every conversion (weight layout, groups, pads, dilation,
// output_padding, layouts, activations, and for ONNX Runtime the model built in memory).
// Peers missing from this build are skipped.
#ifdef TCONV_HAVE_BENCH

#include <doctest/doctest.h>

#include <cctype>
#include <string>
#include <vector>

#include "bench_peak.hpp"
#include "bench_peer.hpp"
#include "helpers.hpp"

using namespace tconv::bench;

namespace {

const char* const kLayers[] = {
    R"({"name": "groups_2d", "in_channels": 4, "out_channels": 6, "groups": 2,
        "input_size": [5, 4], "kernel_size": [3, 2], "stride": [2, 1], "padding": [1, 0]})",
    R"({"name": "dilated_1d_nwc", "in_channels": 3, "out_channels": 5, "input_size": [7],
        "kernel_size": 3, "stride": 3, "dilation": 2, "output_padding": 1,
        "activation": "relu", "layout": "channels_last"})",
    R"({"name": "pads_nhwc", "batch": 2, "in_channels": 8, "out_channels": 3,
        "input_size": [4, 6], "kernel_size": 4, "stride": 2, "pads": [0, 1, 1, 0],
        "bias": false, "layout": "channels_last"})",
    R"({"name": "leaky_3d", "in_channels": 4, "out_channels": 4, "groups": 4,
        "input_size": [3, 3, 2], "kernel_size": 2, "stride": 2, "activation": "leaky_relu",
        "negative_slope": 0.2})",
    R"({"name": "tanh_2d", "in_channels": 5, "out_channels": 7, "input_size": [3, 3],
        "kernel_size": 3, "stride": 1, "padding": 1, "activation": "tanh"})",
    // channels_first with odd sizes, batch 2
    R"({"name": "odd_ncw", "batch": 2, "in_channels": 37, "out_channels": 5, "input_size": [11],
        "kernel_size": 3, "stride": 2, "padding": 1, "activation": "relu"})",
    R"({"name": "odd_nchw", "batch": 2, "in_channels": 6, "out_channels": 35,
        "input_size": [9, 7], "kernel_size": 2, "stride": 2})",
    R"({"name": "sigmoid_1d", "in_channels": 2, "out_channels": 2, "input_size": [9],
        "kernel_size": 5, "stride": 2, "padding": 2, "output_padding": 1,
        "activation": "sigmoid"})",
    // channels_first with dilation, asymmetric pads, output_padding and no bias; 3D with bias
    R"({"name": "dilated_pads_nchw", "in_channels": 6, "out_channels": 4, "groups": 2,
        "input_size": [5, 4], "kernel_size": [3, 2], "stride": [2, 3], "dilation": [2, 1],
        "pads": [1, 0, 0, 2], "output_padding": [1, 2], "bias": false, "activation": "relu"})",
    R"({"name": "sigmoid_3d", "in_channels": 3, "out_channels": 2, "input_size": [2, 3, 4],
        "kernel_size": [2, 3, 3], "stride": [1, 2, 2], "dilation": [2, 1, 1], "padding": [0, 1, 1],
        "output_padding": [0, 1, 0], "activation": "sigmoid"})",
    // the other up-samplers (oneDNN only): resampling + convolution, convolution + shuffle
    R"({"name": "nearest_conv_g2", "kind": "resize_conv", "scale": 2, "mode": "nearest",
        "in_channels": 4, "out_channels": 6, "groups": 2, "input_size": [5, 4],
        "kernel_size": 3, "padding": 1, "activation": "relu"})",
    R"({"name": "bilinear_conv_nhwc", "kind": "resize_conv", "scale": [2, 3],
        "mode": "bilinear", "in_channels": 3, "out_channels": 5, "input_size": [4, 6],
        "kernel_size": 3, "padding": 1, "layout": "channels_last"})",
    R"({"name": "linear_conv_1d", "kind": "resize_conv", "scale": 3, "mode": "linear",
        "in_channels": 2, "out_channels": 3, "input_size": [7], "kernel_size": 3,
        "dilation": 2, "bias": false})",
    R"({"name": "shuffle_nchw", "kind": "pixel_shuffle", "upscale_factor": 2,
        "in_channels": 4, "out_channels": 3, "input_size": [5, 6], "kernel_size": 3,
        "padding": 1})",
    R"({"name": "shuffle_nhwc", "kind": "pixel_shuffle", "upscale_factor": 3,
        "in_channels": 5, "out_channels": 2, "input_size": [4, 3], "kernel_size": 1,
        "activation": "tanh", "layout": "channels_last"})",
};

bool peer_built(const std::string& name) {
#ifdef TCONV_HAVE_ONEDNN
    if (name == "oneDNN") return true;
#endif
#ifdef TCONV_HAVE_XNNPACK
    if (name == "XNNPACK") return true;
#endif
#ifdef TCONV_HAVE_ONNXRUNTIME
    if (name == "ONNX Runtime") return true;
#endif
    return false;
}

// Layers XNNPACK cannot serve by design: 3D, and activations other than a clamp; and layers it
// is not raced on: channels_first (it computes in NHWC only).
bool xnnpack_serves(const tconv::Problem& p) {
    return p.layout == tconv::Layout::channels_last && p.rank < 3 &&
           (p.activation == tconv::Activation::none || p.activation == tconv::Activation::relu);
}

// Which layers each peer serves: ONNX Runtime is NCHW only; only oneDNN builds the other
// up-samplers.
bool peer_serves(const std::string& peer, const tconv::Problem& p) {
    if (p.kind != tconv::LayerKind::transposed) return peer == "oneDNN";
    if (peer == "XNNPACK") return xnnpack_serves(p);
    if (peer == "ONNX Runtime") return p.layout == tconv::Layout::channels_first;
    return true;
}

}  // namespace

TEST_CASE("bench peers compute the same layer as the reference") {
    REQUIRE(all_peers().size() == 3);
    for (const Peer& peer : all_peers()) {
        const bool built = peer_built(peer.name);
        for (const char* json : kLayers) {
            const tconv::Problem p =
                tconv::test::problem_from_json(std::string("{\"layers\": [") + json + "]}");
            INFO("peer ", peer.name, ", layer ", p.name);
            const tconv::test::LayerData d = tconv::test::random_layer_data(p, 42);
            PeerSetup setup = peer.create({p, d.w.data(), p.bias ? d.b.data() : nullptr, 2});
            if (!built) {
                CHECK(setup.variants.empty());
                CHECK(setup.unavailable == "not in this build");
                continue;
            }
            CHECK_MESSAGE(setup.variants.empty() != peer_serves(peer.name, p), setup.unavailable);
            if (std::string(peer.name) == "XNNPACK" && p.layout == tconv::Layout::channels_first)
                CHECK(setup.unavailable == (p.kind == tconv::LayerKind::transposed
                                                ? kXnnpackNhwcOnly
                                                : kTransposedOnly));
            for (PeerVariant& v : setup.variants) {
                INFO("variant ", v.variant, " (", v.impl, ")");
                CHECK(!v.impl.empty());
                CHECK(v.create_ms >= 0);
                std::vector<float> y(size_t(p.output_elems()), -12345.f);
                v.runner->set_input(d.x.data());
                v.runner->run();
                v.runner->get_output(y.data());
                const std::string error = tconv::test::compare_to_reference(p, d, y.data(), 1e-4);
                CHECK_MESSAGE(error.empty(), error);
                // parking and waking its workers between batches leaves the result alone
                v.runner->pause();
                v.runner->resume();
                std::vector<float> again(y.size());
                v.runner->run();
                v.runner->get_output(again.data());
                CHECK(again == y);
            }
        }
    }
}

TEST_CASE("bench ONNX Runtime peer names its version") {
    const std::string version = onnxruntime_version();
    if (peer_built("ONNX Runtime")) {
        REQUIRE(version.size() > 13);
        CHECK(version.rfind("ONNX Runtime ", 0) == 0);  // the table's header relies on the name
        CHECK(std::isdigit(static_cast<unsigned char>(version[13])));
    } else {
        CHECK(version == "not in this build");
    }
}

TEST_CASE("bench FMA peak probe") {
    CHECK(!measure_fma_peak(tconv::Isa::scalar, 1));
    const tconv::CpuInfo& cpu = tconv::cpu_info();
    if (cpu.avx2 && cpu.fma) {
        const auto one = measure_fma_peak(tconv::Isa::avx2, 1);
        REQUIRE(one);
        // 8 lanes x 2 flops x at least one FMA per cycle at >= 1 GHz.
        CHECK(*one > 16.0);
        CHECK(*one < 8 * 2 * 4 * 6.0);  // no core retires 4 ymm FMAs per cycle at 6 GHz
    }
    if (!cpu.avx512f) CHECK(!measure_fma_peak(tconv::Isa::avx512, 1));
}

#endif
