// SPDX-License-Identifier: Apache-2.0
// The bench's XNNPACK peer keeps one thread pool for the whole run and parks its workers between
// samples (a pool re-created per layer or per batch would charge XNNPACK for thread start-up).
// In the concurrency executable, so `make test-tsan` runs it.
#if defined(TCONV_HAVE_BENCH) && defined(TCONV_HAVE_XNNPACK)

#include <doctest/doctest.h>

#include <time.h>

#include <chrono>
#include <filesystem>
#include <set>
#include <string>
#include <thread>

#include "bench_peer.hpp"
#include "helpers.hpp"

using namespace tconv::bench;

namespace {

// The process's thread ids: a thread pool re-created per layer or per batch shows up as new ids.
std::set<std::string> thread_ids() {
    std::set<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator("/proc/self/task"))
        out.insert(e.path().filename().string());
    return out;
}

}  // namespace

TEST_CASE("bench XNNPACK: one thread pool for every layer, kept through pause and resume") {
    const tconv::Problem p = tconv::test::problem_from_json(
        R"({"layers": [{"name": "pads_nhwc", "batch": 2, "in_channels": 8, "out_channels": 3,
            "input_size": [4, 6], "kernel_size": 4, "stride": 2, "pads": [0, 1, 1, 0],
            "bias": false, "layout": "channels_last"}]})");
    REQUIRE(p.layout == tconv::Layout::channels_last);
    const tconv::test::LayerData d = tconv::test::random_layer_data(p, 7);
    const PeerLayer layer{p, d.w.data(), nullptr, 2};
    PeerSetup first = create_xnnpack(layer);
    REQUIRE(first.variants.size() == 1);
    Runner& runner = *first.variants[0].runner;
    runner.set_input(d.x.data());
    runner.run();
    const std::set<std::string> threads = thread_ids();
    for (int batch = 0; batch < 3; ++batch) {
        runner.pause();
        runner.resume();
        runner.run();
    }
    PeerSetup second = create_xnnpack(layer);  // the next layer of the run
    REQUIRE(second.variants.size() == 1);
    second.variants[0].runner->set_input(d.x.data());
    second.variants[0].runner->run();
    second.variants[0].runner->pause();
    CHECK(thread_ids() == threads);

    // Parked workers sleep: in 50 ms after pause() the process burns next to no CPU, where
    // pthreadpool's workers left spinning would burn milliseconds of it (this thread sleeps).
    runner.resume();
    runner.run();
    runner.pause();
    auto cpu_ms = [] {
        timespec t{};
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
        return double(t.tv_sec) * 1e3 + double(t.tv_nsec) * 1e-6;
    };
    const double before = cpu_ms();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    CHECK(cpu_ms() - before < 2.0);
}

#endif
