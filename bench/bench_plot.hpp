// SPDX-License-Identifier: Apache-2.0
// `tconv bench --plot FILE.png`: the run as a chart.
#pragma once

#include <string>

#include "bench_report.hpp"

namespace tconv::bench {

// One group of horizontal bars per layer (GFLOP/s of tconv and of each peer that ran
// correctly), the machine's FMA peak as a vertical line, layers labelled, a legend.
void write_plot(const BenchRun& run, const std::string& path);

}  // namespace tconv::bench
