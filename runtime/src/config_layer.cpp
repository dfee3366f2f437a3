// SPDX-License-Identifier: Apache-2.0
#include "config_layer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <optional>

#include "problem_rules.hpp"

namespace tconv::config_detail {

namespace {

using rules::kMaxInt;
using rules::Spelling;

std::string integers(int64_t n) { return fmt::format("{} integer{}", n, n == 1 ? "" : "s"); }

// Reads one layer object into a Problem: the JSON's shape (types, list lengths, keys that
// exclude each other) is checked here, every rule on the values by problem_rules.
class LayerReader {
  public:
    LayerReader(const Json& obj, const Where& where, std::string_view path, Spelling& spelling)
        : obj_(obj), where_(where), path_(path), spelling_(spelling) {}

    std::string at(std::string_view key) const { return join(path_, key); }
    const Json* get(std::string_view key) const {
        auto it = obj_.find(key);
        return it == obj_.end() ? nullptr : &*it;
    }
    const Json& require(std::string_view key) const {
        if (const Json* j = get(key)) return *j;
        where_.fail(path_, fmt::format("missing required key \"{}\"", key));
    }

    void reject_unknown_keys() const {
        for (auto it = obj_.begin(); it != obj_.end(); ++it) {
            const std::string& k = it.key();
            if (std::find(layer_keys().begin(), layer_keys().end(), k) == layer_keys().end())
                where_.fail(path_,
                            "unknown key " + render(Json(k)) + did_you_mean(k, layer_keys()));
        }
    }

    // Any integer int64 holds; its range is a rule. Unsigned values beyond int64 (e.g. 2^63)
    // are refused before any conversion, with the rule's own bound.
    int64_t integer(const Json& v, const std::string& path) const {
        if (!v.is_number_integer()) where_.fail_value(path, v, "must be an integer");
        if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX))
            where_.fail_value(path, v, fmt::format("must be <= {}", kMaxInt));
        return v.get<int64_t>();
    }

    int64_t int_key(std::string_view key, int64_t fallback, bool required) const {
        const Json* j = required ? &require(key) : get(key);
        return j ? integer(*j, at(key)) : fallback;
    }

    // One integer for every spatial dim, or a list with one per dim; entries past `rank`, and
    // all of an absent optional key, stay `neutral`. nullopt when absent.
    std::optional<Dims> spatial(std::string_view key, int rank, int64_t neutral,
                                bool required) const {
        const Json* j = required ? &require(key) : get(key);
        if (!j) return std::nullopt;
        Dims v;
        v.fill(neutral);
        if (j->is_array()) {
            if (j->size() != size_t(rank))
                where_.fail_value(at(key), *j,
                                  fmt::format("must have {} entr{}, one per spatial dim of "
                                              "input_size (or be a single integer)",
                                              rank, rank == 1 ? "y" : "ies"));
            for (int i = 0; i < rank; ++i) v[i] = integer((*j)[i], index(at(key), i));
        } else if (j->is_number_integer()) {
            const int64_t x = integer(*j, at(key));
            for (int i = 0; i < rank; ++i) v[i] = x;
            spelling_.scalar.emplace_back(key);
        } else {
            where_.fail_value(at(key), *j,
                              "must be an integer or a list of " + integers(rank) +
                                  " (one per spatial dim)");
        }
        return v;
    }

    // The index of the value among `names`; `fallback` when the key is absent.
    size_t choice(std::string_view key, const std::vector<std::string_view>& names,
                  size_t fallback) const {
        const Json* j = get(key);
        if (!j) return fallback;
        const std::string rule = rules::one_of_rule(names);
        if (!j->is_string()) where_.fail_value(at(key), *j, rule);
        const std::string& s = j->get_ref<const std::string&>();
        for (size_t i = 0; i < names.size(); ++i)
            if (names[i] == s) return i;
        where_.fail_value(at(key), *j, rule + did_you_mean(s, names));
    }

    template <class E>
    E enumerator(std::string_view key, const std::vector<E>& all, E fallback) const {
        std::vector<std::string_view> names;
        for (E e : all) names.push_back(to_string(e));
        const auto def = size_t(std::find(all.begin(), all.end(), fallback) - all.begin());
        return all[choice(key, names, def)];
    }

    bool boolean(std::string_view key, bool fallback) const {
        const Json* j = get(key);
        if (!j) return fallback;
        if (!j->is_boolean()) where_.fail_value(at(key), *j, "must be true or false");
        return j->get<bool>();
    }

