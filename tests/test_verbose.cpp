// SPDX-License-Identifier: Apache-2.0
// TCONV_VERBOSE=1: one stderr line per compile and per execute, naming the layer, the
// implementation, the kernel, the shapes and the time; nothing when unset or "0".
#ifdef TCONV_CLI

#include <doctest/doctest.h>

#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "helpers.hpp"

namespace {

// stderr of `TCONV_VERBOSE=<value> tconv verify <config>` (stdout dropped).
std::string verbose_stderr(const std::string& value, const std::string& config) {
    const std::string cmd = "TCONV_VERBOSE='" + value + "' '" + std::string(TCONV_CLI) +
                            "' verify '" + config + "' 2>&1 >/dev/null";
    std::FILE* f = ::popen(cmd.c_str(), "r");
    REQUIRE(f);
    std::string out;
    char buf[4096];
    while (size_t n = std::fread(buf, 1, sizeof buf, f)) out.append(buf, n);
    ::pclose(f);
    return out;
}

std::vector<std::string> lines(const std::string& s) {
    std::vector<std::string> out;
    std::istringstream in(s);
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
}

}  // namespace

TEST_CASE("verbose: a line per compile and per execute, off by default") {
    tconv::test::TempDir dir;
    const std::string config = dir.write("v.json", R"({"name": "up", "in_channels": 4,
        "out_channels": 2, "input_size": [3, 5], "kernel_size": 4, "stride": 2, "padding": 1})");
    const std::vector<std::string> on = lines(verbose_stderr("1", config));
    REQUIRE(!on.empty());
    int compiles = 0, executes = 0;
    for (const std::string& l : on) {
        CAPTURE(l);
        CHECK(l.rfind("tconv_verbose,", 0) == 0);
        CHECK(l.find("up,") != std::string::npos);
        CHECK(l.find("1x4x3x5->1x2x6x10") != std::string::npos);
        compiles += l.rfind("tconv_verbose,compile,up,", 0) == 0;
        executes += l.rfind("tconv_verbose,execute,up,", 0) == 0 &&
                    l.find(",threads=") != std::string::npos;
    }
    CHECK(compiles >= 2);  // verify compiles every implementation: the reference and the JITs
    // ...and executes each f32 JIT the CPU has (avx2: 1, avx512: 2; the AMX kernels serve bf16
    // layers only; the reference's result comes from its own double-precision run)
    CHECK(executes >= std::min(int(tconv::cpu_info().best_isa()), int(tconv::Isa::avx512)));
    CHECK(verbose_stderr("0", config).empty());
    CHECK(verbose_stderr("", config).empty());
}

#endif
