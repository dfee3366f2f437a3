// SPDX-License-Identifier: Apache-2.0
// The transposes between channels-first rows and pixel-major buffers: every tile shape and
// edge, AVX2 (8x8 tiles, fewer than 8 source rows in loops, sources far apart) and AVX-512
// (the lead up to the destination's first line boundary, streamed stores), exact values (bf16:
// rounded as float_to_bf16, or widened); bf16 channel rows paired into pixel lanes.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <random>
#include <type_traits>
#include <vector>

#include "helpers.hpp"
#include "tconv/bf16.hpp"
#include "transpose.hpp"

namespace tconv {
namespace {

// `run` transposes a rows x cols source of S (some special values among them), src_stride
// ss, into a destination of D whose first element sits `shift` elements past a 64-byte
// boundary, ds elements per row (a multiple of a line's elements, or not: AVX-512 takes its
// lead only where every row shares dst's alignment; or rows: dense pixels). Every element is
// checked, the padding past `rows` untouched; `want` is what a source value becomes. `far`:
// sources a plane apart (ss of 300 and more: the AVX2 order for a channels-first block's rows).
template <class S, class D, class Run, class Want>
void check_shapes(std::initializer_list<int64_t> row_counts, std::initializer_list<int64_t> shifts,
                  std::initializer_list<int64_t> col_counts, Run run, Want want,
                  bool far = false) {
    const float specials[] = {1.00390625f, NAN, INFINITY, -3.4e38f, 1e-40f, -0.0f};
    const int64_t line = 64 / int64_t(sizeof(D));
    const D fill = D(0x1234);
    for (int64_t rows : row_counts)
        for (int64_t cols : col_counts)
            for (int64_t rows_kind : {0, 1, 2})
                for (int64_t shift : shifts) {
                    CAPTURE(rows);
                    CAPTURE(cols);
                    CAPTURE(rows_kind);
                    CAPTURE(shift);
                    const int64_t ss = far ? cols + 300 : cols + 3;
                    // Padded rows, rows of whole lines, or dense ones (a channels-last row).
                    const int64_t ds = rows_kind == 0   ? rows + 5
                                       : rows_kind == 1 ? (rows + 5 + line - 1) / line * line
                                                        : rows;
                    std::vector<S> src(size_t(rows * ss));
                    for (size_t i = 0; i < src.size(); ++i) {
                        const float v = i % 5 == 0 ? specials[i % 6] : float(i) * 1.0001f - 7.0f;
                        if constexpr (std::is_same_v<S, float>) src[i] = v;
                        else src[i] = float_to_bf16(v);
                    }
                    std::vector<D> buf(size_t(cols * ds + line + shift), fill);
                    const size_t pad = (64 - reinterpret_cast<uintptr_t>(buf.data()) % 64) % 64;
                    D* dst = buf.data() + pad / sizeof(D) + shift;
                    run(src.data(), ss, rows, cols, dst, ds);
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

// The AVX-512 transposes of channels-first output rows (`stream`: floats past the lead stored
// non-temporally).
template <class D, class Want>
void check_avx512(std::initializer_list<int64_t> row_counts,
                  std::initializer_list<int64_t> shifts, Want want, bool stream = false) {
    check_shapes<float, D>(
        row_counts, shifts, {1, 7, 16, 19, 33},
        [stream](const float* src, int64_t ss, int64_t rows, int64_t cols, D* dst, int64_t ds) {
            if constexpr (std::is_same_v<D, float>)
                transpose_avx512(src, ss, rows, cols, dst, ds, stream);
            else
                transpose_avx512(src, ss, rows, cols, dst, ds);
        },
        want);
}

// The AVX2 transposes: whole 8x8 tiles, fewer than 8 rows (a row's last ones, or all of them)
// in loops, partial columns under masks; sources near and far apart.
template <class S, class D, class Want>
void check_avx2(Want want) {
    for (bool far : {false, true})
        check_shapes<S, D>(
            {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 30}, {0, 1, 5}, {1, 3, 7, 8, 9, 17, 26},
            [](const S* src, int64_t ss, int64_t rows, int64_t cols, D* dst, int64_t ds) {
                transpose_avx2(src, ss, rows, cols, dst, ds);
            },
            want, far);
}

TEST_CASE("transpose: transpose_avx512 narrows every tile shape as float_to_bf16") {
    if (!cpu_info().avx512f) return;
    // From 64 rows: 32-row tiles after the lead up to dst's first line boundary.
    check_avx512<uint16_t>({1, 15, 16, 17, 40, 64, 97, 130}, {0, 1, 5, 16, 31},
                           [](float v) { return float_to_bf16(v); });
}

TEST_CASE("transpose: transpose_avx512 moves every tile shape of floats exactly") {
    if (!cpu_info().avx512f) return;
    // From 64 rows: 16-row tiles after the lead; fewer: the AVX2 tiles.
    check_avx512<float>({1, 9, 40, 64, 65, 97, 130}, {0, 1, 3, 8, 15},
                        [](float v) { return v; });
}

TEST_CASE("transpose: streamed float tiles store exactly what the cached ones do") {
    if (!cpu_info().avx512f) return;
    // Non-temporal stores from the first line boundary: any lead, whole and partial tiles.
    check_avx512<float>({1, 40, 64, 65, 97, 130}, {0, 1, 3, 8, 15},
                        [](float v) { return v; }, true);
}

TEST_CASE("transpose: transpose_avx2 moves every shape exactly, widens and narrows bf16") {
    if (!cpu_info().avx2) return;
    check_avx2<float, float>([](float v) { return v; });  // 2-4 dense rows by shuffles
    check_avx2<uint16_t, float>([](uint16_t v) { return bf16_to_float(v); });
    check_avx2<float, uint16_t>([](float v) { return float_to_bf16(v); });
}

TEST_CASE("transpose: bf16 rows of fewer than 8 columns widen in chunks, dense or strided") {
    // A grouped channels-last row: pixels x groups rows of icg channels back to back (dense),
    // or with a stride; long enough for several chunks of widened rows.
    std::mt19937 rng(7);
    for (int64_t cols : {1, 2, 3, 4, 7})
        for (int64_t rows : {8, 9, 511, 513, 1100})
            for (int64_t extra : {0, 2}) {
                CAPTURE(cols);
                CAPTURE(rows);
                CAPTURE(extra);
                const int64_t ss = cols + extra, ds = rows + 3;
                std::vector<uint16_t> src(size_t(rows * ss));
                for (uint16_t& v : src) v = uint16_t(rng());
                std::vector<float> dst(size_t(cols * ds), -1.0f);
                transpose_avx2(src.data(), ss, rows, cols, dst.data(), ds);
                int64_t bad = 0;
                for (int64_t j = 0; j < cols; ++j)
                    for (int64_t i = 0; i < ds; ++i) {
                        const float want =
                            i < rows ? bf16_to_float(src[size_t(i * ss + j)]) : -1.0f;
                        const float got = dst[size_t(j * ds + i)];
                        bad += std::memcmp(&got, &want, sizeof(float)) != 0;
                    }
                CHECK(bad == 0);
            }
}

TEST_CASE("transpose: interleave_rows_avx2 interleaves rows from anywhere into dense pixels") {
    // 1-6 rows at unrelated places (2-4 by shuffles, 8 columns at a time), 0-27 columns:
    // dst[j * rows + i] == row i's column j, nothing past the last pixel written.
    if (!cpu_info().avx2) return;
    std::vector<float> pool(6 * 64);
    for (size_t i = 0; i < pool.size(); ++i) pool[i] = float(i) + 0.25f;
    for (int64_t rows = 1; rows <= 6; ++rows)
        for (int64_t cols = 0; cols < 28; ++cols) {
            const float* src[6];
            for (int64_t i = 0; i < rows; ++i)  // rows in reverse order, each at its own shift
                src[i] = pool.data() + (5 - i) * 64 + (i * 7) % 5;
            std::vector<float> dst(size_t(rows * cols) + 9, -1.0f);
            interleave_rows_avx2(src, rows, cols, dst.data());
            int wrong = 0;
            for (int64_t j = 0; j < cols; ++j)
                for (int64_t i = 0; i < rows; ++i) wrong += dst[size_t(j * rows + i)] != src[i][j];
            CHECK_MESSAGE(wrong == 0, rows, " rows x ", cols, " columns");
            for (size_t k = size_t(rows * cols); k < dst.size(); ++k) CHECK(dst[k] == -1.0f);
        }
}

TEST_CASE("transpose: pair_rows_avx512 pairs channel rows into pixel lanes, odd channels too") {
    if (!cpu_info().avx512f || !cpu_info().avx512bw || !cpu_info().avx512vl) return;
    std::mt19937 rng(11);
    // Widths around the 16-pixel tiles, channels around the 16-pair tiles (odd: the last
    // channel pairs with zero), a plane longer than the row and a padded destination pitch.
    for (int64_t channels : {1, 2, 3, 31, 32, 33, 64, 67})
        for (int64_t width : {1, 15, 16, 17, 40}) {
            CAPTURE(channels);
            CAPTURE(width);
            const int64_t plane = width + 7, pairs = (channels + 1) / 2, pitch = pairs + 5;
            std::vector<uint16_t> src(size_t(channels * plane));
            for (uint16_t& v : src) v = uint16_t(rng());
            const uint32_t poison = 0xdeadbeefu;
            std::vector<uint32_t> dst(size_t(width * pitch), poison);
            pair_rows_avx512(src.data(), plane, channels, width, dst.data(), pitch);
            int wrong = 0;
            for (int64_t v = 0; v < width; ++v)
                for (int64_t l = 0; l < pitch; ++l) {
                    const int64_t c = 2 * l;
                    const uint32_t lo = l < pairs ? src[size_t(c * plane + v)] : 0;
                    const uint32_t hi = c + 1 < channels ? src[size_t((c + 1) * plane + v)] : 0;
                    // Lanes past the pairs are the caller's: left as they were.
                    const uint32_t want = l < pairs ? lo | hi << 16 : poison;
                    wrong += dst[size_t(v * pitch + l)] != want;
                }
            CHECK(wrong == 0);
        }
}

TEST_CASE("transpose: interleave_bf16_rows_avx512 pairs two rows into 4-byte words") {
    if (!cpu_info().avx512f || !cpu_info().avx512bw || !cpu_info().avx512vl) return;
    std::mt19937 rng(12);
    // Lengths around the 16-word vectors, and nothing written past the row.
    for (int64_t n : {0, 1, 15, 16, 17, 33, 100}) {
        CAPTURE(n);
        std::vector<uint16_t> lo(static_cast<size_t>(n)), hi(static_cast<size_t>(n));
        for (uint16_t& v : lo) v = uint16_t(rng());
        for (uint16_t& v : hi) v = uint16_t(rng());
        const uint32_t poison = 0xdeadbeefu;
        std::vector<uint32_t> dst(size_t(n + 16), poison);
        interleave_bf16_rows_avx512(lo.data(), hi.data(), n, dst.data());
        int wrong = 0;
        for (int64_t v = 0; v < n + 16; ++v)
            wrong += dst[size_t(v)] != (v < n ? uint32_t(lo[size_t(v)]) |
                                                    uint32_t(hi[size_t(v)]) << 16
                                              : poison);
        CHECK(wrong == 0);
    }
}

}  // namespace
}  // namespace tconv
