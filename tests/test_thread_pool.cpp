// SPDX-License-Identifier: Apache-2.0
// The library's thread pool: every item runs exactly once, phases keep their order, errors
// reach the caller, concurrent and nested calls finish; the wait policies and thread counts
// give bitwise-identical layers; the environment and the C API's option are parsed with clear
// errors. No timing: each property is one a wrong pool breaks outright.
#include <doctest/doctest.h>

#include <time.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <thread>
#include <vector>

#include "helpers.hpp"
#include "tconv/tconv.h"
#include "thread_defaults.hpp"
#include "thread_pool.hpp"
#include "wait_word.hpp"

namespace tconv::test {
namespace {

constexpr WaitPolicy kPolicies[] = {WaitPolicy::bounded, WaitPolicy::spin, WaitPolicy::passive};

// Runs `phases` x `items` on `pool` and checks that each item ran once and that no item of a
// phase started before every item of the previous phase had finished.
void check_once_in_order(ThreadPool& pool, int phases, int items, int threads, WaitPolicy w) {
    std::vector<std::atomic<int>> runs(size_t(phases) * size_t(items));
    std::vector<std::atomic<int>> finished(static_cast<size_t>(phases));
    std::atomic<int> out_of_order{0};
    pool.run(phases, items, threads, w, [&](int64_t p, int i) {
        if (p > 0 && finished[size_t(p - 1)].load() != items) out_of_order.fetch_add(1);
        runs[size_t(p) * size_t(items) + size_t(i)].fetch_add(1);
        finished[size_t(p)].fetch_add(1);
    });
    int wrong = 0;
    for (auto& r : runs) wrong += r.load() != 1;
    CHECK(wrong == 0);
    CHECK(out_of_order.load() == 0);
}

}  // namespace

TEST_CASE("thread pool: every item runs once, phase after phase, for every policy and count") {
    ThreadPool pool;
    for (WaitPolicy w : kPolicies)
        for (int threads : {1, 2, 3, 5})
            for (auto [phases, items] : {std::pair{1, 1}, {1, 7}, {4, 2}, {9, 3}, {2, 64}}) {
                INFO(to_string(w) << ", " << threads << " threads, " << phases << " x " << items);
                check_once_in_order(pool, phases, items, threads, w);
            }
    CHECK(pool.workers() == 4);  // started on demand: at most threads - 1
}

TEST_CASE("thread pool: an item's exception reaches the caller and the pool stays usable") {
    ThreadPool pool;
    for (WaitPolicy w : kPolicies) {
        INFO(to_string(w));
        std::atomic<int> ran{0};
        CHECK_THROWS_WITH_AS(pool.run(3, 4, 3, w,
                                      [&](int64_t p, int i) {
                                          ran.fetch_add(1);
                                          if (p == 1 && i == 2) throw std::runtime_error("item 1.2");
                                      }),
                             "item 1.2", std::runtime_error);
        CHECK(ran.load() <= 12);
        check_once_in_order(pool, 3, 4, 3, w);
    }
}

TEST_CASE("thread pool: calls from inside an item and from many threads at once finish") {
    ThreadPool pool;
    // Nested: the inner call finds the workers taken and runs on its own thread.
    std::atomic<int> inner{0};
    pool.run(1, 4, 2, WaitPolicy::bounded, [&](int64_t, int) {
        pool.run(2, 3, 2, WaitPolicy::bounded, [&](int64_t, int) { inner.fetch_add(1); });
    });
    CHECK(inner.load() == 4 * 6);
    // Concurrent: one call gets the workers, the others run alone; all complete every item.
    std::vector<std::thread> callers;
    std::atomic<int> total{0};
    for (int c = 0; c < 6; ++c)
        callers.emplace_back([&, c] {
            for (int r = 0; r < 20; ++r)
                pool.run(3, 5, 2 + c % 3, kPolicies[c % 3],
                         [&](int64_t, int) { total.fetch_add(1); });
        });
    for (auto& t : callers) t.join();
    CHECK(total.load() == 6 * 20 * 15);
}

TEST_CASE("thread pool: the wait policies and thread counts give bitwise-identical layers") {
    const char* layers[] = {
        // the channel, depthwise and spatial families, a batch of 3 (several input copies)
        R"({"batch": 3, "in_channels": 24, "out_channels": 40, "input_size": [6, 7],
            "kernel_size": 4, "stride": 2, "padding": 1, "activation": "tanh"})",
        R"({"in_channels": 32, "out_channels": 32, "groups": 32, "input_size": [9, 8],
            "kernel_size": 4, "stride": 2, "padding": 1, "layout": "channels_last"})",
        R"({"in_channels": 2, "out_channels": 3, "input_size": [40], "kernel_size": 5,
            "stride": 3, "bias": false})",
    };
    uint64_t seed = 5;
    for (const char* json : layers) {
        const Problem p = problem_from_json(json);
        const LayerData d = random_layer_data(p, seed++);
        for (Isa isa : {Isa::avx512, Isa::avx2, Isa::scalar}) {
            if (isa > cpu_info().best_isa()) continue;
            std::vector<float> want;
            for (WaitPolicy w : kPolicies) {
                Options o;
                o.max_isa = isa;
                o.wait = w;
                const Layer l = Layer::compile(p, d.w.data(), p.bias ? d.b.data() : nullptr, o);
                // Repeated: tiny layers run their first calls timed on fewer threads.
                for (int threads : {1, 2, 3, 4, 2, 2, 2, 3, 4, 2}) {
                    INFO(p.name << " " << l.implementation() << " " << to_string(w) << " "
                                << threads << " threads");
                    std::vector<float> y(size_t(p.output_elems()), -7.0f);
                    l.execute(d.x.data(), y.data(), threads);
                    if (want.empty()) {
                        want = y;
                        CHECK(compare_to_reference(p, d, y.data()) == "");
                    }
                    CHECK(std::memcmp(y.data(), want.data(), y.size() * sizeof(float)) == 0);
                }
            }
        }
    }
}

