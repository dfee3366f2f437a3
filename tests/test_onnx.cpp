// SPDX-License-Identifier: Apache-2.0
// ONNX models in: the committed models (tests/onnx/make_models.py) imported, compiled and
// compared with PyTorch's outputs; the specification's padding rules on worked cases; every
// error a bad model gets; the import directory written whole or not at all.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "helpers.hpp"
#include "tconv/onnx.hpp"

using namespace tconv;
using tconv::test::run_cli;
using tconv::test::TempDir;
namespace fs = std::filesystem;

namespace {

const fs::path kOnnx = fs::path(TCONV_SOURCE_DIR) / "tests/onnx";

std::string model(const std::string& name) { return (kOnnx / "models" / (name + ".onnx")).string(); }

OnnxModel load(const std::string& name) {
    OnnxOptions o;
    if (name == "depthwise") o.input_shapes = {{"x", {2, 8, 5, 5}}};  // its batch is dynamic
    return load_onnx(model(name), o);
}

// Largest |got - want| over max(1, max |want|).
double relative_error(const std::vector<float>& got, const std::vector<float>& want) {
    double err = 0, scale = 1;
    for (size_t i = 0; i < want.size(); ++i) {
        err = std::max(err, double(std::fabs(got[i] - want[i])));
        scale = std::max(scale, double(std::fabs(want[i])));
    }
    return err / scale;
}

std::string error_of(const std::string& path, const OnnxOptions& o = {}) {
    try {
        load_onnx(path, o);
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::invalid_config);
        return e.what();
    }
    return "(no error)";
}

}  // namespace

TEST_CASE("onnx: the committed models import, compile and match PyTorch's outputs") {
    const std::pair<const char*, size_t> models[] = {
        {"dcgan", 4},      {"vocoder", 3},   {"decoder3d", 2},    {"grouped", 1},
        {"depthwise", 1},  {"branch", 1},    {"same_upper", 1},   {"same_lower", 1},
        {"valid", 1},      {"output_shape", 1}, {"asymmetric_pads", 1}, {"constant_weights", 1}};
    for (const auto& [name, count] : models) {
        INFO("model " << name);
        const OnnxModel m = load(name);
        REQUIRE(m.layers.size() == count);
        for (Isa isa : {Isa::avx512, Isa::avx2, Isa::scalar}) {
            if (isa > cpu_info().best_isa()) continue;  // a cap above the CPU is an error
            Options options;
            options.max_isa = isa;
            const std::vector<Layer> layers = compile_onnx(m, options);
            for (size_t i = 0; i < count; ++i) {
                INFO("layer " << i << " " << m.layers[i].problem.name << " isa "
                              << to_string(isa));
                const std::string stem = (kOnnx / "golden" / name).string() + "." +
                                         std::to_string(i);
                const Tensor x = read_npy(stem + ".in.npy");
                const Tensor want = read_npy(stem + ".out.npy");
                const Problem& p = m.layers[i].problem;
                expect_shape(x, input_shape(p), stem + ".in.npy", "input");
                expect_shape(want, output_shape(p), stem + ".out.npy", "output");
                std::vector<float> got(want.data.size());
                layers[i].execute(x.data.data(), got.data());
                CHECK(relative_error(got, want.data) < 1e-5);
            }
        }
    }
}

