// SPDX-License-Identifier: Apache-2.0
// Layer::compile from a config, its JSON text or its file: pick one layer, then the dispatcher.
#include <string>

#include "tconv/tconv.hpp"

namespace tconv {

namespace {

// `source` names the config in messages (its file path, or "<string>").
Problem pick_layer(const Config& config, const std::string& layer, const std::string& source) {
    // An unknown name is an Error listing the layer names.
    if (!layer.empty()) return select_layers(config, layer, source).front();
    if (config.layers.size() == 1) return config.layers.front();
    std::string names;
    for (const Problem& p : config.layers) names += (names.empty() ? "" : ", ") + p.name;
    throw Error(ErrorKind::invalid_argument,
                source + ": the config holds " + std::to_string(config.layers.size()) +
                    " layers (" + names + "); name the one to compile");
}

// The layer of a config, its JSON text or its file; weights and bias as pointers or sized.
template <class Tensor>
Layer from_config(const Config& config, Tensor weights, Tensor bias, const Options& options,
                  const std::string& layer) {
    if (config.layers.empty())
        throw Error(ErrorKind::invalid_argument, config.name + ": the config holds no layer");
    return Layer::compile(pick_layer(config, layer, config.name), weights, bias, options);
}

template <class Tensor>
Layer from_json(std::string_view json, Tensor weights, Tensor bias, const Options& options,
                const std::string& layer) {
    const std::string source = "<string>";
    const Config config = parse_config(json, source, options.limits);
    return Layer::compile(pick_layer(config, layer, source), weights, bias, options);
}

template <class Tensor>
Layer from_file(const std::string& path, Tensor weights, Tensor bias, const Options& options,
                const std::string& layer) {
    const Config config = load_config(path, options.limits);
    return Layer::compile(pick_layer(config, layer, path), weights, bias, options);
}

}  // namespace

Layer Layer::compile(const Config& config, const float* weights, const float* bias,
                     const Options& options, const std::string& layer) {
    return from_config(config, weights, bias, options, layer);
}

Layer Layer::compile_json(std::string_view json, const float* weights, const float* bias,
                          const Options& options, const std::string& layer) {
    return from_json(json, weights, bias, options, layer);
}

Layer Layer::compile_file(const std::string& path, const float* weights, const float* bias,
                          const Options& options, const std::string& layer) {
    return from_file(path, weights, bias, options, layer);
}

Layer Layer::compile(const Config& config, Span<const float> weights, Span<const float> bias,
                     const Options& options, const std::string& layer) {
    return from_config(config, weights, bias, options, layer);
}

Layer Layer::compile_json(std::string_view json, Span<const float> weights,
                          Span<const float> bias, const Options& options,
                          const std::string& layer) {
    return from_json(json, weights, bias, options, layer);
}

Layer Layer::compile_file(const std::string& path, Span<const float> weights,
                          Span<const float> bias, const Options& options,
                          const std::string& layer) {
    return from_file(path, weights, bias, options, layer);
}

}  // namespace tconv
