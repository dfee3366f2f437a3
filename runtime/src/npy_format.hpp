// SPDX-License-Identifier: Apache-2.0
// The .npy container's pieces shared by reading and writing: the prefix layout, the header dict
// (a Python literal) parsed and checked, and the header block NumPy would write.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tconv/error.hpp"
#include "tconv/npy.hpp"

namespace tconv::npy {

inline constexpr std::string_view kMagic = "\x93NUMPY";
inline constexpr size_t kPrefixV1 = 10;  // magic, 2 version bytes, 2-byte header length
inline constexpr size_t kPrefixV2 = 12;  // v2/v3: 4-byte header length

// Throws Error(kind, "<path>: <what>").
[[noreturn]] void fail(ErrorKind kind, const std::string& path, const std::string& what);

// Bytes as a quoted, printable string for messages: "PK\x03\x04".
std::string quote_bytes(std::string_view bytes, size_t limit = 80);

struct Header {
    std::vector<int64_t> shape;
    uint64_t elements = 1;  // product of shape; elements * 4 fits in int64
};

// Parses the header dict and accepts only little-endian float32 in C order with a valid shape;
// errors (invalid_argument) name `path` and say what was expected and found.
Header parse_header(std::string_view text, const std::string& path);

// The fixed-size start of a file: the magic, the version and the header's length.
struct Prefix {
    size_t size = kPrefixV1;  // 10 for version 1, 12 for versions 2 and 3
    uint64_t header_len = 0;  // checked: fits in the file and is at most the header limit
};
// `head` is the file's first bytes (up to kPrefixV2 of them), `file_size` its whole size.
Prefix parse_prefix(std::string_view head, uint64_t file_size, const std::string& path);

// The data after the header must hold exactly the shape's float32 values (`have` bytes) and fit
// `max_bytes`; returns the data's size in bytes.
uint64_t check_data_size(const Header& h, uint64_t have, uint64_t max_bytes,
                         const std::string& path);

// A whole .npy file already in memory, checked exactly as read_npy checks a file (`name` stands
// for the path in messages). read_npy streams instead, so a huge file is never read whole before
// its header has been checked.
Tensor parse_npy_bytes(std::string_view file, const std::string& name, uint64_t max_bytes);

// Magic, version, header length and the padded dict, ready to precede the data.
std::string header_block(const std::vector<int64_t>& shape);

}  // namespace tconv::npy
