// SPDX-License-Identifier: Apache-2.0
// .npy reading and writing: round trips, files laid out as NumPy writes them (v1, v2, v3), every
// rejected input with its message, and the atomicity of writes.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/resource.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <optional>
#include <sstream>

#include "helpers.hpp"

namespace fs = std::filesystem;
using tconv::ErrorKind;
using tconv::Tensor;
using tconv::test::TempDir;

namespace {

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string float_bytes(const std::vector<float>& v) {
    std::string s(v.size() * sizeof(float), '\0');
    if (!v.empty()) std::memcpy(s.data(), v.data(), s.size());  // x86-64: little-endian already
    return s;
}

// A file laid out as NumPy lays it out: magic, version, little-endian header length, the dict
// padded with spaces and '\n' to a multiple of 64 bytes, then `data`.
std::string npy_file(int major, const std::string& dict, const std::string& data) {
    return tconv::test::npy_bytes(major, dict, data);
}

std::string dict_for(const std::string& descr, const std::string& shape, bool fortran = false) {
    return "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") +
           ", 'shape': " + shape + ", }";
}

struct Caught {
    std::optional<ErrorKind> kind;
    std::string message;
};
Caught catch_error(const std::function<void()>& f) {
    try {
        f();
    } catch (const tconv::Error& e) {
        return {e.kind(), e.what()};
    }
    return {};
}

bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

// Reading `bytes` from a file must fail with `kind` and a message containing every fragment and
// the file's name.
void check_read_error(const TempDir& dir, const std::string& bytes, ErrorKind kind,
                      const std::vector<std::string>& fragments,
                      uint64_t max_bytes = uint64_t(16) << 30) {
    const std::string path = dir.write("bad.npy", bytes);
    Caught c = catch_error([&] { tconv::read_npy(path, max_bytes); });
    INFO("message: " << c.message);
    REQUIRE(c.kind.has_value());
    CHECK(int(*c.kind) == int(kind));
    CHECK(contains(c.message, path));
    for (const auto& f : fragments) CHECK_MESSAGE(contains(c.message, f), "missing: " << f);
}

std::vector<std::string> entries(const fs::path& dir) {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

}  // namespace

TEST_CASE("npy: write then read returns the same tensor") {
    TempDir dir;
    const std::vector<std::vector<int64_t>> shapes = {
        {}, {1}, {7}, {2, 3}, {1, 4, 5, 6}, {2, 1, 3, 1, 2}, {0}, {3, 0, 2}};
    for (const auto& shape : shapes) {
        SUBCASE(tconv::shape_string(shape).c_str()) {
            int64_t n = 1;
            for (int64_t d : shape) n *= d;
            auto data = tconv::test::random_vector(size_t(n), 42 + size_t(shape.size()));
            if (n > 0) data[0] = -0.0f;  // bit patterns survive, not just values
            if (n > 1) data[1] = std::numeric_limits<float>::infinity();
            const std::string path = dir.file("t.npy");
            tconv::write_npy(path, shape, data.data());
            Tensor t = tconv::read_npy(path);
            CHECK(t.shape == shape);
            REQUIRE(t.data.size() == size_t(n));
            if (n > 0)
                CHECK(std::memcmp(t.data.data(), data.data(), data.size() * sizeof(float)) == 0);

            // NumPy's layout: v1, the data starting at a multiple of 64 bytes.
            const std::string raw = slurp(path);
            REQUIRE(raw.size() >= 10);
            CHECK(raw.substr(0, 8) == std::string("\x93NUMPY\x01\x00", 8));
            const size_t header_len = size_t(uint8_t(raw[8])) | size_t(uint8_t(raw[9])) << 8;
            CHECK((10 + header_len) % 64 == 0);
            CHECK(raw.size() == 10 + header_len + size_t(n) * sizeof(float));
            CHECK(raw[10 + header_len - 1] == '\n');
        }
    }
}

