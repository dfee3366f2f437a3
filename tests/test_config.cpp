// SPDX-License-Identifier: Apache-2.0
// Layer configs: the shapes they describe, their defaults, every rule with its message (source,
// key path, value, rule), and the configs/ directory shipped with the project.
#include <doctest/doctest.h>

#include <filesystem>
#include <optional>

#include "helpers.hpp"

namespace fs = std::filesystem;
using tconv::Activation;
using tconv::Config;
using tconv::ConfigLimits;
using tconv::Dims;
using tconv::ErrorKind;
using tconv::Layout;
using tconv::Problem;
using tconv::test::problem_from_json;
using tconv::test::TempDir;

namespace {

struct Caught {
    std::optional<ErrorKind> kind;  // unset: nothing (or something other than tconv::Error)
    std::string message;
};

// What parse_config throws for `text`; a non-tconv exception fails the test.
Caught parse_error(const std::string& text, const std::string& source = "cfg.json",
                   const ConfigLimits& limits = {}) {
    try {
        tconv::parse_config(text, source, limits);
    } catch (const tconv::Error& e) {
        return {e.kind(), e.what()};
    } catch (const std::exception& e) {
        FAIL("non-tconv exception escaped: " << e.what());
    }
    return {};
}

// The message of a broken rule (checked to be invalid_config), or "<accepted>".
std::string rule_error(const std::string& text, const std::string& source = "cfg.json") {
    Caught c = parse_error(text, source);
    if (!c.kind) return "<accepted>";
    CHECK_MESSAGE(*c.kind == ErrorKind::invalid_config, c.message);
    return c.message;
}

// A valid 2D layer (4->2 channels, 5x5, kernel 3) plus `extra` keys; base keys that `extra`
// sets, and the one named `drop`, are left out.
std::string layer(const std::string& extra = "", const std::string& drop = "") {
    const std::pair<std::string, std::string> base[] = {
        {"in_channels", "4"},
        {"out_channels", "2"},
        {"input_size", "[5, 5]"},
        {"kernel_size", "3"}};
    std::string s;
    for (const auto& [key, value] : base)
        if (key != drop && extra.find('"' + key + '"') == std::string::npos)
            s += (s.empty() ? "" : ", ") + ('"' + key + "\": " + value);
    if (!extra.empty()) s += (s.empty() ? "" : ", ") + extra;
    return "{" + s + "}";
}

std::string two_layers(const std::string& first, const std::string& second,
                       const std::string& file_keys = "") {
    return "{" + file_keys + (file_keys.empty() ? "" : ", ") + R"("layers": [)" + first + ", " +
           second + "]}";
}

Dims dims(int64_t a, int64_t b, int64_t c) { return {a, b, c}; }

}  // namespace

#define CHECK_HAS(message, part)                                                         \
    CHECK_MESSAGE(std::string(message).find(part) != std::string::npos,                  \
                  "message: " << (message) << "\nlacks:   " << (part))

TEST_CASE("config: 256->128, kernel 4, stride 2, padding 1 doubles 14x14 to 28x28") {
    Problem p = problem_from_json(R"({"in_channels": 256, "out_channels": 128,
        "input_size": [14, 14], "kernel_size": 4, "stride": 2, "padding": 1})");
    CHECK(p.rank == 2);
    CHECK(p.output == dims(28, 28, 1));
    CHECK(p.kernel == dims(4, 4, 1));
    CHECK(p.stride == dims(2, 2, 1));
    CHECK(p.pad_begin == dims(1, 1, 0));
    CHECK(p.pad_end == dims(1, 1, 0));
    CHECK(tconv::input_shape(p) == std::vector<int64_t>{1, 256, 14, 14});
    CHECK(tconv::output_shape(p) == std::vector<int64_t>{1, 128, 28, 28});
    CHECK(tconv::weight_shape(p) == std::vector<int64_t>{256, 128, 4, 4});
    CHECK(p.name == "<test>");
}

TEST_CASE("config: defaults") {
    Problem p = problem_from_json(layer());
    CHECK(p.batch == 1);
    CHECK(p.groups == 1);
    CHECK(p.stride == dims(1, 1, 1));
    CHECK(p.dilation == dims(1, 1, 1));
    CHECK(p.pad_begin == dims(0, 0, 0));
    CHECK(p.pad_end == dims(0, 0, 0));
    CHECK(p.output_padding == dims(0, 0, 0));
    CHECK(p.output == dims(7, 7, 1));  // I + K - 1
    CHECK(p.bias);
    CHECK(p.activation == Activation::none);
    CHECK(p.negative_slope == 0.01f);
    CHECK(p.layout == Layout::channels_first);
}

