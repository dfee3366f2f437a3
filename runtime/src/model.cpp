// SPDX-License-Identifier: Apache-2.0
// Model: a chain of compiled layers run back to back through two ping-pong scratch buffers.
#include <algorithm>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "tconv/tconv.hpp"

namespace tconv {

// Buffer pairs outlive the calls that used them, so a model executed again and again allocates
// only once per concurrent caller. The lock guards the free list only, never a layer's execution.
struct Model::Scratch {
    // Layer i writes buffer i % 2; each buffer is sized for the largest output it receives.
    int64_t elems[2] = {0, 0};
    std::mutex mutex;
    std::vector<std::unique_ptr<float[]>> free;

    std::unique_ptr<float[]> take() {
        {
            std::lock_guard<std::mutex> lock(mutex);
            if (!free.empty()) {
                std::unique_ptr<float[]> b = std::move(free.back());
                free.pop_back();
                return b;
            }
        }
        // Uninitialised on purpose: every element is written by a layer before it is read.
        return std::unique_ptr<float[]>(new float[size_t(elems[0] + elems[1])]);
    }
    void give(std::unique_ptr<float[]> b) {
        std::lock_guard<std::mutex> lock(mutex);
        free.push_back(std::move(b));
    }
};

namespace {

const std::string& source_of(const Config& config) { return config.name; }

// The parser checks chains; a Config assembled in code is checked here the same way.
void check_chain(const Config& config) {
    const std::string& src = source_of(config);
    if (config.layers.empty())
        throw Error(ErrorKind::invalid_config, src + ": the config holds no layer");
    if (config.layers.size() > 1 && !config.chain)
        throw Error(ErrorKind::invalid_config,
                    src + ": a model needs a chain of layers, and the config does not say "
                          "\"chain\": true (add it when each layer's output feeds the next)");
    for (size_t i = 1; i < config.layers.size(); ++i) {
        const Problem& a = config.layers[i - 1];
        const Problem& b = config.layers[i];
        if (a.layout != b.layout || output_shape(a) != input_shape(b))
            throw Error(ErrorKind::invalid_config,
                        src + ": layer " + std::to_string(i) + " (\"" + b.name + "\") takes " +
                            shape_string(input_shape(b)) + " " + std::string(to_string(b.layout)) +
                            " but layer " + std::to_string(i - 1) + " (\"" + a.name +
                            "\") produces " + shape_string(output_shape(a)) + " " +
                            std::string(to_string(a.layout)));
    }
}

void check_count(const Config& config, size_t n, const char* what, bool may_be_empty) {
    if (n == config.layers.size() || (may_be_empty && n == 0)) return;
    throw Error(ErrorKind::invalid_argument,
                source_of(config) + ": " + std::to_string(n) + " " + what + " given for " +
                    std::to_string(config.layers.size()) + " layers (one per layer" +
                    (may_be_empty ? ", or none when no layer has a bias)" : ")"));
}

// A span's data, after checking it holds exactly `want` floats (an empty span is "none").
const float* checked(const Span<const float>& s, int64_t want, const Problem& p,
                     const char* what) {
    if (s.empty()) return nullptr;
    if (s.size() != size_t(want))
        throw Error(ErrorKind::invalid_argument,
                    p.name + ": " + what + " hold " + std::to_string(s.size()) +
                        " floats but the layer needs " + std::to_string(want));
    return s.data();
}

}  // namespace

Model::Model(std::string name, std::vector<Layer> layers)
    : name_(std::move(name)), layers_(std::move(layers)), scratch_(std::make_shared<Scratch>()) {
    for (size_t i = 0; i + 1 < layers_.size(); ++i)
        scratch_->elems[i % 2] = std::max(scratch_->elems[i % 2], layers_[i].output_elems());
}

Model Model::compile(const Config& config, const std::vector<const float*>& weights,
                     const std::vector<const float*>& biases, const Options& options) {
    check_chain(config);
    check_count(config, weights.size(), "weight tensors", false);
    check_count(config, biases.size(), "bias tensors", true);
    std::vector<Layer> layers;
    layers.reserve(config.layers.size());
    for (size_t i = 0; i < config.layers.size(); ++i)
        layers.push_back(Layer::compile(config.layers[i], weights[i],
                                        biases.empty() ? nullptr : biases[i], options));
    return Model(config.name, std::move(layers));
}

Model Model::compile(const Config& config, const std::vector<Span<const float>>& weights,
                     const std::vector<Span<const float>>& biases, const Options& options) {
    check_chain(config);
    check_count(config, weights.size(), "weight tensors", false);
    check_count(config, biases.size(), "bias tensors", true);
    std::vector<const float*> w, b;
    for (size_t i = 0; i < config.layers.size(); ++i) {
        const Problem& p = config.layers[i];
        w.push_back(checked(weights[i], p.weight_elems(), p, "weights"));
        if (!w.back())
            throw Error(ErrorKind::invalid_argument, p.name + ": weights must not be empty");
        if (!biases.empty()) b.push_back(checked(biases[i], p.bias_elems(), p, "biases"));
    }
    return compile(config, w, b, options);
}

Model Model::compile_json(std::string_view json, const std::vector<const float*>& weights,
                          const std::vector<const float*>& biases, const Options& options) {
    return compile(parse_config(json, "<string>", options.limits), weights, biases, options);
}

Model Model::compile_json(std::string_view json,
                          const std::vector<Span<const float>>& weights,
                          const std::vector<Span<const float>>& biases,
                          const Options& options) {
    return compile(parse_config(json, "<string>", options.limits), weights, biases, options);
}

Model Model::compile_file(const std::string& path, const std::vector<const float*>& weights,
                          const std::vector<const float*>& biases, const Options& options) {
    return compile(load_config(path, options.limits), weights, biases, options);
}

Model Model::compile_file(const std::string& path,
                          const std::vector<Span<const float>>& weights,
                          const std::vector<Span<const float>>& biases,
                          const Options& options) {
    return compile(load_config(path, options.limits), weights, biases, options);
}

uint64_t Model::scratch_bytes() const {
    return uint64_t(scratch_->elems[0] + scratch_->elems[1]) * sizeof(float);
}

void Model::execute(const float* x, float* y) const { run(x, y, 0); }

void Model::execute(const float* x, float* y, int threads) const {
    if (threads < 1)
        throw Error(ErrorKind::invalid_argument,
                    name_ + ": thread count must be >= 1, got " + std::to_string(threads));
    run(x, y, threads);
}

void Model::run(const float* x, float* y, int threads) const {
    if (!x || !y)
        throw Error(ErrorKind::invalid_argument,
                    name_ + ": execute needs non-null input and output pointers");
    auto run_layer = [&](const Layer& l, const float* in, float* out) {
        if (threads == 0) l.execute(in, out);
        else l.execute(in, out, threads);
    };
    if (layers_.size() == 1) return run_layer(layers_.front(), x, y);

    std::unique_ptr<float[]> buffer;
    try {
        buffer = scratch_->take();
    } catch (const std::bad_alloc&) {
        throw Error(ErrorKind::out_of_memory,
                    name_ + ": cannot allocate " + std::to_string(scratch_bytes()) +
                        " bytes of scratch for the intermediate activations");
    }
    float* ping_pong[2] = {buffer.get(), buffer.get() + scratch_->elems[0]};
    struct Return {  // hands the pair back even when a layer throws
        Scratch& s;
        std::unique_ptr<float[]>& b;
        ~Return() {
            try {
                s.give(std::move(b));
            } catch (const std::bad_alloc&) {  // the free list could not grow: drop the pair
            }
        }
    } give_back{*scratch_, buffer};

    const float* in = x;
    for (size_t i = 0; i < layers_.size(); ++i) {
        float* out = i + 1 == layers_.size() ? y : ping_pong[i % 2];
        run_layer(layers_[i], in, out);
        in = out;
    }
}

}  // namespace tconv