TEST_CASE("npy: the header text is NumPy's, byte for byte") {
    TempDir dir;
    const float v[6] = {1, 2, 3, 4, 5, 6};
    const std::string path = dir.file("t.npy");
    tconv::write_npy(path, {2, 3}, v);
    CHECK(slurp(path) == npy_file(1, dict_for("<f4", "(2, 3)"), float_bytes({1, 2, 3, 4, 5, 6})));
    tconv::write_npy(path, {6}, v);
    CHECK(slurp(path) == npy_file(1, dict_for("<f4", "(6,)"), float_bytes({1, 2, 3, 4, 5, 6})));
    tconv::write_npy(path, {}, v);
    CHECK(slurp(path) == npy_file(1, dict_for("<f4", "()"), float_bytes({1})));
}

TEST_CASE("npy: reads files as NumPy writes them (versions 1, 2 and 3)") {
    TempDir dir;
    const std::vector<float> values = {0.5f, -1.25f, 3.0f, 1e-20f, -7.0f, 65504.0f};
    for (int major = 1; major <= 3; ++major) {
        SUBCASE(("version " + std::to_string(major)).c_str()) {
            const std::string path = dir.write(
                "v.npy", npy_file(major, dict_for("<f4", "(3, 2)"), float_bytes(values)));
            Tensor t = tconv::read_npy(path);
            CHECK(t.shape == std::vector<int64_t>{3, 2});
            CHECK(t.data == values);
        }
    }
    SUBCASE("scalar: shape ()") {
        Tensor t = tconv::read_npy(
            dir.write("s.npy", npy_file(1, dict_for("<f4", "()"), float_bytes({2.5f}))));
        CHECK(t.shape.empty());
        CHECK(t.data == std::vector<float>{2.5f});
    }
    SUBCASE("1-D: shape (3,)") {
        Tensor t = tconv::read_npy(
            dir.write("o.npy", npy_file(1, dict_for("<f4", "(3,)"), float_bytes({1, 2, 3}))));
        CHECK(t.shape == std::vector<int64_t>{3});
    }
    SUBCASE("other writers: key order, double quotes, no trailing comma, no padding") {
        std::string dict = "{\"shape\": (2,2), \"fortran_order\":False,'descr':\"<f4\"}";
        std::string f = "\x93NUMPY\x01";
        f += '\0';
        f += char(dict.size());
        f += '\0';
        Tensor t = tconv::read_npy(dir.write("x.npy", f + dict + float_bytes({1, 2, 3, 4})));
        CHECK(t.shape == std::vector<int64_t>{2, 2});
        CHECK(t.data == std::vector<float>{1, 2, 3, 4});
    }
    SUBCASE("Python 2 long sizes: (2L, 3L)") {
        Tensor t = tconv::read_npy(dir.write(
            "l.npy", npy_file(1, dict_for("<f4", "(2L, 3L)"), float_bytes(values))));
        CHECK(t.shape == std::vector<int64_t>{2, 3});
    }
}

