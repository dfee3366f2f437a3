// SPDX-License-Identifier: Apache-2.0
// tconv::Model: chains run layer after layer through reused scratch, from many threads at once.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <thread>

#include "helpers.hpp"

namespace tconv::test {
namespace {

// 3 channels 3x4 -> 6 channels 5x7 (k3 s2 p1, relu, no bias) -> 4 channels 6x8 (k2, groups 2,
// tanh) -> 2 channels 6x8 (k1, sigmoid). Uneven sizes so the two ping-pong buffers differ.
const char* kChain = R"({"name": "three", "chain": true, "layers": [
  {"in_channels": 3, "out_channels": 6, "input_size": [3, 4], "kernel_size": 3, "stride": 2,
   "padding": 1, "output_padding": [0, 0], "bias": false, "activation": "relu"},
  {"in_channels": 6, "out_channels": 4, "input_size": [5, 7], "kernel_size": 2, "groups": 2,
   "activation": "tanh"},
  {"in_channels": 4, "out_channels": 2, "input_size": [6, 8], "kernel_size": 1,
   "activation": "sigmoid"}]})";

struct ChainData {
    Config config;
    std::vector<LayerData> layers;
    std::vector<const float*> w, b;
};

ChainData chain_data(const char* json, uint64_t seed) {
    ChainData c{parse_config(json, "<test>"), {}, {}, {}};
    for (size_t i = 0; i < c.config.layers.size(); ++i)
        c.layers.push_back(random_layer_data(c.config.layers[i], seed + i));
    for (size_t i = 0; i < c.layers.size(); ++i) {
        c.w.push_back(c.layers[i].w.data());
        c.b.push_back(c.config.layers[i].bias ? c.layers[i].b.data() : nullptr);
    }
    return c;
}

// The chain by the reference, one layer at a time from the first layer's random input.
std::vector<float> reference_chain(const ChainData& c) {
    std::vector<float> cur = c.layers[0].x;
    for (size_t i = 0; i < c.layers.size(); ++i) {
        const Problem& p = c.config.layers[i];
        std::vector<float> next(size_t(p.output_elems()));
        reference_conv_transpose(p, cur.data(), c.w[i], c.b[i], next.data());
        cur.swap(next);
    }
    return cur;
}

void check_close(const std::vector<float>& got, const std::vector<float>& want) {
    REQUIRE(got.size() == want.size());
    size_t bad = 0;
    for (size_t i = 0; i < got.size(); ++i)
        if (!(std::fabs(got[i] - want[i]) <= 1e-4f * (1.0f + std::fabs(want[i])))) ++bad;
    CHECK_MESSAGE(bad == 0, bad << " of " << got.size() << " outputs differ");
}

std::string error_of(const std::function<void()>& f, ErrorKind want) {
    try {
        f();
    } catch (const Error& e) {
        CHECK(e.kind() == want);
        return e.what();
    }
    FAIL("no tconv::Error thrown");
    return "";
}

}  // namespace

TEST_CASE("api model: a chain equals its layers run by the reference") {
    // The parser computes the chain's shapes; check the config says what the comment claims.
    const ChainData c = chain_data(kChain, 21);
    REQUIRE(c.config.layers.size() == 3);
    CHECK(output_shape(c.config.layers[0]) == std::vector<int64_t>{1, 6, 5, 7});

    const Model m = Model::compile(c.config, c.w, c.b);
    CHECK(m.name() == "three");
    CHECK(m.layers().size() == 3);
    CHECK(m.input_elems() == 3 * 3 * 4);
    CHECK(m.output_elems() == 2 * 6 * 8);
    CHECK(m.input_shape() == std::vector<int64_t>{1, 3, 3, 4});
    CHECK(m.output_shape() == std::vector<int64_t>{1, 2, 6, 8});
    CHECK(m.input_bytes() == 4 * 36);
    CHECK(m.output_bytes() == 4 * 96);
    // Layer 0's output (6x5x7) in one buffer, layer 1's (4x6x8) in the other.
    CHECK(m.scratch_bytes() == 4 * (210 + 192));

    const std::vector<float> want = reference_chain(c);
    std::vector<float> y(size_t(m.output_elems()), -1.0f);
    m.execute(c.layers[0].x.data(), y.data());
    check_close(y, want);
    // Again, reusing the scratch, and with an explicit thread count.
    std::fill(y.begin(), y.end(), -1.0f);
    m.execute(c.layers[0].x.data(), y.data(), 1);
    check_close(y, want);
}

TEST_CASE("api model: compile_json, compile_file and spans give the same model") {
    const ChainData c = chain_data(kChain, 4);
    const std::vector<float> want = reference_chain(c);
    std::vector<Span<const float>> ws, bs;
    for (size_t i = 0; i < c.layers.size(); ++i) {
        ws.emplace_back(c.layers[i].w);
        bs.emplace_back(c.config.layers[i].bias ? Span<const float>(c.layers[i].b)
                                                : Span<const float>());
    }
    TempDir tmp;
    const std::string path = tmp.write("three.json", kChain);
    const std::vector<Model> models{Model::compile_json(kChain, c.w, c.b),
                                    Model::compile_file(path, c.w, c.b),
                                    Model::compile_json(kChain, ws, bs),
                                    Model::compile_file(path, ws, bs)};
    for (const Model& m : models) {
        std::vector<float> y(size_t(m.output_elems()));
        m.execute(c.layers[0].x.data(), y.data());
        check_close(y, want);
    }
    CHECK(models[1].name() == "three");
}

