// SPDX-License-Identifier: Apache-2.0
// Command-line parsing shared by every subcommand: `--flag value` or `--flag=value`, positional
// arguments, `--help`. Every mistake is a tconv::Error naming the subcommand and the flag.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tconv/problem.hpp"

namespace tconv::cli {

struct Flag {
    std::string name;   // with the leading "--"
    bool takes_value;
    std::string help;   // one line; for flags with a value, starts with the value's name
    bool repeatable = false;  // may be given several times (values kept in order)
};

struct Args {
    std::string command;                       // e.g. "run", for messages
    std::vector<std::string> positional;
    std::map<std::string, std::string> values;  // flags with a value
    std::map<std::string, bool> switches;       // flags without a value that were given
    std::map<std::string, std::vector<std::string>> lists;  // repeatable flags
    bool help = false;

    bool has(const std::string& flag) const {
        return values.count(flag) || switches.count(flag) || lists.count(flag);
    }
    // Every value of a repeatable flag, in order.
    std::vector<std::string> all(const std::string& flag) const;
    // A value that must be one of `allowed`; absent -> std::nullopt.
    std::optional<std::string> choice(const std::string& flag,
                                      const std::vector<std::string>& allowed) const;
    std::optional<std::string> value(const std::string& flag) const;
    // The value of a required flag; an Error naming it when absent.
    std::string required(const std::string& flag) const;
    // --threads N: 1..1024; absent -> std::nullopt.
    std::optional<int> threads() const;
    // --isa avx512_amx|avx512_bf16|avx512|avx2|scalar; absent -> std::nullopt.
    std::optional<Isa> isa() const;
    // --layout channels_first|channels_last; absent -> std::nullopt.
    std::optional<Layout> layout() const;
    // --dtype f32|bf16; absent -> std::nullopt.
    std::optional<DType> dtype() const;
    // Every --input-shape NAME=AxBxC... as (NAME, sizes): an ONNX graph input's shape.
    std::vector<std::pair<std::string, std::vector<int64_t>>> input_shapes() const;
    // A number within [lo, hi] (e.g. seconds); absent -> std::nullopt.
    std::optional<double> number(const std::string& flag, double lo, double hi) const;
};

// A --dtype override applied to a layer: transposed convolutions take it; resize_conv and
// pixel_shuffle layers, f32 only, keep f32, so one folder of mixed kinds runs in bf16.
void override_dtype(Problem& p, DType dtype);

Args parse_args(const std::string& command, const std::vector<std::string>& argv,
                const std::vector<Flag>& flags);

// "Options:" followed by one aligned line per flag.
std::string flags_help(const std::vector<Flag>& flags);

// The closest candidate within a small edit distance, or "" (for did-you-mean hints).
std::string closest_match(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace tconv::cli
