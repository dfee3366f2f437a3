// SPDX-License-Identifier: Apache-2.0
// .npy files from arbitrary bytes: parse_npy_bytes (the checks read_npy applies to a file) must
// either return a tensor consistent with its header or throw tconv::Error.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "npy_format.hpp"
#include "tconv/problem.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view file(reinterpret_cast<const char*>(data), size);
    try {
        const tconv::Tensor t = tconv::npy::parse_npy_bytes(file, "<fuzz>", uint64_t(1) << 30);
        uint64_t elems = 1;
        for (int64_t d : t.shape) {
            if (d < 0) std::abort();
            elems *= uint64_t(d);
        }
        if (elems != t.data.size()) std::abort();
        // A tensor that was accepted must survive being described in a message.
        (void)tconv::shape_string(t.shape);
    } catch (const tconv::Error&) {
    }
    return 0;
}