TEST_CASE("npy: malformed files are refused with a message naming the file") {
    TempDir dir;
    const std::string four = float_bytes({1, 2, 3, 4});
    const auto bad = ErrorKind::invalid_argument;

    SUBCASE("empty file") { check_read_error(dir, "", bad, {"empty", "\\x93NUMPY"}); }
    SUBCASE("bad magic") {
        check_read_error(dir, "hello world, not numpy", bad,
                         {"expected the magic \"\\x93NUMPY\"", "found \"hello \""});
    }
    SUBCASE("an .npz archive") {
        check_read_error(dir, std::string("PK\x03\x04\x14\x00\x00\x00", 8) + "rest", bad,
                         {"found \"PK\\x03\\x04", ".npz"});
    }
    SUBCASE("unsupported version") {
        std::string f = npy_file(1, dict_for("<f4", "(4,)"), four);
        f[6] = 4;
        check_read_error(dir, f, bad, {"unsupported .npy format version 4.0", "1.0, 2.0 or 3.0"});
        f[6] = 1;
        f[7] = 1;
        check_read_error(dir, f, bad, {"version 1.1"});
    }
    SUBCASE("truncated prefix") {
        check_read_error(dir, std::string("\x93NUMPY\x01\x00", 8), bad,
                         {"truncated .npy header", "8 bytes"});
        check_read_error(dir, std::string("\x93NUMPY\x02\x00\x10\x00", 10), bad,
                         {"truncated .npy header", "version 2.0"});
    }
    SUBCASE("header longer than the file") {
        std::string f = npy_file(1, dict_for("<f4", "(4,)"), "");
        check_read_error(dir, f.substr(0, 40), bad,
                         {"truncated .npy header", "header is 118 bytes", "only 30 bytes"});
    }
    SUBCASE("header is not a dict") {
        check_read_error(dir, npy_file(1, "[1, 2, 3]", four), bad,
                         {"not a valid Python dict literal", "expected a dict"});
    }
    SUBCASE("unparseable header") {
        check_read_error(dir, npy_file(1, "{'descr': '<f4', 'fortran_order': Flase, 'shape': (4,)}",
                                       four),
                         bad, {"not a valid Python dict literal", "unexpected name 'Flase'"});
        check_read_error(dir, npy_file(1, "{'descr': '<f4', 'shape': (4,", four), bad,
                         {"not a valid Python dict literal"});
        check_read_error(dir, npy_file(1, "{'descr': '<f4}", four), bad, {"unterminated string"});
        check_read_error(dir, npy_file(1, dict_for("<f4", "(4,)") + " junk", four), bad,
                         {"unexpected text after the dict"});
        check_read_error(dir, npy_file(1, "(4,)", four), bad, {"expected a dict"});
        const std::string deep = std::string(40, '[') + std::string(40, ']');
        check_read_error(dir, npy_file(1, "{'descr': " + deep + "}", four), bad,
                         {"nesting too deep"});
    }
    SUBCASE("missing and unexpected keys") {
        check_read_error(dir, npy_file(1, "{'descr': '<f4', 'shape': (4,), }", four), bad,
                         {"no 'fortran_order' key", "'descr', 'fortran_order', 'shape'"});
        check_read_error(dir, npy_file(1, "{'fortran_order': False, 'shape': (4,), }", four), bad,
                         {"no 'descr' key"});
        check_read_error(dir, npy_file(1, "{'descr': '<f4', 'fortran_order': False}", four), bad,
                         {"no 'shape' key"});
        check_read_error(
            dir,
            npy_file(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), 'x': 1}", four),
            bad, {"unexpected key \"x\""});
        check_read_error(
            dir,
            npy_file(1, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (4,)}",
                     four),
            bad, {"duplicate key 'descr'"});
    }
    SUBCASE("other dtypes") {
        const std::vector<std::pair<std::string, std::string>> dtypes = {
            {"<f8", "(float64)"}, {"<i4", "(int32)"}, {">f4", "(big-endian float32)"},
            {"|u1", "(uint8)"},   {"<f2", "(float16)"}, {"=f4", "(native-order float32)"},
            {"|b1", "(bool)"}};
        for (const auto& [descr, name] : dtypes) {
            INFO(descr);
            check_read_error(dir, npy_file(1, dict_for(descr, "(4,)"), four), bad,
                             {"expected little-endian float32 data (descr '<f4')",
                              "found '" + descr + "' " + name});
        }
        check_read_error(
            dir, npy_file(1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (4,)}",
                          four),
            bad, {"found a structured dtype"});
    }
    SUBCASE("Fortran order") {
        check_read_error(dir, npy_file(1, dict_for("<f4", "(2, 2)", true), four), bad,
                         {"expected C-order data", "found Fortran order"});
        check_read_error(dir,
                         npy_file(1, "{'descr': '<f4', 'fortran_order': 0, 'shape': (4,)}", four),
                         bad, {"'fortran_order' to be False", "found the integer 0"});
    }
    SUBCASE("bad shapes") {
        check_read_error(dir, npy_file(1, dict_for("<f4", "(2, -2)"), four), bad,
                         {"non-negative integers", "negative size -2 at position 1"});
        check_read_error(dir, npy_file(1, dict_for("<f4", "[4]"), four), bad,
                         {"'shape' to be a tuple", "found a list"});
        check_read_error(dir, npy_file(1, dict_for("<f4", "4"), four), bad,
                         {"'shape' to be a tuple", "found the integer 4"});
        check_read_error(dir, npy_file(1, dict_for("<f4", "(2, 'a')"), four), bad,
                         {"found the string \"a\" at position 1"});
        check_read_error(dir, npy_file(1, dict_for("<f4", "(99999999999999999999,)"), four), bad,
                         {"non-negative integers", "99999999999999999999"});
        // Each size fits, the product does not.
        check_read_error(dir,
                         npy_file(1, dict_for("<f4", "(4294967296, 4294967296, 4294967296)"), four),
                         bad, {"more elements than fit in 64 bits"});
        check_read_error(dir, npy_file(1, dict_for("<f4", "(4611686018427387904,)"), four), bad,
                         {"too large"});
    }
    SUBCASE("a lying header: the shape claims more data than the file holds") {
        // Must be refused from the file size, before allocating 4 TB.
        check_read_error(dir, npy_file(1, dict_for("<f4", "(1000000, 1000000)"), four), bad,
                         {"data is truncated", "[1000000, 1000000]", "4000000000000 bytes",
                          "found only 16"});
        check_read_error(dir, npy_file(1, dict_for("<f4", "(5,)"), four), bad,
                         {"data is truncated", "needs 20 bytes", "found only 16"});
    }
    SUBCASE("trailing bytes after the data") {
        check_read_error(dir, npy_file(1, dict_for("<f4", "(3,)"), four), bad,
                         {"4 unexpected bytes after the data", "needs 12 bytes", "found 16"});
    }
    SUBCASE("over the size limit") {
        check_read_error(dir, npy_file(1, dict_for("<f4", "(4,)"), four), ErrorKind::out_of_memory,
                         {"16 bytes", "limit of 15 bytes"}, 15);
        CHECK(tconv::read_npy(dir.write("ok.npy", npy_file(1, dict_for("<f4", "(4,)"), four)), 16)
                  .data.size() == 4);
    }
}

