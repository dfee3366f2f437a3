// SPDX-License-Identifier: Apache-2.0
// A Problem built in code is checked by the rules a config obeys, with the config's messages, and
// without going through JSON.
#include <doctest/doctest.h>

#include <functional>
#include <limits>
#include <map>

#include "helpers.hpp"

using tconv::ConfigLimits;
using tconv::ErrorKind;
using tconv::Problem;

namespace {

struct Outcome {
    ErrorKind kind = ErrorKind::internal;
    std::string message;  // "<ok>" when nothing was thrown
};

template <class F>
Outcome outcome(F&& f) {
    try {
        f();
    } catch (const tconv::Error& e) {
        return {e.kind(), e.what()};
    }
    return {ErrorKind::internal, "<ok>"};
}

// The message after its source ("cfg.json: " or `layer "coded": `).
std::string after(const std::string& message, const std::string& prefix) {
    if (message.rfind(prefix, 0) != 0) return "<no prefix " + prefix + "> " + message;
    return message.substr(prefix.size());
}

// A valid layer, spelled in config keys as a Problem is: every spatial key a list, pads in ONNX
// order. `extra` keys replace the base ones of the same name.
std::string config(const std::map<std::string, std::string>& extra) {
    std::map<std::string, std::string> keys{
        {"name", "\"coded\""},         {"in_channels", "4"},        {"out_channels", "6"},
        {"input_size", "[5, 5]"},      {"kernel_size", "[3, 3]"},   {"stride", "[2, 2]"},
        {"pads", "[1, 1, 1, 1]"},      {"dilation", "[1, 1]"},      {"output_padding", "[1, 1]"}};
    for (const auto& [k, v] : extra) keys[k] = v;
    std::string s;
    for (const auto& [k, v] : keys) s += (s.empty() ? "{" : ", ") + ("\"" + k + "\": " + v);
    return s + "}";
}

// The same layer built in code.
Problem coded() {
    return Problem{.name = "coded",
                   .in_channels = 4,
                   .out_channels = 6,
                   .rank = 2,
                   .input = {5, 5, 1},
                   .kernel = {3, 3, 1},
                   .stride = {2, 2, 1},
                   .pad_begin = {1, 1, 0},
                   .pad_end = {1, 1, 0},
                   .output_padding = {1, 1, 0},
                   .output = {10, 10, 1}};  // (5-1)*2 - 2 + 2 + 1 + 1
}

// Sets `output` to the derived size when every field is in range (else it cannot matter: a
// field's rule fails first).
void derive(Problem& p) {
    for (int i = 0; i < p.rank; ++i) {
        const int64_t v[] = {p.input[i], p.kernel[i], p.stride[i], p.dilation[i],
                             p.pad_begin[i], p.pad_end[i], p.output_padding[i]};
        for (int64_t x : v)
            if (x < 0 || x > INT32_MAX) return;
        p.output[i] = tconv::output_extent(p.input[i], p.kernel[i], p.stride[i], p.dilation[i],
                                           p.pad_begin[i], p.pad_end[i], p.output_padding[i]);
    }
}

// The source of a Problem's messages, `layer "NAME": ` (the names here need no escape but tab).
std::string source_of(const std::string& name) {
    std::string escaped;
    for (char c : name) escaped += c == '\t' ? std::string("\\t") : std::string(1, c);
    return name.empty() ? "layer: " : "layer \"" + escaped + "\": ";
}

struct Case {
    const char* what;
    std::map<std::string, std::string> keys;  // the broken config
    std::function<void(Problem&)> edit;       // the same break in code
    const char* want;                         // the message after its source
};

}  // namespace

TEST_CASE("validate: the base layer is valid both ways") {
    CHECK(tconv::parse_config(config({}), "cfg.json").layers.at(0) == coded());
    CHECK(outcome([] { tconv::validate_problem(coded()); }).message == "<ok>");
}

