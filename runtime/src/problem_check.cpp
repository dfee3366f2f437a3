// A Problem built in code is checked by the very rules a config file obeys: it is written out as
// a layer object and parsed, so there is one rule book and one set of messages.
#include <nlohmann/json.hpp>

#include "tconv/config.hpp"

namespace tconv {

static nlohmann::json dims(const Problem& p, const Dims& d) {
    nlohmann::json a = nlohmann::json::array();
    for (int i = 0; i < p.rank && i < kMaxRank; ++i) a.push_back(d[size_t(i)]);
    return a;
}

void validate_problem(const Problem& p, const ConfigLimits& limits) {
    const std::string name = p.name.empty() ? "layer" : p.name;
    if (p.rank < 1 || p.rank > kMaxRank)
        throw Error(ErrorKind::invalid_config,
                    name + ": rank=" + std::to_string(p.rank) + " must be 1, 2 or 3");
    nlohmann::json pads = dims(p, p.pad_begin);
    for (const auto& e : dims(p, p.pad_end)) pads.push_back(e);
    nlohmann::json j = {
        {"batch", p.batch},
        {"in_channels", p.in_channels},
        {"out_channels", p.out_channels},
        {"input_size", dims(p, p.input)},
        {"kernel_size", dims(p, p.kernel)},
        {"stride", dims(p, p.stride)},
        {"dilation", dims(p, p.dilation)},
        {"pads", pads},
        {"output_padding", dims(p, p.output_padding)},
        {"groups", p.groups},
        {"bias", p.bias},
        {"activation", std::string(to_string(p.activation))},
        {"layout", std::string(to_string(p.layout))},
    };
    if (!p.name.empty()) j["name"] = p.name;
    if (p.activation == Activation::leaky_relu) j["negative_slope"] = p.negative_slope;
    const Problem parsed = parse_config(j.dump(), "layer \"" + name + "\"", limits).layers.at(0);
    for (int i = 0; i < p.rank; ++i)
        if (parsed.output[size_t(i)] != p.output[size_t(i)])
            throw Error(ErrorKind::invalid_config,
                        "layer \"" + name + "\": output[" + std::to_string(i) + "]=" +
                            std::to_string(p.output[size_t(i)]) + " must be the derived size " +
                            std::to_string(parsed.output[size_t(i)]) +
                            " = (I-1)*S - pad_begin - pad_end + D*(K-1) + OP + 1");
}

}  // namespace tconv
