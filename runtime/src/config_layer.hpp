// SPDX-License-Identifier: Apache-2.0
// One layer object -> a validated Problem: the object's shape is read here, its values are checked
// by the rules every Problem obeys (problem_rules.hpp). The file's shape (single layer or "layers"
// list) and chains live in config.cpp.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "config_json.hpp"
#include "tconv/config.hpp"

namespace tconv::config_detail {

// Every key a layer object may hold, in the order they are documented.
const std::vector<std::string_view>& layer_keys();

// A "name" value: a non-empty string without control characters.
std::string read_name(const Json& v, const Where& where, std::string_view path);

// `path` is the layer's key path ("layers[2]", or "" for a single-layer file); `default_name` is
// used when the layer has no "name".
Problem parse_layer(const Json& layer, const Where& where, std::string_view path,
                    const std::string& default_name, const ConfigLimits& limits);

}  // namespace tconv::config_detail
