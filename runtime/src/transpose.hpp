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
// The same from bf16 (each element widened to float: a bf16 layer's input copy) and into bf16
// (each rounded to nearest even as float_to_bf16 does: a bf16 layer's output rows).
void transpose_avx2(const uint16_t* src, int64_t src_stride, int64_t rows, int64_t cols,
                    float* dst, int64_t dst_stride);
void transpose_avx2(const float* src, int64_t src_stride, int64_t rows, int64_t cols,
                    uint16_t* dst, int64_t dst_stride);

// The same with AVX-512 tiles (AVX512F required), for channels-first output rows. Into bf16:
// 16x16 tiles write each destination row 32 bytes at a time (the AVX2 tiles' 16-byte pieces
// of many rows ran at a third of the memory's speed); from 64 rows on, where every destination
// row starts at dst's offset in a line, 32-row tiles from the first line boundary write one
// whole line per row and store. Into floats: from 64 rows on, under the same condition,
// 16x16 tiles from the first line boundary (whole lines), their lines stored non-temporally
// when `stream` (an output too large for the caches); otherwise the AVX2 tiles.
void transpose_avx512(const float* src, int64_t src_stride, int64_t rows, int64_t cols,
                      uint16_t* dst, int64_t dst_stride);
void transpose_avx512(const float* src, int64_t src_stride, int64_t rows, int64_t cols,
                      float* dst, int64_t dst_stride, bool stream = false);

// dst[v * dst_pitch + j] = src[2j][v] | src[2j + 1][v] << 16 for j < (channels + 1) / 2,
// v < width, src[c] = src + c * plane: channels-first bf16 rows paired into 4-byte lanes of
// pixel-major rows (the bf16 pair kernels' buffer), an odd last channel paired with zero. One
// pass in 16 x 16 register tiles; AVX512F and AVX512BW required (the pair kernels' CPUs).
void pair_rows_avx512(const uint16_t* src, int64_t plane, int64_t channels, int64_t width,
                      uint32_t* dst, int64_t dst_pitch);

// dst[v] = lo[v] | hi[v] << 16 for v < n: two channels' bf16 rows into one row of 4-byte
// pairs (the spatial kernel's pair planes, vdpbf16ps). AVX512F, AVX512BW and AVX512VL required.
void interleave_bf16_rows_avx512(const uint16_t* lo, const uint16_t* hi, int64_t n,
                                 uint32_t* dst);

// dst[(j * rows + i) * item + k] = src[(i * cols + j) * item + k] for k < item: a rows x cols
// matrix of `item`-float elements transposed (a lowered channels-first layer's output, items of
// kernel-size floats). Single floats in 8x8 register tiles; longer items by plain loops (no
// copy call per item: a memmove per 2-float item cost more than the layer's product), a tile
// of columns at a time so the destination rows it writes stay in cache. AVX2 required.
void transpose_items(const float* src, int64_t rows, int64_t cols, int64_t item, float* dst);

// dst[j * rows + i] = src[i][j] for i < rows, j < cols: rows of floats anywhere interleaved
// into dense pixels (a channels-first output row from its W residues' runs). AVX2 required.
void interleave_rows_avx2(const float* const* src, int64_t rows, int64_t cols, float* dst);

// dst[i * dst_pitch + j] = j < cols ? src[i * src_pitch + j] : 0 for i < rows, j < dst_cols:
// one channel block of each pixel of a channels-last row, zero-padded. AVX2 required.
void copy_rows_avx2(const float* src, int64_t src_pitch, int64_t rows, int64_t cols, float* dst,
                    int64_t dst_pitch, int64_t dst_cols);
void copy_rows_avx2(const uint16_t* src, int64_t src_pitch, int64_t rows, int64_t cols,
                    float* dst, int64_t dst_pitch, int64_t dst_cols);  // widened from bf16

// dst[i * dst_pitch + l] = src[i * src_pitch + l / e] for l < n (a multiple of 8), i < count:
// each value repeated e times (a depthwise buffer's lanes, one per output channel of a group),
// by one permute per 8 lanes; a row of src is read up to [(n - 1) / e + 7]. AVX2 required.
void expand_lanes_avx2(const float* src, int64_t src_pitch, int64_t e, int64_t n, float* dst,
                       int64_t dst_pitch, int64_t count);

// dst[i] = src[i] for i < n: a plain copy, or bf16 widened to float. AVX2 required.
void copy_row(const float* src, float* dst, int64_t n);
void copy_row(const uint16_t* src, float* dst, int64_t n);
void copy_row(const float* src, uint16_t* dst, int64_t n);  // rounded as float_to_bf16

}  // namespace tconv
