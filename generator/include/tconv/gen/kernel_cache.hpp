// SPDX-License-Identifier: Apache-2.0
// The process-wide kernel cache: one compiled Kernel per distinct descriptor (of any family),
// bounded by a capacity in bytes of code. Kernels some holder still uses are never evicted;
// unused ones are kept for reuse and evicted least recently used first.
#pragma once

#include <cstdint>
#include <memory>

#include "tconv/gen/kernel.hpp"

namespace tconv::gen {

// The kernel for `d`, generated on first request. Generation runs outside the cache's lock;
// concurrent requests for the same desc wait for the one generation under way. A failed
// generation is not cached (the next request tries again) and rethrows to every waiter.
// The kernel counts as in use while any copy of the returned pointer lives.
std::shared_ptr<const Kernel> cached_kernel(const AnyKernelDesc& d);

// 32 MiB: thousands of typical kernels (2-16 KiB each), a few milliseconds of generation saved
// per re-created layer, yet a bound a long-lived process can afford.
inline constexpr uint64_t kDefaultKernelCacheCapacity = uint64_t(32) << 20;

struct KernelCacheStats {
    uint64_t hits = 0;        // requests served by a kernel generated (or being generated) before
    uint64_t misses = 0;      // requests that generated
    uint64_t entries = 0;     // kernels held
    uint64_t code_bytes = 0;  // their code, each counted in whole 4 KiB pages (its own pages)
    uint64_t capacity_bytes = kDefaultKernelCacheCapacity;
    uint64_t evictions = 0;   // unused kernels dropped to stay within the capacity, or cleared
    uint64_t in_use = 0;      // kernels some holder uses: never evicted, may exceed the capacity
};
KernelCacheStats kernel_cache_stats();

// Sets the capacity and evicts unused kernels, oldest use first, until the code fits (0: keep
// no unused kernel).
void set_kernel_cache_capacity(uint64_t bytes);
// Drops every unused kernel; returns how many.
uint64_t clear_kernel_cache();

}  // namespace tconv::gen
