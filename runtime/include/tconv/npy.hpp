// SPDX-License-Identifier: Apache-2.0
// NumPy .npy tensors: reads v1/v2/v3, writes v1; little-endian float32, C order only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tconv/error.hpp"

namespace tconv {

struct Tensor {
    std::vector<int64_t> shape;
    std::vector<float> data;  // C order, product(shape) elements
};

// Errors (ErrorKind::invalid_argument or io) name the file and say what was expected and found.
// Files whose data would exceed `max_bytes` are refused before allocating.
Tensor read_npy(const std::string& path, uint64_t max_bytes = uint64_t(16) << 30);

// Checks a tensor read from `path` against the shape a layer expects; `what` is e.g. "weights".
void expect_shape(const Tensor& t, const std::vector<int64_t>& expected, const std::string& path,
                  const std::string& what);

// Writes atomically: a temporary file in the same directory, then rename(). On any error no new
// file appears and an existing file at `path` is untouched. An existing file is replaced only
// when it is a regular file whose own mode allows this process to write it (read-only files
// are refused, also for root); the new file keeps its mode. A symbolic link is written through:
// its target is replaced and the link kept.
void write_npy(const std::string& path, const std::vector<int64_t>& shape, const float* data);

// Removes the temporary files write_npy calls are writing at this moment. Async-signal-safe:
// for an application's SIGINT/SIGTERM/SIGHUP handler (the tconv command installs one), so an
// interrupted write leaves no partial file behind.
void remove_partial_npy_files() noexcept;

}  // namespace tconv