TEST_CASE("validate: a Problem built in code breaks each rule with the config's message") {
    const Case cases[] = {
        {"batch", {{"batch", "0"}}, [](Problem& p) { p.batch = 0; }, "batch=0 must be >= 1"},
        {"in_channels", {{"in_channels", "-3"}}, [](Problem& p) { p.in_channels = -3; },
         "in_channels=-3 must be >= 1"},
        {"31 bits", {{"out_channels", "4294967296"}},
         [](Problem& p) { p.out_channels = int64_t(1) << 32; },
         "out_channels=4294967296 must be <= 2147483647"},
        {"groups", {{"groups", "0"}}, [](Problem& p) { p.groups = 0; }, "groups=0 must be >= 1"},
        {"groups / in", {{"groups", "3"}, {"out_channels", "3"}},
         [](Problem& p) { p.groups = p.out_channels = 3; }, "groups=3 must divide in_channels=4"},
        {"groups / out", {{"groups", "4"}}, [](Problem& p) { p.groups = 4; },
         "groups=4 must divide out_channels=6"},
        {"input_size", {{"input_size", "[5, 0]"}}, [](Problem& p) { p.input[1] = 0; },
         "input_size[1]=0 must be >= 1"},
        {"kernel_size", {{"kernel_size", "[0, 3]"}}, [](Problem& p) { p.kernel[0] = 0; },
         "kernel_size[0]=0 must be >= 1"},
        {"stride", {{"stride", "[2, 0]"}}, [](Problem& p) { p.stride[1] = 0; },
         "stride[1]=0 must be >= 1"},
        {"dilation", {{"dilation", "[2147483648, 1]"}},
         [](Problem& p) { p.dilation[0] = int64_t(1) << 31; },
         "dilation[0]=2147483648 must be <= 2147483647"},
        {"pad begin", {{"pads", "[1, -1, 1, 1]"}}, [](Problem& p) { p.pad_begin[1] = -1; },
         "pads[1]=-1 must be >= 0"},
        {"pad end", {{"pads", "[1, 1, -2, 1]"}}, [](Problem& p) { p.pad_end[0] = -2; },
         "pads[2]=-2 must be >= 0"},
        {"output_padding range", {{"output_padding", "[1, -1]"}},
         [](Problem& p) { p.output_padding[1] = -1; }, "output_padding[1]=-1 must be >= 0"},
        {"output_padding below max(S, D)", {{"output_padding", "[1, 2]"}},
         [](Problem& p) { p.output_padding[1] = 2; },
         "output_padding[1]=2 must be < max(stride[1]=2, dilation[1]=1)"},
        {"output too small", {{"pads", "[1, 9, 1, 9]"}},
         [](Problem& p) { p.pad_begin[1] = p.pad_end[1] = 9; },
         "output size along dim 1 = (I-1)*S - pad_begin - pad_end + D*(K-1) + OP + 1 = "
         "(5-1)*2 - 9 - 9 + 1*(3-1) + 1 + 1 = -6, must be at least 1"},
        {"output too large", {{"input_size", "[5, 2147483647]"}},
         [](Problem& p) { p.input[1] = INT32_MAX; }, "= 4294967294, must be at most 2147483647"},
        {"empty name", {{"name", "\"\""}}, [](Problem& p) { p.name.clear(); },
         "<ok>"},  // in code an empty name means none; in a config it is refused (below)
        {"control characters", {{"name", "\"a\\tb\""}}, [](Problem& p) { p.name = "a\tb"; },
         "name=\"a\\tb\" must not contain control characters"},
        {"long name", {{"name", '"' + std::string(300, 'n') + '"'}},
         [](Problem& p) { p.name = std::string(300, 'n'); },
         "name=\"nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn\"... must be at most 256 bytes "
         "long"},
    };
    for (const Case& c : cases) {
        INFO(c.what);
        Problem p = coded();
        c.edit(p);
        derive(p);
        const Outcome from_code = outcome([&] { tconv::validate_problem(p); });
        if (std::string(c.want) == "<ok>") {
            CHECK(from_code.message == "<ok>");
            CHECK(outcome([&] { tconv::parse_config(config(c.keys), "cfg.json"); }).message ==
                  "cfg.json: name=\"\" must not be empty");
            continue;
        }
        const Outcome from_config =
            outcome([&] { tconv::parse_config(config(c.keys), "cfg.json"); });
        CHECK(from_code.kind == ErrorKind::invalid_config);
        CHECK(from_config.kind == ErrorKind::invalid_config);
        const std::string code_rule = after(from_code.message, source_of(p.name));
        CHECK(code_rule == after(from_config.message, "cfg.json: "));
        CHECK(code_rule.find(c.want) != std::string::npos);
    }
}

TEST_CASE("validate: tensors over the limit, as in a config") {
    ConfigLimits limits;
    limits.max_tensor_bytes = 1000;  // output 1 x 6 x 10 x 10 floats = 2400 bytes
    const Outcome from_code = outcome([&] { tconv::validate_problem(coded(), limits); });
    const Outcome from_config =
        outcome([&] { tconv::parse_config(config({}), "cfg.json", limits); });
    CHECK(from_code.kind == ErrorKind::out_of_memory);
    CHECK(from_config.kind == ErrorKind::out_of_memory);
    CHECK(from_code.message ==
          "layer \"coded\": output tensor [1, 6, 10, 10] needs 2.3 KiB (2400 bytes), over the "
          "limit of 1000 bytes (max_tensor_bytes = 1000)");
    CHECK(after(from_code.message, source_of("coded")) ==
          after(from_config.message, "cfg.json: "));
    // Overflowing element counts are refused without overflowing.
    Problem huge = coded();
    huge.batch = huge.in_channels = INT32_MAX;
    huge.groups = 1;
    huge.input = {INT32_MAX, INT32_MAX, 1};
    huge.kernel = huge.stride = {1, 1, 1};
    huge.pad_begin = huge.pad_end = huge.output_padding = {0, 0, 0};
    derive(huge);
    CHECK(outcome([&] { tconv::validate_problem(huge); }).message ==
          "layer \"coded\": input tensor [2147483647, 2147483647, 2147483647, 2147483647] is "
          "too large: its element count overflows 64 bits");
}

