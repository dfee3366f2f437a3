// SPDX-License-Identifier: Apache-2.0
// ONNX model files from arbitrary bytes: the reader (protobuf parsing, the ONNX checker, shape
// inference, then tconv's own rules) must return layers that pass validation, with weights and
// bias of the sizes their problems need, or throw tconv::Error.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "onnx_graph.hpp"
#include "tconv/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view file(reinterpret_cast<const char*>(data), size);
    tconv::OnnxOptions options;
    options.max_tensor_bytes = uint64_t(1) << 24;  // keeps each run within the RSS limit
    try {
        const tconv::OnnxModel m = tconv::onnx_detail::read_model(file, "<fuzz>", options);
        if (m.layers.empty()) std::abort();
        for (const tconv::OnnxLayer& l : m.layers) {
            tconv::validate_problem(l.problem);
            if (l.weights.size() != size_t(l.problem.weight_elems())) std::abort();
            if (l.bias.size() != size_t(l.problem.bias_elems())) std::abort();
        }
    } catch (const tconv::Error&) {
    }
    return 0;
}