TEST_CASE("config: an integer applies to every spatial dim, a list gives one per dim") {
    Problem a = problem_from_json(layer(R"("stride": 2, "dilation": [1, 2], "padding": [0, 1])"));
    CHECK(a.stride == dims(2, 2, 1));
    CHECK(a.dilation == dims(1, 2, 1));
    CHECK(a.pad_begin == dims(0, 1, 0));
    CHECK(a.output == dims(4 * 2 + 2 + 1, 4 * 2 - 2 + 2 * 2 + 1, 1));
    Problem b = problem_from_json(R"({"in_channels": 1, "out_channels": 1, "input_size": [3, 4],
        "kernel_size": [2, 5], "stride": [3, 1]})");
    CHECK(b.kernel == dims(2, 5, 1));
    CHECK(b.output == dims(2 * 3 + 1 + 1, 3 + 4 + 1, 1));
}

TEST_CASE("config: ONNX pads may be asymmetric") {
    Problem p = problem_from_json(layer(R"("stride": 2, "pads": [1, 0, 2, 1])"));
    CHECK(p.pad_begin == dims(1, 0, 0));
    CHECK(p.pad_end == dims(2, 1, 0));
    CHECK(p.output == dims(4 * 2 - 3 + 2 + 1, 4 * 2 - 1 + 2 + 1, 1));
}

TEST_CASE("config: output_size becomes output_padding") {
    // k3 s2 p1 from 5: base size 4*2 - 2 + 2 + 1 = 9; 10 needs output_padding 1.
    Problem p = problem_from_json(layer(R"("stride": 2, "padding": 1, "output_size": [10, 9])"));
    CHECK(p.output_padding == dims(1, 0, 0));
    CHECK(p.output == dims(10, 9, 1));
    Problem q = problem_from_json(layer(R"("stride": 2, "padding": 1, "output_padding": [1, 0])"));
    CHECK(q == p);
}

TEST_CASE("config: 1D and 3D layers keep neutral values past their rank") {
    Problem a = problem_from_json(R"({"in_channels": 8, "out_channels": 4, "input_size": [100],
        "kernel_size": 16, "stride": 8, "padding": 4})");
    CHECK(a.rank == 1);
    CHECK(a.output == dims(99 * 8 - 8 + 15 + 1, 1, 1));
    CHECK(a.kernel == dims(16, 1, 1));
    CHECK(a.stride == dims(8, 1, 1));
    CHECK(a.pad_end == dims(4, 0, 0));
    CHECK(tconv::output_shape(a) == std::vector<int64_t>{1, 4, 800});
    Problem b = problem_from_json(R"({"in_channels": 2, "out_channels": 2, "input_size": [3, 4, 5],
        "kernel_size": 2, "stride": [1, 2, 3], "groups": 2})");
    CHECK(b.rank == 3);
    CHECK(b.output == dims(4, 8, 14));
    CHECK(tconv::weight_shape(b) == std::vector<int64_t>{2, 1, 2, 2, 2});
}

TEST_CASE("config: channels_last puts channels after the spatial dims") {
    Problem p = problem_from_json(layer(R"("batch": 3, "layout": "channels_last")"));
    CHECK(p.layout == Layout::channels_last);
    CHECK(tconv::input_shape(p) == std::vector<int64_t>{3, 5, 5, 4});
    CHECK(tconv::output_shape(p) == std::vector<int64_t>{3, 7, 7, 2});
}

TEST_CASE("config: activations and the leaky_relu slope") {
    Problem p = problem_from_json(layer(R"("activation": "leaky_relu", "negative_slope": 0.1)"));
    CHECK(p.activation == Activation::leaky_relu);
    CHECK(p.negative_slope == 0.1f);
    CHECK(problem_from_json(layer(R"("activation": "sigmoid", "bias": false)")).activation ==
          Activation::sigmoid);
    CHECK_FALSE(problem_from_json(layer(R"("bias": false)")).bias);
    CHECK(problem_from_json(layer(R"("activation": "tanh", "dtype": "f32")")).activation ==
          Activation::tanh);
}

TEST_CASE("config: names of files and layers") {
    Config single = tconv::parse_config(layer(), "some/dir/deconv.json");
    CHECK(single.name == "deconv");
    CHECK(single.layers.at(0).name == "deconv");
    CHECK_FALSE(single.chain);

    Config multi = tconv::parse_config(two_layers(layer(), layer(R"("name": "second")")),
                                       "configs/net.json");
    REQUIRE(multi.layers.size() == 2);
    CHECK(multi.name == "net");
    CHECK(multi.layers[0].name == "net[0]");
    CHECK(multi.layers[1].name == "second");

    Config named = tconv::parse_config(two_layers(layer(), layer(), R"("name": "gen")"), "x.json");
    CHECK(named.name == "gen");
    CHECK(named.layers[1].name == "gen[1]");

    CHECK(tconv::parse_config(two_layers(layer(), layer()), "<string>").layers[1].name ==
          "<string>[1]");
}

