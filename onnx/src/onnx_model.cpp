// SPDX-License-Identifier: Apache-2.0
// Bytes -> a checked ModelProto with inferred shapes; the model's ConvTranspose nodes -> layers.
#include <onnx/checker.h>
#include <onnx/shape_inference/implementation.h>

#include <climits>
#include <filesystem>
#include <set>

#include "onnx_graph.hpp"

namespace tconv::onnx_detail {

namespace {

std::string first_line(const std::string& s) {
    const size_t end = s.find('\n');
    return end == std::string::npos ? s : s.substr(0, end);
}

bool default_domain(const std::string& d) { return d.empty() || d == "ai.onnx"; }

// --input-shape: the graph input's dimensions replaced before shape inference.
void apply_input_shape(onnx::GraphProto& g, const std::string& name,
                       const std::vector<int64_t>& dims, const Where& where) {
    for (const auto& init : g.initializer())
        if (init.name() == name)
            where.fail("input shape for \"" + name + "\": that is an initializer, not an input");
    std::string names;
    for (auto& in : *g.mutable_input()) {
        names += (names.empty() ? "" : ", ") + in.name();
        if (in.name() != name) continue;
        auto* tensor = in.mutable_type()->mutable_tensor_type();
        const int rank = tensor->has_shape() ? tensor->shape().dim_size() : int(dims.size());
        if (rank != int(dims.size()))
            where.fail("input shape for \"" + name + "\" has " + std::to_string(dims.size()) +
                       " dimensions but the input has " + std::to_string(rank));
        auto* shape = tensor->mutable_shape();
        shape->clear_dim();
        for (int64_t d : dims) {
            if (d < 1) where.fail("input shape for \"" + name + "\": sizes must be >= 1");
            shape->add_dim()->set_dim_value(d);
        }
        return;
    }
    where.fail("no graph input named \"" + name + "\" (inputs: " + names + ")");
}

// Shapes come from ONNX's shape inference, but never its ConvTranspose rule: that trusts the
// node's ranks and crashes on bad ones (ONNX 1.12 and 1.17: weights of a lower rank than the
// input, or a conflicting declared output). Inference runs on a skeleton of the model, its float
// tensors without data and its ConvTranspose nodes in a domain no schema knows (inference skips
// them); each ConvTranspose's output shape is then declared from tconv's own derivation before
// inference runs again for the next one.
constexpr const char* kSkippedDomain = "tconv.skipped";

onnx::ModelProto skeleton_of(const onnx::ModelProto& m) {
    onnx::ModelProto s(m);
    for (auto& t : *s.mutable_graph()->mutable_initializer())
        if (t.data_type() == onnx::TensorProto_DataType_FLOAT) {
            t.clear_raw_data();
            t.clear_float_data();
        }
    for (auto& n : *s.mutable_graph()->mutable_node())
        if (n.op_type() == "ConvTranspose" && default_domain(n.domain())) n.set_domain(kSkippedDomain);
    auto* opset = s.add_opset_import();
    opset->set_domain(kSkippedDomain);
    opset->set_version(1);
    return s;
}

void infer_shapes(onnx::ModelProto& skeleton, const Where& where) {
    try {
        onnx::shape_inference::InferShapes(skeleton);
    } catch (const std::exception& e) {
        where.fail("ONNX shape inference failed: " + first_line(e.what()));
    }
}

void declare_shape(onnx::ModelProto& skeleton, const std::string& name,
                   const std::vector<int64_t>& shape) {
    onnx::ValueInfoProto* v = nullptr;
    for (auto& info : *skeleton.mutable_graph()->mutable_value_info())
        if (info.name() == name) v = &info;
    if (!v) v = skeleton.mutable_graph()->add_value_info();
    v->set_name(name);
    auto* tensor = v->mutable_type()->mutable_tensor_type();
    tensor->set_elem_type(onnx::TensorProto_DataType_FLOAT);
    tensor->mutable_shape()->clear_dim();
    for (int64_t d : shape) tensor->mutable_shape()->add_dim()->set_dim_value(d);
}

}  // namespace

void Where::fail(const std::string& rule) const {
    throw Error(ErrorKind::invalid_config, file + ": " + rule);
}

void Where::fail(const onnx::NodeProto& node, const std::string& rule) const {
    fail(label(node) + ": " + rule);
}

std::string label(const onnx::NodeProto& node) {
    return "node \"" + node.name() + "\" (" + node.op_type() + ")";
}

onnx::ModelProto parse_model(std::string_view bytes, const OnnxOptions& options,
                             const Where& where) {
    onnx::ModelProto m;
    if (bytes.size() > size_t(INT_MAX) || !m.ParseFromArray(bytes.data(), int(bytes.size())))
        where.fail("not an ONNX model: the bytes do not parse as an ONNX protobuf message "
                   "(another format, or a truncated file)");
    if (m.ir_version() <= 0 || !m.has_graph())
        where.fail("not an ONNX model: no ir_version or no graph (another format, or a "
                   "truncated file)");
    bool opset = false;
    for (const auto& o : m.opset_import()) opset |= default_domain(o.domain());
    if (!opset) where.fail("the model imports no opset of the default ONNX domain");
    try {
        onnx::checker::check_model(m);
    } catch (const std::exception& e) {
        where.fail("fails the ONNX checker: " + first_line(e.what()));
    }
    for (const auto& [name, dims] : options.input_shapes)
        apply_input_shape(*m.mutable_graph(), name, dims, where);
    return m;
}

OnnxModel read_model(std::string_view bytes, const std::string& path,
                     const OnnxOptions& options) {
    const Where where{path};
    const onnx::ModelProto m = parse_model(bytes, options, where);
    onnx::ModelProto skeleton = skeleton_of(m);
    Graph graph(m.graph(), where, options);
    const std::string file = std::filesystem::path(path).filename().string();

    OnnxModel model;
    model.name = std::filesystem::path(path).stem().string();
    model.path = path;
    std::set<std::string> names;
    int index = 0;
    for (const auto& node : m.graph().node()) {
        ++index;
        if (node.op_type() != "ConvTranspose" || !default_domain(node.domain())) continue;
        if (node.input_size() < 2 || node.output_size() < 1)
            where.fail(node, "needs an input, weights and an output");
        OnnxLayer layer;
        layer.node = node.name();
        infer_shapes(skeleton, where);
        graph.use_shapes(skeleton.graph());
        const std::vector<int64_t> x = graph.shape(node.input(0), node);
        std::vector<int64_t> w_shape;
        layer.weights = graph.constant(node.input(1), node, "weights", &w_shape);
        const bool has_bias = node.input_size() > 2 && !node.input(2).empty();
        // Layers are named after their nodes; a node without a name (or a repeated one) gets
        // its position in the graph.
        std::string name = node.name().empty() ? "ConvTranspose_" + std::to_string(index)
                                               : node.name();
        if (!names.insert(name).second) names.insert(name += "_" + std::to_string(index));
        layer.problem = conv_transpose_problem(node, name, x, w_shape, has_bias, where);
        if (has_bias) {
            std::vector<int64_t> b_shape;
            layer.bias = graph.constant(node.input(2), node, "bias", &b_shape);
            if (b_shape != std::vector<int64_t>{layer.problem.out_channels})
                where.fail(node, "bias has shape " + shape_string(b_shape) + ", not [" +
                                     std::to_string(layer.problem.out_channels) + "]");
        }
        declare_shape(skeleton, node.output(0), output_shape(layer.problem));
        fuse_followers(graph, node, layer, where);
        layer.source = file + " node " + (node.name().empty() ? name : node.name());
        for (size_t i = 0; i < layer.fused.size(); ++i)
            layer.source += (i ? ", " : " + ") + layer.fused[i];
        model.layers.push_back(std::move(layer));
    }
    if (model.layers.empty())
        where.fail("no ConvTranspose node in the graph (" +
                   std::to_string(m.graph().node_size()) +
                   (m.graph().node_size() == 1 ? " node" : " nodes") + "): nothing to import");
    return model;
}

}  // namespace tconv::onnx_detail
