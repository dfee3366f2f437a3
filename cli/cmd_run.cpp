// SPDX-License-Identifier: Apache-2.0
// tconv run: one layer, tensors from .npy files, the output written atomically.
#include <fmt/core.h>

#include <filesystem>

#include "args.hpp"
#include "commands.hpp"
#include "tconv/tconv.hpp"

namespace tconv::cli {

static const std::vector<Flag> kFlags = {
    {"--input", true, "X.npy  input in the layer's layout"},
    {"--weights", true, "W.npy  weights [in_channels, out_channels/groups, *kernel]"},
    {"--bias", true, "B.npy  bias [out_channels]; required when the layer has \"bias\": true"},
    {"--output", true, "Y.npy  where to write the output (atomically)"},
    {"--layer", true, "NAME  the layer to run when the config holds several"},
    {"--isa", true, "ISA  cap the implementation: avx512_amx, avx512_bf16, avx512, avx2 or scalar"},
    {"--threads", true, "N  threads (default: TCONV_NUM_THREADS, else all cores)"},
};

// The output must not be one of the files the command reads (the same file also through a
// link): replacing it would destroy an input.
static void refuse_input_as_output(const std::string& output,
                                   const std::vector<std::pair<const char*, std::string>>& inputs) {
    for (const auto& [flag, path] : inputs) {
        std::error_code ec;
        if (std::filesystem::equivalent(output, path, ec) && !ec)
            throw Error(ErrorKind::invalid_argument,
                        "run: --output " + output + " is the same file as " + flag + " " + path +
                            ": refusing to overwrite an input");
    }
}

int cmd_run(const Argv& argv) {
    Args args = parse_args("run", argv, kFlags);
    if (args.help) {
        fmt::print("usage: tconv run CONFIG --input X.npy --weights W.npy [--bias B.npy] --output Y.npy\n"
                   "                 [--layer NAME] [--isa ISA] [--threads N]\n\n"
                   "Computes one layer and writes its output as a float32 .npy file. On any error\n"
                   "no output file appears and an existing one is left untouched. The output may\n"
                   "not be one of the inputs, nor a file whose mode forbids writing; an existing\n"
                   "output keeps its mode; an interrupted write (SIGINT, SIGTERM, SIGHUP) leaves\n"
                   "no partial file.\n\n{}",
                   flags_help(kFlags));
        return 0;
    }
    if (args.positional.size() != 1)
        throw Error(ErrorKind::invalid_argument,
                    "run: expected exactly one CONFIG, got " + std::to_string(args.positional.size()) +
                        " (see 'tconv run --help')");
    const std::string config_path = args.positional[0];
    const std::string input_path = args.required("--input");
    const std::string weights_path = args.required("--weights");
    const std::string output_path = args.required("--output");
    Options options;
    options.max_isa = args.isa();
    const int threads = args.threads().value_or(0);

    std::vector<std::pair<const char*, std::string>> inputs = {
        {"CONFIG", config_path}, {"--input", input_path}, {"--weights", weights_path}};
    if (auto bias = args.value("--bias")) inputs.emplace_back("--bias", *bias);
    refuse_input_as_output(output_path, inputs);

    Config config = load_config(config_path);
    std::vector<Problem> layers = select_layers(config, args.value("--layer").value_or(""), config_path);
    if (layers.size() != 1) {
        std::string names;
        for (const Problem& p : layers) names += (names.empty() ? "" : ", ") + p.name;
        throw Error(ErrorKind::invalid_argument,
                    config_path + ": holds " + std::to_string(layers.size()) +
                        " layers; choose one with --layer (" + names + ")");
    }
    const Problem& p = layers[0];

    auto bias_path = args.value("--bias");
    if (p.bias && !bias_path)
        throw Error(ErrorKind::invalid_argument,
                    "run: layer " + p.name + " has \"bias\": true, so --bias B.npy " +
                        shape_string(bias_shape(p)) + " is required");
    if (!p.bias && bias_path)
        throw Error(ErrorKind::invalid_argument,
                    "run: --bias given but layer " + p.name + " has \"bias\": false");

    Tensor x = read_npy(input_path);
    expect_shape(x, input_shape(p), input_path, "input");
    Tensor w = read_npy(weights_path);
    expect_shape(w, weight_shape(p), weights_path, "weights");
    Tensor b;
    if (bias_path) {
        b = read_npy(*bias_path);
        expect_shape(b, bias_shape(p), *bias_path, "bias");
    }

    Layer layer = Layer::compile(p, w.data.data(), bias_path ? b.data.data() : nullptr, options);
    std::vector<float> y(static_cast<size_t>(p.output_elems()));
    if (threads > 0) layer.execute(x.data.data(), y.data(), threads);
    else layer.execute(x.data.data(), y.data());
    write_npy(output_path, output_shape(p), y.data());
    return 0;
}

}  // namespace tconv::cli
