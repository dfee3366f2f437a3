// SPDX-License-Identifier: Apache-2.0
// The bench's statistics and its interleaved timing loop.
#ifdef TCONV_HAVE_BENCH

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include "bench_timing.hpp"
#include "tconv/error.hpp"

using namespace tconv::bench;

TEST_CASE("bench median: odd, even and unsorted samples") {
    CHECK(median({3.0}) == 3.0);
    CHECK(median({5.0, 1.0, 3.0}) == 3.0);
    CHECK(median({4.0, 1.0, 3.0, 2.0}) == 2.5);
    CHECK(median({10.0, 1.0, 1.0, 1.0, 1000.0}) == 1.0);  // robust to outliers
    CHECK_THROWS_AS(median({}), tconv::Error);
}

TEST_CASE("bench geometric mean") {
    CHECK(geometric_mean({2.0, 8.0}) == doctest::Approx(4.0));
    CHECK(geometric_mean({0.5, 2.0}) == doctest::Approx(1.0));
    CHECK(geometric_mean({3.0}) == doctest::Approx(3.0));
    CHECK_THROWS_AS(geometric_mean({}), tconv::Error);
    CHECK_THROWS_AS(geometric_mean({1.0, 0.0}), tconv::Error);
    CHECK_THROWS_AS(geometric_mean({1.0, -2.0}), tconv::Error);
    CHECK_THROWS_AS(geometric_mean({1.0, INFINITY}), tconv::Error);
}

TEST_CASE("bench timing interleaves contenders and honours the repeat floor") {
    std::string order;
    TimingPolicy policy;
    policy.min_time = 0;  // only the repeat count matters
    policy.min_repeats = 5;
    policy.batch_time = 0;  // one run per sample: the order is the point here
    const auto samples =
        time_interleaved({[&] { order += 'A'; }, [&] { order += 'B'; }}, policy);
    REQUIRE(samples.size() == 2);
    CHECK(samples[0].size() == 5);
    CHECK(samples[1].size() == 5);
    CHECK(order == "AB" + std::string("ABABABABAB"));  // warm-up, then alternating
}

TEST_CASE("bench timing runs each contender until its own time budget is spent") {
    TimingPolicy policy;
    policy.min_time = 0.02;
    policy.min_repeats = 3;
    policy.batch_time = 0;
    int fast = 0, slow = 0;
    auto spin = [](double seconds) {
        const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
        while (std::chrono::steady_clock::now() < end) {
        }
    };
    const auto samples = time_interleaved(
        {[&] { ++fast; spin(0.001); }, [&] { ++slow; spin(0.01); }}, policy);
    double fast_total = 0, slow_total = 0;
    for (double s : samples[0]) fast_total += s;
    for (double s : samples[1]) slow_total += s;
    CHECK(fast_total >= 0.02);
    CHECK(slow_total >= 0.02);
    CHECK(samples[1].size() >= 3);
    CHECK(samples[0].size() > samples[1].size());  // the fast one is not held to the slow pace
    CHECK(fast == int(samples[0].size()) + 1);     // + the warm-up run
    CHECK(slow == int(samples[1].size()) + 1);
}

TEST_CASE("bench timing batches short runs and reports the time of one run") {
    TimingPolicy policy;
    policy.min_time = 0.02;
    policy.min_repeats = 5;
    policy.batch_time = 0.05;  // far above one run, even on a loaded machine
    int runs = 0;
    auto spin = [](double seconds) {
        const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
        while (std::chrono::steady_clock::now() < end) {
        }
    };
    const auto samples = time_interleaved({[&] { ++runs; spin(0.0005); }}, policy);
    REQUIRE(samples[0].size() >= 5);
    CHECK(runs > 1 + 2 * int(samples[0].size()));  // several runs per sample
    for (double s : samples[0]) CHECK(s >= 0.0005);  // per run, not per batch: never below one
    double total = 0;
    for (double s : samples[0]) total += s;
    CHECK(total < 0.05 * double(samples[0].size()));  // and not the batch's whole time
}

TEST_CASE("bench timing stops at the repeat cap") {
    TimingPolicy policy;
    policy.min_time = 3600;
    policy.min_repeats = 1;
    policy.max_repeats = 7;
    policy.batch_time = 0;
    const auto samples = time_interleaved({[] {}}, policy);
    CHECK(samples[0].size() == 7);
}

TEST_CASE("bench timing waits for a contender's spinning threads before the next one runs") {
    // Contender 0 leaves a thread spinning for 6 ms after each run, as libgomp's workers do;
    // contender 1 counts the runs that start while it still spins.
    std::atomic<int> spinning{0};
    std::vector<std::thread> spinners;
    int overlapped = 0, runs = 0;
    TimingPolicy policy;
    policy.min_time = 0;
    policy.min_repeats = 10;
    policy.batch_time = 0;
    time_interleaved({[&] {
                          ++spinning;
                          spinners.emplace_back([&spinning] {
                              const auto end = std::chrono::steady_clock::now() +
                                               std::chrono::milliseconds(6);
                              while (std::chrono::steady_clock::now() < end) {
                              }
                              --spinning;
                          });
                      },
                      [&] {
                          ++runs;
                          overlapped += spinning.load() > 0;
                      }},
                     policy);
    for (std::thread& t : spinners) t.join();
    // A plain 2 ms rest overlaps nearly every run; a core the scheduler hands the spinner late
    // can still make one overlap now and then on a loaded machine.
    CHECK(runs >= 10);
    CHECK(overlapped <= 2);
}

#endif
