// SPDX-License-Identifier: Apache-2.0
// The public face of the kernel cache and the per-thread scratch.
#include "scratch.hpp"
#include "tconv/gen/kernel_cache.hpp"
#include "tconv/tconv.hpp"

namespace tconv {

CacheStats cache_stats() {
    const gen::KernelCacheStats k = gen::kernel_cache_stats();
    CacheStats s;
    s.entries = k.entries;
    s.code_bytes = k.code_bytes;
    s.capacity_bytes = k.capacity_bytes;
    s.hits = k.hits;
    s.misses = k.misses;
    s.evictions = k.evictions;
    s.kernels_in_use = k.in_use;
    s.scratch_bytes = scratch_bytes();
    return s;
}

void set_cache_capacity(uint64_t bytes) { gen::set_kernel_cache_capacity(bytes); }

void clear_cache() {
    gen::clear_kernel_cache();
    release_scratch();
}

}  // namespace tconv