TEST_CASE("validate: fields only code can get wrong") {
    Problem p = coded();
    p.output[1] = 11;
    CHECK(outcome([&] { tconv::validate_problem(p); }).message ==
          "layer \"coded\": output[1]=11 must be the derived size 10 = (I-1)*S - pad_begin - "
          "pad_end + D*(K-1) + OP + 1");
    p = coded();
    p.rank = 4;
    CHECK(outcome([&] { tconv::validate_problem(p); }).message ==
          "layer \"coded\": rank=4 must be 1, 2 or 3");
    p = coded();
    p.activation = static_cast<tconv::Activation>(9);
    CHECK(outcome([&] { tconv::validate_problem(p); }).message ==
          "layer \"coded\": activation=9 must be one of: none, relu, leaky_relu, sigmoid, tanh");
    p = coded();
    p.layout = static_cast<tconv::Layout>(2);
    CHECK(outcome([&] { tconv::validate_problem(p); }).message ==
          "layer \"coded\": layout=2 must be one of: channels_first, channels_last");
    // Entries past the rank are unused: nothing checks them.
    p = coded();
    p.kernel[2] = -5;
    CHECK(outcome([&] { tconv::validate_problem(p); }).message == "<ok>");
}

// What a JSON round trip could not give: JSON has no NaN (it would write null), cannot write a
// string that is not UTF-8 (nlohmann throws its own exception), and escapes quotes.
TEST_CASE("validate: no JSON in between") {
    Problem p = coded();
    p.activation = tconv::Activation::leaky_relu;
    p.negative_slope = std::numeric_limits<float>::quiet_NaN();
    Outcome o = outcome([&] { tconv::validate_problem(p); });
    CHECK(o.kind == ErrorKind::invalid_config);
    CHECK(o.message == "layer \"coded\": negative_slope=nan must be a finite number");
    p.negative_slope = -std::numeric_limits<float>::infinity();
    CHECK(outcome([&] { tconv::validate_problem(p); }).message ==
          "layer \"coded\": negative_slope=-inf must be a finite number");
    p.activation = tconv::Activation::relu;  // the slope is unused then
    CHECK(outcome([&] { tconv::validate_problem(p); }).message == "<ok>");

    p = coded();
    p.name = "up\xff";
    o = outcome([&] { tconv::validate_problem(p); });
    CHECK(o.kind == ErrorKind::invalid_config);
    CHECK(o.message == "layer \"up\xEF\xBF\xBD\": name=\"up\xEF\xBF\xBD\" must be UTF-8 text");

    // Quotes, backslashes and non-ASCII text are valid names; messages escape them on one line.
    p = coded();
    p.name = "dec\"oder\\ \xC3\xA9tage 1";
    CHECK(outcome([&] { tconv::validate_problem(p); }).message == "<ok>");
    p.stride[0] = 0;
    CHECK(outcome([&] { tconv::validate_problem(p); }).message ==
          "layer \"dec\\\"oder\\\\ \xC3\xA9tage 1\": stride[0]=0 must be >= 1");
    p.name = "two\nlines";
    o = outcome([&] { tconv::validate_problem(p); });
    CHECK(o.message.find('\n') == std::string::npos);
    CHECK(o.message == "layer \"two\\nlines\": name=\"two\\nlines\" must not contain control "
                       "characters");
}

TEST_CASE("validate: Layer::compile applies the rules to the Problem it is given") {
    Problem p = coded();
    p.name = "dec\"oder";
    std::vector<float> w(size_t(p.weight_elems())), b(size_t(p.out_channels));
    const tconv::Layer layer = tconv::Layer::compile(p, w.data(), b.data());
    CHECK(layer.problem() == p);  // the name kept byte for byte
    p.dilation[1] = 0;
    const Outcome o = outcome([&] { tconv::Layer::compile(p, w.data(), b.data()); });
    CHECK(o.kind == ErrorKind::invalid_config);
    CHECK(o.message == "layer \"dec\\\"oder\": dilation[1]=0 must be >= 1");
}

TEST_CASE("validate: every layer in configs/ passes when handed over in code") {
    for (const std::string& f : tconv::config_files({TCONV_SOURCE_DIR "/configs"})) {
        INFO(f);
        for (const Problem& p : tconv::load_config(f).layers)
            CHECK(outcome([&] { tconv::validate_problem(p); }).message == "<ok>");
    }
    // 3D, groups, dilation, asymmetric pads, output padding, leaky_relu, channels_last, no bias;
    // then the same as 1D, with the entries past the rank left as they were.
    Problem p = tconv::test::problem_from_json(R"({"in_channels": 8, "out_channels": 4,
        "groups": 4, "input_size": [3, 4, 5], "kernel_size": [2, 3, 4], "stride": [1, 2, 3],
        "dilation": [2, 1, 1], "pads": [0, 1, 2, 1, 0, 0], "output_padding": [1, 1, 2],
        "activation": "leaky_relu", "negative_slope": -0.5, "layout": "channels_last",
        "bias": false})");
    CHECK(outcome([&] { tconv::validate_problem(p); }).message == "<ok>");
    p.rank = 1;
    CHECK(outcome([&] { tconv::validate_problem(p); }).message == "<ok>");
}
