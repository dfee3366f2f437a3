// SPDX-License-Identifier: Apache-2.0
// Malformed input through the `tconv` command, one table: broken configs, hostile .npy files,
// wrong shapes, bad output paths and bad flags. Each must end with exit code 2, one line
// "tconv: error: <message>" on stderr, nothing on stdout, no signal, and no file created or
// changed anywhere (an existing output file stays byte-identical).
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <utility>

#include "helpers.hpp"

namespace fs = std::filesystem;
using tconv::test::run_cli;
using tconv::test::TempDir;

namespace {

using Keys = std::vector<std::pair<std::string, std::string>>;

// The valid layer every case starts from: x [1, 2, 2, 2], w [2, 3, 3, 3], b [3] -> y [1, 3, 3, 3].
const Keys kBase{{"in_channels", "2"}, {"out_channels", "3"}, {"input_size", "[2, 2]"},
                 {"kernel_size", "3"}, {"stride", "2"},       {"padding", "1"}};

// The base layer with keys replaced or added (an empty value removes the key).
std::string layer(const Keys& changes = {}) {
    Keys keys = kBase;
    for (const auto& [k, v] : changes) {
        auto it = std::find_if(keys.begin(), keys.end(), [&](const auto& e) { return e.first == k; });
        if (it == keys.end()) keys.emplace_back(k, v);
        else it->second = v;
    }
    std::string s = "{";
    for (const auto& [k, v] : keys)
        if (!v.empty()) s += (s.size() > 1 ? ", \"" : "\"") + k + "\": " + v;
    return s + "}";
}

std::string floats(size_t n) {
    std::string s(n * sizeof(float), '\0');
    for (size_t i = 0; i < n; ++i) {
        const float f = float(i) * 0.25f - 1.0f;
        std::memcpy(&s[i * sizeof(float)], &f, sizeof f);
    }
    return s;
}

// A .npy file with the given header dict (padded as NumPy pads it) and data bytes.
std::string npy(const std::string& dict, const std::string& data, int major = 1) {
    return tconv::test::npy_bytes(major, dict, data);
}

std::string dict(const std::string& shape, const std::string& descr = "<f4",
                 const char* fortran = "False") {
    return "{'descr': '" + descr + "', 'fortran_order': " + fortran + ", 'shape': " + shape +
           ", }";
}

// A valid float32 C-order file of `shape` ("(2, 3)") with n elements.
std::string f32(const std::string& shape, size_t n) { return npy(dict(shape), floats(n)); }

struct Case {
    std::string name;
    std::vector<std::string> args;  // "@name" stands for the file `name` in the case's directory
    std::vector<std::string> expect;  // substrings of the message
    Keys files = {};                  // written before the run: name -> bytes ("name/": a dir)
    std::function<void(const TempDir&)> setup = {};
};

// `tconv run` on the base files, with flags replaced, added or (empty value) removed;
// "CONFIG" replaces the config argument.
std::vector<std::string> run(const Keys& changes = {}) {
    Keys flags{{"CONFIG", "@layer.json"}, {"--input", "@x.npy"},   {"--weights", "@w.npy"},
               {"--bias", "@b.npy"},      {"--output", "@out/y.npy"}};
    for (const auto& [k, v] : changes) {
        auto it = std::find_if(flags.begin(), flags.end(), [&](const auto& e) { return e.first == k; });
        if (it == flags.end()) flags.emplace_back(k, v);
        else it->second = v;
    }
    std::vector<std::string> args{"run"};
    for (const auto& [k, v] : flags) {
        if (v.empty()) continue;
        if (k != "CONFIG") args.push_back(k);
        args.push_back(v);
    }
    return args;
}

// Every run-config case: the config file replaced by `text`.
Case config_case(std::string name, std::string text, std::vector<std::string> expect) {
    return {std::move(name), run(), std::move(expect), {{"layer.json", std::move(text)}}};
}

std::vector<Case> cases() {
    const std::string x = f32("(1, 2, 2, 2)", 8), w = f32("(2, 3, 3, 3)", 54);
    std::vector<Case> c = {
        // ---- JSON and the file's shape ----
        config_case("truncated JSON", R"({"in_channels": 2,)", {"layer.json: invalid JSON"}),
        config_case("empty config", "", {"layer.json: invalid JSON"}),
        config_case("binary garbage", std::string("\x00\xff\x93NUMPY", 8), {"invalid JSON"}),
        config_case("comment in JSON", "// a layer\n" + layer(), {"invalid JSON"}),
        config_case("top level is a list", "[" + layer() + "]",
                    {"the top level must be a JSON object"}),
        config_case("duplicate key", R"({"stride": 2, "stride": 1})", {"duplicate key \"stride\""}),
        config_case("deep nesting", std::string(200, '[') + std::string(200, ']'),
                    {"nested deeper than 32 levels"}),
        config_case("empty layers list", R"({"layers": []})",
                    {"layers=[] must hold at least one layer"}),
        config_case("layers is not a list", R"({"layers": {}})",
                    {"layers={} must be a list of layer objects"}),
        config_case("chain without layers", layer({{"chain", "true"}}),
                    {"\"chain\" needs a \"layers\" list"}),
        config_case("layer key at the file level",
                    R"({"stride": 2, "layers": [)" + layer() + "]}",
                    {"unknown key \"stride\" at the top level"}),
        config_case("chain that does not connect",
                    R"({"chain": true, "layers": [)" + layer() + ", " + layer() + "]}",
                    {"chain:", "takes input [1, 2, 2, 2]", "produces [1, 3, 3, 3]"}),
        // ---- types ----
        config_case("channels as a string", layer({{"in_channels", "\"2\""}}),
                    {"in_channels=\"2\" must be an integer"}),
        config_case("channels as a fraction", layer({{"in_channels", "2.5"}}),
                    {"in_channels=2.5 must be an integer"}),
        config_case("batch as a float exponent", layer({{"batch", "1e30"}}),
                    {"batch=1e+30 must be an integer"}),
        config_case("kernel_size as an object", layer({{"kernel_size", "{}"}}),
                    {"kernel_size={} must be an integer or a list of 2 integers"}),
        config_case("stride entry null", layer({{"stride", "[2, null]"}}),
                    {"stride[1]=null must be an integer"}),
        config_case("bias as a string", layer({{"bias", "\"yes\""}}),
                    {"bias=\"yes\" must be true or false"}),
        config_case("activation as a number", layer({{"activation", "1"}}),
                    {"activation=1 must be one of: none, relu"}),
        config_case("name as a number", layer({{"name", "7"}}), {"name=7 must be a string"}),
        // ---- ranges and overflow ----
        config_case("zero channels", layer({{"out_channels", "0"}}), {"out_channels=0 must be >= 1"}),
        config_case("negative channels", layer({{"in_channels", "-3"}}),
                    {"in_channels=-3 must be >= 1"}),
        config_case("channels over 2^31", layer({{"out_channels", "2147483648"}}),
                    {"out_channels=2147483648 must be <= 2147483647"}),
        config_case("integer at 2^63", layer({{"kernel_size", "9223372036854775808"}}),
                    {"kernel_size=9223372036854775808 must be <= 2147483647"}),
        config_case("integer beyond 2^64", layer({{"stride", "18446744073709551616"}}),
                    {"stride=1.8446744073709552e+19 must be an integer"}),
        config_case("integer below -2^63", layer({{"padding", "-9223372036854775809"}}),
                    {"padding=-9.223372036854776e+18 must be an integer"}),
        config_case("zero stride", layer({{"stride", "[2, 0]"}}), {"stride[1]=0 must be >= 1"}),
        config_case("negative padding", layer({{"padding", "-1"}}), {"padding=-1 must be >= 0"}),
        config_case("input_size too long", layer({{"input_size", "[1, 2, 3, 4]"}}),
                    {"input_size=[1, 2, 3, 4] must be a list of 1, 2 or 3 integers"}),
        config_case("input_size empty", layer({{"input_size", "[]"}}),
                    {"input_size=[] must be a list of 1, 2 or 3 integers"}),
        config_case("input_size zero", layer({{"input_size", "[2, 0]"}}),
                    {"input_size[1]=0 must be >= 1"}),
        config_case("tensor over the memory limit",
                    layer({{"in_channels", "65536"}, {"out_channels", "65536"}}),
                    {"weights tensor [65536, 65536, 3, 3] needs 144 GiB", "over the limit of 16 GiB"}),
        config_case("sizes whose product overflows",
                    layer({{"batch", "2147483647"}, {"in_channels", "2147483647"},
                           {"input_size", "[2147483647, 2147483647, 2147483647]"},
                           {"kernel_size", "1"}, {"stride", "1"}, {"padding", "0"}}),
                    {"input tensor", "too large", "overflows 64 bits"}),
        // ---- layer rules ----
        config_case("missing input_size", layer({{"input_size", ""}}),
                    {"missing required key \"input_size\""}),
        config_case("missing kernel_size", layer({{"kernel_size", ""}}),
                    {"missing required key \"kernel_size\""}),
        config_case("missing out_channels", layer({{"out_channels", ""}}),
                    {"missing required key \"out_channels\""}),
        config_case("kernel_size of the wrong rank", layer({{"kernel_size", "[3, 3, 3]"}}),
                    {"kernel_size=[3, 3, 3] must have 2 entries"}),
        config_case("output_padding not below the stride", layer({{"output_padding", "2"}}),
                    {"output_padding=2 must be < max(stride[0]=2, dilation[0]=1)"}),
        config_case("padding and pads together", layer({{"pads", "[1, 1, 1, 1]"}}),
                    {"\"padding\" and \"pads\" are both given"}),
        config_case("pads of the wrong length", layer({{"padding", ""}, {"pads", "[1, 1]"}}),
                    {"pads=[1, 1] must be a list of 4 integers in ONNX order"}),
        config_case("output_size out of reach", layer({{"output_size", "[9, 3]"}}),
                    {"output_size[0]=9 must be in [3, 4]"}),
        config_case("output_size and output_padding",
                    layer({{"output_size", "[3, 3]"}, {"output_padding", "1"}}),
                    {"\"output_padding\" and \"output_size\" are both given"}),
        config_case("groups not dividing in_channels", layer({{"groups", "3"}}),
                    {"groups=3 must divide in_channels=2"}),
        config_case("padding empties the output", layer({{"padding", "5"}}),
                    {"output size along dim 0", "must be at least 1"}),
        config_case("negative_slope without leaky_relu", layer({{"negative_slope", "0.1"}}),
                    {"negative_slope=0.1 is only allowed with activation \"leaky_relu\""}),
        config_case("negative_slope not a number",
                    layer({{"activation", "\"leaky_relu\""}, {"negative_slope", "\"0.1\""}}),
                    {"negative_slope=\"0.1\" must be a number"}),
        config_case("negative_slope beyond float",
                    layer({{"activation", "\"leaky_relu\""}, {"negative_slope", "1e300"}}),
                    {"must fit a 32-bit float"}),
        config_case("empty name", layer({{"name", "\"\""}}), {"name=\"\" must not be empty"}),
        config_case("name with a control character", layer({{"name", "\"a\\u0007b\""}}),
                    {"must not contain control characters"}),
        // ---- unknown keys and values ----
        config_case("misspelt key", layer({{"strides", "2"}}),
                    {"unknown key \"strides\" (did you mean \"stride\"?)"}),
        config_case("unknown activation", layer({{"activation", "\"relu6\""}}),
                    {"activation=\"relu6\" must be one of: none, relu, leaky_relu, sigmoid, tanh"}),
        config_case("activation in the wrong case", layer({{"activation", "\"Tanh\""}}),
                    {"(did you mean \"tanh\"?)"}),
        config_case("unknown layout", layer({{"layout", "\"NCHW\""}}),
                    {"layout=\"NCHW\" must be one of: channels_first, channels_last"}),
        config_case("unsupported dtype", layer({{"dtype", "\"f16\""}}),
                    {"dtype=\"f16\" must be one of: f32, bf16"}),
        // ---- which layer ----
        {"several layers without --layer", run({{"CONFIG", "@multi.json"}}),
         {"multi.json: holds 2 layers; choose one with --layer (a, b)"}},
        {"unknown --layer", run({{"CONFIG", "@multi.json"}, {"--layer", "c"}}),
         {"no layer named \"c\" (layers: a, b)"}},
        // ---- config files ----
        {"missing config", run({{"CONFIG", "@nope.json"}}), {"nope.json: cannot read:", "No such file"}},
        {"config is a directory", run({{"CONFIG", "@cfgdir"}}),
         {"cfgdir: cannot read: Is a directory"}, {{"cfgdir/", ""}}},
        // ---- .npy files ----
        {"empty input file", run(), {"x.npy: the file is empty"}, {{"x.npy", ""}}},
        {"bad magic", run(), {"x.npy: not a .npy file: expected the magic"},
         {{"x.npy", "P6\n2 2\n255\n"}}},
        {"an .npz archive", run(), {"looks like a zip archive"},
         {{"x.npy", std::string("PK\x03\x04\x14\x00\x00\x00", 8)}}},
        {"unsupported version", run(), {"unsupported .npy format version 9.0"},
         {{"x.npy", std::string("\x93NUMPY\x09\x00", 8) + x.substr(8)}}},
        {"truncated prefix", run(), {"truncated .npy header"},
         {{"x.npy", std::string("\x93NUMPY\x01\x00\x10", 9)}}},
        {"header length past the end", run(), {"the prefix says the header is 65535 bytes"},
         {{"x.npy", x.substr(0, 8) + "\xff\xff" + x.substr(10)}}},
        {"garbage header", run(), {"the .npy header is not a valid Python dict literal"},
         {{"x.npy", npy("{'descr': <f4 ...", floats(8))}}},
        {"header missing shape", run(), {"the .npy header has no 'shape' key"},
         {{"x.npy", npy("{'descr': '<f4', 'fortran_order': False}", floats(8))}}},
        {"float64 input", run(), {"x.npy: expected little-endian float32", "'<f8' (float64)"},
         {{"x.npy", npy(dict("(1, 2, 2, 2)", "<f8"), floats(16))}}},
        {"int32 weights", run(), {"w.npy:", "'<i4' (int32)"},
         {{"w.npy", npy(dict("(2, 3, 3, 3)", "<i4"), floats(54))}}},
        {"big-endian weights", run(), {"'>f4' (big-endian float32)"},
         {{"w.npy", npy(dict("(2, 3, 3, 3)", ">f4"), floats(54))}}},
        {"Fortran order", run(), {"x.npy: expected C-order data", "found Fortran order"},
         {{"x.npy", npy(dict("(1, 2, 2, 2)", "<f4", "True"), floats(8))}}},
        {"structured dtype", run(), {"found a structured dtype"},
         {{"x.npy", npy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (8,), }",
                        floats(8))}}},
        {"shape larger than the data", run(), {"x.npy: the data is truncated", "[1000, 1000, 1000] needs 4000000000 bytes"},
         {{"x.npy", npy(dict("(1000, 1000, 1000)"), floats(8))}}},
        {"shape overflowing 64 bits", run(), {"more elements than fit in 64 bits"},
         {{"x.npy", npy(dict("(4294967296, 4294967296, 4)"), floats(8))}}},
        {"negative shape", run(), {"the negative size -2"},
         {{"x.npy", npy(dict("(1, -2, 2, 2)"), floats(8))}}},
        {"truncated data", run(), {"w.npy: the data is truncated"}, {{"w.npy", w.substr(0, w.size() - 3)}}},
        {"trailing bytes", run(), {"3 unexpected bytes after the data"}, {{"w.npy", w + "xyz"}}},
        {"missing input", run({{"--input", "@nope.npy"}}), {"nope.npy: cannot open: No such file"}},
        {"input is a directory", run({{"--input", "@xdir"}}), {"xdir: cannot read: it is a directory"},
         {{"xdir/", ""}}},
        // ---- shapes ----
        {"input of the wrong shape", run(), {"x.npy: input shape [1, 2, 3, 2] does not match",
                                             "expected [1, 2, 2, 2]"},
         {{"x.npy", f32("(1, 2, 3, 2)", 12)}}},
        {"input of the wrong rank", run(), {"input shape [2, 2, 2] does not match"},
         {{"x.npy", f32("(2, 2, 2)", 8)}}},
        {"input channels_last", run({{"CONFIG", "@wide.json"}}),
         {"input shape [1, 2, 2, 4] does not match", "looks channels_last"},
         {{"x.npy", f32("(1, 2, 2, 4)", 16)}}},
        {"weights as [OC, IC, k, k]", run(), {"w.npy: weights shape [3, 2, 3, 3]",
                                               "PyTorch's ConvTranspose layout"},
         {{"w.npy", f32("(3, 2, 3, 3)", 54)}}},
        {"bias of the wrong shape", run(), {"b.npy: bias shape [2] does not match", "expected [3]"},
         {{"b.npy", f32("(2,)", 2)}}},
        {"bias as a scalar", run(), {"bias shape [] does not match"}, {{"b.npy", f32("()", 1)}}},
        {"bias missing", run({{"--bias", ""}}), {"has \"bias\": true, so --bias B.npy [3] is required"}},
        {"bias for a layer without", run({{"CONFIG", "@nobias.json"}}),
         {"--bias given but layer nobias has \"bias\": false"}},
        // ---- output paths ----
        {"output directory missing", run({{"--output", "@missing/y.npy"}}),
         {"cannot write: the directory", "missing' does not exist"}},
        {"output under a file", run({{"--output", "@x.npy/y.npy"}}),
         {"cannot write: the directory", "does not exist"}},
        {"output is a directory", run({{"--output", "@out"}}), {"cannot write: it is a directory"}},
        {"output ends with a slash", run({{"--output", "@out/"}}),
         {"the path names a directory, expected a file name"}},
        // Permissions do not stop root; sysfs refuses new files to everyone.
        {"output directory not writable",
         run({{"--output", ::geteuid() == 0 ? "/sys/tconv_y.npy" : "@ro/y.npy"}}),
         {"cannot write: cannot create a file in"}, {{"ro/", ""}},
         [](const TempDir& d) { ::chmod(d.file("ro").c_str(), 0500); }},
        // ---- flags ----
        {"unknown flag", run({{"--inptu", "@x.npy"}}),
         {"run: unknown option --inptu (did you mean --input?)"}},
        {"missing --output", run({{"--output", ""}}), {"run: missing required option --output"}},
        {"flag given twice", [] { auto a = run(); a.insert(a.end(), {"--input", "x"}); return a; }(),
         {"option --input given twice"}},
        {"flag without its value", [] { auto a = run({{"--input", ""}}); a.push_back("--input"); return a; }(),
         {"option --input needs a value"}},
        {"flag with an empty value", [] { auto a = run({{"--input", ""}}); a.push_back("--input="); return a; }(),
         {"option --input needs a non-empty value"}},
        {"threads zero", run({{"--threads", "0"}}),
         {"--threads 0: must be an integer from 1 to 1024"}},
        {"threads not a number", run({{"--threads", "two"}}),
         {"--threads two: must be an integer from 1 to 1024"}},
        {"threads overflowing int", run({{"--threads", "99999999999999999999"}}),
         {"--threads 99999999999999999999: must be an integer"}},
        {"threads negative", run({{"--threads", "-4"}}), {"--threads -4: must be an integer"}},
        {"unknown isa", run({{"--isa", "sse"}}),
         {"--isa sse: must be avx512_amx, avx512_bf16, avx512, avx2 or scalar"}},
        {"two configs", [] { auto a = run(); a.push_back("@layer.json"); return a; }(),
         {"run: expected exactly one CONFIG, got 2"}},
        {"unknown command", {"runn", "@layer.json"}, {"unknown command 'runn' (did you mean 'run'?)"}},
        // ---- the other commands on bad input ----
        {"verify: broken config", {"verify", "@bad.json"}, {"bad.json: invalid JSON"},
         {{"bad.json", "{"}}},
        {"verify: directory without configs", {"verify", "@empty"}, {"no *.json configs"},
         {{"empty/", ""}}},
        {"compile: missing path", {"compile", "@nope"}, {"nope: no such file or directory"}},
        {"compile: bad rule", {"compile", "@bad.json"}, {"stride[0]=0 must be >= 1"},
         {{"bad.json", layer({{"stride", "[0, 2]"}})}}},
        {"info: bad config", {"info", "@bad.json"}, {"missing required key \"in_channels\""},
         {{"bad.json", layer({{"in_channels", ""}})}}},
        {"bench: bad threads", {"bench", "@layer.json", "--threads", "0"}, {"--threads"}},
    };
    return c;
}

