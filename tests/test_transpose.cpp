// SPDX-License-Identifier: Apache-2.0
// The AVX-512 transposes of channels-first output rows: every tile shape, the lead up to the
// destination's first line boundary, exact values (bf16: rounded as float_to_bf16), streamed
// stores.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <type_traits>
#include <vector>

#include "helpers.hpp"
#include "tconv/bf16.hpp"
#include "transpose.hpp"

namespace tconv {
namespace {

// transpose_avx512 of a rows x cols source (some special values among them) into a destination
// of D whose first element sits `shift` elements past a 64-byte boundary, ds elements per row
// (a multiple of a line's elements, or not: the lead is taken only where every row shares
// dst's alignment). Every element is checked, the padding past `rows` untouched; `want` is
// what a source value becomes. Floats with `stream`: the lines past the lead stored
// non-temporally.
template <class D, class Want>
void check_shapes(std::initializer_list<int64_t> row_counts, std::initializer_list<int64_t> shifts,
                  Want want, bool stream = false) {
    const float specials[] = {1.00390625f, NAN, INFINITY, -3.4e38f, 1e-40f, -0.0f};
    const int64_t line = 64 / int64_t(sizeof(D));
    const D fill = D(0x1234);
    for (int64_t rows : row_counts)
        for (int64_t cols : {1, 7, 16, 19, 33})
            for (int64_t aligned_rows : {0, 1})
                for (int64_t shift : shifts) {
                    CAPTURE(rows);
                    CAPTURE(cols);
                    CAPTURE(aligned_rows);
                    CAPTURE(shift);
                    const int64_t ss = cols + 3;
                    const int64_t ds = aligned_rows ? (rows + 5 + line - 1) / line * line : rows + 5;
                    std::vector<float> src(size_t(rows * ss));
                    for (size_t i = 0; i < src.size(); ++i)
                        src[i] = i % 5 == 0 ? specials[i % 6] : float(i) * 1.0001f - 7.0f;
                    std::vector<D> buf(size_t(cols * ds + line + shift), fill);
                    const size_t pad = (64 - reinterpret_cast<uintptr_t>(buf.data()) % 64) % 64;
                    D* dst = buf.data() + pad / sizeof(D) + shift;
                    if constexpr (std::is_same_v<D, float>)
                        transpose_avx512(src.data(), ss, rows, cols, dst, ds, stream);
                    else
                        transpose_avx512(src.data(), ss, rows, cols, dst, ds);
                    for (int64_t j = 0; j < cols; ++j)
                        for (int64_t i = 0; i < ds; ++i) {
                            const D got = dst[j * ds + i];
                            if (i >= rows) {
                                CHECK(std::memcmp(&got, &fill, sizeof(D)) == 0);
                                continue;
                            }
                            const D w = want(src[size_t(i * ss + j)]);
                            CHECK(std::memcmp(&got, &w, sizeof(D)) == 0);  // NaN bits too
                        }
                }
}

TEST_CASE("transpose: transpose_avx512 narrows every tile shape as float_to_bf16") {
    if (!cpu_info().avx512f) return;
    // From 64 rows: 32-row tiles after the lead up to dst's first line boundary.
    check_shapes<uint16_t>({1, 15, 16, 17, 40, 64, 97, 130}, {0, 1, 5, 16, 31},
                           [](float v) { return float_to_bf16(v); });
}

TEST_CASE("transpose: transpose_avx512 moves every tile shape of floats exactly") {
    if (!cpu_info().avx512f) return;
    // From 64 rows: 16-row tiles after the lead; fewer: the AVX2 tiles.
    check_shapes<float>({1, 9, 40, 64, 65, 97, 130}, {0, 1, 3, 8, 15},
                        [](float v) { return v; });
}

TEST_CASE("transpose: streamed float tiles store exactly what the cached ones do") {
    if (!cpu_info().avx512f) return;
    // Non-temporal stores from the first line boundary: any lead, whole and partial tiles.
    check_shapes<float>({1, 40, 64, 65, 97, 130}, {0, 1, 3, 8, 15},
                        [](float v) { return v; }, true);
}

}  // namespace
}  // namespace tconv