TEST_CASE("config: chains connect each output to the next input") {
    const std::string a = R"({"in_channels": 4, "out_channels": 8, "input_size": [3, 3],
        "kernel_size": 4, "stride": 2, "padding": 1})";  // -> 8 x 6x6
    const std::string b = R"({"in_channels": 8, "out_channels": 2, "input_size": [6, 6],
        "kernel_size": 3})";
    Config ok = tconv::parse_config(two_layers(a, b, R"("chain": true)"), "net.json");
    CHECK(ok.chain);
    CHECK(ok.layers[0].output == ok.layers[1].input);

    const std::string wrong = R"({"in_channels": 8, "out_channels": 2, "input_size": [6, 7],
        "kernel_size": 3})";
    // Without "chain" the layers are independent.
    CHECK(rule_error(two_layers(a, wrong), "net.json") == "<accepted>");
    std::string m = rule_error(two_layers(a, wrong, R"("chain": true)"), "net.json");
    CHECK(m == "net.json: chain: layers[1] (\"net[1]\") takes input [1, 8, 6, 7] but layers[0] "
               "(\"net[0]\") produces [1, 8, 6, 6]");

    const std::string channels = R"({"in_channels": 7, "out_channels": 2, "input_size": [6, 6],
        "kernel_size": 3})";
    m = rule_error(two_layers(a, channels, R"("chain": true)"), "net.json");
    CHECK_HAS(m, "takes input [1, 7, 6, 6] but layers[0] (\"net[0]\") produces [1, 8, 6, 6]");

    const std::string batch = R"({"batch": 2, "in_channels": 8, "out_channels": 2,
        "input_size": [6, 6], "kernel_size": 3})";
    m = rule_error(two_layers(a, batch, R"("chain": true)"), "net.json");
    CHECK_HAS(m, "layers[1] (\"net[1]\") takes input [2, 8, 6, 6]");

    const std::string last = R"({"in_channels": 8, "out_channels": 2, "input_size": [6, 6],
        "kernel_size": 3, "layout": "channels_last"})";
    m = rule_error(two_layers(a, last, R"("chain": true)"), "net.json");
    CHECK_HAS(m, "chain: layers[1] (\"net[1]\") is channels_last but layers[0] (\"net[0]\") is "
                 "channels_first");
}

TEST_CASE("config: output_padding must stay below max(stride, dilation)") {
    const std::string bad = R"({"in_channels": 1, "out_channels": 1, "input_size": [4, 4],
        "kernel_size": 3, "stride": [2, 2], "output_padding": [1, 2]})";
    CHECK(rule_error(two_layers(layer(), bad), "configs/x.json") ==
          "configs/x.json: layers[1].output_padding[1]=2 must be < max(stride[1]=2, "
          "dilation[1]=1)");
    CHECK(rule_error(layer(R"("output_padding": 1)")) ==
          "cfg.json: output_padding=1 must be < max(stride[0]=1, dilation[0]=1)");
    // Dilation alone also allows an output padding (PyTorch's rule).
    CHECK(problem_from_json(layer(R"("dilation": 3, "output_padding": 2)")).output ==
          dims(4 + 6 + 2 + 1, 4 + 6 + 2 + 1, 1));
    CHECK_HAS(rule_error(layer(R"("output_padding": [0, -1])")),
              "output_padding[1]=-1 must be >= 0");
}

TEST_CASE("config: output_size must be reachable") {
    std::string m = rule_error(layer(R"("stride": 2, "padding": 1, "output_size": [9, 11])"));
    CHECK(m == "cfg.json: output_size[1]=11 must be in [9, 10]: output_padding = output_size - 9 "
               "must be < max(stride[1]=2, dilation[1]=1)");
    CHECK_HAS(rule_error(layer(R"("output_size": [7, 6])")), "output_size[1]=6 must be in [7, 7]");
    CHECK_HAS(rule_error(layer(R"("output_size": [7, 7], "output_padding": 0)")),
              "cfg.json: \"output_padding\" and \"output_size\" are both given; use one of them");
    CHECK_HAS(rule_error(layer(R"("padding": 4, "output_size": [1, 1])")),
              "output_size[0]=1 cannot be reached: with these sizes and pads the output size "
              "along dim 0 is at most -1");
}

TEST_CASE("config: padding rules") {
    CHECK_HAS(rule_error(layer(R"("padding": 1, "pads": [1, 1, 1, 1])")),
              "cfg.json: \"padding\" and \"pads\" are both given; use one of them");
    CHECK_HAS(rule_error(layer(R"("pads": [1, 1])")),
              "pads=[1, 1] must be a list of 4 integers in ONNX order [begin..., end...]");
    CHECK_HAS(rule_error(layer(R"("pads": 1)")), "pads=1 must be a list of 4 integers");
    CHECK_HAS(rule_error(layer(R"("pads": [0, 0, -1, 0])")), "pads[2]=-1 must be >= 0");
    CHECK_HAS(rule_error(layer(R"("padding": -2)")), "cfg.json: padding=-2 must be >= 0");
}

