// SPDX-License-Identifier: Apache-2.0
// The embedding API: Layer::compile from configs, JSON and files; size queries; perf map lines.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include "helpers.hpp"
#include "perf_map.hpp"

namespace tconv::test {
namespace {

const char* kUp = R"({"name": "up", "in_channels": 3, "out_channels": 5, "input_size": [4, 5],
  "kernel_size": 3, "stride": 2, "padding": 1, "output_padding": 1, "activation": "leaky_relu"})";

const char* kTwo = R"({"name": "pair", "layers": [
  {"name": "a", "in_channels": 2, "out_channels": 4, "input_size": [6], "kernel_size": 4,
   "stride": 2, "padding": 1, "bias": false},
  {"name": "b", "in_channels": 4, "out_channels": 2, "input_size": [3, 3], "kernel_size": 2,
   "groups": 2}]})";

ErrorKind kind_of(const std::function<void()>& f, std::string& message) {
    try {
        f();
    } catch (const Error& e) {
        message = e.what();
        return e.kind();
    }
    FAIL("no tconv::Error thrown");
    return ErrorKind::internal;
}

void check_against_reference(const Layer& layer, uint64_t seed) {
    const Problem& p = layer.problem();
    // The layer was compiled with data from the same seed.
    LayerData d = random_layer_data(p, seed);
    std::vector<float> y(size_t(layer.output_elems()), -7.0f);
    layer.execute(d.x.data(), y.data());
    CHECK_MESSAGE(compare_to_reference(p, d, y.data()) == "", layer.implementation());
}

}  // namespace

TEST_CASE("api: Layer::compile_json serves the one layer and matches the reference") {
    const Problem p = problem_from_json(kUp);
    LayerData d = random_layer_data(p, 11);
    const Layer layer = Layer::compile_json(kUp, d.w.data(), d.b.data());
    CHECK(layer.problem() == p);
    check_against_reference(layer, 11);
    CHECK(!layer.implementation().empty());
    CHECK(layer.implementation() == layer.report().implementation);
}

TEST_CASE("api: byte sizes are the element counts of float32 tensors") {
    const Problem p = problem_from_json(kUp);
    LayerData d = random_layer_data(p, 1);
    const Layer layer = Layer::compile_json(kUp, d.w.data(), d.b.data());
    // 3x4x5 in; out (4-1)*2 - 2 + 3 + 1 = 8 by (5-1)*2 - 2 + 3 + 1 = 10, 5 channels.
    CHECK(layer.input_elems() == 60);
    CHECK(layer.output_elems() == 5 * 8 * 10);
    CHECK(layer.input_bytes() == 240);
    CHECK(layer.output_bytes() == 4 * 400);
    CHECK(layer.weight_elems() == 3 * 5 * 9);
    CHECK(layer.weight_bytes() == 4 * 135);
    CHECK(layer.bias_elems() == 5);
    CHECK(layer.bias_bytes() == 20);
}

TEST_CASE("api: a multi-layer config needs a layer name") {
    const Config config = parse_config(kTwo, "<test>");
    LayerData da = random_layer_data(config.layers[0], 2);
    LayerData db = random_layer_data(config.layers[1], 3);
    std::string msg;

    SUBCASE("without a name the error lists the layers") {
        CHECK(kind_of([&] { Layer::compile_json(kTwo, da.w.data(), nullptr); }, msg) ==
              ErrorKind::invalid_argument);
        CHECK(msg.find("2 layers (a, b)") != std::string::npos);
    }
    SUBCASE("an unknown name is refused, naming the layers") {
        CHECK(kind_of([&] { Layer::compile_json(kTwo, da.w.data(), nullptr, {}, "c"); }, msg) ==
              ErrorKind::invalid_argument);
        CHECK(msg.find("\"c\"") != std::string::npos);
        CHECK(msg.find("a, b") != std::string::npos);
    }
    SUBCASE("a named layer compiles, from JSON, a Config or a file") {
        check_against_reference(Layer::compile_json(kTwo, db.w.data(), db.b.data(), {}, "b"), 3);
        check_against_reference(Layer::compile(config, da.w.data(), nullptr, {}, "a"), 2);
        TempDir tmp;
        const std::string path = tmp.write("pair.json", kTwo);
        const Layer b = Layer::compile_file(path, db.w.data(), db.b.data(), {}, "b");
        CHECK(b.problem().groups == 2);
        check_against_reference(b, 3);
    }
    SUBCASE("the layer's own rules still apply") {
        CHECK(kind_of([&] { Layer::compile_json(kTwo, db.w.data(), nullptr, {}, "b"); }, msg) ==
              ErrorKind::invalid_argument);
        CHECK(msg.find("bias") != std::string::npos);
    }
}

