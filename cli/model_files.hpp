// SPDX-License-Identifier: Apache-2.0
// The layers of the CONFIG-or-DIR-or-MODEL arguments of compile and verify: a JSON config's
// layers come without weights (the commands draw random ones), an ONNX model's with its own.
#pragma once

#include <string>
#include <vector>

#include "args.hpp"
#include "tconv/onnx.hpp"

namespace tconv::cli {

struct FileLayer {
    Problem problem;
    std::vector<float> weights;  // empty: draw random weights
    std::vector<float> bias;
    std::vector<std::string> fused;  // ONNX models: what was fused into the layer
};

struct FileLayers {
    std::string file;
    std::vector<FileLayer> layers;
};

// Each file (directories expand to their *.json configs), its layers picked by `only` (all when
// empty); a .onnx file is read as a model.
std::vector<FileLayers> load_file_layers(const std::vector<std::string>& files_or_dirs,
                                         const std::string& only, const OnnxOptions& options);

// --input-shape NAME=AxBxC... values as OnnxOptions.
OnnxOptions onnx_options(const Args& args);

}  // namespace tconv::cli
