// SPDX-License-Identifier: Apache-2.0
// `tconv import`'s output: a config of the model's layers and their tensors as .npy files,
// written into a temporary directory beside the target and renamed into place at the end.
#include <nlohmann/json.hpp>
#include <stdlib.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>

#include "tconv/npy.hpp"
#include "tconv/onnx.hpp"

namespace tconv {

namespace {

namespace fs = std::filesystem;

nlohmann::ordered_json spatial(const Dims& d, int rank) {
    auto a = nlohmann::ordered_json::array();
    for (int i = 0; i < rank; ++i) a.push_back(d[size_t(i)]);
    return a;
}

nlohmann::ordered_json layer_json(const OnnxLayer& l) {
    const Problem& p = l.problem;
    nlohmann::ordered_json j;
    j["name"] = p.name;
    j["source"] = l.source;
    j["batch"] = p.batch;
    j["in_channels"] = p.in_channels;
    j["out_channels"] = p.out_channels;
    j["groups"] = p.groups;
    j["input_size"] = spatial(p.input, p.rank);
    j["kernel_size"] = spatial(p.kernel, p.rank);
    j["stride"] = spatial(p.stride, p.rank);
    j["dilation"] = spatial(p.dilation, p.rank);
    auto pads = spatial(p.pad_begin, p.rank);  // ONNX order: all begins, then all ends
    for (auto& e : spatial(p.pad_end, p.rank)) pads.push_back(e);
    j["pads"] = pads;
    j["output_padding"] = spatial(p.output_padding, p.rank);
    j["bias"] = p.bias;
    j["activation"] = std::string(to_string(p.activation));
    if (p.activation == Activation::leaky_relu) j["negative_slope"] = p.negative_slope;
    return j;
}

void write_text(const fs::path& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush()) throw Error(ErrorKind::io, path.string() + ": cannot write");
}

}  // namespace

// Safe as a file name whatever the node was called.
static std::string file_stem(const std::string& layer_name) {
    std::string s = layer_name;
    for (char& c : s)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-')
            c = '_';
    if (s.empty() || s[0] == '.') s.insert(0, "_");
    return s;
}

OnnxImport write_onnx_import(const OnnxModel& model, const std::string& dir) {
    std::error_code ec;
    const fs::path target = fs::path(dir).lexically_normal();
    if (fs::exists(target, ec) && !(fs::is_directory(target, ec) && fs::is_empty(target, ec)))
        throw Error(ErrorKind::invalid_argument,
                    dir + ": exists and is not an empty directory; import writes a new one");
    fs::path parent = target.parent_path();
    if (parent.empty()) parent = ".";
    std::string pattern = (parent / (".tconv-import-XXXXXX")).string();
    if (!mkdtemp(pattern.data()))
        throw Error(ErrorKind::io, dir + ": cannot create a temporary directory beside it");
    const fs::path tmp = pattern;
    try {
        nlohmann::ordered_json config;
        config["name"] = model.name;
        config["layers"] = nlohmann::ordered_json::array();
        OnnxImport written;
        std::vector<std::string> stems;
        for (const OnnxLayer& l : model.layers) {
            config["layers"].push_back(layer_json(l));
            std::string stem = file_stem(l.problem.name);
            // Two names may sanitise alike: the later one gets its position.
            if (std::find(stems.begin(), stems.end(), stem) != stems.end())
                stem += "_" + std::to_string(stems.size());
            stems.push_back(stem);
            write_npy((tmp / (stem + ".weights.npy")).string(), weight_shape(l.problem),
                      l.weights.data());
            written.weights.push_back((target / (stem + ".weights.npy")).string());
            written.biases.emplace_back();
            if (l.problem.bias) {
                write_npy((tmp / (stem + ".bias.npy")).string(), bias_shape(l.problem),
                          l.bias.data());
                written.biases.back() = (target / (stem + ".bias.npy")).string();
            }
        }
        const std::string config_name = file_stem(model.name) + ".json";
        write_text(tmp / config_name, config.dump(2) + "\n");
        fs::permissions(tmp, fs::perms::owner_all | fs::perms::group_read |
                                 fs::perms::group_exec | fs::perms::others_read |
                                 fs::perms::others_exec);
        fs::rename(tmp, target);  // replaces an empty directory
        written.config = (target / config_name).string();
        return written;
    } catch (const fs::filesystem_error& e) {
        fs::remove_all(tmp, ec);
        throw Error(ErrorKind::io, dir + ": cannot write the import: " + e.code().message());
    } catch (...) {
        fs::remove_all(tmp, ec);
        throw;
    }
}

}  // namespace tconv