TEST_CASE("npy: unreadable paths are io errors naming the path") {
    TempDir dir;
    SUBCASE("missing file") {
        const std::string path = dir.file("missing.npy");
        Caught c = catch_error([&] { tconv::read_npy(path); });
        REQUIRE(c.kind.has_value());
        CHECK(int(*c.kind) == int(ErrorKind::io));
        CHECK(contains(c.message, path + ": cannot open: No such file or directory"));
    }
    SUBCASE("a directory") {
        const std::string path = dir.file("sub.npy");
        fs::create_directory(path);
        Caught c = catch_error([&] { tconv::read_npy(path); });
        REQUIRE(c.kind.has_value());
        CHECK(int(*c.kind) == int(ErrorKind::io));
        CHECK(contains(c.message, path + ": cannot read: it is a directory"));
    }
}

TEST_CASE("npy: expect_shape names the file, both shapes and a layout hint") {
    Tensor w{{128, 256, 4, 4}, {}};
    CHECK_NOTHROW(tconv::expect_shape(w, {128, 256, 4, 4}, "w.npy", "weights"));
    Caught c = catch_error([&] { tconv::expect_shape(w, {256, 128, 4, 4}, "w.npy", "weights"); });
    REQUIRE(c.kind.has_value());
    CHECK(int(*c.kind) == int(ErrorKind::invalid_argument));
    CHECK(c.message ==
          "w.npy: weights shape [128, 256, 4, 4] does not match the layer: expected "
          "[256, 128, 4, 4] (weights use PyTorch's ConvTranspose layout [in_channels, "
          "out_channels/groups, *kernel])");

    c = catch_error([&] { tconv::expect_shape(w, {128, 256, 3, 3}, "w.npy", "weights"); });
    CHECK(c.message ==
          "w.npy: weights shape [128, 256, 4, 4] does not match the layer: expected "
          "[128, 256, 3, 3]");

    Tensor x{{1, 8, 8, 3}, {}};
    c = catch_error([&] { tconv::expect_shape(x, {1, 3, 8, 8}, "x.npy", "input"); });
    CHECK(contains(c.message, "x.npy: input shape [1, 8, 8, 3] does not match the layer: "
                              "expected [1, 3, 8, 8] (the tensor looks channels_last"));
    c = catch_error([&] { tconv::expect_shape(Tensor{{1, 3, 8, 8}, {}}, {1, 8, 8, 3}, "x.npy",
                                              "input"); });
    CHECK(contains(c.message, "(the tensor looks channels_first"));
    c = catch_error([&] { tconv::expect_shape(Tensor{{}, {}}, {4}, "b.npy", "bias"); });
    CHECK(c.message == "b.npy: bias shape [] does not match the layer: expected [4]");
}

