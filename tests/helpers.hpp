// SPDX-License-Identifier: Apache-2.0
// Shared by the tests: temporary directories, running the CLI, random tensors, comparison with
// the reference's error bound.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "tconv/tconv.hpp"

namespace tconv::test {

// A fresh directory under the system temp dir, removed with everything in it on destruction.
struct TempDir {
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    std::filesystem::path path;
    std::string file(const std::string& name) const { return (path / name).string(); }
    // Writes `text` to `name` and returns the full path.
    std::string write(const std::string& name, const std::string& text) const;
};

struct CliResult {
    int exit_code = -1;  // 128 + signal when the process was killed by a signal
    std::string out, err;
};
// Runs the built `tconv` binary with `args` (shell-quoted here), no stdin.
CliResult run_cli(const std::vector<std::string>& args);

// Deterministic uniform values in [-1, 1).
std::vector<float> random_vector(size_t n, uint64_t seed);

// Random input, weights and bias for a layer.
struct LayerData {
    std::vector<float> x, w, b;
};
LayerData random_layer_data(const Problem& p, uint64_t seed);

// The error bound: |got - ref| <= tol * (sum over terms of |x*w| + |bias| + |ref|), the term sum
// computed per output by the reference on |x| and |w|. Returns "" when every element passes, else a
// message naming the first failing element.
std::string compare_to_reference(const Problem& p, const LayerData& d, const float* got,
                                 double tol = 1e-5);

// A bf16 layer's result (bf16 values as floats) against the bf16 reference's double-precision
// value before its output rounding (input and weights rounded to bf16):
// |got - ref| <= 2^-8 * |ref| + tol * (sum of |terms|), i.e. at most the output rounding's half
// step plus the fp32 accumulation. Also checks that the bf16 reference returns ref rounded.
// "" when every element passes, else a message naming the first failing element.
std::string compare_bf16_to_reference(const Problem& p, const LayerData& d, const float* got,
                                      double tol = 1e-5);

// The bytes of a .npy file as NumPy lays it out: magic, version `major`.0, little-endian header
// length, the dict padded with spaces and '\n' to a multiple of 64 bytes, then `data`.
std::string npy_bytes(int major, const std::string& dict, const std::string& data);

// True inside Valgrind, whose own code cache is writable and executable and which cannot apply
// address-space limits the way the kernel does.
bool running_under_valgrind();

// A problem from inline JSON (one layer), validated as a config file would be.
Problem problem_from_json(const std::string& json);

}  // namespace tconv::test
