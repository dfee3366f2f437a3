// SPDX-License-Identifier: Apache-2.0
// bfloat16 <-> float: a bf16 is the top 16 bits of an IEEE fp32. Narrowing rounds to nearest,
// ties to even (as PyTorch and oneDNN do), keeps subnormals and infinities, and keeps a NaN a
// (quiet) NaN: rounding could otherwise carry its payload into the exponent and make it infinity.
#pragma once

#include <cstdint>
#include <cstring>

namespace tconv {

inline float bf16_to_float(uint16_t h) {
    const uint32_t bits = uint32_t(h) << 16;
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
}

inline uint16_t float_to_bf16(float f) {
    uint32_t bits;
    std::memcpy(&bits, &f, sizeof bits);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return uint16_t((bits >> 16) | 0x40);  // NaN: quiet
    bits += 0x7fffu + ((bits >> 16) & 1u);  // round to nearest, ties to even
    return uint16_t(bits >> 16);
}

// f rounded to the nearest bf16 value, as a float.
inline float round_to_bf16(float f) { return bf16_to_float(float_to_bf16(f)); }

// Bulk forms (n elements; plain loops the compiler vectorizes).
inline void bf16_to_float(const uint16_t* in, float* out, int64_t n) {
    for (int64_t i = 0; i < n; ++i) out[i] = bf16_to_float(in[i]);
}
inline void float_to_bf16(const float* in, uint16_t* out, int64_t n) {
    for (int64_t i = 0; i < n; ++i) out[i] = float_to_bf16(in[i]);
}
inline void round_to_bf16(const float* in, float* out, int64_t n) {
    for (int64_t i = 0; i < n; ++i) out[i] = round_to_bf16(in[i]);
}

}  // namespace tconv
