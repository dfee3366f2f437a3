// SPDX-License-Identifier: Apache-2.0
// What follows a ConvTranspose and can be done in it: an inference BatchNormalization folded into
// the weights and bias (as ONNX Runtime folds it), then one activation tconv applies at the
// store. Each step only when the tensor so far feeds that node alone and is no graph output.
#include <cmath>

#include "onnx_graph.hpp"

namespace tconv::onnx_detail {

namespace {

bool default_domain(const onnx::NodeProto& n) {
    return n.domain().empty() || n.domain() == "ai.onnx";
}

// The one node reading `tensor` as its first input, when nothing else reads it.
const onnx::NodeProto* sole_consumer(const Graph& graph, const std::string& tensor) {
    if (graph.is_graph_output(tensor)) return nullptr;
    const auto& c = graph.consumers(tensor);
    if (c.size() != 1 || !default_domain(*c[0]) || c[0]->input_size() < 1 ||
        c[0]->input(0) != tensor)
        return nullptr;
    for (int i = 1; i < c[0]->input_size(); ++i)
        if (c[0]->input(i) == tensor) return nullptr;
    return c[0];
}

const onnx::AttributeProto* attribute(const onnx::NodeProto& n, const char* name) {
    for (const auto& a : n.attribute())
        if (a.name() == name) return &a;
    return nullptr;
}

// Inference mode only: one output, no training_mode, spatial (opsets < 9) left at 1; its four
// parameters fixed [out_channels] tensors. Returns false (not fused) otherwise.
bool fold_batch_norm(const Graph& graph, const onnx::NodeProto& bn, OnnxLayer& layer) {
    if (bn.op_type() != "BatchNormalization" || bn.input_size() != 5) return false;
    for (int i = 1; i < bn.output_size(); ++i)
        if (!bn.output(i).empty()) return false;
    if (const auto* t = attribute(bn, "training_mode"); t && t->i() != 0) return false;
    if (const auto* s = attribute(bn, "spatial"); s && s->i() != 1) return false;
    const auto* eps_attr = attribute(bn, "epsilon");
    const double eps = eps_attr ? eps_attr->f() : 1e-5;
    Problem& p = layer.problem;
    std::vector<float> param[4];  // scale, B, mean, var
    for (int i = 0; i < 4; ++i) {
        std::vector<int64_t> shape;
        try {
            param[i] = graph.constant(bn.input(i + 1), bn, "BatchNormalization parameters",
                                      &shape);
        } catch (const Error&) {
            return false;  // not fixed in the model: left to the model's runtime
        }
        if (shape != std::vector<int64_t>{p.out_channels}) return false;
    }
    std::vector<double> scale(size_t(p.out_channels));
    for (size_t oc = 0; oc < scale.size(); ++oc)
        scale[oc] = double(param[0][oc]) / std::sqrt(double(param[3][oc]) + eps);
    // Weights [IC, OC/G, K...]: input channel ic of group g feeds output channels g*OC/G + j.
    const int64_t ocg = p.oc_per_group(), icg = p.ic_per_group(), k = p.kernel_spatial();
    for (int64_t ic = 0; ic < p.in_channels; ++ic)
        for (int64_t j = 0; j < ocg; ++j) {
            const double s = scale[size_t(ic / icg * ocg + j)];
            float* w = layer.weights.data() + (ic * ocg + j) * k;
            for (int64_t t = 0; t < k; ++t) w[t] = float(double(w[t]) * s);
        }
    if (layer.bias.empty()) layer.bias.assign(size_t(p.out_channels), 0.0f);
    for (size_t oc = 0; oc < scale.size(); ++oc)
        layer.bias[oc] = float((double(layer.bias[oc]) - param[2][oc]) * scale[oc] + param[1][oc]);
    p.bias = true;
    return true;
}

bool take_activation(const onnx::NodeProto& n, Problem& p) {
    if (n.output_size() != 1 || n.input_size() != 1) return false;
    if (n.op_type() == "Relu") p.activation = Activation::relu;
    else if (n.op_type() == "Sigmoid") p.activation = Activation::sigmoid;
    else if (n.op_type() == "Tanh") p.activation = Activation::tanh;
    else if (n.op_type() == "LeakyRelu") {
        const auto* alpha = attribute(n, "alpha");
        p.activation = Activation::leaky_relu;
        p.negative_slope = alpha ? alpha->f() : 0.01f;
        if (!std::isfinite(p.negative_slope)) return p.activation = Activation::none, false;
    } else return false;
    return true;
}

}  // namespace

void fuse_followers(const Graph& graph, const onnx::NodeProto& conv, OnnxLayer& layer,
                    const Where&) {
    std::string tensor = conv.output(0);
    const onnx::NodeProto* next = sole_consumer(graph, tensor);
    if (next && fold_batch_norm(graph, *next, layer)) {
        layer.fused.push_back("BatchNormalization " + next->name() + " folded");
        tensor = next->output(0);
        next = sole_consumer(graph, tensor);
    }
    if (next && take_activation(*next, layer.problem))
        layer.fused.push_back(next->op_type() + " " + next->name() + " fused");
}

}  // namespace tconv::onnx_detail