TEST_CASE("npy: writes are atomic") {
    TempDir dir;
    const float v[4] = {1, 2, 3, 4};

    SUBCASE("overwriting replaces the file and leaves no temporary behind") {
        const std::string path = dir.write("y.npy", "old contents");
        tconv::write_npy(path, {4}, v);
        CHECK(tconv::read_npy(path).data == std::vector<float>{1, 2, 3, 4});
        CHECK(entries(dir.path) == std::vector<std::string>{"y.npy"});
    }
    SUBCASE("a missing directory") {
        const std::string path = dir.file("no/such/dir/y.npy");
        Caught c = catch_error([&] { tconv::write_npy(path, {4}, v); });
        REQUIRE(c.kind.has_value());
        CHECK(int(*c.kind) == int(ErrorKind::io));
        CHECK(contains(c.message, path + ": cannot write: the directory"));
        CHECK(contains(c.message, "does not exist"));
        CHECK(entries(dir.path).empty());
    }
    SUBCASE("the target is a directory") {
        const std::string path = dir.file("out.npy");
        fs::create_directory(path);
        dir.write("out.npy/keep", "x");
        Caught c = catch_error([&] { tconv::write_npy(path, {4}, v); });
        REQUIRE(c.kind.has_value());
        CHECK(int(*c.kind) == int(ErrorKind::io));
        CHECK(contains(c.message, path + ": cannot write: it is a directory"));
        CHECK(fs::is_directory(path));
        CHECK(entries(path) == std::vector<std::string>{"keep"});
        CHECK(entries(dir.path) == std::vector<std::string>{"out.npy"});
    }
    SUBCASE("a write that fails midway leaves the old file untouched") {
        // A file-size limit makes the data write itself fail (EFBIG), after the temporary file
        // exists: the one failure that must clean up after itself.
        const std::string path = dir.write("y.npy", "old contents");
        std::vector<float> big(1 << 16, 1.0f);
        struct rlimit old_limit {};
        REQUIRE(getrlimit(RLIMIT_FSIZE, &old_limit) == 0);
        struct rlimit small = old_limit;
        small.rlim_cur = 4096;
        auto old_handler = signal(SIGXFSZ, SIG_IGN);
        REQUIRE(setrlimit(RLIMIT_FSIZE, &small) == 0);
        Caught c = catch_error([&] { tconv::write_npy(path, {int64_t(big.size())}, big.data()); });
        setrlimit(RLIMIT_FSIZE, &old_limit);
        signal(SIGXFSZ, old_handler);
        REQUIRE(c.kind.has_value());
        CHECK(int(*c.kind) == int(ErrorKind::io));
        CHECK(contains(c.message, path + ": cannot write: File too large"));
        CHECK(slurp(path) == "old contents");
        CHECK(entries(dir.path) == std::vector<std::string>{"y.npy"});
    }
    SUBCASE("bad arguments touch nothing") {
        const std::string path = dir.write("y.npy", "old contents");
        Caught c = catch_error([&] { tconv::write_npy(path, {2, -1}, v); });
        CHECK(int(c.kind.value_or(ErrorKind::internal)) == int(ErrorKind::invalid_argument));
        CHECK(contains(c.message, "negative size"));
        c = catch_error([&] { tconv::write_npy(path, {4}, nullptr); });
        CHECK(int(c.kind.value_or(ErrorKind::internal)) == int(ErrorKind::invalid_argument));
        CHECK(slurp(path) == "old contents");
        CHECK(entries(dir.path) == std::vector<std::string>{"y.npy"});
    }
}