TEST_CASE("config: the output must have at least one element per dim") {
    // (5-1)*1 - 4 - 4 + 1*(3-1) + 0 + 1 = -1.
    std::string m = rule_error(two_layers(layer(), layer(R"("padding": [0, 4])")));
    CHECK(m == "cfg.json: layers[1]: output size along dim 1 = (I-1)*S - pad_begin - pad_end + "
               "D*(K-1) + OP + 1 = (5-1)*1 - 4 - 4 + 1*(3-1) + 0 + 1 = -1, must be at least 1");
    // 2^31-1 inputs at stride 2 give an output size beyond 31 bits.
    m = rule_error(R"({"in_channels": 1, "out_channels": 1, "input_size": [2147483647],
        "kernel_size": 1, "stride": 2})");
    CHECK_HAS(m, "= 4294967293, must be at most 2147483647");
}

TEST_CASE("config: integers are checked for type and range") {
    struct Case {
        const char* extra;
        const char* want;
    };
    const Case cases[] = {
        {R"("stride": [1, "2"])", "cfg.json: stride[1]=\"2\" must be an integer"},
        {R"("stride": [2.5, 1])", "cfg.json: stride[0]=2.5 must be an integer"},
        {R"("stride": [2.0, 1])", "cfg.json: stride[0]=2.0 must be an integer"},
        {R"("stride": true)", "cfg.json: stride=true must be an integer or a list of 2 integers"},
        {R"("stride": null)", "cfg.json: stride=null must be an integer or a list of 2 integers"},
        {R"("stride": "2")", "cfg.json: stride=\"2\" must be an integer or a list of 2 integers"},
        {R"("stride": [1, true])", "cfg.json: stride[1]=true must be an integer"},
        {R"("stride": [1, null])", "cfg.json: stride[1]=null must be an integer"},
        {R"("stride": [0, 1])", "cfg.json: stride[0]=0 must be >= 1"},
        {R"("dilation": [1, 1e30])", "cfg.json: dilation[1]=1e+30 must be an integer"},
        {R"("dilation": 9223372036854775808)",
         "cfg.json: dilation=9223372036854775808 must be <= 2147483647"},
        {R"("dilation": 18446744073709551615)",
         "cfg.json: dilation=18446744073709551615 must be <= 2147483647"},
        {R"("dilation": 2147483648)", "cfg.json: dilation=2147483648 must be <= 2147483647"},
        {R"("batch": 0)", "cfg.json: batch=0 must be >= 1"},
        {R"("batch": -9223372036854775808)", "cfg.json: batch=-9223372036854775808 must be >= 1"},
        {R"("batch": 1.5)", "cfg.json: batch=1.5 must be an integer"},
        {R"("groups": 0)", "cfg.json: groups=0 must be >= 1"},
        {R"("groups": [1])", "cfg.json: groups=[1] must be an integer"},
        {R"("kernel_size": [3, 3, 3])",
         "cfg.json: kernel_size=[3, 3, 3] must have 2 entries, one per spatial dim of input_size"},
        {R"("stride": [])", "cfg.json: stride=[] must have 2 entries"},
        {R"("stride": {"h": 2})", "cfg.json: stride={...} must be an integer or a list"},
        {R"("bias": 1)", "cfg.json: bias=1 must be true or false"},
        {R"("bias": "false")", "cfg.json: bias=\"false\" must be true or false"},
    };
    for (const Case& c : cases) {
        const std::string text = layer(c.extra);
        INFO(text);
        CHECK_HAS(rule_error(text), c.want);
    }
}

TEST_CASE("config: channels, batch and input_size") {
    CHECK_HAS(rule_error(R"({"in_channels": 0, "out_channels": 2, "input_size": [5],
        "kernel_size": 3})"), "cfg.json: in_channels=0 must be >= 1");
    CHECK_HAS(rule_error(R"({"in_channels": 4, "out_channels": 4294967296, "input_size": [5],
        "kernel_size": 3})"), "cfg.json: out_channels=4294967296 must be <= 2147483647");
    CHECK_HAS(rule_error(R"({"in_channels": 4, "out_channels": 2, "input_size": 5,
        "kernel_size": 3})"),
              "cfg.json: input_size=5 must be a list of 1, 2 or 3 integers ([W], [H, W] or "
              "[D, H, W])");
    CHECK_HAS(rule_error(R"({"in_channels": 4, "out_channels": 2, "input_size": [],
        "kernel_size": 3})"), "input_size=[] must be a list of 1, 2 or 3 integers");
    CHECK_HAS(rule_error(R"({"in_channels": 4, "out_channels": 2, "input_size": [1, 2, 3, 4],
        "kernel_size": 3})"), "input_size=[1, 2, 3, 4] must be a list of 1, 2 or 3 integers");
    CHECK_HAS(rule_error(R"({"in_channels": 4, "out_channels": 2, "input_size": [5, 0],
        "kernel_size": 3})"), "cfg.json: input_size[1]=0 must be >= 1");
    CHECK_HAS(rule_error(R"({"in_channels": 4, "out_channels": 2, "input_size": [5, -3],
        "kernel_size": 3})"), "input_size[1]=-3 must be >= 1");
}