TEST_CASE("onnx: fusion is reported per layer, and only when nothing else reads the output") {
    const OnnxModel dcgan = load("dcgan");
    for (size_t i = 0; i < 3; ++i) {
        const OnnxLayer& l = dcgan.layers[i];
        REQUIRE(l.fused.size() == 2);
        CHECK(l.fused[0].rfind("BatchNormalization ", 0) == 0);
        CHECK(l.fused[1].rfind("Relu ", 0) == 0);
        CHECK(l.problem.activation == Activation::relu);
        CHECK(l.problem.bias);  // the folded BatchNormalization's shift
        CHECK(l.source.find("dcgan.onnx node " + l.node + " + BatchNormalization") == 0);
    }
    CHECK(dcgan.layers[3].problem.activation == Activation::tanh);
    CHECK_FALSE(dcgan.layers[3].problem.bias);
    const OnnxModel vocoder = load("vocoder");
    CHECK(vocoder.layers[0].problem.activation == Activation::leaky_relu);
    CHECK(vocoder.layers[0].problem.negative_slope == doctest::Approx(0.1));
    CHECK(vocoder.layers[2].problem.activation == Activation::none);
    CHECK(load("decoder3d").layers[1].problem.activation == Activation::sigmoid);
    // The branch model's output feeds a Relu and an Add: nothing fused.
    const OnnxModel branch_model = load("branch");
    const OnnxLayer& branch = branch_model.layers[0];
    CHECK(branch.fused.empty());
    CHECK(branch.problem.activation == Activation::none);
}

TEST_CASE("onnx: output sizes and pads follow the specification's formulas") {
    // k3 s2 on 3x5: the unpadded extent is 2*(3-1)+(3-1)+1 = 7 by 11. SAME asks for in*stride =
    // 6x10, a total padding of 1 per axis: SAME_UPPER puts it at the end, SAME_LOWER at the start.
    Problem p = load("same_upper").layers[0].problem;
    CHECK(p.output == Dims{6, 10, 1});
    CHECK(p.pad_begin == Dims{0, 0, 0});
    CHECK(p.pad_end == Dims{1, 1, 0});
    p = load("same_lower").layers[0].problem;
    CHECK(p.output == Dims{6, 10, 1});
    CHECK(p.pad_begin == Dims{1, 1, 0});
    CHECK(p.pad_end == Dims{0, 0, 0});
    // VALID: no padding; output_padding [1, 0] grows the first axis: 8x11.
    p = load("valid").layers[0].problem;
    CHECK(p.output == Dims{8, 11, 1});
    CHECK(p.pad_begin == Dims{0, 0, 0});
    // output_shape 6x9 of 7x11: totals 1 and 2, the odd one at the start.
    p = load("output_shape").layers[0].problem;
    CHECK(p.output == Dims{6, 9, 1});
    CHECK(p.pad_begin == Dims{1, 1, 0});
    CHECK(p.pad_end == Dims{0, 1, 0});
    // Explicit asymmetric pads [0, 1, 2, 0] (begins, then ends), strides 2x3, dilations 2x1,
    // kernel 3x2 on 4x4: (4-1)*2 + 2*2 + 1 - 0 - 2 = 9 and (4-1)*3 + 1 + 1 - 1 - 0 = 10.
    p = load("asymmetric_pads").layers[0].problem;
    CHECK(p.pad_begin == Dims{0, 1, 0});
    CHECK(p.pad_end == Dims{2, 0, 0});
    CHECK(p.output == Dims{9, 10, 1});
    // 1D, weights from a Constant through an Identity: (7-1)*3 + 4 + 2 + 1 - 1 - 2 = 22.
    p = load("constant_weights").layers[0].problem;
    CHECK(p.rank == 1);
    CHECK(p.output[0] == 22);
}