    const Where& where() const { return where_; }
    std::string_view path() const { return path_; }
    Spelling& spelling() const { return spelling_; }

  private:
    const Json& obj_;
    const Where& where_;
    std::string_view path_;
    Spelling& spelling_;
};

// Explicit begin/end pads: ONNX "pads" [begin..., end...] or symmetric "padding".
void read_pads(const LayerReader& r, Problem& p) {
    const Json* pads = r.get("pads");
    if (!pads) {
        r.spelling().symmetric_pads = true;
        if (auto v = r.spatial("padding", p.rank, 0, false)) p.pad_begin = p.pad_end = *v;
        return;
    }
    if (r.get("padding"))
        r.where().fail(r.path(), "\"padding\" and \"pads\" are both given; use one of them");
    const int n = 2 * p.rank;
    if (!pads->is_array() || pads->size() != size_t(n))
        r.where().fail_value(r.at("pads"), *pads,
                             "must be a list of " + integers(n) +
                                 " in ONNX order [begin..., end...]");
    for (int i = 0; i < n; ++i)
        (i < p.rank ? p.pad_begin[i] : p.pad_end[i - p.rank]) =
            r.integer((*pads)[i], index(r.at("pads"), i));
}

// PyTorch's output_size, once the rules hold for every other field: the output_padding it
// means, or an Error naming output_size. output_padding must stay below max(S, D), so the
// reachable sizes of dim i are [base, base + max(S, D) - 1] with base its size at OP = 0.
void apply_output_size(const Spelling& s, const Dims& want, Problem& p) {
    for (int i = 0; i < p.rank; ++i) s.check_range("output_size", i, want[i], 1);
    for (int i = 0; i < p.rank; ++i) {
        const int64_t base = output_extent(p.input[i], p.kernel[i], p.stride[i], p.dilation[i],
                                           p.pad_begin[i], p.pad_end[i], 0);
        const int64_t hi = base + std::max(p.stride[i], p.dilation[i]) - 1;
        const int64_t o = want[i];
        if (hi < 1)
            s.fail_value("output_size", i, std::to_string(o),
                         fmt::format("cannot be reached: with these sizes and pads the output "
                                     "size along dim {} is at most {}",
                                     i, hi));
        if (o < base || o > hi)
            s.fail_value("output_size", i, std::to_string(o),
                         fmt::format("must be in [{}, {}]: output_padding = output_size - {} "
                                     "must be < max(stride[{}]={}, dilation[{}]={})",
                                     std::max<int64_t>(base, 1), hi,
                                     base < 0 ? fmt::format("({})", base) : std::to_string(base),
                                     i, p.stride[i], i, p.dilation[i]));
        p.output_padding[i] = o - base;
    }
}

// "kind" and the keys that belong to one kind only: stride, output_padding and output_size to
// "transposed", scale and mode to "resize_conv", upscale_factor to "pixel_shuffle".
void read_kind(const LayerReader& r, Problem& p) {
    p.kind = LayerKind(r.choice("kind", {"transposed", "resize_conv", "pixel_shuffle"}, 0));
    const std::string_view kind = to_string(p.kind);
    auto only = [&](std::string_view key, LayerKind owner) {
        if (const Json* j = r.get(key); j && p.kind != owner)
            r.where().fail_value(r.at(key), *j,
                                 fmt::format("is only allowed with kind \"{}\" (kind is \"{}\")",
                                             to_string(owner), kind));
    };
    for (std::string_view key : {"stride", "output_padding", "output_size"})
        only(key, LayerKind::transposed);
    only("scale", LayerKind::resize_conv);
    only("mode", LayerKind::resize_conv);
    only("upscale_factor", LayerKind::pixel_shuffle);
    if (p.kind == LayerKind::resize_conv) {
        p.scale = *r.spatial("scale", p.rank, 1, true);
        // PyTorch's names: linear (1D), bilinear (2D), trilinear (3D).
        static constexpr std::string_view kLinear[] = {"linear", "bilinear", "trilinear"};
        p.mode = r.choice("mode", {"nearest", kLinear[p.rank - 1]}, 0) ? ResizeMode::linear
                                                                       : ResizeMode::nearest;
    }
    if (p.kind == LayerKind::pixel_shuffle) p.upscale_factor = r.int_key("upscale_factor", 1, true);
}

}  // namespace

