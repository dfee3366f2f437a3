// SPDX-License-Identifier: Apache-2.0
// Regression inputs for the fuzzed parsers (tests/fuzz_regressions/): every crash libFuzzer finds
// (`make fuzz`) is added there, next to hostile inputs written by hand. Each file must give a
// result or a tconv::Error that is not internal, the same through the in-memory parser and the
// file reader.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "helpers.hpp"
#include "npy_format.hpp"

namespace fs = std::filesystem;

namespace tconv::test {
namespace {

const fs::path kDir = fs::path(TCONV_SOURCE_DIR) / "tests" / "fuzz_regressions";

std::string slurp(const fs::path& f) {
    std::ifstream in(f, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::vector<fs::path> files_in(const std::string& sub) {
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(kDir / sub))
        if (e.is_regular_file()) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    return files;
}

// What a parse gave: "ok" plus a summary, or the error's kind and message.
struct Outcome {
    bool ok = false;
    ErrorKind kind = ErrorKind::internal;
    std::string text;
};

template <class F>
Outcome outcome(F&& parse) {
    Outcome o;
    try {
        o.text = parse();
        o.ok = true;
    } catch (const Error& e) {
        o.kind = e.kind();
        o.text = e.what();
    }
    return o;
}

std::string summary(const Config& c) {
    std::string s = std::to_string(c.layers.size()) + " layer(s)";
    for (const Problem& p : c.layers) s += " " + shape_string(output_shape(p));
    return s;
}

std::string summary(const Tensor& t) {
    return shape_string(t.shape) + " " + std::to_string(t.data.size()) + " values";
}

// Expected outcomes for some files: a substring of the message, or of "ok" + the summary.
const std::map<std::string, std::string> kExpected{
    {"deep_nesting.json", "nested deeper than 32 levels"},
    {"long_list.json", "kernel_size=[... 5000 entries] must have 2 entries"},
    {"invalid_utf8_name.json", "invalid JSON"},
    {"max_sizes.json", "= 9223372021822390277, must be at most 2147483647"},
    // The layer object's shape (a missing key) is read before the rules on its values.
    {"many_layers.json", "layers[200]: missing required key \"out_channels\""},
    {"chain_of_many.json", "300 layer(s)"},
    {"bom.json", "1 layer(s) [1, 2, 6, 6]"},
    {"huge_dim.npy", "non-negative integers, found the integer 99999999999999999999999999"},
    {"int64_max_dim.npy", "too large to address"},
    {"zero_then_huge.npy", "[0, 9223372036854775807, 9223372036854775807] 0 values"},
    {"header_len_4gib.npy", "the prefix says the header is 4294967295 bytes"},
    {"deep_tuple.npy", "nesting too deep"},
    {"python2_long.npy", "[2, 2] 4 values"},
    {"scalar.npy", "[] 1 values"},
    {"plus_sign_and_spaces.npy", "[2] 2 values"},
    {"empty_tensor.npy", "[0] 0 values"},
};

void check(const fs::path& f, const Outcome& o) {
    INFO(f.filename().string() << ": " << o.text);
    CHECK((o.ok || o.kind != ErrorKind::internal));
    auto it = kExpected.find(f.filename().string());
    if (it != kExpected.end()) CHECK(o.text.find(it->second) != std::string::npos);
}

}  // namespace

TEST_CASE("fuzz regressions: configs") {
    const auto files = files_in("config");
    CHECK(files.size() >= 10);
    for (const fs::path& f : files) {
        const std::string bytes = slurp(f);
        const Outcome mem = outcome([&] { return summary(parse_config(bytes, f.string())); });
        check(f, mem);
        const Outcome file = outcome([&] { return summary(load_config(f.string())); });
        CHECK(file.ok == mem.ok);
        CHECK(file.text == mem.text);
    }
}

TEST_CASE("fuzz regressions: .npy files") {
    const auto files = files_in("npy");
    CHECK(files.size() >= 10);
    for (const fs::path& f : files) {
        const std::string bytes = slurp(f);
        const Outcome mem = outcome([&] {
            return summary(npy::parse_npy_bytes(bytes, f.string(), uint64_t(16) << 30));
        });
        check(f, mem);
        // The streaming reader and the in-memory parser apply the same checks.
        const Outcome file = outcome([&] { return summary(read_npy(f.string())); });
        CHECK(file.ok == mem.ok);
        CHECK(file.text == mem.text);
        if (!mem.ok) CHECK(file.kind == mem.kind);
    }
}

TEST_CASE("fuzz regressions: a .npy header over 1 MiB is refused before it is read") {
    std::string f = "\x93NUMPY\x02";
    f += '\0';
    const uint32_t len = (1u << 20) + 64;
    for (int i = 0; i < 4; ++i) f += char((len >> (8 * i)) & 0xff);
    f += std::string(len, ' ');
    try {
        npy::parse_npy_bytes(f, "<big header>", 1024);
        FAIL("accepted");
    } catch (const Error& e) {
        CHECK(std::string(e.what()) ==
              "<big header>: the .npy header is 1048640 bytes, expected at most 1048576");
    }
}

}  // namespace tconv::test
