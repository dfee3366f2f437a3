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

// The rank of `name` in `g`: declared or inferred, or -1 when unknown.
int rank_of(const onnx::GraphProto& g, const std::string& name) {
    for (const auto& t : g.initializer())
        if (t.name() == name) return t.dims_size();
    for (const auto* infos : {&g.input(), &g.value_info(), &g.output()})
        for (const auto& v : *infos)
            if (v.name() == name && v.type().tensor_type().has_shape())
                return v.type().tensor_type().shape().dim_size();
    return -1;
}

// ONNX's shape inference for ConvTranspose (1.12 and 1.17) trusts the ranks of its input and
// weights: weights with fewer dimensions than the input make it read past their shape. So each
// ConvTranspose's ranks are checked first, on what inference gives the nodes before it, run on a
// copy whose float tensors hold no data.
void check_conv_transpose_ranks(const onnx::ModelProto& m, const Where& where) {
    onnx::ModelProto skeleton(m);
    for (auto& t : *skeleton.mutable_graph()->mutable_initializer())
        if (t.data_type() == onnx::TensorProto_DataType_FLOAT) {
            t.clear_raw_data();
            t.clear_float_data();
        }
    const int n = m.graph().node_size();
    for (int j = 0; j < n; ++j) {
        const onnx::NodeProto& node = m.graph().node(j);
        if (node.op_type() != "ConvTranspose" || !default_domain(node.domain())) continue;
        if (node.input_size() < 2) where.fail(node, "needs an input and weights");
        onnx::ModelProto before(skeleton);
        before.mutable_graph()->mutable_node()->DeleteSubrange(j, n - j);
        try {
            onnx::shape_inference::InferShapes(before);
        } catch (const std::exception& e) {
            where.fail("ONNX shape inference failed: " + first_line(e.what()));
        }
        const int x = rank_of(before.graph(), node.input(0));
        const int w = rank_of(before.graph(), node.input(1));
        if ((w >= 0 && w < 3) || (x >= 0 && x < 3) || (x >= 0 && w >= 0 && x != w))
            where.fail(node, "input \"" + node.input(0) + "\" has " + std::to_string(x) +
                                 " dimensions and weights \"" + node.input(1) + "\" " +
                                 std::to_string(w) +
                                 " (-1: unknown); both need N, C and 1 to 3 spatial ones");
    }
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
    check_conv_transpose_ranks(m, where);
    try {
        onnx::shape_inference::InferShapes(m);
    } catch (const std::exception& e) {
        where.fail("ONNX shape inference failed: " + first_line(e.what()));
    }
    return m;
}

OnnxModel read_model(std::string_view bytes, const std::string& path,
                     const OnnxOptions& options) {
    const Where where{path};
    const onnx::ModelProto m = parse_model(bytes, options, where);
    const Graph graph(m.graph(), where, options);
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
