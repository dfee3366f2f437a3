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

TEST_CASE("bench settle rests until the other threads stop burning CPU, within its bounds") {
    TimingPolicy policy;
    policy.settle_time = 0.002;
    policy.settle_max = 0.030;
    // A fake clock: other threads burn `busy` seconds of CPU per step for `busy_steps` steps
    // (libgomp's workers spinning after a parallel region), then nothing.
    auto run = [&](double busy, int busy_steps) {
        int step = 0;
        double cpu = 0;
        double slept = 0;
        const int steps = settle(
            policy, [&] { return cpu; },
            [&](double s) {
                slept += s;
                if (step++ < busy_steps) cpu += busy;
            });
        CHECK(slept == doctest::Approx(steps * policy.settle_time));
        return steps;
    };
    CHECK(run(0, 0) == 2);            // nothing spins: two quiet steps
    CHECK(run(0.004, 3) == 5);        // two spinning threads for 3 steps, then two quiet steps
    CHECK(run(0.001, 4) == 6);        // half a core is busy: quiet once a whole window is idle
    CHECK(run(0.002, 1000) == 15);    // never quiet: settle_max
    CHECK(run(0.0002, 1000) == 2);    // a tenth of a core is quiet enough
    // Ticks: the clock advances 4 ms every other step while a thread spins; one flat step
    // between two ticks is not yet quiet.
    int step = 0;
    double cpu = 0;
    CHECK(settle(
              policy, [&] { return cpu; },
              [&](double) {
                  if (step < 6 && step % 2 == 1) cpu += 0.004;
                  ++step;
              }) == 8);
}

#endif
