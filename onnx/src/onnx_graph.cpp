// SPDX-License-Identifier: Apache-2.0
// The graph index: producers, consumers, constants (initializers, Constant, Identity) and the
// shapes shape inference left on the tensors.
#include "onnx_graph.hpp"

#include <cstring>

namespace tconv::onnx_detail {

namespace {

// Identity chains longer than this are refused rather than followed (a cycle in a bad file).
constexpr int kMaxHops = 64;

std::string type_name(int elem_type) {
    const std::string& n = onnx::TensorProto_DataType_Name(elem_type);
    return n.empty() ? "type " + std::to_string(elem_type) : n;
}

}  // namespace

std::vector<float> tensor_values(const onnx::TensorProto& t, const onnx::NodeProto& node,
                                 const char* what, uint64_t max_bytes, const Where& where) {
    const std::string name = std::string(what) + " \"" + t.name() + "\"";
    if (t.data_location() == onnx::TensorProto_DataLocation_EXTERNAL)
        where.fail(node, name + " are stored outside the model file (external data), which "
                                "tconv does not read");
    if (t.data_type() != onnx::TensorProto_DataType_FLOAT)
        where.fail(node, name + " have data type " + type_name(t.data_type()) +
                             "; tconv reads float (FLOAT) tensors only");
    const uint64_t cap = max_bytes / sizeof(float);
    uint64_t count = 1;
    bool over = false;
    for (int64_t d : t.dims()) {
        if (d < 0) where.fail(node, name + " have a negative dimension");
        if (d > 0 && count > cap / uint64_t(d)) over = true;
        else count *= uint64_t(d);
    }
    if (over || count > cap)
        where.fail(node, name + " are over the size limit of " + std::to_string(max_bytes) +
                             " bytes");
    std::vector<float> v;
    if (!t.raw_data().empty()) {
        if (t.raw_data().size() != count * sizeof(float))
            where.fail(node, name + " hold " + std::to_string(t.raw_data().size()) +
                                 " bytes of data for " + std::to_string(count) + " floats");
        v.resize(size_t(count));
        std::memcpy(v.data(), t.raw_data().data(), t.raw_data().size());  // x86-64: little-endian
    } else {
        if (uint64_t(t.float_data_size()) != count)
            where.fail(node, name + " hold " + std::to_string(t.float_data_size()) +
                                 " values for " + std::to_string(count) + " elements");
        v.assign(t.float_data().begin(), t.float_data().end());
    }
    return v;
}

Graph::Graph(const onnx::GraphProto& graph, const Where& where, const OnnxOptions& options)
    : graph_(graph), where_(where), options_(options) {
    for (const auto& n : graph.node()) {
        for (const auto& out : n.output()) producer_[out] = &n;
        for (const auto& in : n.input())
            if (!in.empty()) consumers_[in].push_back(&n);
    }
    for (const auto& t : graph.initializer()) initializers_[t.name()] = &t;
    use_shapes(graph);
}

void Graph::use_shapes(const onnx::GraphProto& shapes) {
    infos_.clear();
    for (const auto& v : shapes.input()) infos_[v.name()] = &v;
    for (const auto& v : shapes.value_info()) infos_[v.name()] = &v;
    for (const auto& v : shapes.output()) infos_[v.name()] = &v;
}

const onnx::NodeProto* Graph::producer(const std::string& tensor) const {
    const auto it = producer_.find(tensor);
    return it == producer_.end() ? nullptr : it->second;
}

const std::vector<const onnx::NodeProto*>& Graph::consumers(const std::string& tensor) const {
    static const std::vector<const onnx::NodeProto*> none;
    const auto it = consumers_.find(tensor);
    return it == consumers_.end() ? none : it->second;
}

bool Graph::is_graph_output(const std::string& tensor) const {
    for (const auto& v : graph_.output())
        if (v.name() == tensor) return true;
    return false;
}

std::vector<float> Graph::constant(const std::string& tensor, const onnx::NodeProto& node,
                                   const char* what, std::vector<int64_t>* shape) const {
    std::string name = tensor;
    for (int hop = 0; hop < kMaxHops; ++hop) {
        const onnx::TensorProto* t = nullptr;
        if (const auto it = initializers_.find(name); it != initializers_.end()) t = it->second;
        const onnx::NodeProto* p = t ? nullptr : producer(name);
        if (p && p->op_type() == "Identity" && p->input_size() == 1) {
            name = p->input(0);
            continue;
        }
        if (p && p->op_type() == "Constant") {
            for (const auto& a : p->attribute())
                if (a.name() == "value" && a.type() == onnx::AttributeProto_AttributeType_TENSOR)
                    t = &a.t();
            if (!t)
                where_.fail(node, std::string(what) + " come from " + label(*p) +
                                      ", which holds no tensor \"value\"");
        } else if (p) {
            where_.fail(node, std::string(what) + " \"" + name + "\" come from " + label(*p) +
                                  ", not from an initializer or a Constant: tconv needs them "
                                  "fixed in the model");
        }
        if (!t) {
            if (infos_.count(name))
                where_.fail(node, std::string(what) + " \"" + name +
                                      "\" are a graph input, not an initializer: tconv needs "
                                      "them fixed in the model");
            where_.fail(node, std::string(what) + " \"" + name + "\" are not in the graph");
        }
        shape->assign(t->dims().begin(), t->dims().end());
        return tensor_values(*t, node, what, options_.max_tensor_bytes, where_);
    }
    where_.fail(node, std::string(what) + " \"" + tensor + "\" pass through more than " +
                          std::to_string(kMaxHops) + " Identity nodes");
}

std::vector<int64_t> Graph::shape(const std::string& tensor, const onnx::NodeProto& node) const {
    const auto it = infos_.find(tensor);
    const onnx::TypeProto* type = it == infos_.end() ? nullptr : &it->second->type();
    if (type && type->has_tensor_type() && type->tensor_type().elem_type() != 0 &&
        type->tensor_type().elem_type() != onnx::TensorProto_DataType_FLOAT)
        where_.fail(node, "input \"" + tensor + "\" has data type " +
                              type_name(type->tensor_type().elem_type()) +
                              "; tconv reads float (FLOAT) models only");
    std::vector<int64_t> dims;
    bool known = type && type->has_tensor_type() && type->tensor_type().has_shape();
    if (known)
        for (const auto& d : type->tensor_type().shape().dim()) {
            known &= d.has_dim_value() && d.dim_value() > 0;
            dims.push_back(d.dim_value());
        }
    if (known) return dims;
    // Unknown: name the graph input whose dynamic dimension left it so.
    for (const auto& in : graph_.input()) {
        if (initializers_.count(in.name()) || !in.type().tensor_type().has_shape()) continue;
        const auto& ds = in.type().tensor_type().shape().dim();
        for (int i = 0; i < ds.size(); ++i)
            if (!ds[i].has_dim_value() || ds[i].dim_value() < 1)
                where_.fail("input \"" + in.name() + "\" dimension " + std::to_string(i) +
                            (ds[i].dim_param().empty() ? "" : " (\"" + ds[i].dim_param() + "\")") +
                            " is dynamic: give the input's shape (--input-shape " +
                            in.name() + "=1x...)");
    }
    where_.fail(node, "ONNX shape inference could not determine the shape of its input \"" +
                          tensor + "\"");
}

}  // namespace tconv::onnx_detail
