// SPDX-License-Identifier: Apache-2.0
// The cache hands out leases: shared pointers to a kernel whose last copy, when dropped, tells
// the cache the kernel is unused (it then joins the LRU list). The cache owns every kernel
// through its entry; an entry in use is never evicted, so a lease never dangles.
#include "tconv/gen/kernel_cache.hpp"

#include <condition_variable>
#include <exception>
#include <list>
#include <mutex>
#include <unordered_map>

namespace tconv::gen {

namespace {

struct Entry {
    std::shared_ptr<const Kernel> kernel;  // null while generating
    std::exception_ptr error;              // set when generation failed
    bool generating = true;
    bool cached = true;   // false once evicted or failed: the map no longer holds it
    bool in_use = false;  // some lease lives (or its release is under way)
    bool in_lru = false;
    std::list<Entry*>::iterator lru;
    std::weak_ptr<const Kernel> lease;  // the users' shared lease, while one lives
    uint64_t bytes = 0;
};

// Xbyak page-aligns each kernel's code: a kernel occupies whole pages.
uint64_t code_footprint(const Kernel& k) {
    constexpr uint64_t kPage = 4096;
    return (uint64_t(k.code_size()) + kPage - 1) / kPage * kPage;
}

struct Cache {
    std::mutex mutex;
    std::condition_variable generated;
    std::unordered_map<AnyKernelDesc, std::shared_ptr<Entry>, KernelDescHash> kernels;
    std::list<Entry*> lru;  // unused kernels, most recently used first
    KernelCacheStats stats;

    // Caller holds the lock; `e` is cached and generated.
    std::shared_ptr<const Kernel> lease(const std::shared_ptr<Entry>& e);
    void release(const std::shared_ptr<Entry>& e);
    void evict_down_to(uint64_t bytes);
};

Cache& cache() {
    static Cache* c = new Cache;  // never destroyed: kernels may run during static destruction
    return *c;
}

// The deleter of a lease: runs when its last copy is dropped, outside the cache's lock.
struct Release {
    std::shared_ptr<Entry> entry;
    void operator()(const Kernel*) const { cache().release(entry); }
};

std::shared_ptr<const Kernel> Cache::lease(const std::shared_ptr<Entry>& e) {
    if (std::shared_ptr<const Kernel> live = e->lease.lock()) return live;
    std::shared_ptr<const Kernel> p(e->kernel.get(), Release{e});
    e->lease = p;
    if (!e->in_use) {
        e->in_use = true;
        ++stats.in_use;
    }
    if (e->in_lru) {
        lru.erase(e->lru);
        e->in_lru = false;
    }
    return p;
}

void Cache::release(const std::shared_ptr<Entry>& e) {
    std::lock_guard<std::mutex> lock(mutex);
    // A new lease may have been handed out since this one's last copy was dropped; two
    // releases of expired leases may race: the first one counts.
    if (!e->lease.expired() || !e->in_use) return;
    e->lease.reset();  // the lease's control block holds `e`: no cycle left behind
    e->in_use = false;
    --stats.in_use;
    if (!e->cached) return;
    lru.push_front(e.get());
    e->lru = lru.begin();
    e->in_lru = true;
    evict_down_to(stats.capacity_bytes);
}

void Cache::evict_down_to(uint64_t bytes) {
    while (stats.code_bytes > bytes && !lru.empty()) {
        Entry* victim = lru.back();
        lru.pop_back();
        victim->in_lru = false;
        victim->cached = false;
        stats.code_bytes -= victim->bytes;
        ++stats.evictions;
        kernels.erase(victim->kernel->desc());  // may free the entry and its kernel
    }
}

}  // namespace

std::shared_ptr<const Kernel> cached_kernel(const AnyKernelDesc& d) {
    Cache& c = cache();
    std::unique_lock<std::mutex> lock(c.mutex);
    for (auto it = c.kernels.find(d); it != c.kernels.end(); it = c.kernels.find(d)) {
        const std::shared_ptr<Entry> e = it->second;
        ++c.stats.hits;
        c.generated.wait(lock, [&] { return !e->generating; });
        if (e->error) std::rethrow_exception(e->error);
        if (e->cached) return c.lease(e);
        // Evicted between its generation and this wake-up: look again.
    }
    ++c.stats.misses;
    auto e = std::make_shared<Entry>();
    c.kernels.emplace(d, e);
    lock.unlock();
    std::shared_ptr<const Kernel> kernel;
    std::exception_ptr error;
    try {
        kernel = generate(d);
    } catch (...) {
        error = std::current_exception();
    }
    lock.lock();
    e->generating = false;
    c.generated.notify_all();
    if (error) {
        e->error = error;
        e->cached = false;
        c.kernels.erase(d);
        std::rethrow_exception(error);
    }
    e->kernel = std::move(kernel);
    e->bytes = code_footprint(*e->kernel);
    c.stats.code_bytes += e->bytes;
    std::shared_ptr<const Kernel> p = c.lease(e);
    c.evict_down_to(c.stats.capacity_bytes);
    return p;
}

KernelCacheStats kernel_cache_stats() {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    KernelCacheStats s = c.stats;
    s.entries = c.kernels.size();
    return s;
}

void set_kernel_cache_capacity(uint64_t bytes) {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    c.stats.capacity_bytes = bytes;
    c.evict_down_to(bytes);
}

uint64_t clear_kernel_cache() {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    const uint64_t before = c.stats.evictions;
    c.evict_down_to(0);
    return c.stats.evictions - before;
}

}  // namespace tconv::gen
