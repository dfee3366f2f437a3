// SPDX-License-Identifier: Apache-2.0
#include "model_files.hpp"

#include <cerrno>
#include <cstdlib>

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
    for (const std::string& v : args.all("--input-shape")) {
        const size_t eq = v.rfind('=');
        auto bad = [&](const std::string& why) {
            return Error(ErrorKind::invalid_argument,
                         args.command + ": --input-shape " + v + ": " + why +
                             " (expected NAME=1x100x1x1)");
        };
        if (eq == std::string::npos || eq == 0) throw bad("no NAME=");
        std::vector<int64_t> dims;
        const char* s = v.c_str() + eq + 1;
        while (true) {
            char* end = nullptr;
            errno = 0;
            const long long d = std::strtoll(s, &end, 10);
            if (end == s || errno || d < 1 || d > (1LL << 30) || *end == '+' || *s == '+' ||
                *s == '-' || *s == ' ')
                throw bad("sizes must be integers from 1 to 2^30 separated by 'x'");
            dims.push_back(d);
            if (*end == '\0') break;
            if (*end != 'x') throw bad("sizes must be separated by 'x'");
            s = end + 1;
        }
        o.input_shapes.emplace_back(v.substr(0, eq), dims);
    }
    return o;
}

}  // namespace tconv::cli
