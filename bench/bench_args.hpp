// SPDX-License-Identifier: Apache-2.0
// The options of `tconv bench`, parsed and checked.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tconv/problem.hpp"

namespace tconv::bench {

struct BenchArgs {
    std::vector<std::string> inputs;   // config files or directories, as given
    int threads = 0;                   // 0: OpenMP's default team size
    std::string json_path;             // empty: no JSON
    std::string plot_path;             // empty: no chart (--plot FILE.png)
    bool markdown = false;
    std::optional<Layout> layout;      // overrides every layer's layout when set
    std::optional<DType> dtype;        // overrides every layer's dtype when set
    std::optional<Isa> isa;            // cap for tconv's dispatcher and the peak probe
    double min_time = 0.2;             // seconds of repeats per side and layer
    bool peers = true;
    std::vector<std::string> layers;   // --layer NAME (repeatable); empty: all layers
    // --input-shape NAME=AxB... (repeatable): ONNX models' graph input shapes
    std::vector<std::pair<std::string, std::vector<int64_t>>> input_shapes;
    int random = 0;                    // --random N: N random layers after the configs' ones
    uint64_t seed = 1;                 // --seed S: the draw of --random
    bool help = false;
};

// Accepts `--opt value` and `--opt=value` (the CLI's parser). Throws Error(invalid_argument)
// naming the option.
BenchArgs parse_bench_args(const std::vector<std::string>& args);

}  // namespace tconv::bench