TEST_CASE("config: missing required keys") {
    const char* required[] = {"in_channels", "out_channels", "input_size", "kernel_size"};
    for (const char* key : required) {
        INFO(key);
        CHECK(rule_error(two_layers(layer(), layer("", key))) ==
              std::string("cfg.json: layers[1]: missing required key \"") + key + "\"");
        CHECK(rule_error(layer("", key)) ==
              std::string("cfg.json: missing required key \"") + key + "\"");
    }
}

TEST_CASE("config: groups must divide both channel counts") {
    CHECK(rule_error(layer(R"("groups": 3)")) == "cfg.json: groups=3 must divide in_channels=4");
    CHECK(rule_error(R"({"in_channels": 4, "out_channels": 6, "input_size": [5], "kernel_size": 1,
        "groups": 4})") == "cfg.json: groups=4 must divide out_channels=6");
    Problem p = problem_from_json(R"({"in_channels": 4, "out_channels": 6, "input_size": [5],
        "kernel_size": 1, "groups": 2})");
    CHECK(tconv::weight_shape(p) == std::vector<int64_t>{4, 3, 1});
}

TEST_CASE("config: unknown keys and values suggest the closest known one") {
    CHECK(rule_error(two_layers(layer(), layer(R"("strides": 2)"))) ==
          "cfg.json: layers[1]: unknown key \"strides\" (did you mean \"stride\"?)");
    CHECK(rule_error(layer(R"("Kernel_Size": 2)")) ==
          "cfg.json: unknown key \"Kernel_Size\" (did you mean \"kernel_size\"?)");
    CHECK(rule_error(layer(R"("outpadding": 0)")) ==
          "cfg.json: unknown key \"outpadding\" (did you mean \"output_padding\"?)");
    CHECK(rule_error(layer(R"("zzz": 0)")) == "cfg.json: unknown key \"zzz\"");
    CHECK(rule_error(layer(R"("activation": "relU")")) ==
          "cfg.json: activation=\"relU\" must be one of: none, relu, leaky_relu, sigmoid, tanh "
          "(did you mean \"relu\"?)");
    CHECK(rule_error(layer(R"("activation": "leakyrelu")")) ==
          "cfg.json: activation=\"leakyrelu\" must be one of: none, relu, leaky_relu, sigmoid, "
          "tanh (did you mean \"leaky_relu\"?)");
    CHECK(rule_error(layer(R"("activation": 1)")) ==
          "cfg.json: activation=1 must be one of: none, relu, leaky_relu, sigmoid, tanh");
    CHECK(rule_error(layer(R"("layout": "channel_last")")) ==
          "cfg.json: layout=\"channel_last\" must be one of: channels_first, channels_last (did "
          "you mean \"channels_last\"?)");
    CHECK(rule_error(layer(R"("dtype": "F32")")) ==
          "cfg.json: dtype=\"F32\" must be one of: f32, bf16 (did you mean \"f32\"?)");
    CHECK(rule_error(layer(R"("dtype": "bfloat16")")) ==
          "cfg.json: dtype=\"bfloat16\" must be one of: f32, bf16");
    CHECK(rule_error(two_layers(layer(), layer(), R"("chian": true)")) ==
          "cfg.json: unknown key \"chian\" (did you mean \"chain\"?)");
    CHECK(rule_error(two_layers(layer(), layer(), R"("stride": 2)")) ==
          "cfg.json: unknown key \"stride\" at the top level (layer keys belong in each entry of "
          "\"layers\")");
}

TEST_CASE("config: negative_slope") {
    CHECK(rule_error(layer(R"("activation": "relu", "negative_slope": 0.2)")) ==
          "cfg.json: negative_slope=0.2 is only allowed with activation \"leaky_relu\" "
          "(activation is \"relu\")");
    CHECK_HAS(rule_error(layer(R"("negative_slope": 0.2)")), "(activation is \"none\")");
    CHECK(rule_error(layer(R"("activation": "leaky_relu", "negative_slope": "0.2")")) ==
          "cfg.json: negative_slope=\"0.2\" must be a number");
    CHECK(rule_error(layer(R"("activation": "leaky_relu", "negative_slope": 1e300)")) ==
          "cfg.json: negative_slope=1e+300 must fit a 32-bit float");
    CHECK(problem_from_json(layer(R"("activation": "leaky_relu", "negative_slope": 0)"))
              .negative_slope == 0.0f);
}

