// SPDX-License-Identifier: Apache-2.0
// ONNX models in: every ConvTranspose node of a model file as a tconv layer with the model's own
// weights, ready for Layer::compile. Plain tconv types only: the ONNX and protobuf headers stay
// inside the tconv_onnx library.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "tconv/tconv.hpp"

namespace tconv {

struct OnnxOptions {
    // Shapes for graph inputs, e.g. {"z", {1, 100, 1, 1}}: they replace the model's own (dynamic
    // dimensions included) before shape inference.
    std::vector<std::pair<std::string, std::vector<int64_t>>> input_shapes;
    // Largest model file and largest single weight tensor accepted, checked before reading them.
    uint64_t max_file_bytes = (uint64_t(2) << 30) - 1;  // protobuf's own limit
    uint64_t max_tensor_bytes = uint64_t(1) << 30;
};

struct OnnxLayer {
    Problem problem;             // named after the node
    std::vector<float> weights;  // [in_channels, out_channels/groups, *kernel], folds applied
    std::vector<float> bias;     // [out_channels], or empty when the layer has none
    std::string node;            // the ConvTranspose node's name in the graph
    std::vector<std::string> fused;  // e.g. "BatchNormalization bn1 folded", "Relu r1 fused"
    std::string source;          // "MODEL.onnx node NAME (+ ...)": what the import writes
};

struct OnnxModel {
    std::string name;  // the file stem
    std::string path;
    std::vector<OnnxLayer> layers;  // graph order, at least one
};

// Reads a model file. A bad file is an Error (invalid_config; io when unreadable) naming the
// file, the node and the rule: "gen.onnx: node \"up1\": attribute group=3 must divide ...".
OnnxModel load_onnx(const std::string& path, const OnnxOptions& options = {});

// Compiles every layer of the model, in order: an app's startup in one call.
std::vector<Layer> compile_onnx(const OnnxModel& model, const Options& options = {});

// True when `path` names an ONNX model (by its extension, .onnx).
bool is_onnx_path(const std::string& path);

// The import: DIR/<model>.json (one layer per ConvTranspose, with "source") and each layer's
// weights and bias as DIR/<layer>.weights.npy and DIR/<layer>.bias.npy (the layer's name with
// every character outside [A-Za-z0-9._-] made '_'; a clash gets the layer's position). Written
// to a temporary directory beside DIR and renamed: on any error no DIR appears half-written. An
// existing DIR must be empty.
struct OnnxImport {
    std::string config;                // DIR/<model>.json
    std::vector<std::string> weights;  // per layer
    std::vector<std::string> biases;   // per layer; "" when the layer has none
};
OnnxImport write_onnx_import(const OnnxModel& model, const std::string& dir);

}  // namespace tconv
