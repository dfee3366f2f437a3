// The .npy container's pieces shared by reading and writing: the prefix layout, the header dict
// (a Python literal) parsed and checked, and the header block NumPy would write.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tconv/error.hpp"

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

// Magic, version, header length and the padded dict, ready to precede the data.
std::string header_block(const std::vector<int64_t>& shape);

}  // namespace tconv::npy
