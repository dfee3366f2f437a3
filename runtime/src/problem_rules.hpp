// SPDX-License-Identifier: Apache-2.0
// The rules a layer obeys, over a Problem: the one rule book for configs and for Problems built in
// code. The config parser turns JSON into a Problem (types, list lengths, which keys may appear
// together) and leaves every rule on the values to these functions; Layer::compile applies the
// same functions to a Problem it is given, with no JSON in between.
//
// A broken rule is an Error whose message names the key as a config spells it:
//   `<source>: <path>=<value> <rule>`   or   `<source>: <path>: <what>`.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tconv/config.hpp"

namespace tconv::rules {

// Batch, channels and every spatial size fit 31 bits: kernels may use 32-bit offsets per
// dimension, and no derived size such as (I-1)*S + D*(K-1) can overflow 64 bits.
inline constexpr int64_t kMaxInt = INT32_MAX;
inline constexpr size_t kMaxNameBytes = 256;

// The two message shapes, shared with the config parser's own (JSON-level) messages.
std::string message(std::string_view source, std::string_view path, std::string_view what);
std::string value_message(std::string_view source, std::string_view path,
                          std::string_view value, std::string_view rule);

// A string as a config shows it: quoted, with JSON's escapes; cut to `max_bytes` (at a
// character boundary, then "...") when longer. Bytes that are not UTF-8 become U+FFFD.
std::string quote(std::string_view s, size_t max_bytes = SIZE_MAX);

// The rule a name breaks ("must not be empty", ...), or nullptr when it is a valid name.
const char* name_rule(std::string_view name);

// Every value of the enums, in the order messages list them.
const std::vector<Activation>& activations();
const std::vector<Layout>& layouts();
const std::vector<DType>& dtypes();
// "must be one of: none, relu, ..."
std::string one_of_rule(const std::vector<std::string_view>& names);

// How the user wrote the layer, so that a message names the key they wrote: "stride" for one
// integer applied to every dim, "stride[1]" for an entry of a list, "padding" or "pads".
struct Spelling {
    std::string source;               // a file, "<string>", or `layer "up1"` for a Problem in code
    std::string layer;                // the layer object's key path ("layers[2]"), "" for the top
    std::vector<std::string> scalar;  // spatial keys written as one integer for every dim
    bool symmetric_pads = false;      // "padding" (pad_begin = pad_end) rather than ONNX "pads"
    bool name_given = true;           // false: a default name (a file stem) or none, unchecked

    // `key` (entry `i` of a list, i >= 0) under the layer's path, as the user wrote it.
    std::string path(std::string_view key, int i = -1) const;
    [[noreturn]] void fail(const std::string& what) const;  // about the whole layer
    [[noreturn]] void fail_value(std::string_view key, int i, std::string_view value,
                                 std::string_view rule) const;
    // `value` must be >= lo and <= kMaxInt.
    void check_range(std::string_view key, int i, int64_t value, int64_t lo) const;
};

// How a Problem built in code is spelled: every spatial key a list, pads in ONNX order.
Spelling code_spelling(const Problem& p);

// The checks in the order a config lists its keys; a Problem passes all three.
// 1. Each field the user sets: ranges, groups against the channels, rank, name, output_padding
//    below max(stride, dilation), the leaky_relu slope, the enums. `output` is not looked at.
void check_fields(const Problem& p, const Spelling& s);
// 2. The output size each dim derives to, (I-1)*S - pb - pe + D*(K-1) + OP + 1, which must be
//    from 1 to kMaxInt. Needs check_fields first (no overflow).
Dims derive_output(const Problem& p, const Spelling& s);
// 3. Every tensor's size, overflow-safe, against the limit (an out_of_memory Error). Needs
//    `output` set.
void check_sizes(const Problem& p, const ConfigLimits& limits, const Spelling& s);

// All of them on a finished Problem, whose `output` must be the derived size.
void validate(const Problem& p, const ConfigLimits& limits, const Spelling& s);

}  // namespace tconv::rules
