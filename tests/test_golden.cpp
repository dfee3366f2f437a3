// SPDX-License-Identifier: Apache-2.0
// Golden cases: layers whose outputs PyTorch computed (tests/golden/make_golden.py writes them),
// run through the reference, every implementation this CPU can execute, and the CLI.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <sstream>

#include "helpers.hpp"

namespace fs = std::filesystem;
using namespace tconv;

namespace {

#ifdef TCONV_CLI
constexpr bool kHaveCli = true;
#else
constexpr bool kHaveCli = false;
#endif

struct GoldenCase {
    std::string name;
    fs::path dir;
    Problem p;
    Tensor x, w, b, y;
    std::string file(const char* f) const { return (dir / f).string(); }
};

fs::path golden_root() { return fs::path(TCONV_SOURCE_DIR) / "tests" / "golden"; }

std::vector<std::string> case_names() {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(golden_root()))
        if (e.is_directory() && fs::exists(e.path() / "config.json"))
            names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

// Reads a case and checks every tensor's shape against what the config says.
GoldenCase load_case(const std::string& name) {
    GoldenCase c;
    c.name = name;
    c.dir = golden_root() / name;
    Config config = load_config(c.file("config.json"));
    REQUIRE(config.layers.size() == 1);
    c.p = config.layers[0];
    c.x = read_npy(c.file("x.npy"));
    expect_shape(c.x, input_shape(c.p), c.file("x.npy"), "input");
    c.w = read_npy(c.file("w.npy"));
    expect_shape(c.w, weight_shape(c.p), c.file("w.npy"), "weights");
    if (c.p.bias) {
        c.b = read_npy(c.file("b.npy"));
        expect_shape(c.b, bias_shape(c.p), c.file("b.npy"), "bias");
    } else {
        CHECK_MESSAGE(!fs::exists(c.file("b.npy")), name << ": b.npy present but bias is false");
    }
    c.y = read_npy(c.file("y.npy"));
    expect_shape(c.y, output_shape(c.p), c.file("y.npy"), "output");
    return c;
}

std::vector<float> absolute(const std::vector<float>& v) {
    std::vector<float> a(v.size());
    std::transform(v.begin(), v.end(), a.begin(), [](float f) { return std::fabs(f); });
    return a;
}

// Per element: |got - want| <= tol * (sum over terms of |x*w| + |bias| + |want|). The sums come
// from the reference on |x|, |w|, |b| without activation; |want| keeps the bound meaningful for
// sigmoid, whose output does not shrink with the sums. Returns "" or the first failure.
std::string compare_golden(const GoldenCase& c, const std::vector<float>& got, double tol = 1e-5) {
    if (got.size() != c.y.data.size()) return "output has the wrong size";
    Problem magnitude = c.p;
    magnitude.activation = Activation::none;
    const auto ax = absolute(c.x.data), aw = absolute(c.w.data), ab = absolute(c.b.data);
    std::vector<float> mag(got.size());
    reference_conv_transpose(magnitude, ax.data(), aw.data(), c.p.bias ? ab.data() : nullptr,
                             mag.data());
    for (size_t i = 0; i < got.size(); ++i) {
        const double want = c.y.data[i];
        const double err = std::fabs(double(got[i]) - want);
        const double bound = tol * (double(mag[i]) + std::fabs(want));
        if (!(err <= bound)) {  // also catches NaN
            std::ostringstream os;
            os << c.name << ": element " << i << " of " << got.size() << ": got " << got[i]
               << ", want " << want << " (|err| " << err << " > bound " << bound << ")";
            return os.str();
        }
    }
    return "";
}

}  // namespace

TEST_CASE("golden: the cases are all present and non-trivial") {
    const auto names = case_names();
    CHECK(names.size() >= 15);
    for (const auto& name : names) {
        INFO(name);
        GoldenCase c = load_case(name);
        // An all-zero expected output would let a broken implementation pass.
        CHECK(std::any_of(c.y.data.begin(), c.y.data.end(), [](float v) { return v != 0; }));
    }
}

TEST_CASE("golden: the reference matches PyTorch") {
    for (const auto& name : case_names()) {
        SUBCASE(name.c_str()) {
            GoldenCase c = load_case(name);
            std::vector<float> y(c.y.data.size());
            reference_conv_transpose(c.p, c.x.data.data(), c.w.data.data(),
                                     c.p.bias ? c.b.data.data() : nullptr, y.data());
            const std::string err = compare_golden(c, y);
            CHECK_MESSAGE(err.empty(), err);
        }
    }
}

TEST_CASE("golden: every implementation this CPU runs matches PyTorch") {
    for (const auto& name : case_names()) {
        SUBCASE(name.c_str()) {
            GoldenCase c = load_case(name);
            for (int isa = int(Isa::scalar); isa <= int(cpu_info().best_isa()); ++isa) {
                Options options;
                options.max_isa = Isa(isa);
                Layer layer = Layer::compile(c.p, c.w.data.data(),
                                             c.p.bias ? c.b.data.data() : nullptr, options);
                INFO("max_isa " << to_string(Isa(isa)) << ": " << layer.report().implementation);
                std::vector<float> y(c.y.data.size());
                layer.execute(c.x.data.data(), y.data());
                const std::string err = compare_golden(c, y);
                CHECK_MESSAGE(err.empty(), err);
            }
        }
    }
}

TEST_CASE("golden: tconv run writes PyTorch's output" * doctest::skip(!kHaveCli)) {
    for (const auto& name : case_names()) {
        SUBCASE(name.c_str()) {
            GoldenCase c = load_case(name);
            test::TempDir tmp;
            const std::string out = tmp.file("y.npy");
            std::vector<std::string> args = {"run",         c.file("config.json"),
                                             "--input",     c.file("x.npy"),
                                             "--weights",   c.file("w.npy"),
                                             "--output",    out};
            if (c.p.bias) {
                args.push_back("--bias");
                args.push_back(c.file("b.npy"));
            }
            test::CliResult r = test::run_cli(args);
            INFO("stderr: " << r.err);
            REQUIRE(r.exit_code == 0);
            Tensor y = read_npy(out);
            expect_shape(y, output_shape(c.p), out, "output");
            const std::string err = compare_golden(c, y.data);
            CHECK_MESSAGE(err.empty(), err);
        }
    }
}
