// SPDX-License-Identifier: Apache-2.0
// The process-wide kernel cache: one generation per distinct descriptor, shared by every caller.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <thread>
#include <vector>

#include "tconv/gen/kernel_cache.hpp"
#include "tconv/gen/plan.hpp"
#include "helpers.hpp"

using namespace tconv;

TEST_CASE("kernel cache: identical layers share kernels, concurrent requests generate once") {
    if (cpu_info().best_isa() == Isa::scalar) return;  // no JIT here
    // A geometry no other test uses, so the first request below is the first ever.
    Problem p = test::problem_from_json(R"({"in_channels": 19, "out_channels": 23,
        "input_size": [7, 9], "kernel_size": 5, "stride": 3, "padding": 2})");
    gen::Plan plan;
    std::string why_not;
    REQUIRE_MESSAGE(gen::plan(p, Isa::avx2, plan, why_not), why_not);
    REQUIRE(!plan.base().kernels.empty());
    const gen::AnyKernelDesc& d = plan.base().kernels[0];

    const gen::KernelCacheStats before = gen::kernel_cache_stats();
    std::vector<std::shared_ptr<const gen::Kernel>> got(8);
    std::vector<std::thread> threads;
    for (size_t t = 0; t < got.size(); ++t)
        threads.emplace_back([&, t] { got[t] = gen::cached_kernel(d); });
    for (auto& t : threads) t.join();
    const gen::KernelCacheStats after = gen::kernel_cache_stats();

    for (const auto& k : got) CHECK(k.get() == got[0].get());  // one kernel for all
    CHECK(after.misses == before.misses + 1);
    CHECK(after.hits == before.hits + 7);
    CHECK(after.entries == before.entries + 1);
    CHECK(got[0]->name() == gen::kernel_name(d));
}

TEST_CASE("kernel cache: keys of different families never meet") {
    if (cpu_info().best_isa() == Isa::scalar) return;
    // A depthwise layer and a grouped one of the same geometry: distinct kernels, each named
    // by its family (channels_last: channels-first depthwise layers take the spatial kernel).
    const char* layers[] = {
        R"({"in_channels": 24, "out_channels": 24, "groups": 24, "input_size": [6, 7],
            "kernel_size": 4, "stride": 2, "padding": 1, "layout": "channels_last"})",
        R"({"in_channels": 48, "out_channels": 48, "groups": 2, "input_size": [6, 7],
            "kernel_size": 4, "stride": 2, "padding": 1})"};
    std::vector<std::string> names;
    for (const char* json : layers) {
        gen::Plan plan;
        std::string why_not;
        const Problem p = test::problem_from_json(json);
        REQUIRE_MESSAGE(gen::plan(p, Isa::avx2, plan, why_not), why_not);
        REQUIRE(!plan.base().kernels.empty());
        const auto k = gen::cached_kernel(plan.base().kernels[0]);
        CHECK(k->desc() == plan.base().kernels[0]);
        names.push_back(k->name());
    }
    CHECK(names[0].rfind("tconv_f32_dw_k4x4_s2x2_nhwc_t2.2_ch24_ur", 0) == 0);  // in place
    CHECK(names[1].rfind("tconv_f32_cvec_k4x4_s2x2_g2_t2x2_ur", 0) == 0);
}

TEST_CASE("kernel cache: a descriptor no generator emits throws, every time, and is not kept") {
    // The JIT implementation turns this into a decline: the next implementation serves the layer.
    gen::ChannelKernelDesc c;
    gen::SpatialKernelDesc s;
    gen::DwKernelDesc d;
    gen::DwPlaneKernelDesc dp;
    c.isa = s.isa = d.isa = dp.isa = Isa::scalar;
    for (const gen::AnyKernelDesc& desc : {gen::AnyKernelDesc(c), gen::AnyKernelDesc(s),
                                           gen::AnyKernelDesc(d), gen::AnyKernelDesc(dp)}) {
        const gen::KernelCacheStats before = gen::kernel_cache_stats();
        for (int attempt = 0; attempt < 2; ++attempt)
            CHECK_THROWS_WITH_AS(gen::cached_kernel(desc), doctest::Contains("no code generator"),
                                 std::runtime_error);
        const gen::KernelCacheStats after = gen::kernel_cache_stats();
        CHECK(after.entries == before.entries);
        CHECK(after.misses == before.misses + 2);
    }
}

TEST_CASE("kernel cache: a second Layer of the same geometry compiles no new kernel") {
    if (cpu_info().best_isa() == Isa::scalar) return;
    Problem p = test::problem_from_json(R"({"in_channels": 21, "out_channels": 29,
        "input_size": [5, 6], "kernel_size": 3, "stride": 2, "padding": 1})");
    auto d1 = test::random_layer_data(p, 1), d2 = test::random_layer_data(p, 2);
    Layer a = Layer::compile(p, d1.w.data(), d1.b.data());
    const gen::KernelCacheStats mid = gen::kernel_cache_stats();
    Layer b = Layer::compile(p, d2.w.data(), d2.b.data());  // other weights, same kernels
    const gen::KernelCacheStats after = gen::kernel_cache_stats();
    CHECK(after.misses == mid.misses);
    CHECK(after.hits == mid.hits + a.report().kernel_names.size());
    CHECK(a.report().kernel_names == b.report().kernel_names);
    // The shared kernels still compute each layer with its own weights.
    std::vector<float> y(size_t(p.output_elems()));
    b.execute(d2.x.data(), y.data());
    CHECK(test::compare_to_reference(p, d2, y.data()) == "");
}

TEST_CASE("perf map: TCONV_JIT_PROFILE=1 lists each compiled kernel once") {
    if (cpu_info().best_isa() == Isa::scalar) return;
    ::setenv("TCONV_JIT_PROFILE", "1", 1);
    Problem p = test::problem_from_json(R"({"in_channels": 13, "out_channels": 27,
        "input_size": [4, 7], "kernel_size": 5, "stride": 3, "bias": false})");
    auto d = test::random_layer_data(p, 3);
    Layer a = Layer::compile(p, d.w.data(), nullptr);
    Layer b = Layer::compile(p, d.w.data(), nullptr);
    ::unsetenv("TCONV_JIT_PROFILE");
    const std::string path = "/tmp/perf-" + std::to_string(::getpid()) + ".map";
    std::map<std::string, int> listed;
    {
        std::ifstream map(path);
        REQUIRE(map.good());
        std::string line;
        while (std::getline(map, line)) ++listed[line.substr(line.rfind(' ') + 1)];
    }
    std::remove(path.c_str());
    for (const std::string& name : a.report().kernel_names) CHECK(listed[name] == 1);
}