const std::vector<std::string_view>& layer_keys() {
    static const std::vector<std::string_view> keys{
        "name",           "batch",       "in_channels", "out_channels",   "input_size",
        "kernel_size",    "stride",      "dilation",    "padding",        "pads",
        "output_padding", "output_size", "groups",      "bias",           "activation",
        "negative_slope", "layout",      "dtype",       "source",         "kind",
        "scale",          "mode",        "upscale_factor"};
    return keys;
}

std::string read_name(const Json& v, const Where& where, std::string_view path) {
    if (!v.is_string()) where.fail_value(path, v, "must be a string");
    const std::string& s = v.get_ref<const std::string&>();
    if (const char* rule = rules::name_rule(s)) where.fail_value(path, v, rule);
    return s;
}

Problem parse_layer(const Json& layer, const Where& where, std::string_view path,
                    const std::string& default_name, const ConfigLimits& limits) {
    if (!layer.is_object())
        where.fail_value(path, layer, "must be a layer object ({\"in_channels\": ..., ...})");
    Spelling spelling{std::string(where.source), std::string(path), {}, false, true};
    const LayerReader r(layer, where, path, spelling);
    r.reject_unknown_keys();

    Problem p;
    if (const Json* name = r.get("name")) {
        if (!name->is_string()) where.fail_value(r.at("name"), *name, "must be a string");
        p.name = name->get<std::string>();
    } else {
        p.name = default_name;
        spelling.name_given = false;
    }
    p.batch = r.int_key("batch", 1, false);
    p.in_channels = r.int_key("in_channels", 0, true);
    p.out_channels = r.int_key("out_channels", 0, true);
    p.groups = r.int_key("groups", 1, false);

    const Json& input = r.require("input_size");
    if (!input.is_array() || input.empty() || input.size() > size_t(kMaxRank))
        where.fail_value(r.at("input_size"), input,
                         "must be a list of 1, 2 or 3 integers ([W], [H, W] or [D, H, W])");
    p.rank = int(input.size());
    for (int i = 0; i < p.rank; ++i)
        p.input[i] = r.integer(input[i], index(r.at("input_size"), i));

    p.kernel = *r.spatial("kernel_size", p.rank, 1, true);
    if (auto s = r.spatial("stride", p.rank, 1, false)) p.stride = *s;
    if (auto d = r.spatial("dilation", p.rank, 1, false)) p.dilation = *d;
    read_pads(r, p);
    read_kind(r, p);
    std::optional<Dims> output_size;
    if (r.get("output_size")) {
        if (r.get("output_padding"))
            where.fail(path,
                       "\"output_padding\" and \"output_size\" are both given; use one of them");
        output_size = r.spatial("output_size", p.rank, 1, false);
    } else {
        if (auto op = r.spatial("output_padding", p.rank, 0, false)) p.output_padding = *op;
    }

    p.bias = r.boolean("bias", true);
    p.activation = r.enumerator("activation", rules::activations(), Activation::none);
    if (const Json* slope = r.get("negative_slope")) {
        if (p.activation != Activation::leaky_relu)
            where.fail_value(r.at("negative_slope"), *slope,
                             fmt::format("is only allowed with activation \"leaky_relu\" "
                                         "(activation is \"{}\")",
                                         to_string(p.activation)));
        if (!slope->is_number()) where.fail_value(r.at("negative_slope"), *slope,
                                                  "must be a number");
        const double s = slope->get<double>();
        if (!(std::fabs(s) <= double(FLT_MAX)))
            where.fail_value(r.at("negative_slope"), *slope, "must fit a 32-bit float");
        p.negative_slope = float(s);
    }
    p.layout = r.enumerator("layout", rules::layouts(), Layout::channels_first);
    p.dtype = r.enumerator("dtype", rules::dtypes(), DType::f32);
    // Where the layer came from (e.g. the ONNX model and node `tconv import` read): informative.
    if (const Json* source = r.get("source"); source && !source->is_string())
        where.fail_value(r.at("source"), *source, "must be a string");

    // The rules, as for a Problem built in code; output_size needs the fields checked first.
    rules::check_fields(p, spelling);
    if (output_size) apply_output_size(spelling, *output_size, p);
    p.output = rules::derive_output(p, spelling);
    rules::check_sizes(p, limits, spelling);
    return p;
}

}  // namespace tconv::config_detail
