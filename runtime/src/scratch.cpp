// SPDX-License-Identifier: Apache-2.0
// The live layers' scratch needs, and the per-thread buffers measured against them.
#include "scratch.hpp"

#include <algorithm>
#include <map>
#include <mutex>

namespace tconv {

namespace {

struct Needs {
    std::mutex mutex;
    std::array<std::map<int64_t, int64_t>, kScratchKinds> live;  // need -> layers with it
    int64_t largest(ScratchKind k) {
        const auto& m = live[size_t(k)];
        return m.empty() ? 0 : m.rbegin()->first;
    }
};

// Never destroyed: threads release their scratch at exit, after static destruction may have run.
Needs& needs() {
    static Needs* n = new Needs;
    return *n;
}

std::atomic<int64_t> g_scratch_bytes{0};

}  // namespace

std::atomic<uint64_t>& scratch_epoch() {
    static std::atomic<uint64_t> epoch{0};
    return epoch;
}

ScratchClaim::ScratchClaim(const ScratchNeed& need) : need_(need), active_(true) {
    Needs& n = needs();
    std::lock_guard<std::mutex> lock(n.mutex);
    for (int k = 0; k < kScratchKinds; ++k) ++n.live[size_t(k)][need_.floats[size_t(k)]];
}

ScratchClaim::~ScratchClaim() {
    if (!active_) return;
    bool shrank = false;
    {
        Needs& n = needs();
        std::lock_guard<std::mutex> lock(n.mutex);
        for (int k = 0; k < kScratchKinds; ++k) {
            const ScratchKind kind = ScratchKind(k);
            const int64_t before = n.largest(kind);
            auto& m = n.live[size_t(k)];
            auto it = m.find(need_.floats[size_t(k)]);
            if (--it->second == 0) m.erase(it);
            shrank = shrank || n.largest(kind) < before;
        }
    }
    if (shrank) release_scratch();
}

void release_scratch() {
    scratch_epoch().fetch_add(1, std::memory_order_relaxed);
    Scratch& s = thread_scratch();
    s.input.trim();
    s.row.trim();
    s.plane.trim();
    s.layout.trim();
    s.bf16.trim();
    s.upsample.trim();
}

uint64_t scratch_bytes() { return uint64_t(std::max<int64_t>(0, g_scratch_bytes.load())); }

void ThreadScratch::trim() {
    epoch_ = scratch_epoch().load(std::memory_order_relaxed);
    Needs& n = needs();
    std::lock_guard<std::mutex> lock(n.mutex);
    if (capacity_ > n.largest(kind_)) drop();
}

void ThreadScratch::refit(int64_t n) {
    if (epoch_ != scratch_epoch().load(std::memory_order_relaxed)) {
        trim();
        if (capacity_ > n) return;
    }
    if (n <= capacity_) return;
    drop();
    buf_ = aligned_floats(n);
    capacity_ = n;
    g_scratch_bytes += n * int64_t(sizeof(float));
}

void ThreadScratch::drop() {
    g_scratch_bytes -= capacity_ * int64_t(sizeof(float));
    buf_.reset();
    capacity_ = 0;
    halo_owner = 0;
}

}  // namespace tconv