TEST_CASE("onnx: every bad model is one clear error naming the file, the node and the rule") {
    const std::pair<const char*, const char*> cases[] = {
        {"not_protobuf", "not an ONNX model"},
        {"truncated", "not an ONNX model"},
        {"no_convtranspose", "no ConvTranspose node in the graph"},
        {"auto_pad_value", "node \"up\" (ConvTranspose): attribute auto_pad=\"SAME\" must be"},
        {"group", "node \"up\" (ConvTranspose): attribute group=3 must be >= 1 and divide"},
        {"strides_zero", "attribute strides=[0, 1]: every value must be in [1,"},
        {"kernel_shape", "attribute kernel_shape=[2, 2] disagrees with the weights'"},
        {"pads_and_auto_pad", "attribute pads cannot be given with auto_pad=SAME_UPPER"},
        {"output_shape_too_large", "negative padding is not supported"},
        {"weights_input", "weights \"w\" are a graph input, not an initializer"},
        {"weights_from_op", "weights \"w\" come from node \"relu_w\" (Relu)"},
        {"double", "has data type DOUBLE; tconv reads float (FLOAT) models only"},
        {"dynamic", "input \"x\" dimension 0 (\"N\") is dynamic"},
        {"rank_2", "input shape [1, 4] has 2 dimensions"},
        {"weights_rank_1", "weights shape [3] must have 4 dimensions like the input"},
    };
    for (const auto& [name, rule] : cases) {
        const std::string path = (kOnnx / "bad" / (std::string(name) + ".onnx")).string();
        const std::string msg = error_of(path);
        INFO(msg);
        CHECK(msg.rfind(path + ": ", 0) == 0);
        CHECK(msg.find(rule) != std::string::npos);
        CHECK(msg.find('\n') == std::string::npos);
    }
    // Over the limits: a weight tensor, the file.
    OnnxOptions small;
    small.max_tensor_bytes = 1024;
    CHECK(error_of(model("dcgan"), small).find("weights \"") != std::string::npos);
    CHECK(error_of(model("dcgan"), small).find("over the size limit of 1024 bytes") !=
          std::string::npos);
    small.max_file_bytes = 100;
    CHECK(error_of(model("dcgan"), small).find("over the limit of 100") != std::string::npos);
    // Input shapes: an unknown input, the wrong rank; the dynamic batch given works.
    OnnxOptions shapes;
    shapes.input_shapes = {{"z", {1, 8, 1, 1}}};
    CHECK(error_of(model("dcgan"), shapes).find("no graph input named \"z\" (inputs: x)") !=
          std::string::npos);
    shapes.input_shapes = {{"x", {1, 8}}};
    CHECK(error_of(model("dcgan"), shapes).find("has 2 dimensions but the input has 4") !=
          std::string::npos);
    CHECK(load("depthwise").layers[0].problem.batch == 2);
}

TEST_CASE("onnx: the import writes a config tconv reads and the tensors, or nothing") {
    TempDir tmp;
    const OnnxModel m = load("dcgan");
    const std::string out = tmp.file("dcgan_import");
    const OnnxImport written = write_onnx_import(m, out);
    const Config config = load_config(written.config);
    REQUIRE(config.layers.size() == m.layers.size());
    for (size_t i = 0; i < m.layers.size(); ++i) {
        CHECK(config.layers[i] == m.layers[i].problem);
        CHECK(read_npy(written.weights[i]).data == m.layers[i].weights);
        if (m.layers[i].problem.bias) CHECK(read_npy(written.biases[i]).data == m.layers[i].bias);
        else CHECK(written.biases[i].empty());
    }
    // A non-empty target is refused and left as it was; no temporary directory stays behind.
    CHECK_THROWS_WITH_AS(write_onnx_import(m, out),
                         doctest::Contains("exists and is not an empty directory"), Error);
    CHECK(std::distance(fs::directory_iterator(tmp.path), fs::directory_iterator()) == 1);
    // An empty target directory is filled.
    fs::create_directory(tmp.file("empty"));
    CHECK_NOTHROW(write_onnx_import(load("grouped"), tmp.file("empty")));
    CHECK(fs::exists(tmp.file("empty/grouped.json")));
}

