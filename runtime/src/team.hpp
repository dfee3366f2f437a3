// SPDX-License-Identifier: Apache-2.0
// Splitting a call's work into shares (thread_pool.hpp runs them): contiguous shares, stepped
// without division.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>

namespace tconv {

// The mixed-radix digits of an item index, least significant first, stepped without division
// (a tiny layer's call is short enough for per-item divisions to show): loops decode their
// first item once, then call next().
template <size_t N>
struct Odometer {
    std::array<int64_t, N> radix, digit{};
    Odometer(const std::array<int64_t, N>& r, int64_t index) : radix(r) {
        for (size_t i = 0; i < N; ++i) {
            digit[i] = index % radix[i];
            index /= radix[i];
        }
    }
    void next() {
        for (size_t i = 0; i < N && ++digit[i] == radix[i]; ++i) digit[i] = 0;
    }
};
inline constexpr int64_t kUnbounded = std::numeric_limits<int64_t>::max();

// Thread t's contiguous share [begin, end) of n items.
struct Share {
    int64_t begin, end;
    Share(int64_t b, int64_t e) : begin(b), end(e) {}
    Share(int64_t n, int t, int nt) : begin(n * t / nt), end(n * (t + 1) / nt) {}
};

}  // namespace tconv
