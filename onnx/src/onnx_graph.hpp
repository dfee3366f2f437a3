// SPDX-License-Identifier: Apache-2.0
// Inside the ONNX reader: the protobuf model, an index of its graph, and the one way errors are
// worded ("FILE: node \"NAME\" (OP): RULE"). Only onnx/src includes this header.
#pragma once

#include <onnx/onnx_pb.h>

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "tconv/onnx.hpp"

namespace tconv::onnx_detail {

// Names the file (and node) in every message; all errors are invalid_config.
struct Where {
    std::string file;
    [[noreturn]] void fail(const std::string& rule) const;
    [[noreturn]] void fail(const onnx::NodeProto& node, const std::string& rule) const;
};

std::string label(const onnx::NodeProto& node);  // `node "NAME" (OP)`

// Parses bytes already read (`where` names their file): checks the model and applies the input
// shapes.
onnx::ModelProto parse_model(std::string_view bytes, const OnnxOptions& options,
                             const Where& where);

// The graph's tensors: who produces and who consumes each, which are constants.
class Graph {
  public:
    Graph(const onnx::GraphProto& graph, const Where& where, const OnnxOptions& options);
    // Tensor types from `shapes` (the same graph after shape inference) from now on; it must
    // outlive the next call.
    void use_shapes(const onnx::GraphProto& shapes);

    const onnx::NodeProto* producer(const std::string& tensor) const;
    const std::vector<const onnx::NodeProto*>& consumers(const std::string& tensor) const;
    bool is_graph_output(const std::string& tensor) const;
    // A float tensor fixed in the model: an initializer, or a Constant, through Identity nodes.
    // `what` names it in errors ("weights"); `node` is the consumer.
    std::vector<float> constant(const std::string& tensor, const onnx::NodeProto& node,
                                const char* what, std::vector<int64_t>* shape) const;
    // The shape shape inference (or the graph) gives `tensor`; dynamic dimensions are errors
    // naming the graph input they come from.
    std::vector<int64_t> shape(const std::string& tensor, const onnx::NodeProto& node) const;

  private:
    const onnx::GraphProto& graph_;
    const Where& where_;
    OnnxOptions options_;
    std::map<std::string, const onnx::NodeProto*> producer_;
    std::map<std::string, std::vector<const onnx::NodeProto*>> consumers_;
    std::map<std::string, const onnx::TensorProto*> initializers_;
    std::map<std::string, const onnx::ValueInfoProto*> infos_;
};

// A float tensor's values (float_data or raw little-endian bytes), its size checked against the
// limit before anything is allocated.
std::vector<float> tensor_values(const onnx::TensorProto& t, const onnx::NodeProto& node,
                                 const char* what, uint64_t max_bytes, const Where& where);

// The ConvTranspose node's attributes as a Problem, by the ONNX specification's formulas.
Problem conv_transpose_problem(const onnx::NodeProto& node, const std::string& name,
                               const std::vector<int64_t>& x_shape,
                               const std::vector<int64_t>& w_shape, bool bias,
                               const Where& where);

// Folds a following BatchNormalization and takes a following activation into `layer`, while
// the tensor so far has that one consumer and is no graph output.
void fuse_followers(const Graph& graph, const onnx::NodeProto& conv, OnnxLayer& layer,
                    const Where& where);

OnnxModel read_model(std::string_view bytes, const std::string& path,
                     const OnnxOptions& options);

}  // namespace tconv::onnx_detail
