// SPDX-License-Identifier: Apache-2.0
// Layers on which the differential fuzzer (fuzz/fuzz_differential.cpp) saw an implementation
// disagree with the reference. Each config in tests/fuzz_regressions/differential/ runs as
// `tconv verify` runs it: the data the fuzzer drew (its seed is in the layer's name), every
// implementation this CPU has, the same relative-error bound. Mismatches whose bug is still open
// wait in differential_open/, checked only on request (`--no-skip`), so that a fix shows up as a
// passing case to move over.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <random>
#include <set>
#include <sstream>

#include "helpers.hpp"

namespace fs = std::filesystem;

namespace tconv::test {
namespace {

constexpr double kTolerance = 1e-5;

const fs::path kDir = fs::path(TCONV_SOURCE_DIR) / "tests" / "fuzz_regressions";

std::vector<fs::path> configs_in(const std::string& sub) {
    std::vector<fs::path> files;
    if (!fs::is_directory(kDir / sub)) return files;
    for (const auto& e : fs::directory_iterator(kDir / sub))
        if (e.is_regular_file() && e.path().extension() == ".json") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    return files;
}

// The fuzzer names a layer "differential seed=N"; other configs get verify's default seed.
uint64_t seed_of(const Problem& p) {
    const size_t at = p.name.find("seed=");
    return at == std::string::npos ? 1 : std::stoull(p.name.substr(at + 5));
}

// Every implementation against the reference on the data `tconv verify --seed` draws: "" when all
// match, else one line per mismatch.
std::string verify(const Problem& p, uint64_t seed, int threads) {
    std::mt19937_64 gen{seed};
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    auto random_values = [&](int64_t n) {
        std::vector<float> v(static_cast<size_t>(n));
        for (float& e : v) e = dist(gen);
        return v;
    };
    const std::vector<float> x = random_values(p.input_elems());
    const std::vector<float> w = random_values(p.weight_elems());
    const std::vector<float> b = random_values(p.bias_elems());
    const float* bias = p.bias ? b.data() : nullptr;
    std::vector<float> want(static_cast<size_t>(p.output_elems()));
    reference_conv_transpose(p, x.data(), w.data(), bias, want.data());
    const std::vector<float> mag = reference_magnitudes(p, x.data(), w.data(), bias);

    std::ostringstream errors;
    std::set<std::string> seen;
    for (Isa isa : {Isa::avx512, Isa::avx2}) {
        if (isa > resolve_max_isa({})) continue;
        Options o;
        o.max_isa = isa;
        const Layer layer = Layer::compile(p, w.data(), bias, o);
        // The reference against itself only when every JIT declined, as in `tconv verify`.
        if (layer.implementation() == "reference" && !seen.empty()) continue;
        if (!seen.insert(layer.implementation()).second) continue;
        std::vector<float> got(want.size());
        layer.execute(x.data(), got.data(), threads);
        const Deviation d = deviation(got.data(), want.data(), mag.data(), p.output_elems());
        if (!(d.max_rel <= kTolerance))
            errors << layer.implementation() << " (" << threads << " thread(s), seed " << seed
                   << "): element " << d.worst << " got " << d.got << ", want " << d.want
                   << ", relative error " << d.max_rel << " > " << kTolerance << "\n";
    }
    return errors.str();
}

void check_all(const std::string& sub) {
    const std::vector<fs::path> files = configs_in(sub);
    MESSAGE(files.size() << " config(s) in tests/fuzz_regressions/" << sub);
    for (const fs::path& f : files) {
        for (const Problem& p : load_config(f.string()).layers) {
            for (int threads : std::set<int>{1, cpu_info().threads}) {
                INFO(f.filename().string() << ": " << p.name);
                CHECK(verify(p, seed_of(p), threads) == "");
            }
        }
    }
}

TEST_CASE("fuzz regressions: differential mismatches stay fixed") { check_all("differential"); }

TEST_CASE("fuzz regressions: open differential mismatches (library bugs not fixed yet)" *
          doctest::skip()) {
    check_all("differential_open");
}

}  // namespace
}  // namespace tconv::test