// CPU seconds the process's threads other than the calling one used while it slept `ms`.
double others_cpu_while_sleeping(int ms) {
    auto others = [] {
        timespec p{}, t{};
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &p);
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
        return double(p.tv_sec - t.tv_sec) + 1e-9 * double(p.tv_nsec - t.tv_nsec);
    };
    const double before = others();
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    return others() - before;
}

TEST_CASE("thread pool: park_threads puts spinning idle workers to sleep until the next call") {
    const Problem p = problem_from_json(R"({"in_channels": 32, "out_channels": 32,
        "input_size": [16, 16], "kernel_size": 4, "stride": 2, "padding": 1})");
    const LayerData d = random_layer_data(p, 4);
    Options o;
    o.wait = WaitPolicy::spin;
    const Layer l = Layer::compile(p, d.w.data(), d.b.data(), o);
    std::vector<float> want(size_t(p.output_elems())), y(want.size());
    l.execute(d.x.data(), want.data(), 1);
    l.execute(d.x.data(), y.data(), 2);  // a worker joins, then spins for the next call
    REQUIRE(global_pool().workers() >= 1);
    // 100 ms asleep here: the spinning worker burns most of it (the check of the check), the
    // parked one nothing (the kernel accounts other threads' time at ticks: a few ms of slack).
    CHECK(others_cpu_while_sleeping(100) > 0.02);
    park_threads();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    CHECK(others_cpu_while_sleeping(100) < 0.01);
    l.execute(d.x.data(), y.data(), 2);  // the next call wakes them, and spins again after
    CHECK(std::memcmp(y.data(), want.data(), y.size() * sizeof(float)) == 0);
    CHECK(others_cpu_while_sleeping(100) > 0.02);
    tconv_park_threads();  // the C API's
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    CHECK(others_cpu_while_sleeping(100) < 0.01);
}

TEST_CASE("thread pool: a layer executed from inside the pool's own items does not deadlock") {
    const Problem p = problem_from_json(R"({"in_channels": 16, "out_channels": 16,
        "input_size": [8, 8], "kernel_size": 4, "stride": 2, "padding": 1})");
    const LayerData d = random_layer_data(p, 9);
    const Layer l = Layer::compile(p, d.w.data(), d.b.data());
    std::vector<float> want(size_t(p.output_elems()));
    l.execute(d.x.data(), want.data(), 1);
    std::vector<std::vector<float>> got(4, std::vector<float>(want.size()));
    global_pool().run(1, 4, 2, WaitPolicy::bounded,
                      [&](int64_t, int i) { l.execute(d.x.data(), got[size_t(i)].data(), 2); });
    for (const auto& y : got) CHECK(std::memcmp(y.data(), want.data(), y.size() * 4) == 0);
}

