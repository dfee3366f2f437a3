// SPDX-License-Identifier: Apache-2.0
// tconv import: an ONNX model's ConvTranspose layers -> a config and .npy tensors for `tconv run`.
#include <fmt/core.h>

#include "args.hpp"
#include "commands.hpp"
#include "model_files.hpp"
#include "tconv/onnx.hpp"

namespace tconv::cli {

static const std::vector<Flag> kFlags = {
    {"--out", true, "DIR  where to write (a new or empty directory)"},
    {"--input-shape", true, "NAME=1x100x1x1  the shape of a graph input (repeatable)", true},
};

int cmd_import(const Argv& argv) {
    Args args = parse_args("import", argv, kFlags);
    if (args.help) {
        fmt::print("usage: tconv import MODEL.onnx --out DIR [--input-shape NAME=1x100x1x1 ...]\n\n"
                   "Writes DIR/MODEL.json with every ConvTranspose node of the model as a layer\n"
                   "named after its node (in graph order, \"source\" naming the model and node),\n"
                   "and each layer's weights and bias as DIR/LAYER.weights.npy, DIR/LAYER.bias.npy.\n"
                   "A following inference BatchNormalization is folded into the weights and bias,\n"
                   "a following Relu, LeakyRelu, Sigmoid or Tanh becomes the layer's activation\n"
                   "(when the ConvTranspose's output feeds nothing else). Graph inputs with dynamic\n"
                   "dimensions need --input-shape. On any error DIR is not created.\n\n{}",
                   flags_help(kFlags));
        return 0;
    }
    if (args.positional.size() != 1)
        throw Error(ErrorKind::invalid_argument,
                    "import: expected exactly one MODEL.onnx (see 'tconv import --help')");
    const std::string out = args.required("--out");
    const OnnxModel model = load_onnx(args.positional[0], onnx_options(args));
    const OnnxImport written = write_onnx_import(model, out);
    for (size_t i = 0; i < model.layers.size(); ++i) {
        const OnnxLayer& l = model.layers[i];
        fmt::print("{}: {} -> {}, weights {}{}\n", l.problem.name,
                   shape_string(input_shape(l.problem)), shape_string(output_shape(l.problem)),
                   shape_string(weight_shape(l.problem)),
                   l.problem.bias ? ", bias" : ", no bias");
        for (const std::string& f : l.fused) fmt::print("  fusion: {}\n", f);
        fmt::print("  {}\n", written.weights[i]);
        if (!written.biases[i].empty()) fmt::print("  {}\n", written.biases[i]);
    }
    fmt::print("wrote {} ({} layer{})\n", written.config, model.layers.size(),
               model.layers.size() == 1 ? "" : "s");
    return 0;
}

}  // namespace tconv::cli
