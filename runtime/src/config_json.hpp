// SPDX-License-Identifier: Apache-2.0
// JSON plumbing for the config parser: strict parsing (duplicate keys, nesting depth), key paths,
// short value renderings and did-you-mean suggestions, so every config message has one shape:
//   `<source>: <path>=<value> <rule>`   or   `<source>: <path>: <what>`.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace tconv::config_detail {

// Ordered, so that the first problem reported is the first one in the file.
using Json = nlohmann::ordered_json;

// Parses `text`; invalid JSON, duplicate keys and absurd nesting become Error(invalid_config)
// naming `source` (and, for syntax errors, nlohmann's line and column).
Json parse_json(std::string_view text, std::string_view source);

// Key paths: join("layers[1]", "stride") == "layers[1].stride", join("", "stride") == "stride",
// index("stride", 1) == "stride[1]".
std::string join(std::string_view parent, std::string_view key);
std::string index(std::string_view parent, size_t i);

// A value as the user wrote it, kept short for messages: 2, "relu", [2, 2], [... 40 entries].
std::string render(const Json& v);

// " (did you mean \"stride\"?)" for the closest candidate, or "" when none is close.
std::string did_you_mean(std::string_view word, const std::vector<std::string_view>& candidates);

// Where messages point: the source (a file path or "<string>") and messages built from it.
struct Where {
    std::string_view source;

    // "<source>: <path>: <what>" ("<source>: <what>" at the top level).
    [[noreturn]] void fail(std::string_view path, const std::string& what) const;
    // "<source>: <path>=<value> <rule>".
    [[noreturn]] void fail_value(std::string_view path, const Json& value,
                                 const std::string& rule) const;
};

}  // namespace tconv::config_detail
