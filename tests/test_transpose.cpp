// SPDX-License-Identifier: Apache-2.0
// The AVX-512 transposes of channels-first output rows: every tile shape, the lead up to the
// destination's first line boundary, exact values (bf16: rounded as float_to_bf16).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "helpers.hpp"
#include "tconv/bf16.hpp"
#include "transpose.hpp"

namespace tconv {
namespace {

// A destination buffer whose first element sits `shift` elements past a 64-byte boundary.
template <class T>
struct Shifted {
    std::vector<T> buf;
    T* at = nullptr;
    Shifted(size_t n, int64_t shift, T fill) : buf(n + 64 / sizeof(T) + size_t(shift), fill) {
        const size_t pad = (64 - reinterpret_cast<uintptr_t>(buf.data()) % 64) % 64;
        at = buf.data() + pad / sizeof(T) + shift;
    }
};

TEST_CASE("transpose: transpose_avx512 narrows every tile shape as float_to_bf16") {
    if (!cpu_info().avx512f) return;
    const float specials[] = {1.00390625f, NAN, INFINITY, -3.4e38f, 1e-40f, -0.0f};
    // Rows from 64 on take whole-line stores after a lead up to dst's first 64-byte boundary
    // when the row stride keeps every destination row's alignment (ds a multiple of 32), so
    // the start is shifted by 0-31 elements of an aligned buffer.
    for (int64_t rows : {1, 15, 16, 17, 40, 64, 97, 130})
        for (int64_t cols : {1, 7, 16, 19, 33})
            for (int64_t ds_kind : {0, 1})
                for (int64_t shift : {0, 1, 5, 16, 31}) {
                    if (rows < 64 && shift > 1) continue;
                    CAPTURE(rows);
                    CAPTURE(cols);
                    CAPTURE(ds_kind);
                    CAPTURE(shift);
                    const int64_t ss = cols + 3;
                    const int64_t ds = ds_kind ? (rows + 5 + 31) / 32 * 32 : rows + 5;
                    std::vector<float> src(size_t(rows * ss));
                    for (size_t i = 0; i < src.size(); ++i)
                        src[i] = i % 5 == 0 ? specials[i % 6] : float(i) * 1.0001f;
                    Shifted<uint16_t> out(size_t(cols * ds), shift, 0x1234);
                    uint16_t* dst = out.at;
                    transpose_avx512(src.data(), ss, rows, cols, dst, ds);
                    for (int64_t j = 0; j < cols; ++j)
                        for (int64_t i = 0; i < ds; ++i)
                            CHECK(dst[j * ds + i] == (i < rows ? float_to_bf16(src[size_t(i * ss + j)])
                                                               : uint16_t(0x1234)));
                }
}

TEST_CASE("transpose: transpose_avx512 moves every tile shape of floats exactly") {
    if (!cpu_info().avx512f) return;
    // Rows from 64 on: 16-row tiles from dst's first line boundary when the row stride keeps
    // every destination row's alignment (ds a multiple of 16); shorter ones: the AVX2 tiles.
    for (int64_t rows : {1, 9, 40, 64, 65, 97, 130})
        for (int64_t cols : {1, 7, 16, 19, 33})
            for (int64_t ds_kind : {0, 1})
                for (int64_t shift : {0, 1, 3, 8, 15}) {
                    CAPTURE(rows);
                    CAPTURE(cols);
                    CAPTURE(ds_kind);
                    CAPTURE(shift);
                    const int64_t ss = cols + 3;
                    const int64_t ds = ds_kind ? (rows + 5 + 15) / 16 * 16 : rows + 5;
                    std::vector<float> src(size_t(rows * ss));
                    for (size_t i = 0; i < src.size(); ++i) src[i] = float(i) * 1.0001f - 7.0f;
                    Shifted<float> out(size_t(cols * ds), shift, -1.5f);
                    transpose_avx512(src.data(), ss, rows, cols, out.at, ds);
                    for (int64_t j = 0; j < cols; ++j)
                        for (int64_t i = 0; i < ds; ++i)
                            CHECK(out.at[j * ds + i] == (i < rows ? src[size_t(i * ss + j)] : -1.5f));
                }
}

}  // namespace
}  // namespace tconv
