// SPDX-License-Identifier: Apache-2.0
// Buffers the JIT implementations reuse across calls: aligned, huge-page backed when large,
// one set per thread.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>

namespace tconv {

struct FreeDeleter {
    void operator()(float* p) const { std::free(p); }
};
using FloatBuffer = std::unique_ptr<float[], FreeDeleter>;

// Cache-line aligned floats (uninitialised). Buffers from 1 MB ask for transparent huge pages:
// packing weights into fresh memory is dominated by page faults, and one fault maps 512 times
// more; streaming them misses the TLB less. The cost: up to 2x the memory of a 1 MB buffer.
inline FloatBuffer aligned_floats(int64_t n) {
    constexpr size_t kHuge = size_t(2) << 20;
    const size_t want = size_t(n > 0 ? n : 1) * sizeof(float);
    const size_t align = want >= kHuge / 2 ? kHuge : 64;
    const size_t bytes = (want + align - 1) / align * align;
    auto* p = static_cast<float*>(std::aligned_alloc(align, bytes));
    if (!p) throw std::bad_alloc();
    if (align == kHuge) madvise(p, bytes, MADV_HUGEPAGE);  // advisory: failure is harmless
    return FloatBuffer(p);
}

// Scratch owned by a thread and reused across calls (it grows to the largest layer the thread
// has run): no page faults per call, and no sharing between concurrent callers.
struct ThreadScratch {
    FloatBuffer buf;
    int64_t capacity = 0;
    // The layer whose zero halo the buffer holds (0: none): that layer, running again on this
    // thread, copies only the interior (the halo never changes; for tiny layers it is most of
    // the copy).
    uint64_t halo_owner = 0;
    float* get(int64_t n) {
        if (n > capacity) {
            buf = aligned_floats(n);
            capacity = n;
            halo_owner = 0;
        }
        return buf.get();
    }
    // For use inside an OpenMP region, which no exception may leave: nullptr when out of memory.
    float* try_get(int64_t n) noexcept {
        try {
            return get(n);
        } catch (...) {
            return nullptr;
        }
    }
};

// A thread's scratch: the input buffer (of the thread that calls execute), the output row
// buffer and the one-channel input plane (of every thread of the team). One thread_local: one
// TLS lookup per call.
struct Scratch {
    ThreadScratch input, row, plane;
};
inline Scratch& thread_scratch() {
    thread_local Scratch s;
    return s;
}

}  // namespace tconv
