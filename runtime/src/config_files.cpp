// SPDX-License-Identifier: Apache-2.0
// Finding config files and picking layers out of them: shared by every command that takes
// CONFIG-or-DIR arguments.
#include <algorithm>
#include <filesystem>

#include "tconv/config.hpp"

namespace tconv {

namespace fs = std::filesystem;

std::vector<std::string> config_files(const std::vector<std::string>& files_or_dirs) {
    std::vector<std::string> files;
    for (const auto& arg : files_or_dirs) {
        std::error_code ec;
        if (fs::is_directory(arg, ec)) {
            std::vector<std::string> found;
            for (const auto& e : fs::directory_iterator(arg, ec))
                if (e.path().extension() == ".json" && !e.is_directory())
                    found.push_back(e.path().string());
            if (ec)
                throw Error(ErrorKind::io, arg + ": cannot list the directory: " + ec.message());
            if (found.empty())
                throw Error(ErrorKind::invalid_argument,
                            arg + ": no *.json configs in this directory");
            std::sort(found.begin(), found.end());
            files.insert(files.end(), found.begin(), found.end());
        } else if (fs::exists(arg, ec)) {
            files.push_back(arg);
        } else {
            throw Error(ErrorKind::io, arg + ": no such file or directory");
        }
    }
    return files;
}

std::vector<Problem> select_layers(const Config& config, const std::string& name,
                                   const std::string& source) {
    if (name.empty()) return config.layers;
    for (const Problem& p : config.layers)
        if (p.name == name) return {p};
    std::string names;
    for (const Problem& p : config.layers) names += (names.empty() ? "" : ", ") + p.name;
    throw Error(ErrorKind::invalid_argument,
                source + ": no layer named \"" + name + "\" (layers: " + names + ")");
}

}  // namespace tconv
