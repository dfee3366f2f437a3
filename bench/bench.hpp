// SPDX-License-Identifier: Apache-2.0
// `tconv bench`: times layers from config files with tconv and, side by side, with oneDNN and
// XNNPACK when the build found them. The CLI forwards everything after `tconv bench` here.
#pragma once

#include <string>
#include <vector>

namespace tconv::bench {

// Returns the exit code (0; 1 when a peer's output disagreed with tconv's). Throws tconv::Error
// for usage, config or input errors.
int bench_command(const std::vector<std::string>& args);

// The text `tconv bench --help` prints.
std::string bench_help();

}  // namespace tconv::bench
