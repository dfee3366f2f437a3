// SPDX-License-Identifier: Apache-2.0
// Compiled for AVX2 by function attribute only: the library itself targets any x86-64, and
// only the JIT implementations, which exist on AVX2 CPUs alone, call this.
#include "transpose.hpp"

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "tconv/bf16.hpp"

namespace tconv {

namespace {

// The first n of 8 lanes set: maskload/maskstore masks of partial tiles.
__attribute__((target("avx2"))) inline __m256i first_lanes(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(int(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// 8 bf16 as floats (a bf16 is the top half of a float); n < 8: the first n, the rest zero.
__attribute__((target("avx2"))) inline __m256 load8(const uint16_t* p, int64_t n = 8) {
    __m128i h;
    if (n == 8) {
        h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    } else {
        alignas(16) uint16_t part[8] = {};
        std::memcpy(part, p, size_t(n) * sizeof(uint16_t));
        h = _mm_load_si128(reinterpret_cast<const __m128i*>(part));
    }
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

// 8 floats rounded to bf16, to nearest even, a NaN kept a quiet NaN: float_to_bf16 bit for bit.
__attribute__((target("avx2"))) inline __m128i narrow8(__m256 v) {
    const __m256i b = _mm256_castps_si256(v);
    const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(b, 16), _mm256_set1_epi32(1));
    const __m256i r = _mm256_add_epi32(_mm256_add_epi32(b, _mm256_set1_epi32(0x7fff)), lsb);
    const __m256i q = _mm256_or_si256(b, _mm256_set1_epi32(0x400000));
    const __m256 nan = _mm256_cmp_ps(v, v, _CMP_UNORD_Q);
    __m256i h = _mm256_castps_si256(
        _mm256_blendv_ps(_mm256_castsi256_ps(r), _mm256_castsi256_ps(q), nan));
    h = _mm256_srli_epi32(h, 16);
    h = _mm256_permute4x64_epi64(_mm256_packus_epi32(h, h), 0x08);
    return _mm256_castsi256_si128(h);
}

inline float as_float(float v) { return v; }
inline float as_float(uint16_t v) { return bf16_to_float(v); }

// Row i of a tile: c <= 8 elements (c < 8: under a mask, the rest zero).
__attribute__((target("avx2"), always_inline)) inline __m256 load_row(const float* p, int64_t c,
                                                                      __m256i cmask) {
    return c == 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, cmask);
}
__attribute__((target("avx2"), always_inline)) inline __m256 load_row(const uint16_t* p,
                                                                      int64_t c, __m256i) {
    return load8(p, c);
}

// A tile row: 8 floats, or 8 floats rounded to bf16.
__attribute__((target("avx2"), always_inline)) inline void store_row(float* p, __m256 v) {
    _mm256_storeu_ps(p, v);
}
__attribute__((target("avx2"), always_inline)) inline void store_row(uint16_t* p, __m256 v) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), narrow8(v));
}

// One tile of 8 rows x c <= 8 columns: a partial tile (a few channels: a grouped layer's block)
// loads its rows under a mask and stores its c destination rows whole.
template <class S, class D>
__attribute__((target("avx2"), always_inline)) inline void tile8x8(const S* src, int64_t ss,
                                                                   int64_t c, D* dst,
                                                                   int64_t ds) {
    const __m256i cmask = first_lanes(c);
    __m256 v[8], t[8];
    for (int i = 0; i < 8; ++i) v[i] = load_row(src + i * ss, c, cmask);
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(v[i], v[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(v[i], v[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        v[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        v[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        v[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        v[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int i = 0; i < 4; ++i) {
        t[i] = _mm256_permute2f128_ps(v[i], v[i + 4], 0x20);
        t[i + 4] = _mm256_permute2f128_ps(v[i], v[i + 4], 0x31);
    }
    for (int j = 0; j < 8; ++j)
        if (j < c) store_row(dst + j * ds, t[j]);
}

inline void put(float* p, float v) { *p = v; }
inline void put(uint16_t* p, float v) { *p = float_to_bf16(v); }

// Fewer than 8 source rows (a channels-last row of 1-7 channels, a tiny map's row, a tile
// edge), in plain loops the compiler vectorises: an 8x8 tile would store each destination row
// under a mask (vmaskmovps, slow to memory on Zen 3) and moved 1-7 rows 2-35x slower.
template <int R, class S, class D>
__attribute__((target("avx2"))) void few_rows(const S* src, int64_t src_stride, int64_t cols,
                                              D* dst, int64_t dst_stride) {
    for (int64_t j = 0; j < cols; ++j)
        for (int i = 0; i < R; ++i)
            put(dst + j * dst_stride + i, as_float(src[i * src_stride + j]));
}

// One vector of three interleaved rows: a, b and c permuted by their lane indices, then b's
// lanes (bits of kB) and c's (bits of kC) blended over a's.
struct Lanes {
    int32_t l[8];
};
template <int kB, int kC>
__attribute__((target("avx2"), always_inline)) inline __m256 rows3(__m256 a, __m256 b, __m256 c,
                                                                   Lanes ia, Lanes ib,
                                                                   Lanes ic) {
    const auto idx = [](const Lanes& x) { return reinterpret_cast<const __m256i*>(x.l); };
    const __m256 v = _mm256_blend_ps(_mm256_permutevar8x32_ps(a, _mm256_loadu_si256(idx(ia))),
                                     _mm256_permutevar8x32_ps(b, _mm256_loadu_si256(idx(ib))), kB);
    return _mm256_blend_ps(v, _mm256_permutevar8x32_ps(c, _mm256_loadu_si256(idx(ic))), kC);
}

// 2, 3 or 4 rows of floats (each row anywhere) into dense pixels of R (a channels-last row
// of R channels, its RGB outputs; a channels-first row from its W residues), 8 columns at a
// time by shuffles, whole vectors stored. Returns the columns done (the caller loops the rest).
template <int R>
__attribute__((target("avx2"))) int64_t dense_rows(const float* const (&src)[R], int64_t cols,
                                                   float* dst) {
    int64_t j = 0;
    for (; j + 8 <= cols; j += 8, dst += 8 * R) {
        const __m256 a = _mm256_loadu_ps(src[0] + j), b = _mm256_loadu_ps(src[1] + j);
        if constexpr (R == 2) {
            const __m256 lo = _mm256_unpacklo_ps(a, b), hi = _mm256_unpackhi_ps(a, b);
            _mm256_storeu_ps(dst, _mm256_permute2f128_ps(lo, hi, 0x20));
            _mm256_storeu_ps(dst + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
        } else if constexpr (R == 3) {
            // Output vector q's lane l holds row (8q + l) % 3 of column (8q + l) / 3.
            const __m256 c = _mm256_loadu_ps(src[2] + j);
            using I = Lanes;
            _mm256_storeu_ps(dst, rows3<0x92, 0x24>(a, b, c, I{0, 0, 0, 1, 0, 0, 2, 0},
                                                   I{0, 0, 0, 0, 1, 0, 0, 2},
                                                   I{0, 0, 0, 0, 0, 1, 0, 0}));
            _mm256_storeu_ps(dst + 8, rows3<0x24, 0x49>(a, b, c, I{0, 3, 0, 0, 4, 0, 0, 5},
                                                       I{0, 0, 3, 0, 0, 4, 0, 0},
                                                       I{2, 0, 0, 3, 0, 0, 4, 0}));
            _mm256_storeu_ps(dst + 16, rows3<0x49, 0x92>(a, b, c, I{0, 0, 6, 0, 0, 7, 0, 0},
                                                        I{5, 0, 0, 6, 0, 0, 7, 0},
                                                        I{0, 5, 0, 0, 6, 0, 0, 7}));
        } else {
            const __m256 c = _mm256_loadu_ps(src[2] + j), d = _mm256_loadu_ps(src[3] + j);
            const __m256 t0 = _mm256_unpacklo_ps(a, b), t1 = _mm256_unpackhi_ps(a, b);
            const __m256 t2 = _mm256_unpacklo_ps(c, d), t3 = _mm256_unpackhi_ps(c, d);
            const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xee);
            const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xee);
            _mm256_storeu_ps(dst, _mm256_permute2f128_ps(u0, u1, 0x20));
            _mm256_storeu_ps(dst + 8, _mm256_permute2f128_ps(u2, u3, 0x20));
            _mm256_storeu_ps(dst + 16, _mm256_permute2f128_ps(u0, u1, 0x31));
            _mm256_storeu_ps(dst + 24, _mm256_permute2f128_ps(u2, u3, 0x31));
        }
    }
    return j;
}

// 2 or 4 rows of floats into pixels dst_stride > R apart (a channels-last output's group of
// R channels): the pixels' R values interleaved as dense_rows does, then each pixel stored
// alone (8 or 16 bytes), 8 columns at a time; the last columns by the loop. Element by
// element this moved about 5 instructions per float.
template <int R>
__attribute__((target("avx2"))) int64_t strided_rows(const float* src, int64_t ss, int64_t cols,
                                                     float* dst, int64_t ds) {
    static_assert(R == 2 || R == 4);
    int64_t j = 0;
    for (; j + 8 <= cols; j += 8, dst += 8 * ds) {
        const __m256 a = _mm256_loadu_ps(src + j), b = _mm256_loadu_ps(src + ss + j);
        const __m256 t0 = _mm256_unpacklo_ps(a, b), t1 = _mm256_unpackhi_ps(a, b);
        if constexpr (R == 2) {  // t0: pixels 0 1 | 4 5, t1: 2 3 | 6 7, a pair per 64 bits
            const __m128 p[4] = {_mm256_castps256_ps128(t0), _mm256_castps256_ps128(t1),
                                 _mm256_extractf128_ps(t0, 1), _mm256_extractf128_ps(t1, 1)};
            for (int q = 0; q < 4; ++q) {
                _mm_storel_pi(reinterpret_cast<__m64*>(dst + (2 * q) * ds), p[q]);
                _mm_storeh_pi(reinterpret_cast<__m64*>(dst + (2 * q + 1) * ds), p[q]);
            }
        } else {  // u_k: pixels k | k + 4, four values each
            const __m256 c = _mm256_loadu_ps(src + 2 * ss + j);
            const __m256 d = _mm256_loadu_ps(src + 3 * ss + j);
            const __m256 t2 = _mm256_unpacklo_ps(c, d), t3 = _mm256_unpackhi_ps(c, d);
            const __m256 u[4] = {_mm256_shuffle_ps(t0, t2, 0x44), _mm256_shuffle_ps(t0, t2, 0xee),
                                 _mm256_shuffle_ps(t1, t3, 0x44), _mm256_shuffle_ps(t1, t3, 0xee)};
            for (int k = 0; k < 4; ++k) {
                _mm_storeu_ps(dst + k * ds, _mm256_castps256_ps128(u[k]));
                _mm_storeu_ps(dst + (k + 4) * ds, _mm256_extractf128_ps(u[k], 1));
            }
        }
    }
    return j;
}

template <class S, class D>
__attribute__((target("avx2"))) inline void transpose_few_rows(const S* src, int64_t src_stride,
                                                               int64_t rows, int64_t cols,
                                                               D* dst, int64_t dst_stride) {
    if constexpr (std::is_same_v<S, float> && std::is_same_v<D, float>) {
        if (rows == 1 && dst_stride == 1) {
            std::memcpy(dst, src, size_t(cols) * sizeof(float));
            return;
        }
        int64_t done = 0;
        if (rows >= 2 && rows <= 4 && dst_stride == rows) {
            const float* r[4] = {};  // only the rows there are
            for (int64_t i = 0; i < rows; ++i) r[i] = src + i * src_stride;
            done = rows == 2   ? dense_rows<2>({r[0], r[1]}, cols, dst)
                   : rows == 3 ? dense_rows<3>({r[0], r[1], r[2]}, cols, dst)
                               : dense_rows<4>({r[0], r[1], r[2], r[3]}, cols, dst);
        } else if ((rows == 2 || rows == 4) && dst_stride > rows)
            done = rows == 2 ? strided_rows<2>(src, src_stride, cols, dst, dst_stride)
                             : strided_rows<4>(src, src_stride, cols, dst, dst_stride);
        src += done;
        dst += done * dst_stride;
        cols -= done;
    }
    switch (rows) {  // constant row counts: the compiler unrolls and vectorises each
        case 1: return few_rows<1>(src, src_stride, cols, dst, dst_stride);
        case 2: return few_rows<2>(src, src_stride, cols, dst, dst_stride);
        case 3: return few_rows<3>(src, src_stride, cols, dst, dst_stride);
        case 4: return few_rows<4>(src, src_stride, cols, dst, dst_stride);
        case 5: return few_rows<5>(src, src_stride, cols, dst, dst_stride);
        case 6: return few_rows<6>(src, src_stride, cols, dst, dst_stride);
        default: return few_rows<7>(src, src_stride, cols, dst, dst_stride);
    }
}

template <class S, class D>
__attribute__((target("avx2"))) void transpose_tiles(const S* src, int64_t src_stride,
                                                     int64_t rows, int64_t cols, D* dst,
                                                     int64_t dst_stride) {
    // Whole 8-row tiles in the destination's order (stores cost more than loads: a
    // channels-last row is written front to back, each line once), with constant sizes where
    // the columns fill them (the inlined tile folds its masks away); the last rows in loops.
    if (rows < 8) return transpose_few_rows(src, src_stride, rows, cols, dst, dst_stride);
    const int64_t rows8 = rows / 8 * 8;
    // A few source rows far apart (a channels-first block's channels, a plane apart): eight
    // rows at a time, each along its whole length. All of them at once read as many streams
    // at the same offset into their pages, which share an L1 and an L2 set (planes a multiple
    // of 4 KiB apart): 16 channels' rows thrashed both and copied at half the speed
    // (HiFi-GAN's 16 x 16384 input: the layer 1.1x faster with this order).
    if (src_stride >= 256 && rows <= 16) {
        const int64_t cols8 = cols / 8 * 8;
        for (int64_t i = 0; i < rows8; i += 8) {
            const S* s = src + i * src_stride;
            for (int64_t j = 0; j < cols8; j += 8)
                tile8x8(s + j, src_stride, 8, dst + j * dst_stride + i, dst_stride);
            if (cols8 < cols)
                tile8x8(s + cols8, src_stride, cols - cols8, dst + cols8 * dst_stride + i,
                        dst_stride);
        }
        if (rows8 < rows)
            transpose_few_rows(src + rows8 * src_stride, src_stride, rows - rows8, cols,
                               dst + rows8, dst_stride);
        return;
    }
    for (int64_t j = 0; j < cols; j += 8) {
        const int64_t c = std::min<int64_t>(8, cols - j);
        D* d = dst + j * dst_stride;
        if (c == 8)
            for (int64_t i = 0; i < rows8; i += 8)
                tile8x8(src + i * src_stride + j, src_stride, 8, d + i, dst_stride);
        else
            for (int64_t i = 0; i < rows8; i += 8)
                tile8x8(src + i * src_stride + j, src_stride, c, d + i, dst_stride);
        if (rows8 < rows)
            transpose_few_rows(src + rows8 * src_stride + j, src_stride, rows - rows8, c,
                               d + rows8, dst_stride);
    }
}

}  // namespace

void transpose_avx2(const float* src, int64_t src_stride, int64_t rows, int64_t cols, float* dst,
                    int64_t dst_stride) {
    transpose_tiles(src, src_stride, rows, cols, dst, dst_stride);
}

void transpose_avx2(const uint16_t* src, int64_t src_stride, int64_t rows, int64_t cols,
                    float* dst, int64_t dst_stride) {
    // Fewer than 8 columns (a channels-last pixel's channels of each group: the grouped
    // depthwise copies) are widened into floats a chunk of rows at a time, then transposed as
    // floats: tiles of partial bf16 rows went through the stack a row at a time and made
    // 128 groups of 2 channels 3.5x slower in bf16 than in fp32.
    if (cols >= 8 || rows < 8)
        return transpose_tiles(src, src_stride, rows, cols, dst, dst_stride);
    constexpr int64_t kRows = 512;
    alignas(32) float wide[kRows * 8];
    for (int64_t i0 = 0; i0 < rows; i0 += kRows) {
        const int64_t r = std::min(kRows, rows - i0);
        const uint16_t* s = src + i0 * src_stride;
        if (src_stride == cols) {
            copy_row(s, wide, r * cols);
        } else {
            for (int64_t i = 0; i < r; ++i)
                for (int64_t j = 0; j < cols; ++j)
                    wide[i * cols + j] = as_float(s[i * src_stride + j]);
        }
        transpose_tiles(wide, cols, r, cols, dst + i0, dst_stride);
    }
}

void transpose_avx2(const float* src, int64_t src_stride, int64_t rows, int64_t cols,
                    uint16_t* dst, int64_t dst_stride) {
    transpose_tiles(src, src_stride, rows, cols, dst, dst_stride);
}

__attribute__((target("avx2"))) void interleave_rows_avx2(const float* const* src, int64_t rows,
                                                         int64_t cols, float* dst) {
    int64_t done = 0;
    if (rows == 2) done = dense_rows<2>({src[0], src[1]}, cols, dst);
    else if (rows == 3) done = dense_rows<3>({src[0], src[1], src[2]}, cols, dst);
    else if (rows == 4) done = dense_rows<4>({src[0], src[1], src[2], src[3]}, cols, dst);
    for (int64_t j = done; j < cols; ++j)
        for (int64_t i = 0; i < rows; ++i) dst[j * rows + i] = src[i][j];
}

// GCC 12's AVX-512 intrinsics pass _mm512_undefined_ps() as the merge source of unmasked
// shuffles, which -Wmaybe-uninitialized reports once inlined; nothing here reads it. (Clang
// neither warns nor knows the option.)
#pragma GCC diagnostic push
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
namespace {

// 16 floats rounded to bf16 as float_to_bf16 does, each in the low half of its 32-bit lane.
__attribute__((target("avx512f"), always_inline)) inline __m512i round16_bf16(__m512 v) {
    const __m512i b = _mm512_castps_si512(v);
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(b, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_add_epi32(_mm512_add_epi32(b, _mm512_set1_epi32(0x7fff)), lsb);
    const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    r = _mm512_mask_or_epi32(r, nan, b, _mm512_set1_epi32(0x400000));
    return _mm512_srli_epi32(r, 16);
}

// Dword 2m gets dword 2m+1's low half in its high half: q | q >> 16 per qword.
__attribute__((target("avx512f"), always_inline)) inline __m512i pair_words(__m512i r) {
    return _mm512_or_si512(r, _mm512_srli_epi64(r, 16));
}

// Sixteen vectors of 16 lanes transposed in registers: v[j] lane i <- v[i] lane j.
__attribute__((target("avx512f"), always_inline)) inline void transpose16_regs(__m512 (&v)[16]) {
    __m512 t[16];
    #pragma GCC unroll 16
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(v[i], v[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(v[i], v[i + 1]);
    }
    #pragma GCC unroll 16
    for (int i = 0; i < 16; i += 4) {
        v[i] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        v[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        v[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        v[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    // Then 128-bit lanes across vectors four and eight apart: v[j] ends as column j.
    #pragma GCC unroll 16
    for (int q = 0; q < 4; q += 2)
        #pragma GCC unroll 16
        for (int k = 0; k < 4; ++k) {
            t[4 * q + k] = _mm512_shuffle_f32x4(v[4 * q + k], v[4 * q + 4 + k], 0x88);
            t[4 * q + 4 + k] = _mm512_shuffle_f32x4(v[4 * q + k], v[4 * q + 4 + k], 0xdd);
        }
    #pragma GCC unroll 16
    for (int k = 0; k < 4; ++k) {
        v[k] = _mm512_shuffle_f32x4(t[k], t[8 + k], 0x88);
        v[8 + k] = _mm512_shuffle_f32x4(t[k], t[8 + k], 0xdd);
        v[4 + k] = _mm512_shuffle_f32x4(t[4 + k], t[12 + k], 0x88);
        v[12 + k] = _mm512_shuffle_f32x4(t[4 + k], t[12 + k], 0xdd);
    }
}

// One 16 x 16 tile of r <= 16 rows of c <= 16 floats: v[j] = source column j (zero below r).
__attribute__((target("avx512f"), always_inline)) inline void transpose16(const float* src,
                                                                          int64_t ss, int64_t r,
                                                                          int64_t c,
                                                                          __m512 (&v)[16]) {
    const __mmask16 cmask = __mmask16((1u << c) - 1);
    #pragma GCC unroll 16
    for (int i = 0; i < 16; ++i)
        v[i] = i < r ? _mm512_maskz_loadu_ps(cmask, src + i * ss) : _mm512_setzero_ps();
    transpose16_regs(v);
}

// 16 pixels of channels c and c + 1 (16-bit words, `w` of them read) as the 16 dwords of
// pixels 0-15 in order, channel c in each dword's low half. The 256-bit unpacks interleave
// within 128-bit lanes (pixels 0-3 | 8-11 and 4-7 | 12-15); one lane shuffle puts them in
// order.
__attribute__((target("avx512f,avx512bw,avx512vl"), always_inline)) inline __m512 pair16(
    const uint16_t* c0, const uint16_t* c1, __mmask16 w) {
    const __m256i a = _mm256_maskz_loadu_epi16(w, c0);
    const __m256i b = c1 ? _mm256_maskz_loadu_epi16(w, c1) : _mm256_setzero_si256();
    const __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_unpacklo_epi16(a, b)),
                                         _mm256_unpackhi_epi16(a, b), 1);
    return _mm512_castsi512_ps(_mm512_shuffle_i64x2(z, z, _MM_SHUFFLE(3, 1, 2, 0)));
}

// Row j of a tile's result, its first r values at p: floats as they are (a whole row in one
// unmasked store, non-temporal when Stream: p is then a line's start), or rounded to bf16 as
// float_to_bf16 does (32 bytes at most: half a line).
template <bool Stream>
__attribute__((target("avx512f"), always_inline)) inline void store_tile_row(float* p, __m512 v,
                                                                             int64_t r) {
    if (r == 16 && Stream) _mm512_stream_ps(p, v);
    else if (r == 16) _mm512_storeu_ps(p, v);
    else _mm512_mask_storeu_ps(p, __mmask16((1u << r) - 1), v);
}
template <bool Stream>
__attribute__((target("avx512f"), always_inline)) inline void store_tile_row(uint16_t* p,
                                                                             __m512 v,
                                                                             int64_t r) {
    static_assert(!Stream);
    _mm512_mask_cvtepi32_storeu_epi16(p, __mmask16((1u << r) - 1), round16_bf16(v));
}

// r <= 16 rows of c <= 16 floats, transposed: row j of the result (source column j) is stored
// at dst + j * ds, its first r elements.
template <class D, bool Stream = false>
__attribute__((target("avx512f"), always_inline)) inline void tile16x16(const float* src,
                                                                        int64_t ss, int64_t r,
                                                                        int64_t c, D* dst,
                                                                        int64_t ds) {
    __m512 v[16];
    transpose16(src, ss, r, c, v);
    #pragma GCC unroll 16
    for (int j = 0; j < 16; ++j)
        if (j < c) store_tile_row<Stream>(dst + j * ds, v[j], r);
}

// A partial tile (fewer than 16 rows or columns), out of line: the full tiles' loops stay
// small.
template <class D, bool Stream = false>
__attribute__((target("avx512f"), noinline)) void tile16_partial(const float* src, int64_t ss,
                                                                 int64_t r, int64_t c, D* dst,
                                                                 int64_t ds) {
    tile16x16<D, Stream>(src, ss, r, c, dst, ds);
}

// 32 rows of c <= 16 floats: each result row's 32 bf16 in one 64-byte store, a whole cache
// line where dst is aligned. Two 32-byte halves written by separate tiles ran at a third of
// this speed when the destination rows are a multiple of 4 KiB apart (a 256 x 256 plane): the
// 16 lines a tile writes share one L1 set and are evicted before their second half arrives.
__attribute__((target("avx512f"), always_inline)) inline void tile32x16_bf16(
    const float* src, int64_t ss, int64_t c, uint16_t* dst, int64_t ds) {
    __m512 lo[16], hi[16];
    transpose16(src, ss, 16, c, lo);
    transpose16(src + 16 * ss, ss, 16, c, hi);
    // With pair_words, the even dwords of lo, then of hi, hold the 32 results in order
    // (AVX512F alone: no word packs).
    const __m512i evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26,
                                            28, 30);
    #pragma GCC unroll 16
    for (int j = 0; j < 16; ++j)
        if (j < c)
            _mm512_storeu_si512(dst + j * ds,
                                _mm512_permutex2var_epi32(pair_words(round16_bf16(lo[j])), evens,
                                                          pair_words(round16_bf16(hi[j]))));
}

// Source rows [from, to) of one 16-column block (c <= 16 columns) in 16-row tiles: whole
// tiles inlined with constant sizes (their vectors stay in registers), the rest out of line.
// Stream: whole rows of the tiles stored non-temporally (from a line's start).
template <class D, bool Stream = false>
__attribute__((target("avx512f"), always_inline)) inline void tiles16(const float* s, int64_t ss,
                                                                      int64_t from, int64_t to,
                                                                      int64_t c, D* d,
                                                                      int64_t ds) {
    const int64_t full = from + (to - from) / 16 * 16;
    if (c == 16)
        for (int64_t i = from; i < full; i += 16)
            tile16x16<D, Stream>(s + i * ss, ss, 16, 16, d + i, ds);
    else
        for (int64_t i = from; i < full; i += 16)
            tile16_partial<D, Stream>(s + i * ss, ss, 16, c, d + i, ds);
    if (full < to) tile16_partial<D, Stream>(s + full * ss, ss, to - full, c, d + full, ds);
}

// The rows before dst's first 64-byte boundary, from where each tile row starts a cache line;
// -1 when the destination rows do not all share dst's alignment.
template <class D>
int64_t lead_rows(const D* dst, int64_t dst_stride, int64_t rows) {
    const uintptr_t mis = reinterpret_cast<uintptr_t>(dst) % 64;
    constexpr int64_t kLine = 64 / int64_t(sizeof(D));
    if ((dst_stride % kLine) != 0 || mis % sizeof(D) != 0) return -1;
    return std::min(rows, int64_t((64 - mis) % 64 / sizeof(D)));
}

// Short rows (a small map's) in 16-row tiles only, out of line: the long rows' frame (the
// 32-row tiles' spilled vectors) made 16-row maps 8% slower.
template <class D>
__attribute__((target("avx512f"), noinline)) void transpose16_rows(const float* src,
                                                                   int64_t src_stride,
                                                                   int64_t rows, int64_t cols,
                                                                   D* dst, int64_t dst_stride) {
    for (int64_t j = 0; j < cols; j += 16)
        tiles16(src + j, src_stride, 0, rows, std::min<int64_t>(16, cols - j),
                dst + j * dst_stride, dst_stride);
}

}  // namespace

__attribute__((target("avx512f,avx512bw,avx512vl"))) void pair_rows_avx512(
    const uint16_t* src, int64_t plane, int64_t channels, int64_t width, uint32_t* dst,
    int64_t dst_pitch) {
    // 16 pairs (32 source rows, read front to back) at a time along the whole width: each
    // tile row is 64 bytes of one destination pixel.
    const int64_t pairs = (channels + 1) / 2;
    for (int64_t j0 = 0; j0 < pairs; j0 += 16) {
        const int64_t p = std::min<int64_t>(16, pairs - j0);
        for (int64_t v0 = 0; v0 < width; v0 += 16) {
            const int64_t w = std::min<int64_t>(16, width - v0);
            const __mmask16 wmask = __mmask16((1u << w) - 1);
            __m512 v[16];
            #pragma GCC unroll 16
            for (int j = 0; j < 16; ++j) {
                const int64_t c = 2 * (j0 + j);
                v[j] = j >= p ? _mm512_setzero_ps()
                              : pair16(src + c * plane + v0,
                                       c + 1 < channels ? src + (c + 1) * plane + v0 : nullptr,
                                       wmask);
            }
            transpose16_regs(v);
            const __mmask16 pmask = __mmask16((1u << p) - 1);
            for (int64_t i = 0; i < w; ++i)
                _mm512_mask_storeu_epi32(dst + (v0 + i) * dst_pitch + j0, pmask,
                                         _mm512_castps_si512(v[i]));
        }
    }
}

__attribute__((target("avx512f,avx512bw,avx512vl"))) void interleave_bf16_rows_avx512(
    const uint16_t* lo, const uint16_t* hi, int64_t n, uint32_t* dst) {
    for (int64_t v = 0; v < n; v += 16) {
        const __mmask16 m = __mmask16(n - v >= 16 ? 0xffffu : (1u << (n - v)) - 1);
        const __m512i a = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, lo + v));
        const __m512i b = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, hi + v));
        _mm512_mask_storeu_epi32(dst + v, m, _mm512_or_si512(a, _mm512_slli_epi32(b, 16)));
    }
}

__attribute__((target("avx512f"))) void transpose_avx512(const float* src, int64_t src_stride,
                                                        int64_t rows, int64_t cols, uint16_t* dst,
                                                        int64_t dst_stride) {
    // Long rows: the lead, then 32-row tiles (a whole line per destination row), then the
    // rest. Short ones in 16-row tiles: splitting them would only add partial tiles; so do
    // rows whose starts do not share dst's alignment, where a 64-byte store spans two lines
    // (a 65x441 plane: 0.93x).
    const int64_t lead = lead_rows(dst, dst_stride, rows);
    if (rows < 64 || lead < 0) return transpose16_rows(src, src_stride, rows, cols, dst, dst_stride);
    const int64_t body = lead + (rows - lead) / 32 * 32;
    for (int64_t j = 0; j < cols; j += 16) {
        const int64_t c = std::min<int64_t>(16, cols - j);
        uint16_t* d = dst + j * dst_stride;
        const float* s = src + j;
        tiles16(s, src_stride, 0, lead, c, d, dst_stride);
        if (c == 16)  // constant sizes: the inlined tiles keep their vectors in registers
            for (int64_t i = lead; i < body; i += 32)
                tile32x16_bf16(s + i * src_stride, src_stride, 16, d + i, dst_stride);
        else
            for (int64_t i = lead; i < body; i += 32)
                tile32x16_bf16(s + i * src_stride, src_stride, c, d + i, dst_stride);
        tiles16(s, src_stride, body, rows, c, d, dst_stride);
    }
}

__attribute__((target("avx512f"))) void transpose_avx512(const float* src, int64_t src_stride,
                                                        int64_t rows, int64_t cols, float* dst,
                                                        int64_t dst_stride, bool stream) {
    // Long rows: the lead, then 16-row tiles, each destination row a whole line per tile;
    // short ones, and rows whose starts do not share dst's alignment (a 64-byte store would
    // span two lines: a 65x441 plane ran 0.85x), in the AVX2 tiles.
    const int64_t lead = lead_rows(dst, dst_stride, rows);
    if (rows < 64 || lead < 0) return transpose_avx2(src, src_stride, rows, cols, dst, dst_stride);
    for (int64_t j = 0; j < cols; j += 16) {
        const int64_t c = std::min<int64_t>(16, cols - j);
        float* d = dst + j * dst_stride;
        tiles16(src + j, src_stride, 0, lead, c, d, dst_stride);
        if (stream)
            tiles16<float, true>(src + j, src_stride, lead, rows, c, d, dst_stride);
        else
            tiles16(src + j, src_stride, lead, rows, c, d, dst_stride);
    }
    if (stream) _mm_sfence();  // the streamed lines are visible before the caller goes on
}
#pragma GCC diagnostic pop

__attribute__((target("avx2"))) void transpose_items(const float* src, int64_t rows,
                                                     int64_t cols, int64_t item, float* dst) {
    if (item == 1) return transpose_avx2(src, cols, rows, cols, dst, rows);
    constexpr int64_t kTile = 16;
    for (int64_t j0 = 0; j0 < cols; j0 += kTile) {
        const int64_t j1 = std::min(cols, j0 + kTile);
        for (int64_t i = 0; i < rows; ++i)
            for (int64_t j = j0; j < j1; ++j) {
                const float* s = src + (i * cols + j) * item;
                float* d = dst + (j * rows + i) * item;
                for (int64_t k = 0; k < item; ++k) d[k] = s[k];
            }
    }
}

template <class S>
__attribute__((target("avx2"))) void copy_rows(const S* src, int64_t src_pitch, int64_t rows,
                                               int64_t cols, float* dst, int64_t dst_pitch,
                                               int64_t dst_cols) {
    const int64_t cols8 = cols / 8 * 8;
    for (int64_t i = 0; i < rows; ++i) {
        const S* s = src + i * src_pitch;
        float* d = dst + i * dst_pitch;
        for (int64_t j = 0; j < cols8; j += 8) _mm256_storeu_ps(d + j, load_row(s + j, 8, __m256i{}));
        for (int64_t j = cols8; j < cols; ++j) d[j] = as_float(s[j]);
        for (int64_t j = cols; j < dst_cols; ++j) d[j] = 0.0f;
    }
}

void copy_rows_avx2(const float* src, int64_t src_pitch, int64_t rows, int64_t cols, float* dst,
                    int64_t dst_pitch, int64_t dst_cols) {
    copy_rows(src, src_pitch, rows, cols, dst, dst_pitch, dst_cols);
}

void copy_rows_avx2(const uint16_t* src, int64_t src_pitch, int64_t rows, int64_t cols,
                    float* dst, int64_t dst_pitch, int64_t dst_cols) {
    copy_rows(src, src_pitch, rows, cols, dst, dst_pitch, dst_cols);
}

void copy_row(const float* src, float* dst, int64_t n) {
    std::memcpy(dst, src, size_t(n) * sizeof(float));
}

void copy_row(const uint16_t* src, float* dst, int64_t n) { copy_rows_avx2(src, 0, 1, n, dst, 0, n); }

__attribute__((target("avx2"))) void copy_row(const float* src, uint16_t* dst, int64_t n) {
    const int64_t n8 = n / 8 * 8;
    for (int64_t j = 0; j < n8; j += 8)
        _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + j), narrow8(_mm256_loadu_ps(src + j)));
    for (int64_t j = n8; j < n; ++j) dst[j] = float_to_bf16(src[j]);
}

__attribute__((target("avx2"))) void expand_lanes_avx2(const float* src, int64_t src_pitch,
                                                       int64_t e, int64_t n, float* dst,
                                                       int64_t dst_pitch, int64_t count) {
    if (e == 1) {
        for (int64_t i = 0; i < count; ++i) copy_row(src + i * src_pitch, dst + i * dst_pitch, n);
        return;
    }
    // Lane l of the vector at v reads src[(v + l) / e]: from src + v / e, pattern (r + l) / e
    // with r = v % e. The patterns are computed once per residue r, and v / e, v % e stepped
    // without divisions (a division per vector cost more than its permute and store).
    constexpr int64_t kPatterns = 64;
    __m256i pattern[kPatterns];
    const int64_t np = std::min(e, kPatterns), q8 = 8 / e, r8 = 8 % e;
    for (int64_t r = 0; r < np; ++r)
        pattern[r] = _mm256_setr_epi32(int(r / e), int((r + 1) / e), int((r + 2) / e),
                                       int((r + 3) / e), int((r + 4) / e), int((r + 5) / e),
                                       int((r + 6) / e), int((r + 7) / e));
    for (int64_t i = 0; i < count; ++i) {
        const float* s = src + i * src_pitch;
        float* d = dst + i * dst_pitch;
        int64_t base = 0, r = 0;  // v / e and v % e
        for (int64_t v = 0; v < n; v += 8) {
            if (r < kPatterns) {
                _mm256_storeu_ps(d + v, _mm256_permutevar8x32_ps(_mm256_loadu_ps(s + base),
                                                                 pattern[r]));
            } else {  // a repeat of more than 64 (never planned: lanes hold fewer than 16)
                for (int64_t l = 0; l < 8; ++l) d[v + l] = s[(v + l) / e];
            }
            base += q8, r += r8;
            if (r >= e) r -= e, ++base;
        }
    }
}

}  // namespace tconv
