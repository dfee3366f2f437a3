// SPDX-License-Identifier: Apache-2.0
// A ConvTranspose node's attributes -> a Problem, by the ONNX specification (opsets 1 to 17
// share these attributes): without output_shape or auto_pad, pads are explicit and
//   out = stride*(in-1) + output_padding + (kernel-1)*dilation + 1 - pad_begin - pad_end.
// With output_shape (or SAME_*, whose output is in*stride) the total padding is that full
// extent minus the output; SAME_UPPER puts the odd one at the end, every other mode at the start.
#include <fmt/core.h>

#include <map>
#include <optional>

#include "onnx_graph.hpp"
#include "tconv/config.hpp"

namespace tconv::onnx_detail {

namespace {

// Attribute values beyond this are refused before any arithmetic on them.
constexpr int64_t kMaxValue = int64_t(1) << 30;

struct Attributes {
    const onnx::NodeProto& node;
    const Where& where;
    std::map<std::string, const onnx::AttributeProto*> by_name;

    Attributes(const onnx::NodeProto& n, const Where& w) : node(n), where(w) {
        using T = onnx::AttributeProto;
        static const std::map<std::string, int> kTypes{
            {"auto_pad", T::STRING},       {"dilations", T::INTS}, {"group", T::INT},
            {"kernel_shape", T::INTS},     {"output_padding", T::INTS},
            {"output_shape", T::INTS},     {"pads", T::INTS},      {"strides", T::INTS}};
        for (const auto& a : node.attribute()) {
            const auto it = kTypes.find(a.name());
            if (it == kTypes.end())
                where.fail(node, "attribute \"" + a.name() + "\" is not a ConvTranspose attribute");
            if (a.type() != it->second)
                where.fail(node, "attribute " + a.name() + " has the wrong type (" +
                                     T::AttributeType_Name(a.type()) + ")");
            by_name[a.name()] = &a;
        }
    }