#ifdef TCONV_CLI
TEST_CASE("onnx: tconv import, then tconv run on what it wrote, reproduces PyTorch's output") {
    TempDir tmp;
    const std::string out = tmp.file("voc");
    const test::CliResult r = run_cli({"import", model("vocoder"), "--out", out});
    REQUIRE(r.exit_code == 0);
    CHECK(r.out.find("fusion: LeakyRelu") != std::string::npos);
    // The files it lists, layer by layer.
    std::vector<std::string> weights, biases;
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);) {
        const std::string path = line.substr(line.find_first_not_of(' '));
        if (path.size() > 12 && path.rfind(".weights.npy") == path.size() - 12)
            weights.push_back(path);
        if (path.size() > 9 && path.rfind(".bias.npy") == path.size() - 9) biases.push_back(path);
    }
    REQUIRE(weights.size() == 3);
    REQUIRE(biases.size() == 3);
    const std::string name = load("vocoder").layers[1].problem.name;
    const test::CliResult run = run_cli(
        {"run", out + "/vocoder.json", "--layer", name, "--input",
         (kOnnx / "golden/vocoder.1.in.npy").string(), "--weights", weights[1],
         "--bias", biases[1], "--output", tmp.file("y.npy")});
    INFO(run.err);
    REQUIRE(run.exit_code == 0);
    CHECK(relative_error(read_npy(tmp.file("y.npy")).data,
                         read_npy((kOnnx / "golden/vocoder.1.out.npy").string()).data) < 1e-5);

    // Errors: exit 2, one line, no directory written.
    const test::CliResult bad =
        run_cli({"import", (kOnnx / "bad/group.onnx").string(), "--out", tmp.file("bad")});
    CHECK(bad.exit_code == 2);
    CHECK(bad.err.find("group.onnx: node \"up\" (ConvTranspose): attribute group=3") !=
          std::string::npos);
    CHECK(std::count(bad.err.begin(), bad.err.end(), '\n') == 1);
    CHECK_FALSE(fs::exists(tmp.file("bad")));
    const test::CliResult shape = run_cli({"compile", model("depthwise"), "--input-shape", "x=2x8"});
    CHECK(shape.exit_code == 2);
    CHECK(shape.err.find("has 2 dimensions but the input has 4") != std::string::npos);
    const test::CliResult verify =
        run_cli({"verify", model("depthwise"), "--input-shape", "x=3x8x5x5"});
    CHECK(verify.exit_code == 0);
    CHECK(verify.out.find(" 0 mismatched") != std::string::npos);
    // bench takes the shape too: batch 3 shows in its table; a wrong name is one error line
    const test::CliResult bench = run_cli({"bench", model("depthwise"), "--input-shape",
                                           "x=3x8x5x5", "--no-peers", "--min-time", "0.01"});
    CHECK(bench.exit_code == 0);
    CHECK(bench.out.find("3x8x5x5 ->") != std::string::npos);
    const test::CliResult bench_bad =
        run_cli({"bench", model("depthwise"), "--input-shape", "z=3x8x5x5", "--no-peers"});
    CHECK(bench_bad.exit_code == 2);
    CHECK(bench_bad.err.find("no graph input named \"z\"") != std::string::npos);
}
#endif

TEST_CASE("onnx: a config's \"source\" (what the import writes) must be a string") {
    const std::string layer = R"("in_channels": 1, "out_channels": 1, "input_size": [2],
                                 "kernel_size": [2], "source": )";
    CHECK(parse_config("{" + layer + R"("m.onnx node up"})", "<t>").layers.size() == 1);
    CHECK_THROWS_WITH_AS(parse_config("{" + layer + "3}", "<t>"),
                         doctest::Contains("must be a string"), Error);
}

TEST_CASE("onnx: the inputs libFuzzer found (tests/fuzz_regressions/onnx) are clean errors") {
    for (const auto& e : fs::directory_iterator(fs::path(TCONV_SOURCE_DIR) /
                                                "tests/fuzz_regressions/onnx")) {
        INFO(e.path().string());
        try {
            const OnnxModel m = load_onnx(e.path().string());
            CHECK_FALSE(m.layers.empty());
        } catch (const Error& err) {
            CHECK(err.kind() == ErrorKind::invalid_config);
        }
    }
}
