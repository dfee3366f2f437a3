// SPDX-License-Identifier: Apache-2.0
// Linux perf's JIT symbol map: with TCONV_JIT_PROFILE=1, every kernel the JIT emits is listed in
// /tmp/perf-<pid>.map, so `perf report` shows kernel names instead of bare addresses.
#pragma once

#include <cstddef>
#include <string>

namespace tconv {

// True when TCONV_JIT_PROFILE=1 (checked on each call: kernels are emitted rarely).
bool perf_map_enabled();

// Appends "<hex start> <hex size> <name>" when enabled; a no-op otherwise. Thread-safe. The file
// is opened once, in append mode; a file that cannot be written disables the map silently, since
// profiling must never make a kernel fail.
void perf_map_register(const void* code, size_t size, const std::string& name);

// "/tmp/perf-<pid>.map" for this process.
std::string perf_map_path();

}  // namespace tconv
