// SPDX-License-Identifier: Apache-2.0
// The process-wide kernel cache: one compiled Kernel per distinct descriptor (of any family).
#pragma once

#include <cstdint>
#include <memory>

#include "tconv/gen/kernel.hpp"

namespace tconv::gen {

// The kernel for `d`, generated on first request. Generation runs outside the cache's lock;
// concurrent requests for the same desc wait for the one generation under way. A failed
// generation is not cached (the next request tries again) and rethrows to every waiter.
std::shared_ptr<const Kernel> cached_kernel(const AnyKernelDesc& d);

struct KernelCacheStats {
    uint64_t hits = 0;     // requests served by a kernel generated (or being generated) before
    uint64_t misses = 0;   // requests that generated
    uint64_t entries = 0;  // kernels held
};
KernelCacheStats kernel_cache_stats();

}  // namespace tconv::gen
