// SPDX-License-Identifier: Apache-2.0
#include "model_files.hpp"

namespace tconv::cli {

std::vector<FileLayers> load_file_layers(const std::vector<std::string>& files_or_dirs,
                                         const std::string& only, const OnnxOptions& options) {
    std::vector<FileLayers> out;
    for (const std::string& file : config_files(files_or_dirs)) {
        FileLayers f{file, {}};
        if (!is_onnx_path(file)) {
            for (Problem& p : select_layers(load_config(file), only, file))
                f.layers.push_back({std::move(p), {}, {}, {}});
        } else {
            OnnxModel model = load_onnx(file, options);
            Config names;  // select_layers' check of `only`, on the model's layer names
            for (const OnnxLayer& l : model.layers) names.layers.push_back(l.problem);
            select_layers(names, only, file);
            for (OnnxLayer& l : model.layers)
                if (only.empty() || l.problem.name == only)
                    f.layers.push_back({std::move(l.problem), std::move(l.weights),
                                        std::move(l.bias), std::move(l.fused)});
        }
        out.push_back(std::move(f));
    }
    return out;
}

OnnxOptions onnx_options(const Args& args) {
    OnnxOptions o;
    o.input_shapes = args.input_shapes();
    return o;
}

}  // namespace tconv::cli
