// SPDX-License-Identifier: Apache-2.0
// Config files: one layer object, or {"name", "chain", "layers": [...]}. A layer object is read in
// config_layer.cpp and checked by the rules in problem_rules.cpp; this file handles the file's
// shape, chains and reading from disk.
#include "tconv/config.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <new>
#include <unordered_map>

#include <fmt/format.h>

#include "config_json.hpp"
#include "config_layer.hpp"

namespace tconv {

using config_detail::Json;
using config_detail::Where;

namespace {

// A layer config is a few hundred bytes; anything near this is not one.
constexpr size_t kMaxConfigBytes = size_t(16) << 20;

const std::vector<std::string_view> kFileKeys{"name", "chain", "layers"};

// "configs/dcgan.json" -> "dcgan"; a pseudo-source such as "<string>" stays as it is.
std::string stem_of(std::string_view source) {
    if (!source.empty() && source.front() == '<') return std::string(source);
    std::string stem = std::filesystem::path(source).stem().string();
    return stem.empty() ? std::string("layer") : stem;
}

std::string describe(const Problem& p, size_t i) {
    return fmt::format("layers[{}] (\"{}\")", i, p.name);
}

// Each layer must accept exactly what the previous one produces, in the same layout.
void check_chain(const Config& c, const Where& where) {
    for (size_t i = 1; i < c.layers.size(); ++i) {
        const Problem& a = c.layers[i - 1];
        const Problem& b = c.layers[i];
        if (a.layout != b.layout)
            where.fail("chain", fmt::format("{} is {} but {} is {}; a chain uses one layout",
                                            describe(b, i), to_string(b.layout),
                                            describe(a, i - 1), to_string(a.layout)));
        const bool same = a.batch == b.batch && a.out_channels == b.in_channels &&
                          a.rank == b.rank &&
                          std::equal(a.output.begin(), a.output.begin() + a.rank, b.input.begin());
        if (!same)
            where.fail("chain", fmt::format("{} takes input {} but {} produces {}",
                                            describe(b, i), shape_string(input_shape(b)),
                                            describe(a, i - 1), shape_string(output_shape(a))));
    }
}

Config parse_file(const Json& top, const Where& where, const ConfigLimits& limits) {
    if (!top.is_object())
        where.fail("", fmt::format("the top level must be a JSON object (one layer, or "
                                   "{{\"layers\": [...]}}), not {}",
                                   config_detail::render(top)));
    Config c;
    const std::string stem = stem_of(where.source);
    const auto layers = top.find("layers");
    if (layers == top.end()) {
        if (top.contains("chain"))
            where.fail("", "\"chain\" needs a \"layers\" list (this file holds a single layer)");
        c.layers.push_back(config_detail::parse_layer(top, where, "", stem, limits));
        c.name = c.layers[0].name;
        return c;
    }

    for (auto it = top.begin(); it != top.end(); ++it) {
        const std::string& k = it.key();
        if (std::find(kFileKeys.begin(), kFileKeys.end(), k) != kFileKeys.end()) continue;
        const auto& lk = config_detail::layer_keys();
        if (std::find(lk.begin(), lk.end(), k) != lk.end())
            where.fail("", "unknown key " + config_detail::render(Json(k)) +
                               " at the top level (layer keys belong in each entry of \"layers\")");
        where.fail("", "unknown key " + config_detail::render(Json(k)) +
                           config_detail::did_you_mean(k, kFileKeys));
    }
    const auto name = top.find("name");
    c.name = name == top.end() ? stem : config_detail::read_name(*name, where, "name");
    if (const auto chain = top.find("chain"); chain != top.end()) {
        if (!chain->is_boolean()) where.fail_value("chain", *chain, "must be true or false");
        c.chain = chain->get<bool>();
    }
    if (!layers->is_array())
        where.fail_value("layers", *layers, "must be a list of layer objects");
    if (layers->empty()) where.fail_value("layers", *layers, "must hold at least one layer");
    for (size_t i = 0; i < layers->size(); ++i) {
        const std::string path = config_detail::index("layers", i);
        c.layers.push_back(config_detail::parse_layer((*layers)[i], where, path,
                                                      fmt::format("{}[{}]", c.name, i), limits));
    }
    // --layer, the reports and the bench pick layers by name: one name, one layer.
    std::unordered_map<std::string, size_t> first;
    for (size_t i = 0; i < c.layers.size(); ++i) {
        const auto [at, fresh] = first.emplace(c.layers[i].name, i);
        if (!fresh)
            where.fail(config_detail::index("layers", i) + ".name",
                       fmt::format("\"{}\" is the name of {} too: layer names must be unique "
                                   "in a file", c.layers[i].name,
                                   config_detail::index("layers", at->second)));
    }
    if (c.chain) check_chain(c, where);
    return c;
}

// Closes the descriptor on every path out of read_file.
struct Fd {
    int fd;
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};

[[noreturn]] void fail_read(const std::string& path, int err) {
    throw Error(ErrorKind::io, path + ": cannot read: " + std::strerror(err));
}

// Reads at most kMaxConfigBytes + 1 bytes, enough for parse_config to refuse a larger file.
std::string read_file(const std::string& path) {
    Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
    if (f.fd < 0) fail_read(path, errno);
    struct stat st {};
    if (::fstat(f.fd, &st) != 0) fail_read(path, errno);
    if (S_ISDIR(st.st_mode)) fail_read(path, EISDIR);
    std::string text;
    char buf[1 << 16];
    while (text.size() <= kMaxConfigBytes) {
        ssize_t n = ::read(f.fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail_read(path, errno);
        if (n == 0) break;
        text.append(buf, size_t(n));
    }
    return text;
}

}  // namespace

Config parse_config(std::string_view json_text, std::string_view source,
                    const ConfigLimits& limits) {
    const Where where{source};
    try {
        if (json_text.size() > kMaxConfigBytes)
            where.fail("", fmt::format("config is larger than the {} MiB limit",
                                       kMaxConfigBytes >> 20));
        return parse_file(config_detail::parse_json(json_text, source), where, limits);
    } catch (const Error&) {
        throw;
    } catch (const std::bad_alloc&) {
        throw Error(ErrorKind::out_of_memory, std::string(source) + ": out of memory");
    } catch (const std::exception& e) {
        // Only a bug gets here: every rule above reports through Where.
        throw Error(ErrorKind::internal, std::string(source) + ": " + e.what());
    }
}

Config load_config(const std::string& path, const ConfigLimits& limits) {
    std::string text;
    try {
        text = read_file(path);
    } catch (const std::bad_alloc&) {
        throw Error(ErrorKind::out_of_memory, path + ": out of memory");
    }
    return parse_config(text, path, limits);
}

}  // namespace tconv
