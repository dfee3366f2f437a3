// SPDX-License-Identifier: Apache-2.0
// Buffers the JIT implementations reuse across calls: aligned, huge-page backed when large,
// one set per thread.
#pragma once

#include <sys/mman.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>

namespace tconv {

// Frees a buffer from aligned_floats: `mapped` bytes of its own mapping, or the heap's when 0.
struct FloatDeleter {
    size_t mapped = 0;
    void operator()(float* p) const {
        if (mapped)
            munmap(p, mapped);
        else
            std::free(p);
    }
};
using FloatBuffer = std::unique_ptr<float[], FloatDeleter>;

// Cache-line aligned floats (uninitialised). Buffers from 128 KiB get their own mapping,
// returned to the system when freed: from the heap, the buffers of layers of many shapes
// (which long-lived small blocks such as kernels' code pin in place) grew a process creating
// and dropping 2000 shapes to 126 MB of heap for 3 MB in use. From 1 MB the mapping is
// aligned to and asks for transparent huge pages: packing weights into fresh memory is
// dominated by page faults, and one fault maps 512 times more; streaming them misses the TLB
// less.
inline FloatBuffer aligned_floats(int64_t n) {
    constexpr size_t kOwnMapping = size_t(128) << 10, kHuge = size_t(2) << 20;
    const size_t want = size_t(n > 0 ? n : 1) * sizeof(float);
    if (want < kOwnMapping) {
        auto* p = static_cast<float*>(std::aligned_alloc(64, (want + 63) / 64 * 64));
        if (!p) throw std::bad_alloc();
        return FloatBuffer(p);
    }
    const size_t align = want >= kHuge / 2 ? kHuge : 4096;
    const size_t bytes = (want + align - 1) / align * align;
    // Over-map by the alignment, then unmap the slack before and after the aligned block.
    const size_t slack = align - 4096;
    void* raw = mmap(nullptr, bytes + slack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                     -1, 0);
    if (raw == MAP_FAILED) throw std::bad_alloc();
    const uintptr_t at = reinterpret_cast<uintptr_t>(raw);
    const uintptr_t aligned = (at + align - 1) / align * align;
    if (aligned > at) munmap(raw, aligned - at);
    if (at + slack > aligned)
        munmap(reinterpret_cast<void*>(aligned + bytes), at + slack - aligned);
    auto* p = reinterpret_cast<float*>(aligned);
    if (align == kHuge) madvise(p, bytes, MADV_HUGEPAGE);  // advisory: failure is harmless
    return FloatBuffer(p, FloatDeleter{bytes});
}

// Scratch kinds: the input buffer and the layout buffer (transposed input and output of a
// lowered layer: gen::PixelTranspose) of the thread that calls execute, the output row buffer
// and the one-channel input plane or a W chunk's input columns (of every thread of the team),
// a bf16 layer's fp32 input and output (of the thread that calls execute; bf16_impl.cpp), and
// a linear resize_conv's copy of its input (of the thread that calls execute;
// upsample_impl.cpp).
enum class ScratchKind { input, row, plane, layout, bf16, upsample };
inline constexpr int kScratchKinds = 6;

// Floats of each kind one execute() of a layer asks of a thread.
struct ScratchNeed {
    std::array<int64_t, kScratchKinds> floats{};
    int64_t& operator[](ScratchKind k) { return floats[size_t(k)]; }
    // A driver's usual need: one row buffer.
    static ScratchNeed row(int64_t n) {
        ScratchNeed need;
        need[ScratchKind::row] = n;
        return need;
    }
};

// A live layer's need, registered for its lifetime: threads keep no more scratch than the
// largest need of live layers. When that shrinks (the layer dies), the thread destroying it
// releases its excess at once and every other thread at its next call (or when it exits).
class ScratchClaim {
  public:
    ScratchClaim() = default;
    explicit ScratchClaim(const ScratchNeed& need);
    ~ScratchClaim();
    ScratchClaim(const ScratchClaim&) = delete;
    ScratchClaim& operator=(const ScratchClaim&) = delete;

  private:
    ScratchNeed need_;
    bool active_ = false;
};

// Releases the calling thread's scratch beyond what live layers need, and has every other
// thread do the same at its next call.
void release_scratch();
// Bytes of scratch all threads hold.
uint64_t scratch_bytes();
// Bumped whenever threads should compare their scratch with the live layers' needs.
std::atomic<uint64_t>& scratch_epoch();

// Scratch owned by a thread and reused across calls: it grows to the largest request and is
// released down to what live layers need (see ScratchClaim). No page faults per call, and no
// sharing between concurrent callers.
class ThreadScratch {
  public:
    explicit ThreadScratch(ScratchKind kind) : kind_(kind) {}
    ~ThreadScratch() { drop(); }
    ThreadScratch(const ThreadScratch&) = delete;
    ThreadScratch& operator=(const ThreadScratch&) = delete;

    // The layer whose zero halo the buffer holds (0: none): that layer, running again on this
    // thread, copies only the interior (the halo never changes; for tiny layers it is most of
    // the copy). Reset whenever the buffer is replaced.
    uint64_t halo_owner = 0;

    float* get(int64_t n) {
        if (n > capacity_ || epoch_ != scratch_epoch().load(std::memory_order_relaxed)) refit(n);
        return buf_.get();
    }
    // For use inside an OpenMP region, which no exception may leave: nullptr when out of memory.
    float* try_get(int64_t n) noexcept {
        try {
            return get(n);
        } catch (...) {
            return nullptr;
        }
    }
    // Frees the buffer when it exceeds what live layers need.
    void trim();
    int64_t capacity() const { return capacity_; }

  private:
    void refit(int64_t n);
    void drop();
    ScratchKind kind_;
    FloatBuffer buf_;
    int64_t capacity_ = 0;
    uint64_t epoch_ = 0;
};

// A thread's scratch, one of each kind. One thread_local: one TLS lookup per call.
struct Scratch {
    ThreadScratch input{ScratchKind::input}, row{ScratchKind::row}, plane{ScratchKind::plane},
        layout{ScratchKind::layout}, bf16{ScratchKind::bf16}, upsample{ScratchKind::upsample};
};
inline Scratch& thread_scratch() {
    thread_local Scratch s;
    return s;
}

}  // namespace tconv
