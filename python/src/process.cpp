// SPDX-License-Identifier: Apache-2.0
// Process-wide state: the kernel cache, the CPU, the version, and the content fingerprint the
// functional API keys its layer cache with.
#include <cstring>

#include "bindings.hpp"
#include "tconv/tconv.h"

namespace tconv::python {

namespace {

// 64-bit fingerprint of a byte buffer: four independent multiply-rotate lanes (so the loop runs
// at memory speed, ~10 GB/s), then a final mix. Not cryptographic: it tells weights apart that
// a program changed, not weights crafted to collide.
uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
constexpr uint64_t kP1 = 0x9E3779B185EBCA87ull, kP2 = 0xC2B2AE3D27D4EB4Full,
                   kP3 = 0x165667B19E3779F9ull;

uint64_t lane(uint64_t acc, uint64_t word) { return rotl(acc + word * kP2, 31) * kP1; }

uint64_t fingerprint_bytes(const unsigned char* p, size_t n) {
    uint64_t a[4] = {kP1 + kP2, kP2, 0, 0 - kP1};
    size_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (int k = 0; k < 4; ++k) {
            uint64_t w;
            std::memcpy(&w, p + i + 8 * k, 8);
            a[k] = lane(a[k], w);
        }
    uint64_t h = rotl(a[0], 1) + rotl(a[1], 7) + rotl(a[2], 12) + rotl(a[3], 18) + n;
    for (; i < n; ++i) h = rotl(h ^ (p[i] * kP3), 11) * kP1;
    h ^= h >> 33;
    h *= kP2;
    h ^= h >> 29;
    h *= kP3;
    return h ^ (h >> 32);
}

py::dict cache_stats_dict() {
    const CacheStats s = cache_stats();
    py::dict d;
    d["entries"] = s.entries;
    d["code_bytes"] = s.code_bytes;
    d["capacity_bytes"] = s.capacity_bytes;
    d["hits"] = s.hits;
    d["misses"] = s.misses;
    d["evictions"] = s.evictions;
    d["kernels_in_use"] = s.kernels_in_use;
    d["scratch_bytes"] = s.scratch_bytes;
    return d;
}

py::dict cpu_info_dict() {
    const CpuInfo& c = cpu_info();
    py::dict d;
    d["model"] = c.model;
    d["avx2"] = c.avx2;
    d["fma"] = c.fma;
    d["avx512f"] = c.avx512f;
    d["avx512bw"] = c.avx512bw;
    d["avx512vl"] = c.avx512vl;
    d["avx512_bf16"] = c.avx512_bf16;
    d["amx"] = c.amx;
    d["threads"] = c.threads;
    d["best_isa"] = std::string(to_string(c.best_isa()));
    // What layers compiled now would use: the CPU's best, capped by TCONV_MAX_ISA.
    d["isa"] = std::string(to_string(resolve_max_isa({})));
    return d;
}

}  // namespace

void bind_process(py::module_& m) {
    m.attr("__version__") = tconv_version();
    m.def("cache_stats", &cache_stats_dict);
    m.def("set_kernel_cache_capacity", [](uint64_t bytes) { set_cache_capacity(bytes); });
    m.def("clear_kernel_cache", [] { clear_cache(); });
    m.def("cpu_info", &cpu_info_dict);
    m.def("default_threads", [] { return default_threads(); });
    m.def("fingerprint", [](const py::array& a) {
        if (!(a.flags() & py::array::c_style)) argument_error("fingerprint: array must be C-contiguous");
        const auto* p = static_cast<const unsigned char*>(a.data());
        const size_t n = size_t(a.nbytes());
        py::gil_scoped_release release;
        return fingerprint_bytes(p, n);
    });
}

}  // namespace tconv::python