TEST_CASE("api model: concurrent executes each get their own scratch") {
    const ChainData c = chain_data(kChain, 8);
    const Model m = Model::compile(c.config, c.w, c.b);
    constexpr int kThreads = 4;
    std::vector<std::vector<float>> inputs, outputs(kThreads), wants;
    for (int t = 0; t < kThreads; ++t) {
        ChainData ct = c;
        ct.layers[0].x = random_vector(c.layers[0].x.size(), 100 + uint64_t(t));
        inputs.push_back(ct.layers[0].x);
        wants.push_back(reference_chain(ct));
        outputs[size_t(t)].resize(size_t(m.output_elems()));
    }
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            for (int rep = 0; rep < 20; ++rep)
                m.execute(inputs[size_t(t)].data(), outputs[size_t(t)].data(), 1);
        });
    for (auto& th : threads) th.join();
    for (int t = 0; t < kThreads; ++t) check_close(outputs[size_t(t)], wants[size_t(t)]);
}

TEST_CASE("api model: a single layer is a chain of one") {
    const char* one =
        R"({"in_channels": 2, "out_channels": 3, "input_size": [4], "kernel_size": 3})";
    const ChainData c = chain_data(one, 2);
    const Model m = Model::compile_json(one, c.w, c.b);
    CHECK(m.scratch_bytes() == 0);
    std::vector<float> y(size_t(m.output_elems()));
    m.execute(c.layers[0].x.data(), y.data());
    check_close(y, reference_chain(c));
}

TEST_CASE("api model: errors") {
    const ChainData c = chain_data(kChain, 1);
    std::string msg;

    SUBCASE("several layers without \"chain\": true") {
        Config not_chain = c.config;
        not_chain.chain = false;
        msg = error_of([&] { Model::compile(not_chain, c.w, c.b); }, ErrorKind::invalid_config);
        CHECK(msg.find("\"chain\": true") != std::string::npos);
    }
    SUBCASE("a Config assembled in code whose shapes do not connect") {
        Config broken = c.config;
        broken.layers[1].in_channels = 5;
        msg = error_of([&] { Model::compile(broken, c.w, c.b); }, ErrorKind::invalid_config);
        CHECK(msg.find("layer 1") != std::string::npos);
    }
    SUBCASE("one weight pointer per layer") {
        std::vector<const float*> w2(c.w.begin(), c.w.begin() + 2);
        msg = error_of([&] { Model::compile(c.config, w2, c.b); }, ErrorKind::invalid_argument);
        CHECK(msg.find("2 weight tensors given for 3 layers") != std::string::npos);
    }
    SUBCASE("no biases at all, though layers have one") {
        msg = error_of([&] { Model::compile(c.config, c.w, {}); }, ErrorKind::invalid_argument);
        CHECK(msg.find("bias") != std::string::npos);
    }
    SUBCASE("a span of the wrong length names the layer") {
        std::vector<Span<const float>> ws, bs;
        for (size_t i = 0; i < c.layers.size(); ++i) {
            ws.emplace_back(c.layers[i].w);
            bs.emplace_back(c.layers[i].b);
        }
        ws[2] = Span<const float>(ws[2].data(), ws[2].size() - 1);
        msg = error_of([&] { Model::compile(c.config, ws, {}); }, ErrorKind::invalid_argument);
        CHECK(msg.find("three[2]") != std::string::npos);
        CHECK(msg.find(std::to_string(ws[2].size())) != std::string::npos);
    }
    SUBCASE("null pointers and thread counts at execute") {
        const Model m = Model::compile(c.config, c.w, c.b);
        std::vector<float> y(size_t(m.output_elems()));
        error_of([&] { m.execute(nullptr, y.data()); }, ErrorKind::invalid_argument);
        error_of([&] { m.execute(c.layers[0].x.data(), nullptr); }, ErrorKind::invalid_argument);
        msg = error_of([&] { m.execute(c.layers[0].x.data(), y.data(), 0); },
                       ErrorKind::invalid_argument);
        CHECK(msg.find("thread") != std::string::npos);
    }
}

TEST_CASE("api model: configs/dcgan.json goes from a 100-vector to a 3x64x64 image") {
    const Config config = load_config(std::string(TCONV_SOURCE_DIR) + "/configs/dcgan.json");
    std::vector<LayerData> data;
    std::vector<const float*> w, b;
    for (const Problem& p : config.layers) data.push_back(random_layer_data(p, 7));
    for (size_t i = 0; i < data.size(); ++i) {
        w.push_back(data[i].w.data());
        b.push_back(config.layers[i].bias ? data[i].b.data() : nullptr);
    }
    const Model m = Model::compile(config, w, b);
    REQUIRE(m.layers().size() == 5);
    CHECK(m.input_shape() == std::vector<int64_t>{1, 100, 1, 1});
    CHECK(m.output_shape() == std::vector<int64_t>{1, 3, 64, 64});
    // Even layers' outputs (512x4x4, 128x16x16) share a buffer, odd ones (256x8x8, 64x32x32)
    // the other.
    CHECK(m.scratch_bytes() == 4 * (32768 + 65536));
}

}  // namespace tconv::test
