// SPDX-License-Identifier: Apache-2.0
#include "perf_map.hpp"

#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_set>

namespace tconv {

namespace {

std::mutex g_mutex;
std::FILE* g_file = nullptr;  // opened on first use, kept open for the life of the process
pid_t g_pid = 0;              // the process g_file belongs to: a forked child opens its own map
// Kernels come from the process-wide cache, so many layers share one: list each code block once.
std::unordered_set<const void*> g_listed;

}  // namespace

bool perf_map_enabled() {
    const char* v = std::getenv("TCONV_JIT_PROFILE");
    return v && std::strcmp(v, "1") == 0;
}

std::string perf_map_path() { return "/tmp/perf-" + std::to_string(::getpid()) + ".map"; }

void perf_map_register(const void* code, size_t size, const std::string& name) {
    if (!perf_map_enabled() || !code || size == 0) return;
    // perf reads one symbol per line: keep the name on it.
    std::string clean = name.empty() ? std::string("tconv_kernel") : name;
    for (char& c : clean)
        if (c == '\n' || c == '\r') c = ' ';
    std::lock_guard<std::mutex> lock(g_mutex);
    if (g_pid != ::getpid()) {
        if (g_file) std::fclose(g_file);  // the parent's, already flushed
        g_file = std::fopen(perf_map_path().c_str(), "a");
        g_pid = ::getpid();
    }
    if (!g_file || !g_listed.insert(code).second) return;
    std::fprintf(g_file, "%" PRIxPTR " %zx %s\n", reinterpret_cast<uintptr_t>(code), size,
                 clean.c_str());
    std::fflush(g_file);  // perf may read the map while the process still runs
}

}  // namespace tconv