// Every file under `root` with its bytes (directories as ""), to detect any change.
std::map<std::string, std::string> snapshot(const fs::path& root) {
    std::map<std::string, std::string> files;
    for (const auto& e : fs::recursive_directory_iterator(root)) {
        std::string bytes;
        if (e.is_regular_file()) {
            std::ifstream in(e.path(), std::ios::binary);
            std::stringstream ss;
            ss << in.rdbuf();
            bytes = ss.str();
        }
        files[e.path().lexically_relative(root).string()] = bytes;
    }
    return files;
}

// Writes the base files, then the case's own.
void prepare(const TempDir& d, const Case& c) {
    d.write("layer.json", layer());
    d.write("wide.json", layer({{"in_channels", "4"}}));
    d.write("nobias.json", layer({{"name", "\"nobias\""}, {"bias", "false"}}));
    d.write("multi.json", "{\"layers\": [" + layer({{"name", "\"a\""}}) + ", " +
                              layer({{"name", "\"b\""}}) + "]}");
    d.write("x.npy", f32("(1, 2, 2, 2)", 8));
    d.write("w.npy", f32("(2, 3, 3, 3)", 54));
    d.write("b.npy", f32("(3,)", 3));
    fs::create_directory(d.path / "out");
    for (const auto& [name, bytes] : c.files) {
        if (name.ends_with('/')) fs::create_directory(d.path / name.substr(0, name.size() - 1));
        else d.write(name, bytes);
    }
    if (c.setup) c.setup(d);
}

