// SPDX-License-Identifier: Apache-2.0
// Layer configs: JSON text -> validated Problems. A config is read into a Problem and checked by
// the same rules as a Problem built in code (validate_problem); an error names the source, the
// key path (e.g. `layers[2].stride[1]`), the value and the rule.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tconv/error.hpp"
#include "tconv/problem.hpp"

namespace tconv {

struct ConfigLimits {
    // Largest tensor (input, output, weights) a layer may need, in bytes. Refused before any
    // allocation. 16 GiB by default.
    uint64_t max_tensor_bytes = uint64_t(16) << 30;
};

struct Config {
    std::string name;              // the file's "name", or the file stem
    bool chain = false;            // "chain": true -> each layer's output feeds the next
    std::vector<Problem> layers;   // at least one
};

// `source` names the text in messages (a file path, or "<string>").
Config parse_config(std::string_view json_text, std::string_view source,
                    const ConfigLimits& limits = {});
// Reads a file (errors name it) and parses it.
Config load_config(const std::string& path, const ConfigLimits& limits = {});

// Checks a Problem built in code by every rule a config obeys, with no JSON in between; `output`
// must be the derived size. The Error (invalid_config; out_of_memory for a tensor over
// `limits`) reads as the config's would, with `layer "NAME"` for the file and every spatial key
// as a list, pads in ONNX order: `layer "up1": kernel_size[1]=0 must be >= 1`. Layer::compile
// calls it.
void validate_problem(const Problem& problem, const ConfigLimits& limits = {});

// Expands each argument that is a directory into its *.json files (sorted); files stay as given.
// A missing path or a directory without configs is an Error naming it.
std::vector<std::string> config_files(const std::vector<std::string>& files_or_dirs);

// The layers of `config` selected by `name` (all when empty); an unknown name is an Error that
// lists the layer names.
std::vector<Problem> select_layers(const Config& config, const std::string& name,
                                   const std::string& source);

}  // namespace tconv
