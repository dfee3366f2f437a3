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
    CHECK(after.entries == before.entries + 1 - (after.evictions - before.evictions));
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
        CHECK(after.code_bytes == before.code_bytes);
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

namespace {

// The first kernel descriptor of a 1D layer with a kernel of `k` taps: distinct sizes, distinct
// kernels (input lengths no longer are: the kernels take them at run time).
gen::AnyKernelDesc desc_1d(int k) {
    const Problem p = test::problem_from_json(
        R"({"in_channels": 7, "out_channels": 9, "stride": 3, "input_size": [40], "kernel_size": )" +
        std::to_string(k) + "}");
    gen::Plan plan;
    std::string why_not;
    REQUIRE_MESSAGE(gen::plan(p, Isa::avx2, plan, why_not), why_not);
    return plan.base().kernels.at(0);
}

// Restores the default capacity however a test ends.
struct CapacityGuard {
    ~CapacityGuard() { gen::set_kernel_cache_capacity(gen::kDefaultKernelCacheCapacity); }
};

}  // namespace

TEST_CASE("kernel cache: unused kernels are evicted least recently used first, used ones never") {
    if (cpu_info().best_isa() == Isa::scalar) return;
    CapacityGuard restore;
    // Three kernels no other test asks for, distinct from each other.
    std::vector<gen::AnyKernelDesc> d;
    for (int k : {23, 29, 31}) d.push_back(desc_1d(k));
    REQUIRE(!(d[0] == d[1]));
    REQUIRE(!(d[1] == d[2]));
    gen::clear_kernel_cache();  // only kernels in use stay: ours are then the only unused ones
    const gen::KernelCacheStats base = gen::kernel_cache_stats();

    std::vector<uint64_t> bytes;
    {
        std::vector<std::shared_ptr<const gen::Kernel>> held;
        for (const auto& desc : d) {
            const uint64_t before = gen::kernel_cache_stats().code_bytes;
            held.push_back(gen::cached_kernel(desc));
            bytes.push_back(gen::kernel_cache_stats().code_bytes - before);
            CHECK(bytes.back() >= held.back()->code_size());
            CHECK(bytes.back() % 4096 == 0);
        }
        const gen::KernelCacheStats s = gen::kernel_cache_stats();
        CHECK(s.in_use == base.in_use + 3);
        // In use: a capacity of 0 evicts none of them.
        gen::set_kernel_cache_capacity(0);
        CHECK(gen::kernel_cache_stats().entries == base.entries + 3);
        gen::set_kernel_cache_capacity(gen::kDefaultKernelCacheCapacity);
        held[0].reset();  // dropped oldest first: 0, then 1, then 2
        held[1].reset();
        held[2].reset();
    }
    gen::KernelCacheStats s = gen::kernel_cache_stats();
    CHECK(s.in_use == base.in_use);
    CHECK(s.entries == base.entries + 3);  // unused, within the capacity: kept
    CHECK(s.code_bytes == base.code_bytes + bytes[0] + bytes[1] + bytes[2]);

    gen::cached_kernel(d[0]);  // used again (a hit), then dropped: now the most recent
    CHECK(gen::kernel_cache_stats().hits == s.hits + 1);
    // Room for all but one: the least recently used, kernel 1, goes.
    gen::set_kernel_cache_capacity(s.code_bytes - 1);
    s = gen::kernel_cache_stats();
    CHECK(s.entries == base.entries + 2);
    CHECK(s.code_bytes == base.code_bytes + bytes[0] + bytes[2]);
    gen::set_kernel_cache_capacity(gen::kDefaultKernelCacheCapacity);
    uint64_t misses = s.misses;
    gen::cached_kernel(d[0]);
    gen::cached_kernel(d[2]);
    CHECK(gen::kernel_cache_stats().misses == misses);  // both still there
    gen::cached_kernel(d[1]);
    CHECK(gen::kernel_cache_stats().misses == misses + 1);  // generated again

    // A new kernel over the capacity pushes the oldest unused ones out at once.
    gen::set_kernel_cache_capacity(s.code_bytes);
    const uint64_t evictions = gen::kernel_cache_stats().evictions;
    gen::cached_kernel(desc_1d(37));
    s = gen::kernel_cache_stats();
    CHECK(s.code_bytes <= s.capacity_bytes);
    CHECK(s.evictions > evictions);
}

TEST_CASE("kernel cache: clear drops every unused kernel and keeps those in use") {
    if (cpu_info().best_isa() == Isa::scalar) return;
    const auto kept = gen::cached_kernel(desc_1d(41));
    gen::cached_kernel(desc_1d(43));  // dropped at once: unused
    const gen::KernelCacheStats before = gen::kernel_cache_stats();
    CHECK(before.entries > before.in_use);
    const uint64_t dropped = gen::clear_kernel_cache();
    const gen::KernelCacheStats after = gen::kernel_cache_stats();
    CHECK(dropped == before.entries - before.in_use);
    CHECK(after.entries == before.in_use);
    CHECK(after.evictions == before.evictions + dropped);
    const uint64_t misses = after.misses;
    CHECK(gen::cached_kernel(desc_1d(41)).get() == kept.get());  // still the same kernel
    gen::cached_kernel(desc_1d(43));
    CHECK(gen::kernel_cache_stats().misses == misses + 1);
}
