// SPDX-License-Identifier: Apache-2.0
// tconv bench: implemented in bench/ (it links the optional oneDNN and XNNPACK comparators).
#include "bench.hpp"
#include "commands.hpp"

namespace tconv::cli {

int cmd_bench(const Argv& args) { return tconv::bench::bench_command(args); }

}  // namespace tconv::cli
