// SPDX-License-Identifier: Apache-2.0
// W^X for the whole process: after compiling layers with each JIT ISA, and while another thread
// keeps compiling, no mapping in /proc/self/maps is both writable and executable.
// (test_jit.cpp checks that each kernel's own pages end up read+execute.) The generator allocates
// code buffers without execute permission (Xbyak's DontSetProtectRWE), writes them, then switches
// them to read+execute (setProtectModeRE), so no window with both exists by construction; the
// scan during compilation checks that this stays true.
#include <doctest/doctest.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <thread>

#include "helpers.hpp"


namespace tconv::test {
namespace {

// The lines of /proc/self/maps whose permissions hold both 'w' and 'x'.
std::vector<std::string> writable_and_executable() {
    std::vector<std::string> bad;
    std::ifstream maps("/proc/self/maps");
    std::string line;
    while (std::getline(maps, line)) {
        std::istringstream ls(line);
        std::string range, perms;
        ls >> range >> perms;
        if (perms.find('w') != std::string::npos && perms.find('x') != std::string::npos)
            bad.push_back(line);
    }
    return bad;
}

bool on_valgrind() { return running_under_valgrind(); }

std::vector<Isa> jit_isas() {
    std::vector<Isa> isas;
    const Isa cap = resolve_max_isa({});
    for (Isa i : {Isa::avx512, Isa::avx2})
        if (i <= cap) isas.push_back(i);
    return isas;
}

const char* const kLayer = R"({"in_channels": 16, "out_channels": 32, "input_size": [6, 6],
                                "kernel_size": 4, "stride": 2, "padding": 1})";

}  // namespace

// Valgrind runs the program from its own read-write-execute translation cache, which shows up
// in /proc/self/maps: the check only means something natively.
TEST_CASE("wx: no mapping is writable and executable after or during JIT compilation" *
          doctest::skip(on_valgrind())) {
    const std::vector<Isa> isas = jit_isas();
    if (isas.empty()) return;  // no JIT on this CPU (or capped to scalar): nothing to check
    REQUIRE(std::ifstream("/proc/self/maps").good());
    const Problem p = problem_from_json(kLayer);
    const LayerData d = random_layer_data(p, 5);

    std::vector<Layer> layers;
    for (Isa isa : isas) {
        layers.push_back(Layer::compile(p, d.w.data(), d.b.data(), Options{isa, 0, {}}));
        CHECK(layers.back().implementation() == "jit_" + std::string(to_string(isa)));
    }
    for (const std::string& line : writable_and_executable()) FAIL_CHECK("W+X mapping: " << line);

    // Scan while another thread compiles layers of distinct shapes: compiled kernels are cached
    // per shape, so each of these emits new code rather than reusing the first layer's.
    std::atomic<bool> done{false};
    std::atomic<int> compiled{0};
    std::thread compiler([&] {
        for (int k = 1; k <= 7; ++k)
            for (int s = 1; s <= 3; ++s) {
                const Problem q = problem_from_json(
                    R"({"in_channels": 8, "out_channels": 24, "input_size": [5, 7], "kernel_size": )" +
                    std::to_string(k) + R"(, "stride": )" + std::to_string(s) + "}");
                const LayerData e = random_layer_data(q, uint64_t(k * 3 + s));
                for (Isa isa : isas) Layer::compile(q, e.w.data(), e.b.data(), Options{isa, 0, {}});
                compiled.fetch_add(1);
            }
        done = true;
    });
    std::vector<std::string> seen;
    int scans = 0;
    do {
        seen = writable_and_executable();
        ++scans;
    } while (seen.empty() && !done.load());
    compiler.join();
    CHECK(compiled.load() == 21);
    INFO(scans << " scans of /proc/self/maps while compiling");
    for (const std::string& line : seen) FAIL_CHECK("W+X mapping during compilation: " << line);
}

}  // namespace tconv::test
