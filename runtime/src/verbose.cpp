// SPDX-License-Identifier: Apache-2.0
#include "verbose.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

namespace tconv {

namespace {

// The layer's kernel: the first of its kernels, "(+N)" for the others; the reference has none.
std::string kernel_of(const CompileReport& r) {
    if (r.kernel_names.empty()) return "-";
    return r.kernel_names.size() == 1
               ? r.kernel_names[0]
               : fmt::format("{}(+{})", r.kernel_names[0], r.kernel_names.size() - 1);
}

// One write per line: lines of concurrent calls do not interleave.
void emit(const std::string& line) { std::fputs((line + "\n").c_str(), stderr); }

// "1x256x14x14->1x128x28x28": no commas inside a field.
std::string shapes(const Problem& p) {
    auto dims = [](const std::vector<int64_t>& s) {
        std::string out;
        for (int64_t d : s) out += (out.empty() ? "" : "x") + std::to_string(d);
        return out;
    };
    return dims(input_shape(p)) + "->" + dims(output_shape(p));
}

}  // namespace

bool verbose() {
    static const bool on = [] {
        const char* v = std::getenv("TCONV_VERBOSE");
        return v && *v && std::strcmp(v, "0") != 0;
    }();
    return on;
}

void verbose_compile(const Problem& p, const CompileReport& r, double ms) {
    emit(fmt::format("tconv_verbose,compile,{},{},{},{},{:.3f}", p.name, r.implementation,
                     kernel_of(r), shapes(p), ms));
}

void verbose_execute(const Problem& p, const CompileReport& r, int threads, double ms) {
    emit(fmt::format("tconv_verbose,execute,{},{},{},{},threads={},{:.3f}", p.name,
                     r.implementation, kernel_of(r), shapes(p), threads, ms));
}

}  // namespace tconv
