// SPDX-License-Identifier: Apache-2.0
#include "helpers.hpp"

#include <sys/wait.h>

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

#include <cmath>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>

namespace tconv::test {

namespace fs = std::filesystem;

TempDir::TempDir() {
    std::random_device rd;
    for (int attempt = 0; attempt < 100; ++attempt) {
        fs::path p = fs::temp_directory_path() / ("tconv_test_" + std::to_string(rd()));
        if (fs::create_directory(p)) {
            path = p;
            return;
        }
    }
    throw std::runtime_error("cannot create a temporary directory");
}

TempDir::~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
}

std::string TempDir::write(const std::string& name, const std::string& text) const {
    std::string f = file(name);
    std::ofstream(f, std::ios::binary) << text;
    return f;
}

#ifdef TCONV_CLI
static std::string shell_quote(const std::string& s) {
    std::string q = "'";
    for (char c : s) q += (c == '\'') ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

static std::string slurp(const std::string& f) {
    std::ifstream in(f, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

CliResult run_cli(const std::vector<std::string>& args) {
    TempDir tmp;
    std::string cmd = shell_quote(TCONV_CLI);
    for (const auto& a : args) cmd += " " + shell_quote(a);
    cmd += " </dev/null >" + shell_quote(tmp.file("out")) + " 2>" + shell_quote(tmp.file("err"));
    int status = std::system(cmd.c_str());
    CliResult r;
    if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
    else if (WIFSIGNALED(status)) r.exit_code = 128 + WTERMSIG(status);
    r.out = slurp(tmp.file("out"));
    r.err = slurp(tmp.file("err"));
    return r;
}
#else
CliResult run_cli(const std::vector<std::string>&) {
    throw std::runtime_error("tests built without the tconv CLI");
}
#endif

std::vector<float> random_vector(size_t n, uint64_t seed) {
    std::mt19937_64 gen(seed);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    std::vector<float> v(n);
    for (auto& x : v) x = dist(gen);
    return v;
}

LayerData random_layer_data(const Problem& p, uint64_t seed) {
    return {random_vector(size_t(p.input_elems()), seed * 3 + 1),
            random_vector(size_t(p.weight_elems()), seed * 3 + 2),
            random_vector(size_t(p.bias_elems()), seed * 3 + 3)};
}

std::string compare_to_reference(const Problem& p, const LayerData& d, const float* got,
                                 double tol) {
    Deviation dev = deviation_from_reference(p, d.x.data(), d.w.data(),
                                             p.bias ? d.b.data() : nullptr, got);
    if (dev.max_rel <= tol) return "";
    std::ostringstream os;
    os << p.name << ": element " << dev.worst << " of " << p.output_elems() << ": got " << dev.got
       << ", want " << dev.want << " (relative error " << dev.max_rel << " > " << tol << ")";
    return os.str();
}

std::string compare_bf16_to_reference(const Problem& p, const LayerData& d, const float* got,
                                      double tol) {
    const float* b = p.bias ? d.b.data() : nullptr;
    Problem exact = p;  // the reference without its output rounding
    exact.dtype = DType::f32;
    std::vector<float> x(d.x.size()), w(d.w.size()), want(size_t(p.output_elems()));
    std::vector<float> rounded(want.size());
    round_to_bf16(d.x.data(), x.data(), int64_t(x.size()));
    round_to_bf16(d.w.data(), w.data(), int64_t(w.size()));
    reference_conv_transpose(exact, x.data(), w.data(), b, want.data());
    reference_conv_transpose(p, d.x.data(), d.w.data(), b, rounded.data());
    const std::vector<float> mag = reference_magnitudes(exact, x.data(), w.data(), b);
    const int64_t bad = first_outside_bf16_bound(got, want.data(), mag.data(), p.output_elems(), tol);
    if (bad >= 0) {
        const size_t i = size_t(bad);
        std::ostringstream os;
        os << p.name << ": element " << i << " of " << want.size() << ": got " << got[i]
           << ", want " << want[i] << " (outside 2^-8 * |want| + " << tol << " * " << mag[i] << ")";
        return os.str();
    }
    for (size_t i = 0; i < want.size(); ++i) {
        const bool stored = round_to_bf16(got[i]) == got[i] || std::isnan(got[i]);
        const bool ref_rounds = round_to_bf16(want[i]) == rounded[i] || std::isnan(want[i]);
        if (stored && ref_rounds) continue;
        std::ostringstream os;
        os << p.name << ": element " << i << " of " << want.size() << ": ";
        if (!stored) os << "got " << got[i] << ", not a bf16 value";
        else os << "bf16 reference " << rounded[i] << " is not " << want[i] << " rounded";
        return os.str();
    }
    return "";
}

std::string npy_bytes(int major, const std::string& dict, const std::string& data) {
    const size_t prefix = major == 1 ? 10 : 12;
    std::string header = dict;
    while ((prefix + header.size() + 1) % 64 != 0) header += ' ';
    header += '\n';
    std::string f = "\x93NUMPY";
    f += char(major);
    f += char(0);
    for (size_t i = 0; i < prefix - 8; ++i) f += char((header.size() >> (8 * i)) & 0xff);
    return f + header + data;
}

bool running_under_valgrind() { return RUNNING_ON_VALGRIND != 0; }

Problem problem_from_json(const std::string& json) {
    return parse_config(json, "<test>").layers.at(0);
}

}  // namespace tconv::test
