// SPDX-License-Identifier: Apache-2.0
// Layout changes around the JIT kernels: channels-first tensors to and from the pixel-major
// buffers the kernels read and write.
#pragma once

#include <cstdint>

namespace tconv {

// dst[j * dst_stride + i] = src[i * src_stride + j] for i < rows, j < cols. In 8x8 register
// tiles (a scalar loop would move one float per load and store, a few GB/s); AVX2 required,
// which every JIT implementation has.
void transpose_avx2(const float* src, int64_t src_stride, int64_t rows, int64_t cols, float* dst,
                    int64_t dst_stride);

// dst[i * dst_pitch + j] = j < cols ? src[i * src_pitch + j] : 0 for i < rows, j < dst_cols:
// one channel block of each pixel of a channels-last row, zero-padded. AVX2 required.
void copy_rows_avx2(const float* src, int64_t src_pitch, int64_t rows, int64_t cols, float* dst,
                    int64_t dst_pitch, int64_t dst_cols);

}  // namespace tconv