TEST_CASE("config: the file's shape") {
    CHECK(rule_error("[1, 2]") ==
          "cfg.json: the top level must be a JSON object (one layer, or {\"layers\": [...]}), "
          "not [1, 2]");
    CHECK_HAS(rule_error("42"), "the top level must be a JSON object");
    CHECK(rule_error(R"({"layers": []})") == "cfg.json: layers=[] must hold at least one layer");
    CHECK(rule_error(R"({"layers": {}})") == "cfg.json: layers={} must be a list of layer objects");
    CHECK(rule_error(R"({"layers": 3})") == "cfg.json: layers=3 must be a list of layer objects");
    CHECK_HAS(rule_error(R"({"layers": [)" + layer() + R"(, 5]})"),
              "cfg.json: layers[1]=5 must be a layer object");
    CHECK(rule_error(two_layers(layer(), layer(), R"("chain": "yes")")) ==
          "cfg.json: chain=\"yes\" must be true or false");
    CHECK(rule_error(two_layers(layer(), layer(), R"("name": 7)")) ==
          "cfg.json: name=7 must be a string");
    CHECK(rule_error(two_layers(layer(), layer(R"("name": "")"))) ==
          "cfg.json: layers[1].name=\"\" must not be empty");
    CHECK(rule_error(layer(R"("name": "a\tb")")) ==
          "cfg.json: name=\"a\\tb\" must not contain control characters");
    CHECK(rule_error(layer(R"("chain": true)")) ==
          "cfg.json: \"chain\" needs a \"layers\" list (this file holds a single layer)");    CHECK(rule_error(two_layers(layer(R"("name": "up")"), layer(R"("name": "up")"))) ==
          "cfg.json: layers[1].name: \"up\" is the name of layers[0] too: layer names must be "
          "unique in a file");
}

TEST_CASE("config: invalid JSON names the source, line and column") {
    Caught c = parse_error(
        "{\n  \"in_channels\": 4,\n  \"out_channels\": 2\n  \"input_size\": [5]\n}",
        "configs/broken.json");
    REQUIRE(c.kind);
    CHECK(*c.kind == ErrorKind::invalid_config);
    CHECK_HAS(c.message, "configs/broken.json: invalid JSON: parse error at line 4, column 14:");
    CHECK_HAS(c.message, "expected '}'");
    CHECK_HAS(rule_error(""), "cfg.json: invalid JSON: parse error at line 1, column 1:");
    CHECK_HAS(rule_error(layer() + " x"), "cfg.json: invalid JSON: parse error at line 1");
    CHECK_HAS(rule_error(layer(R"("stride": 1e999)")), "cfg.json: invalid JSON: number overflow");
    CHECK_HAS(rule_error("{\"name\": \"\xff\"}"), "cfg.json: invalid JSON:");
}

TEST_CASE("config: duplicate keys and deep nesting are refused") {
    CHECK(rule_error(layer(R"("stride": 1, "stride": 2)")) ==
          "cfg.json: duplicate key \"stride\"");
    CHECK(rule_error(two_layers(layer(), layer(R"("bias": true, "bias": false)"))) ==
          "cfg.json: layers[1]: duplicate key \"bias\"");
    // Duplicates are found anywhere, even inside values that are wrong anyway.
    CHECK(rule_error(layer(R"("stride": [1, {"a": 1, "a": 2}])")) ==
          "cfg.json: stride[1]: duplicate key \"a\"");
    std::string deep = std::string(100000, '[') + std::string(100000, ']');
    CHECK_HAS(rule_error(layer(R"("stride": )" + deep)), "stride[0][0]");
    CHECK_HAS(rule_error(deep), "nested deeper than 32 levels");
}

