// SPDX-License-Identifier: Apache-2.0
// The public entry points of tconv/onnx.hpp: read a model file, compile its layers.
#include <filesystem>
#include <fstream>
#include <system_error>

#include "onnx_graph.hpp"

namespace tconv {

bool is_onnx_path(const std::string& path) {
    return std::filesystem::path(path).extension() == ".onnx";
}

OnnxModel load_onnx(const std::string& path, const OnnxOptions& options) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (fs::is_directory(path, ec)) throw Error(ErrorKind::io, path + ": is a directory");
    const uintmax_t size = fs::file_size(path, ec);
    if (ec) throw Error(ErrorKind::io, path + ": cannot read: " + ec.message());
    if (size > options.max_file_bytes)
        throw Error(ErrorKind::invalid_config,
                    path + ": the file holds " + std::to_string(size) +
                        " bytes, over the limit of " + std::to_string(options.max_file_bytes));
    std::string bytes(size_t(size), '\0');
    std::ifstream in(path, std::ios::binary);
    if (!in.read(bytes.data(), std::streamsize(bytes.size())))
        throw Error(ErrorKind::io, path + ": cannot read the file");
    return onnx_detail::read_model(bytes, path, options);
}

std::vector<Layer> compile_onnx(const OnnxModel& model, const Options& options) {
    std::vector<Layer> layers;
    layers.reserve(model.layers.size());
    for (const OnnxLayer& l : model.layers)
        layers.push_back(Layer::compile(l.problem, l.weights.data(),
                                        l.bias.empty() ? nullptr : l.bias.data(), options));
    return layers;
}

}  // namespace tconv
