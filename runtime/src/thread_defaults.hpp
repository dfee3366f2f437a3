// SPDX-License-Identifier: Apache-2.0
// Where a layer's default thread count and wait policy come from when Options leaves them
// unset: the environment, else the process's CPUs. Pure functions of their inputs, so tests
// can try every value without touching the process's environment.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "tconv/tconv.hpp"

namespace tconv {

// "bounded", "spin" or "passive"; nullopt for anything else.
std::optional<WaitPolicy> parse_wait_policy(std::string_view s);

// TCONV_NUM_THREADS (an integer 1-1024, else an Error naming the variable), else
// OMP_NUM_THREADS's first entry when it is such an integer (OpenMP's list syntax "4,2";
// a value OpenMP itself would reject is ignored, as the variable is not tconv's), else `cpus`.
// Null or empty values count as unset.
int threads_from_env(const char* tconv_num_threads, const char* omp_num_threads, int cpus);

// TCONV_WAIT_POLICY's value: null or empty is the default (bounded), a bad value an Error.
WaitPolicy wait_policy_from_env(const char* value);

// Threads worth waking for a layer's execute: one per ~5 us of work, from its FLOPs (0.5 MFLOP
// per thread, ~5 us at the FMA peak) or, once timed (`one_thread_ns` > 0: a call's time on one
// thread), from that time where it gives more; 1-1024.
int useful_threads(double flops, int64_t one_thread_ns);

// The CPUs this process may run on (its affinity mask), at least 1.
int affinity_cpus();

}  // namespace tconv
