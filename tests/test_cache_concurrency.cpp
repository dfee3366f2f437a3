// SPDX-License-Identifier: Apache-2.0
// The kernel cache under churn: threads compile, run and drop layers of shared shapes while
// others shrink the capacity and clear the cache. Results stay bitwise those of a quiet run,
// and no kernel in use is lost. `make test-tsan` runs it (its name holds "concurrency").
#include <doctest/doctest.h>

#include <atomic>
#include <cstring>
#include <exception>
#include <thread>

#include "helpers.hpp"

namespace tconv::test {

TEST_CASE("cache concurrency: compile, run and drop from threads while capacity and clear churn") {
    const char* const layers[] = {
        R"({"in_channels": 4, "out_channels": 8, "input_size": [13], "kernel_size": 4,
            "stride": 2, "padding": 1})",
        R"({"in_channels": 4, "out_channels": 8, "input_size": [14], "kernel_size": 4,
            "stride": 2, "padding": 1})",
        R"({"in_channels": 3, "out_channels": 5, "input_size": [4, 5], "kernel_size": 3,
            "stride": 2, "layout": "channels_last"})",
    };
    constexpr int kThreads = 4, kRounds = 12;
    std::vector<Problem> problems;
    std::vector<LayerData> data;
    std::vector<std::vector<float>> want;
    for (const char* json : layers) {
        problems.push_back(problem_from_json(json));
        data.push_back(random_layer_data(problems.back(), problems.size()));
        const Layer l = Layer::compile(problems.back(), data.back().w, data.back().b);
        want.emplace_back(size_t(problems.back().output_elems()));
        l.execute(data.back().x, want.back(), 1);
    }
    const CacheStats before = cache_stats();
    std::atomic<int> mismatches{0};
    std::vector<std::exception_ptr> errors(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            try {
                for (int round = 0; round < kRounds; ++round) {
                    if (t == 0) set_cache_capacity(round % 2 ? 0 : uint64_t(1) << 20);
                    if (t == 1 && round % 3 == 0) clear_cache();
                    const size_t i = size_t(t + round) % problems.size();
                    const Layer l = Layer::compile(problems[i], data[i].w, data[i].b);
                    std::vector<float> y(want[i].size());
                    l.execute(data[i].x, y, 1);
                    if (std::memcmp(y.data(), want[i].data(), y.size() * sizeof(float)) != 0)
                        ++mismatches;
                }
            } catch (...) {
                errors[size_t(t)] = std::current_exception();
            }
        });
    for (auto& t : threads) t.join();
    set_cache_capacity(uint64_t(32) << 20);
    for (auto& e : errors)
        if (e) std::rethrow_exception(e);
    CHECK(mismatches == 0);
    const CacheStats after = cache_stats();
    CHECK(after.kernels_in_use == before.kernels_in_use);
    CHECK(after.misses > before.misses);  // kernels were evicted and generated again
}

}  // namespace tconv::test
