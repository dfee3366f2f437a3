// SPDX-License-Identifier: Apache-2.0
// Default thread count and wait policy: Options, else the environment, else the machine.
#include "thread_defaults.hpp"

#include "thread_pool.hpp"

#include <sched.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <string>

namespace tconv {

namespace {

constexpr int kMaxThreads = 1024;  // as Layer::execute and the CLI's --threads allow

// The whole of `s` as an integer from 1 to kMaxThreads.
std::optional<int> thread_count(std::string_view s) {
    int v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size() || v < 1 || v > kMaxThreads)
        return std::nullopt;
    return v;
}

}  // namespace

std::string_view to_string(WaitPolicy w) {
    switch (w) {
        case WaitPolicy::bounded: return "bounded";
        case WaitPolicy::spin: return "spin";
        case WaitPolicy::passive: return "passive";
    }
    return "?";
}

std::optional<WaitPolicy> parse_wait_policy(std::string_view s) {
    for (WaitPolicy w : {WaitPolicy::bounded, WaitPolicy::spin, WaitPolicy::passive})
        if (s == to_string(w)) return w;
    return std::nullopt;
}

int threads_from_env(const char* tconv_num_threads, const char* omp_num_threads, int cpus) {
    if (tconv_num_threads && *tconv_num_threads) {
        if (auto n = thread_count(tconv_num_threads)) return *n;
        throw Error(ErrorKind::invalid_argument,
                    "TCONV_NUM_THREADS=" + std::string(tconv_num_threads) +
                        " is not a thread count: use an integer from 1 to " +
                        std::to_string(kMaxThreads));
    }
    if (omp_num_threads && *omp_num_threads) {
        const std::string_view v(omp_num_threads);
        if (auto n = thread_count(v.substr(0, v.find(',')))) return *n;
    }
    return cpus;
}

WaitPolicy wait_policy_from_env(const char* value) {
    if (!value || !*value) return WaitPolicy::bounded;
    if (auto w = parse_wait_policy(value)) return *w;
    throw Error(ErrorKind::invalid_argument, "TCONV_WAIT_POLICY=" + std::string(value) +
                                                 " is not a wait policy: use bounded, spin or "
                                                 "passive");
}

// Layers that run slower than their FLOPs suggest (tiny 3D maps under 27 taps, long 1D
// depthwise rows: 20-45 us for 0.2-0.7 MFLOP) gain from the timed rule. Measured on 2 threads
// (one process, back to back): layers of 21-42 us on one thread ran 1.45-1.92x faster on two;
// of 3.9 us 0.8x, of 5.9 us 1.0x. A layer's first calls, which the runtime times, run colder
// than a loop's (a 4.6 us layer's: 6.5-28 us), hence 5 us and not 3.
int useful_threads(double flops, int64_t one_thread_ns) {
    constexpr double kFlopsPerThread = 0.5e6;
    constexpr int64_t kNsPerThread = 5000;
    const int64_t by_time = std::max<int64_t>(one_thread_ns, 0) / kNsPerThread;
    const double by_work = std::max(flops / kFlopsPerThread, double(by_time));
    return int(std::clamp(by_work, 1.0, 1024.0));
}

int affinity_cpus() {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) != 0) return 1;
    return std::max(1, CPU_COUNT(&set));
}

int default_threads() {
    return threads_from_env(std::getenv("TCONV_NUM_THREADS"), std::getenv("OMP_NUM_THREADS"),
                            std::min(affinity_cpus(), kMaxThreads));
}

void park_threads() { global_pool().park(); }

WaitPolicy resolve_wait_policy(const Options& options) {
    return options.wait ? *options.wait : wait_policy_from_env(std::getenv("TCONV_WAIT_POLICY"));
}

}  // namespace tconv
