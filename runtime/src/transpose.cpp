// SPDX-License-Identifier: Apache-2.0
// Compiled for AVX2 by function attribute only: the library itself targets any x86-64, and
// only the JIT implementations, which exist on AVX2 CPUs alone, call this.
#include "transpose.hpp"

#include <immintrin.h>

namespace tconv {

namespace {

__attribute__((target("avx2"))) inline void tile8x8(const float* src, int64_t ss, float* dst,
                                                    int64_t ds) {
    __m256 r[8], t[8];
    for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * ss);
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        r[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int i = 0; i < 4; ++i) {
        _mm256_storeu_ps(dst + i * ds, _mm256_permute2f128_ps(r[i], r[i + 4], 0x20));
        _mm256_storeu_ps(dst + (i + 4) * ds, _mm256_permute2f128_ps(r[i], r[i + 4], 0x31));
    }
}

}  // namespace

__attribute__((target("avx2"))) void transpose_avx2(const float* src, int64_t src_stride,
                                                    int64_t rows, int64_t cols, float* dst,
                                                    int64_t dst_stride) {
    const int64_t rows8 = rows / 8 * 8, cols8 = cols / 8 * 8;
    for (int64_t i = 0; i < rows8; i += 8) {
        for (int64_t j = 0; j < cols8; j += 8)
            tile8x8(src + i * src_stride + j, src_stride, dst + j * dst_stride + i, dst_stride);
        for (int64_t j = cols8; j < cols; ++j)
            for (int64_t k = i; k < i + 8; ++k) dst[j * dst_stride + k] = src[k * src_stride + j];
    }
    for (int64_t i = rows8; i < rows; ++i)
        for (int64_t j = 0; j < cols; ++j) dst[j * dst_stride + i] = src[i * src_stride + j];
}

__attribute__((target("avx2"))) void copy_rows_avx2(const float* src, int64_t src_pitch,
                                                    int64_t rows, int64_t cols, float* dst,
                                                    int64_t dst_pitch, int64_t dst_cols) {
    const int64_t cols8 = cols / 8 * 8;
    for (int64_t i = 0; i < rows; ++i) {
        const float* s = src + i * src_pitch;
        float* d = dst + i * dst_pitch;
        for (int64_t j = 0; j < cols8; j += 8) _mm256_storeu_ps(d + j, _mm256_loadu_ps(s + j));
        for (int64_t j = cols8; j < cols; ++j) d[j] = s[j];
        for (int64_t j = cols; j < dst_cols; ++j) d[j] = 0.0f;
    }
}

}  // namespace tconv
