// SPDX-License-Identifier: Apache-2.0
// Layer::compile and execute on sized buffers: right sizes compute as the pointer versions do,
// wrong ones are Errors naming the layer, the argument and both sizes.
#include <doctest/doctest.h>

#include <array>
#include <cstring>

#include "helpers.hpp"

namespace tconv::test {
namespace {

const char* const kLayer = R"({"name": "up", "in_channels": 3, "out_channels": 4,
    "input_size": [5, 6], "kernel_size": 3, "stride": 2, "padding": 1})";

// The message of the Error `f` throws, after checking its kind.
template <class F>
std::string error_of(F f) {
    try {
        f();
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::invalid_argument);
        return e.what();
    }
    FAIL("no error");
    return {};
}

bool has(const std::string& msg, const std::string& part) {
    return msg.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("spans: vectors, arrays and C arrays of the right sizes compute as pointers do") {
    const Problem p = problem_from_json(kLayer);
    const LayerData d = random_layer_data(p, 5);
    const Layer by_pointer = Layer::compile(p, d.w.data(), d.b.data());
    std::vector<float> want(size_t(p.output_elems()));
    by_pointer.execute(d.x.data(), want.data());

    const Layer by_span = Layer::compile(p, d.w, d.b);
    std::vector<float> y(want.size());
    by_span.execute(d.x, y);
    CHECK(std::memcmp(y.data(), want.data(), y.size() * sizeof(float)) == 0);
    std::vector<float> bigger(y.size() + 7, -1.0f);  // larger output buffers are fine
    by_span.execute(Span<const float>(d.x.data(), d.x.size()), bigger, 1);
    CHECK(std::memcmp(bigger.data(), want.data(), y.size() * sizeof(float)) == 0);
    CHECK(bigger.back() == -1.0f);

    // Fixed-size containers, from JSON and from a Config.
    std::array<float, 3 * 4 * 9> w{};
    float b[4] = {1, 2, 3, 4};
    std::memcpy(w.data(), d.w.data(), sizeof w);
    const Layer from_json = Layer::compile_json(kLayer, w, b);
    from_json.execute(d.x, y);
    const Layer from_config = Layer::compile(parse_config(kLayer, "<string>"), w, b);
    std::vector<float> y2(y.size());
    from_config.execute(d.x, y2);
    CHECK(y == y2);

    // A layer without bias takes an empty one.
    Problem nb = p;
    nb.bias = false;
    const Layer no_bias = Layer::compile(nb, d.w, {});
    no_bias.execute(d.x, y);
}

TEST_CASE("spans: a wrong size is an Error naming the layer, the argument and the sizes") {
    const Problem p = problem_from_json(kLayer);
    const LayerData d = random_layer_data(p, 6);
    const std::vector<float> short_w(d.w.begin(), d.w.end() - 1);
    std::string msg = error_of([&] { Layer::compile(p, short_w, d.b); });
    CHECK(has(msg, "up: compile: weights has 107 floats but the layer needs 108"));
    msg = error_of([&] { Layer::compile_json(kLayer, d.w, Span<const float>(d.b.data(), 3)); });
    CHECK(has(msg, "up: compile: bias has 3 floats but the layer needs 4"));
    msg = error_of([&] { Layer::compile(p, d.w, {}); });  // bias: true, none given
    CHECK(has(msg, "bias"));
    Problem nb = p;
    nb.bias = false;
    msg = error_of([&] { Layer::compile(nb, d.w, d.b); });  // a bias the layer does not have
    CHECK(has(msg, "\"bias\": false"));

    const Layer layer = Layer::compile(p, d.w, d.b);
    std::vector<float> y(size_t(p.output_elems()));
    const std::vector<float> short_x(d.x.begin(), d.x.end() - 2);
    msg = error_of([&] { layer.execute(short_x, y); });
    CHECK(has(msg, "up: execute: input has 88 floats but the layer needs at least 90"));
    std::vector<float> short_y(y.size() - 1);
    msg = error_of([&] { layer.execute(d.x, short_y, 1); });
    CHECK(has(msg, "up: execute: output has " + std::to_string(short_y.size()) +
                       " floats but the layer needs at least " + std::to_string(y.size())));
    msg = error_of([&] { layer.execute(Span<const float>(), y); });
    CHECK(has(msg, "input has 0 floats"));
}

}  // namespace tconv::test