TEST_CASE("api: config and file errors keep their kind and name the source") {
    std::vector<float> w(64, 0.5f);
    std::string msg;
    CHECK(kind_of([&] { Layer::compile_json(R"({"in_channels": 1})", w.data(), nullptr); },
                  msg) == ErrorKind::invalid_config);
    CHECK(msg.find("<string>") != std::string::npos);
    CHECK(msg.find("out_channels") != std::string::npos);

    TempDir tmp;
    const std::string missing = tmp.file("missing.json");
    CHECK(kind_of([&] { Layer::compile_file(missing, w.data(), nullptr); }, msg) == ErrorKind::io);
    CHECK(msg.find(missing) != std::string::npos);

    const std::string bad = tmp.write("bad.json", R"({"in_channels": 1, "out_channels": 1,
        "input_size": [2], "kernel_size": 2, "activation": "gelu"})");
    CHECK(kind_of([&] { Layer::compile_file(bad, w.data(), nullptr); }, msg) ==
          ErrorKind::invalid_config);
    CHECK(msg.find(bad) != std::string::npos);
    CHECK(msg.find("activation") != std::string::npos);
}

TEST_CASE("api: the reference serves a layer when the ISA cap is scalar") {
    const Problem p = problem_from_json(kUp);
    LayerData d = random_layer_data(p, 5);
    Options opt;
    opt.max_isa = Isa::scalar;
    opt.threads = 2;
    const Layer layer = Layer::compile_json(kUp, d.w.data(), d.b.data(), opt);
    CHECK(layer.implementation() == "reference");
    CHECK(layer.report().kernel_names.empty());
    check_against_reference(layer, 5);
}

TEST_CASE("api: perf map lines name each registered kernel") {
    const std::string path = perf_map_path();
    CHECK(path == "/tmp/perf-" + std::to_string(::getpid()) + ".map");
    auto lines_with = [&](const std::string& name) {
        std::ifstream in(path);
        std::string line;
        std::vector<std::string> found;
        while (std::getline(in, line))
            if (line.size() >= name.size() &&
                line.compare(line.size() - name.size(), name.size(), name) == 0)
                found.push_back(line);
        return found;
    };
    const std::string off = "tconv_test_kernel_off_" + std::to_string(::getpid());
    const std::string on = "tconv_test_kernel_on_" + std::to_string(::getpid());
    static const unsigned char code[64] = {0xc3};
    // Leave the environment and any map of this process's kernels as they were.
    const char* env = std::getenv("TCONV_JIT_PROFILE");
    const std::string saved_env = env ? env : "";
    const bool had_map = std::filesystem::exists(path);

    ::unsetenv("TCONV_JIT_PROFILE");
    CHECK(!perf_map_enabled());
    perf_map_register(code, sizeof code, off);
    ::setenv("TCONV_JIT_PROFILE", "0", 1);
    perf_map_register(code, sizeof code, off);
    CHECK(lines_with(off).empty());

    ::setenv("TCONV_JIT_PROFILE", "1", 1);
    CHECK(perf_map_enabled());
    perf_map_register(code, sizeof code, on);
    perf_map_register(code + 16, 48, on + "_b\nsecond");
    ::unsetenv("TCONV_JIT_PROFILE");

    std::ostringstream want_a, want_b;
    want_a << std::hex << reinterpret_cast<uintptr_t>(code) << " 40 " << on;
    want_b << std::hex << reinterpret_cast<uintptr_t>(code + 16) << " 30 " << on << "_b second";
    const std::vector<std::string> a = lines_with(on), b = lines_with(on + "_b second");
    REQUIRE(a.size() == 1);
    CHECK(a[0] == want_a.str());
    REQUIRE(b.size() == 1);
    CHECK(b[0] == want_b.str());
    CHECK(lines_with(off).empty());
    if (env) ::setenv("TCONV_JIT_PROFILE", saved_env.c_str(), 1);
    if (!had_map) std::remove(path.c_str());
}

}  // namespace tconv::test