std::vector<std::string> expand(const TempDir& d, const std::vector<std::string>& args) {
    std::vector<std::string> out;
    for (const std::string& a : args) out.push_back(a.starts_with('@') ? d.file(a.substr(1)) : a);
    return out;
}

// Runs the case and checks everything a refused input must satisfy.
void check_refused(const Case& c, const TempDir& d, const std::vector<std::string>& args) {
    const auto before = snapshot(d.path);
    const auto r = run_cli(args);
    CHECK_MESSAGE(r.exit_code < 128, "killed by signal " << r.exit_code - 128 << "; " << r.err);
    CHECK_MESSAGE(r.exit_code == 2, "exit code " << r.exit_code << "; " << r.err);
    CHECK_MESSAGE(r.out.empty(), r.out);
    // Exactly one line, in the CLI's error format, and never an internal error.
    CHECK_MESSAGE(r.err.starts_with("tconv: error: "), r.err);
    CHECK_MESSAGE(r.err.find('\n') == r.err.size() - 1, r.err);
    CHECK_MESSAGE(r.err.find("internal") == std::string::npos, r.err);
    for (const std::string& e : c.expect)
        CHECK_MESSAGE(r.err.find(e) != std::string::npos, "expected \"" << e << "\" in: " << r.err);
    CHECK_MESSAGE(snapshot(d.path) == before, "files changed in the case's directory");
}

}  // namespace

