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

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

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
          doctest::skip(RUNNING_ON_VALGRIND != 0)) {
    const std::vector<Isa> isas = jit_isas();
    if (isas.empty()) return;  // no JIT on this CPU (or capped to scalar): nothing to check
    REQUIRE(std::ifstream("/proc/self/maps").good());
    const Problem p = problem_from_json(kLayer);
    const LayerData d = random_layer_data(p, 5);

    std::vector<Layer> layers;
    for (Isa isa : isas) {
        layers.push_back(Layer::compile(p, d.w.data(), d.b.data(), Options{isa, 0}));
        CHECK(layers.back().implementation() == "jit_" + std::string(to_string(isa)));
    }
    for (const std::string& line : writable_and_executable()) FAIL_CHECK("W+X mapping: " << line);

    // Scan while another thread compiles and frees layers over and over.
    std::atomic<bool> stop{false};
    std::atomic<int> compiled{0};
    std::thread compiler([&] {
        while (!stop.load()) {
            for (Isa isa : isas) Layer::compile(p, d.w.data(), d.b.data(), Options{isa, 0});
            compiled.fetch_add(1);
        }
    });
    std::vector<std::string> seen;
    for (int scan = 0; scan < 400 && seen.empty(); ++scan) {
        seen = writable_and_executable();
        if (scan >= 100 && compiled.load() >= 20) break;
    }
    stop = true;
    compiler.join();
    CHECK(compiled.load() > 0);
    for (const std::string& line : seen) FAIL_CHECK("W+X mapping during compilation: " << line);
}

}  // namespace tconv::test