    // An INTS attribute of `size` values each within [lo, kMaxValue]; absent -> nullopt.
    std::optional<std::vector<int64_t>> ints(const std::string& name, size_t size,
                                             int64_t lo) const {
        const auto it = by_name.find(name);
        if (it == by_name.end()) return std::nullopt;
        std::vector<int64_t> v(it->second->ints().begin(), it->second->ints().end());
        if (v.size() != size)
            where.fail(node, fmt::format("attribute {}={} must hold {} values", name,
                                         shape_string(v), size));
        for (int64_t x : v)
            if (x < lo || x > kMaxValue)
                where.fail(node, fmt::format("attribute {}={}: every value must be in [{}, {}]",
                                             name, shape_string(v), lo, kMaxValue));
        return v;
    }
};

}  // namespace

Problem conv_transpose_problem(const onnx::NodeProto& node, const std::string& name,
                               const std::vector<int64_t>& x, const std::vector<int64_t>& w,
                               bool bias, const Where& where) {
    if (x.size() < 3 || x.size() > 5)
        where.fail(node, fmt::format("input shape {} has {} dimensions; tconv takes N, C and 1 "
                                     "to 3 spatial ones", shape_string(x), x.size()));
    for (int64_t d : x)
        if (d > kMaxValue) where.fail(node, "input shape " + shape_string(x) + " is too large");
    const int rank = int(x.size()) - 2;
    const size_t r = size_t(rank);
    if (w.size() != x.size())
        where.fail(node, fmt::format("weights shape {} must have {} dimensions like the input {}",
                                     shape_string(w), x.size(), shape_string(x)));
    if (w[0] != x[1])
        where.fail(node, fmt::format("weights shape {} is for {} input channels, the input {} "
                                     "has {}", shape_string(w), w[0], shape_string(x), x[1]));
    const Attributes a(node, where);

    Problem p;
    p.name = name;
    p.rank = rank;
    p.batch = x[0];
    p.in_channels = x[1];
    p.groups = 1;
    if (const auto it = a.by_name.find("group"); it != a.by_name.end()) {
        p.groups = it->second->i();
        if (p.groups < 1 || p.groups > kMaxValue || p.in_channels % p.groups != 0)
            where.fail(node, fmt::format("attribute group={} must be >= 1 and divide the {} "
                                         "input channels", p.groups, p.in_channels));
    }
    p.out_channels = w[1] * p.groups;
    const std::vector<int64_t> k(w.begin() + 2, w.end());
    if (const auto ks = a.ints("kernel_shape", r, 1); ks && *ks != k)
        where.fail(node, fmt::format("attribute kernel_shape={} disagrees with the weights' {}",
                                     shape_string(*ks), shape_string(w)));
    const auto strides = a.ints("strides", r, 1);
    const auto dilations = a.ints("dilations", r, 1);
    const auto output_padding = a.ints("output_padding", r, 0);
    const auto pads = a.ints("pads", 2 * r, 0);
    std::optional<std::vector<int64_t>> output_shape;
    if (const auto it = a.by_name.find("output_shape"); it != a.by_name.end()) {
        // Spatial sizes, or (as some exporters write) the whole N, C, spatial shape.
        const bool full = size_t(it->second->ints_size()) == r + 2;
        output_shape = a.ints("output_shape", full ? r + 2 : r, 1);
        if (full) output_shape->erase(output_shape->begin(), output_shape->begin() + 2);
    }
    std::string auto_pad = "NOTSET";
    if (const auto it = a.by_name.find("auto_pad"); it != a.by_name.end()) {
        auto_pad = it->second->s();
        if (auto_pad != "NOTSET" && auto_pad != "SAME_UPPER" && auto_pad != "SAME_LOWER" &&
            auto_pad != "VALID")
            where.fail(node, "attribute auto_pad=\"" + auto_pad +
                                 "\" must be NOTSET, SAME_UPPER, SAME_LOWER or VALID");
        if (auto_pad != "NOTSET" && pads)
            where.fail(node, "attribute pads cannot be given with auto_pad=" + auto_pad);
    }

    for (int i = 0; i < rank; ++i) {
        const size_t u = size_t(i);
        p.input[u] = x[u + 2];
        p.kernel[u] = k[u];
        p.stride[u] = strides ? (*strides)[u] : 1;
        p.dilation[u] = dilations ? (*dilations)[u] : 1;
        p.output_padding[u] = output_padding ? (*output_padding)[u] : 0;
        const int64_t full = output_extent(p.input[u], p.kernel[u], p.stride[u], p.dilation[u],
                                           0, 0, p.output_padding[u]);
        std::optional<int64_t> want;
        if (output_shape) want = (*output_shape)[u];
        else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER")
            want = p.input[u] * p.stride[u];
        if (want) {
            const int64_t total = full - *want;
            if (total < 0)
                where.fail(node, fmt::format("output size {} along spatial axis {} is larger "
                                             "than the {} the kernel reaches unpadded (negative "
                                             "padding is not supported)", *want, i, full));
            const int64_t upper = auto_pad == "SAME_UPPER" ? total - total / 2 : total / 2;
            p.pad_begin[u] = total - upper;
            p.pad_end[u] = upper;
        } else if (pads) {
            p.pad_begin[u] = (*pads)[u];
            p.pad_end[u] = (*pads)[u + r];
        }
        p.output[u] = output_extent(p.input[u], p.kernel[u], p.stride[u], p.dilation[u],
                                    p.pad_begin[u], p.pad_end[u], p.output_padding[u]);
    }
    p.bias = bias;
    try {
        validate_problem(p);
    } catch (const Error& e) {
        // `layer "NAME": RULE` -> the node's wording.
        std::string rule = e.what();
        const std::string prefix = "layer \"" + name + "\": ";
        if (rule.rfind(prefix, 0) == 0) rule.erase(0, prefix.size());
        where.fail(node, rule);
    }
    return p;
}

}  // namespace tconv::onnx_detail