TEST_CASE("config: tensors over the memory limit are refused before allocation") {
    const std::string big = R"({"in_channels": 256, "out_channels": 128, "input_size": [14, 14],
        "kernel_size": 4, "stride": 2, "padding": 1})";
    ConfigLimits limits;
    limits.max_tensor_bytes = 300000;  // input 200704 bytes, output 401408, weights 2097152
    Caught c = parse_error(two_layers(layer(), big), "net.json", limits);
    REQUIRE(c.kind);
    CHECK(*c.kind == ErrorKind::out_of_memory);
    CHECK(c.message == "net.json: layers[1]: output tensor [1, 128, 28, 28] needs 392 KiB "
                       "(401408 bytes), over the limit of 293.0 KiB (max_tensor_bytes = 300000)");
    limits.max_tensor_bytes = 500000;
    CHECK_HAS(parse_error(big, "net.json", limits).message,
              "net.json: weights tensor [256, 128, 4, 4] needs 2 MiB (2097152 bytes), over the "
              "limit of 488.3 KiB (max_tensor_bytes = 500000)");
    limits.max_tensor_bytes = 100000;
    CHECK_HAS(parse_error(big, "net.json", limits).message,
              "net.json: input tensor [1, 256, 14, 14] needs 196 KiB (200704 bytes)");
    limits.max_tensor_bytes = 2097152;  // exactly the largest tensor
    CHECK_NOTHROW(tconv::parse_config(big, "net.json", limits));
    // The default limit of 16 GiB.
    c = parse_error(R"({"batch": 72, "in_channels": 4096, "out_channels": 4,
        "input_size": [128, 128], "kernel_size": 1})");
    CHECK(c.kind == ErrorKind::out_of_memory);
    CHECK_HAS(c.message, "input tensor [72, 4096, 128, 128] needs 18 GiB (19327352832 bytes), over "
                         "the limit of 16 GiB");
    // Exactly 16 GiB is allowed.
    CHECK_NOTHROW(problem_from_json(R"({"batch": 64, "in_channels": 4096, "out_channels": 4,
        "input_size": [128, 128], "kernel_size": 1})"));
}

TEST_CASE("config: element counts that overflow 64 bits are refused without overflowing") {
    Caught c = parse_error(R"({"batch": 2147483647, "in_channels": 2147483647,
        "out_channels": 2147483647, "input_size": [2147483647, 2147483647, 2147483647],
        "kernel_size": 1})");
    REQUIRE(c.kind);
    CHECK(*c.kind == ErrorKind::out_of_memory);
    CHECK(c.message == "cfg.json: input tensor [2147483647, 2147483647, 2147483647, 2147483647, "
                       "2147483647] is too large: its element count overflows 64 bits");
    // 2^31-1 channels over a 2^31-1 output: (2^31-1)^2 * 4 bytes just fits 64 bits.
    c = parse_error(R"({"in_channels": 2147483647, "out_channels": 2147483647, "input_size": [1],
        "kernel_size": 2147483647})");
    CHECK(c.kind == ErrorKind::out_of_memory);
    CHECK_HAS(c.message, "output tensor [1, 2147483647, 2147483647] needs 16.0 EiB");
    ConfigLimits none;
    none.max_tensor_bytes = UINT64_MAX;
    c = parse_error(R"({"in_channels": 2147483647, "out_channels": 2147483647, "input_size": [1],
        "kernel_size": 2147483647})", "cfg.json", none);
    CHECK_HAS(c.message, "cfg.json: weights tensor [2147483647, 2147483647, 2147483647] is too "
                         "large: its element count overflows 64 bits");
    // Byte counts past 2^64 even though the element count fits.
    c = parse_error(R"({"in_channels": 2147483647, "out_channels": 2147483647, "input_size": [1],
        "kernel_size": 2})", "cfg.json", none);
    CHECK_HAS(c.message, "weights tensor [2147483647, 2147483647, 2] needs more than 2^64 bytes");
}

TEST_CASE("config: no truncation of a valid file throws anything but tconv::Error") {
    const std::string text = two_layers(layer(R"("stride": [2, 1], "name": "a")"),
                                        layer(R"("pads": [0, 1, 1, 0], "activation": "relu")"),
                                        R"("name": "n", "chain": false)");
    CHECK_NOTHROW(tconv::parse_config(text, "t.json"));
    for (size_t n = 0; n < text.size(); ++n) {
        Caught c = parse_error(text.substr(0, n));
        CHECK_MESSAGE(c.kind == ErrorKind::invalid_config, "prefix of " << n << " bytes");
    }
}

TEST_CASE("config: load_config reads files and names them in errors") {
    TempDir dir;
    const std::string good = dir.write("up.json", layer(R"("stride": 2)"));
    Config c = tconv::load_config(good);
    CHECK(c.name == "up");
    CHECK(c.layers.at(0).output == dims(11, 11, 1));

    const std::string bad = dir.write("bad.json", layer(R"("stride": 0)"));
    try {
        tconv::load_config(bad);
        FAIL("accepted");
    } catch (const tconv::Error& e) {
        CHECK(std::string(e.what()) == bad + ": stride=0 must be >= 1");
    }

    const std::string missing = dir.file("missing.json");
    try {
        tconv::load_config(missing);
        FAIL("accepted a missing file");
    } catch (const tconv::Error& e) {
        CHECK(e.kind() == ErrorKind::io);
        CHECK(std::string(e.what()) == missing + ": cannot read: No such file or directory");
    }
    try {
        tconv::load_config(dir.path.string());
        FAIL("accepted a directory");
    } catch (const tconv::Error& e) {
        CHECK(e.kind() == ErrorKind::io);
        CHECK(std::string(e.what()) == dir.path.string() + ": cannot read: Is a directory");
    }

    const std::string huge = dir.write("huge.json", std::string((16u << 20) + 10, ' '));
    try {
        tconv::load_config(huge);
        FAIL("accepted a 16 MiB file");
    } catch (const tconv::Error& e) {
        CHECK(e.kind() == ErrorKind::invalid_config);
        CHECK(std::string(e.what()) == huge + ": config is larger than the 16 MiB limit");
    }
}

