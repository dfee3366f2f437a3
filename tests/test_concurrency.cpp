// SPDX-License-Identifier: Apache-2.0
// Eight std::threads at once: compiling the same and different layers, and executing one shared
// Layer. Every result must be bitwise equal to a single-threaded run. Under ThreadSanitizer
// (`make test-tsan`) this is the test that finds races in compile and execute.
#include <doctest/doctest.h>

#include <atomic>
#include <cstring>
#include <exception>
#include <thread>

#include "helpers.hpp"

namespace tconv::test {
namespace {

constexpr int kThreads = 8;

// Small layers of each rank and layout, so the reference stays quick under sanitizers.
const char* const kLayers[] = {
    R"({"in_channels": 8, "out_channels": 16, "input_size": [5, 6], "kernel_size": 4,
        "stride": 2, "padding": 1, "activation": "relu"})",
    R"({"in_channels": 3, "out_channels": 5, "input_size": [9], "kernel_size": 3, "stride": 3,
        "dilation": 2, "output_padding": 1, "layout": "channels_last", "bias": false})",
    R"({"batch": 2, "in_channels": 4, "out_channels": 8, "input_size": [3, 3, 2],
        "kernel_size": [2, 3, 3], "stride": [1, 2, 2], "pads": [0, 1, 1, 0, 0, 1],
        "activation": "tanh"})",
};

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Runs body(i) on kThreads threads released together; rethrows the first exception.
template <class Body>
void run_together(Body body) {
    std::atomic<int> ready{0};
    std::vector<std::exception_ptr> errors(kThreads);
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i)
        threads.emplace_back([&, i] {
            ready.fetch_add(1);
            while (ready.load() < kThreads) std::this_thread::yield();
            try {
                body(i);
            } catch (...) {
                errors[size_t(i)] = std::current_exception();
            }
        });
    for (auto& t : threads) t.join();
    for (auto& e : errors)
        if (e) std::rethrow_exception(e);
}

// Every ISA this process may use (TCONV_MAX_ISA caps it), best first.
std::vector<Isa> usable_isas() {
    std::vector<Isa> isas;
    const Isa cap = resolve_max_isa({});
    for (Isa i : {Isa::avx512, Isa::avx2, Isa::scalar})
        if (i <= cap) isas.push_back(i);
    return isas;
}

struct Case {
    Problem p;
    LayerData d;
    std::vector<float> want;  // one thread, one compile
};

std::vector<Case> single_threaded(Isa isa) {
    std::vector<Case> cases;
    uint64_t seed = 11;
    for (const char* json : kLayers) {
        Case c{problem_from_json(json), {}, {}};
        c.d = random_layer_data(c.p, seed++);
        const Layer l = Layer::compile(c.p, c.d.w.data(), c.p.bias ? c.d.b.data() : nullptr,
                                       Options{isa, 1, {}});
        c.want.resize(size_t(c.p.output_elems()));
        l.execute(c.d.x.data(), c.want.data(), 1);
        cases.push_back(std::move(c));
    }
    return cases;
}

}  // namespace

TEST_CASE("concurrency: compiling the same and different layers from 8 threads at once") {
    for (Isa isa : usable_isas()) {
        INFO("isa " << to_string(isa));
        const std::vector<Case> cases = single_threaded(isa);
        // Thread i compiles layer i % 3 (so each layer is compiled by several threads at once),
        // runs it, and keeps the result.
        std::vector<std::vector<float>> got(kThreads);
        std::vector<std::string> impl(kThreads);
        run_together([&](int i) {
            const Case& c = cases[size_t(i) % cases.size()];
            for (int repeat = 0; repeat < 3; ++repeat) {
                const Layer l = Layer::compile(c.p, c.d.w.data(),
                                               c.p.bias ? c.d.b.data() : nullptr, Options{isa, 1, {}});
                got[size_t(i)].assign(size_t(c.p.output_elems()), -1.0f);
                l.execute(c.d.x.data(), got[size_t(i)].data(), 1);
                impl[size_t(i)] = l.implementation();
            }
        });
        for (int i = 0; i < kThreads; ++i) {
            INFO("thread " << i << ", layer " << i % cases.size() << ", " << impl[size_t(i)]);
            CHECK(same_bits(got[size_t(i)], cases[size_t(i) % cases.size()].want));
        }
    }
}

TEST_CASE("concurrency: one shared Layer executed from 8 threads at once") {
    for (Isa isa : usable_isas()) {
        INFO("isa " << to_string(isa));
        const std::vector<Case> cases = single_threaded(isa);
        for (const Case& c : cases) {
            INFO("layer " << c.p.name);
            const Layer shared = Layer::compile(c.p, c.d.w.data(),
                                                c.p.bias ? c.d.b.data() : nullptr, Options{isa, 0, {}});
            std::vector<std::vector<float>> got(kThreads);
            std::atomic<int> mismatches{0};
            run_together([&](int i) {
                auto& y = got[size_t(i)];
                for (int repeat = 0; repeat < 4; ++repeat) {
                    y.assign(size_t(c.p.output_elems()), float(i));
                    // Half the threads take the layer's default team (all cores, or
                    // OMP_NUM_THREADS), half ask for one thread: both must give the same bits.
                    if (i % 2) shared.execute(c.d.x.data(), y.data());
                    else shared.execute(c.d.x.data(), y.data(), 1);
                    if (!same_bits(y, c.want)) mismatches.fetch_add(1);
                }
            });
            CHECK(mismatches.load() == 0);
            for (int i = 0; i < kThreads; ++i) CHECK(same_bits(got[size_t(i)], c.want));
        }
    }
}

}  // namespace tconv::test