TEST_CASE("bad input: every malformed input is refused cleanly by the CLI") {
    const std::vector<Case> all = cases();
    CHECK(all.size() >= 50);
    for (const Case& c : all) {
        INFO("case: " << c.name);
        TempDir d;
        prepare(d, c);
        const std::vector<std::string> args = expand(d, c.args);
        check_refused(c, d, args);

        // Again over an existing output file: it must stay byte-identical.
        auto out = std::find(args.begin(), args.end(), "--output");
        if (out == args.end() || out + 1 == args.end()) continue;
        const fs::path y = *(out + 1);
        std::error_code ec;
        if (!fs::is_directory(y.parent_path(), ec) || fs::exists(y, ec) ||
            ::access(y.parent_path().c_str(), W_OK) != 0 || y.filename().empty())
            continue;
        std::ofstream(y, std::ios::binary) << "previous output";
        check_refused(c, d, args);
    }
}

TEST_CASE("bad input: the base case of the table runs") {
    // Guards the table: every case is one change away from this successful run.
    Case base{"base", run(), {}};
    TempDir d;
    prepare(d, base);
    const auto r = run_cli(expand(d, base.args));
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    const tconv::Tensor y = tconv::read_npy(d.file("out/y.npy"));
    CHECK(y.shape == std::vector<int64_t>{1, 3, 3, 3});
}