TEST_CASE("config: every file in configs/ validates") {
    const fs::path dir = fs::path(TCONV_SOURCE_DIR) / "configs";
    std::vector<std::string> files;
    for (const auto& e : fs::directory_iterator(dir))
        if (e.path().extension() == ".json") files.push_back(e.path().string());
    CHECK(files.size() >= 10);
    for (const std::string& f : files) {
        INFO(f);
        Config c;
        CHECK_NOTHROW(c = tconv::load_config(f));
        CHECK(c.name == fs::path(f).stem().string());
        CHECK(!c.layers.empty());
    }

    Config dcgan = tconv::load_config((dir / "dcgan.json").string());
    CHECK(dcgan.chain);
    REQUIRE(dcgan.layers.size() == 5);
    const Problem& last = dcgan.layers.back();
    CHECK(tconv::output_shape(last) == std::vector<int64_t>{1, 3, 64, 64});
    CHECK(last.activation == Activation::tanh);
    CHECK(last.bias);
    CHECK_FALSE(dcgan.layers[0].bias);
    CHECK(dcgan.layers[0].output == dims(4, 4, 1));

    Config b8 = tconv::load_config((dir / "dcgan_b8.json").string());
    CHECK(tconv::output_shape(b8.layers.back()) == std::vector<int64_t>{8, 3, 64, 64});

    Config hifi = tconv::load_config((dir / "hifigan.json").string());
    CHECK(tconv::output_shape(hifi.layers.back()) == std::vector<int64_t>{1, 32, 32768});

    Config fsrcnn = tconv::load_config((dir / "fsrcnn.json").string());
    REQUIRE(fsrcnn.layers.size() == 3);
    CHECK(fsrcnn.layers[0].output == dims(128, 128, 1));
    CHECK(fsrcnn.layers[1].output == dims(192, 192, 1));
    CHECK(fsrcnn.layers[2].output == dims(256, 256, 1));

    Config unet = tconv::load_config((dir / "unet.json").string());
    REQUIRE(unet.layers.size() == 4);
    CHECK(unet.layers[3].output == dims(392, 392, 1));

    Config unet3d = tconv::load_config((dir / "unet3d.json").string());
    CHECK(tconv::output_shape(unet3d.layers.at(0)) ==
          std::vector<int64_t>{1, 128, 32, 32, 32});
}

// benchdnn derives each layer's end padding from the output size its lists give; the configs
// write that padding as pads or output_padding, so they must reproduce the lists' sizes.
TEST_CASE("config: the benchdnn layers in configs/ have the output sizes of benchdnn's lists") {
    const fs::path dir = fs::path(TCONV_SOURCE_DIR) / "configs";
    struct Case {
        const char* file;
        const char* layer;
        Dims output;
    };
    const Case cases[] = {
        {"benchdnn_2d.json", "shapes_2d:googlenet_v1:conv1/7x7_s2", dims(224, 224, 1)},
        {"benchdnn_2d.json", "shapes_2d:resnet_50:res3a_branch1", dims(56, 56, 1)},
        {"benchdnn_2d.json", "shapes_2d:deconv2d:1", dims(1, 2, 1)},
        {"benchdnn_2d.json", "shapes_ci:deconv_ci_2d:gemm", dims(5, 5, 1)},
        {"benchdnn_1d.json", "shapes_1d:masknet_p1:deconv1", dims(1030, 1, 1)},
        {"benchdnn_dilated.json", "shapes_dilated:conv1/7x7_s2", dims(224, 224, 1)},
        {"benchdnn_dilated.json", "shapes_dilated:alexnet:dilated_deconv1", dims(225, 225, 1)},
        {"benchdnn_dilated.json", "shapes_dilated:unet_3d:dilated_deconv8", dims(10, 11, 11)},
        {"benchdnn_fwks.json", "option_set_fwks_key_gpu:1x12_kernel_7x1_input", dims(7, 12, 1)},
    };
    for (const Case& c : cases) {
        INFO(c.layer);
        const Config config = tconv::load_config((dir / c.file).string());
        const std::vector<Problem> found = tconv::select_layers(config, c.layer, c.file);
        REQUIRE(found.size() == 1);
        CHECK(found[0].output == c.output);
    }
}
