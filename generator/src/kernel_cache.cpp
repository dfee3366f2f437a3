// SPDX-License-Identifier: Apache-2.0
#include "tconv/gen/kernel_cache.hpp"

#include <future>
#include <mutex>
#include <unordered_map>

namespace tconv::gen {

namespace {

struct Cache {
    std::mutex mutex;
    std::unordered_map<AnyKernelDesc, std::shared_future<std::shared_ptr<const Kernel>>,
                       KernelDescHash>
        kernels;
    KernelCacheStats stats;
};

Cache& cache() {
    static Cache* c = new Cache;  // never destroyed: kernels may run during static destruction
    return *c;
}

}  // namespace

std::shared_ptr<const Kernel> cached_kernel(const AnyKernelDesc& d) {
    Cache& c = cache();
    std::promise<std::shared_ptr<const Kernel>> promise;
    std::shared_future<std::shared_ptr<const Kernel>> future;
    bool owner = false;
    {
        std::lock_guard<std::mutex> lock(c.mutex);
        auto it = c.kernels.find(d);
        if (it != c.kernels.end()) {
            ++c.stats.hits;
            future = it->second;
        } else {
            ++c.stats.misses;
            future = promise.get_future().share();
            c.kernels.emplace(d, future);
            owner = true;
        }
    }
    if (owner) {
        try {
            promise.set_value(generate(d));
        } catch (...) {
            {
                std::lock_guard<std::mutex> lock(c.mutex);
                c.kernels.erase(d);
            }
            promise.set_exception(std::current_exception());
        }
    }
    return future.get();
}

KernelCacheStats kernel_cache_stats() {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    KernelCacheStats s = c.stats;
    s.entries = c.kernels.size();
    return s;
}

}  // namespace tconv::gen
