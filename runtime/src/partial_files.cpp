// SPDX-License-Identifier: Apache-2.0
#include "partial_files.hpp"

#include <unistd.h>

#include <atomic>
#include <cstring>

#include "tconv/npy.hpp"

namespace tconv {

namespace {

constexpr int kSlots = 16;
constexpr size_t kPathMax = 4096;

struct Slot {
    std::atomic<int> state{0};  // 0 free, 1 being filled, 2 holds a path
    char path[kPathMax];
};
Slot g_slots[kSlots];
static_assert(std::atomic<int>::is_always_lock_free, "the signal handler reads the slots");

}  // namespace

namespace detail {

int register_partial_file(const char* path) noexcept {
    const size_t n = std::strlen(path);
    if (n >= kPathMax) return -1;
    for (int i = 0; i < kSlots; ++i) {
        int expected = 0;
        if (!g_slots[i].state.compare_exchange_strong(expected, 1)) continue;
        std::memcpy(g_slots[i].path, path, n + 1);
        g_slots[i].state.store(2);
        return i;
    }
    return -1;
}

void unregister_partial_file(int slot) noexcept {
    if (slot >= 0) g_slots[slot].state.store(0);
}

}  // namespace detail

void remove_partial_npy_files() noexcept {
    for (Slot& s : g_slots)
        if (s.state.load() == 2) ::unlink(s.path);  // async-signal-safe
}

}  // namespace tconv