TEST_CASE("wait word: bounded spins about 50 us, and not at all for a while after a preemption") {
    using namespace std::chrono_literals;
    std::atomic<int64_t>& until = contended_until();
    until.store(0);
    const auto t0 = SpinBudget::clock::now();
    SpinBudget quiet(t0);
    CHECK(quiet.keep_spinning(t0 + 10us));
    CHECK(quiet.keep_spinning(t0 + 40us));
    CHECK_FALSE(quiet.keep_spinning(t0 + 60us));  // the budget is spent
    CHECK(until.load() == 0);                     // looks 20 us apart: never descheduled

    SpinBudget preempted(t0);
    CHECK_FALSE(preempted.keep_spinning(t0 + 10us + kPreempted));  // a jump between two looks
    CHECK(until.load() > (t0 + kContendedFor).time_since_epoch().count());
    SpinBudget later(t0 + 500ms);  // another wait inside the contended period sleeps at once
    CHECK_FALSE(later.keep_spinning(t0 + 500ms));
    SpinBudget after(t0 + 2s);  // and spins again once it is over
    CHECK(after.keep_spinning(t0 + 2s + 10us));
    until.store(0);
}

TEST_CASE("thread defaults: TCONV_NUM_THREADS, then OMP_NUM_THREADS, then the CPUs") {
    CHECK(threads_from_env(nullptr, nullptr, 6) == 6);
    CHECK(threads_from_env("", "", 6) == 6);
    CHECK(threads_from_env("3", "5", 6) == 3);
    CHECK(threads_from_env(nullptr, "5", 6) == 5);
    CHECK(threads_from_env(nullptr, "4,2", 6) == 4);  // OpenMP's nested list: the outer level
    CHECK(threads_from_env(nullptr, "lots", 6) == 6);  // not tconv's variable: ignored
    CHECK(threads_from_env("1024", nullptr, 6) == 1024);
    for (const char* bad : {"0", "-2", "1025", "2x", "two", " 2"}) {
        const std::string want = std::string("TCONV_NUM_THREADS=") + bad +
                                 " is not a thread count: use an integer from 1 to 1024";
        CHECK_THROWS_WITH_AS(threads_from_env(bad, "5", 6), doctest::Contains(want.c_str()), Error);
    }
    CHECK(affinity_cpus() >= 1);
    CHECK(default_threads() >= 1);
}

TEST_CASE("thread defaults: threads worth waking, from the FLOPs or a slow layer's time") {
    CHECK(useful_threads(0.0, 0) == 1);
    CHECK(useful_threads(0.4e6, 0) == 1);
    CHECK(useful_threads(1.0e6, 0) == 2);
    CHECK(useful_threads(1.0e12, 0) == 1024);
    // Timed: one thread per 5 us, never fewer than the FLOPs give.
    CHECK(useful_threads(0.4e6, 4'900) == 1);
    CHECK(useful_threads(0.4e6, 10'000) == 2);
    CHECK(useful_threads(0.4e6, 42'000) == 8);
    CHECK(useful_threads(4.0e6, 10'000) == 8);
    CHECK(useful_threads(0.4e6, int64_t(1) << 50) == 1024);
    CHECK(useful_threads(0.4e6, -1) == 1);
}

TEST_CASE("thread defaults: TCONV_WAIT_POLICY and Options::wait") {
    CHECK(wait_policy_from_env(nullptr) == WaitPolicy::bounded);  // the default
    CHECK(wait_policy_from_env("") == WaitPolicy::bounded);
    for (WaitPolicy w : kPolicies) {
        CHECK(wait_policy_from_env(std::string(to_string(w)).c_str()) == w);
        Options o;
        o.wait = w;
        CHECK(resolve_wait_policy(o) == w);  // Options wins over the environment
    }
    for (const char* bad : {"active", "Spin", "passive ", "1"}) {
        const std::string want = std::string("TCONV_WAIT_POLICY=") + bad +
                                 " is not a wait policy: use bounded, spin or passive";
        CHECK_THROWS_WITH_AS(wait_policy_from_env(bad), doctest::Contains(want.c_str()), Error);
    }
}

}  // namespace tconv::test
