#include "config_layer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <utility>

namespace tconv::config_detail {

namespace {

// Batch, channels and every spatial size fit 31 bits: kernels may use 32-bit offsets per
// dimension, and no derived size such as (I-1)*S + D*(K-1) can overflow 64 bits.
constexpr int64_t kMaxInt = INT32_MAX;
constexpr size_t kMaxNameBytes = 256;

template <class E>
using Options = std::vector<std::pair<std::string_view, E>>;

enum class Dtype { f32 };

const Options<Activation> kActivations{{"none", Activation::none},
                                       {"relu", Activation::relu},
                                       {"leaky_relu", Activation::leaky_relu},
                                       {"sigmoid", Activation::sigmoid},
                                       {"tanh", Activation::tanh}};
const Options<Layout> kLayouts{{"channels_first", Layout::channels_first},
                               {"channels_last", Layout::channels_last}};
const Options<Dtype> kDtypes{{"f32", Dtype::f32}};

std::string integers(int64_t n) { return fmt::format("{} integer{}", n, n == 1 ? "" : "s"); }

// "16 GiB", "392 KiB", "1.5 MiB": exact when it can be, else one decimal.
std::string human_bytes(uint64_t b) {
    static const char* const units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    int u = 0;
    double v = double(b);
    while (v >= 1024 && u < 6) v /= 1024, ++u;
    if (u == 0) return fmt::format("{} bytes", b);
    if (v == std::floor(v)) return fmt::format("{:.0f} {}", v, units[u]);
    return fmt::format("{:.1f} {}", v, units[u]);
}

// A key given either as one integer for every spatial dim or as a list with one per dim.
struct Spatial {
    Dims v{};
    const Json* json = nullptr;  // as written; nullptr when the key is absent
    std::string key;             // key path, e.g. "layers[1].stride"

    // Where entry i came from: "stride[1]" for a list, "stride" for one broadcast integer.
    std::string path(int i) const { return json && json->is_array() ? index(key, i) : key; }
};

// Reads one layer object; every failure names the key path.
class LayerReader {
  public:
    LayerReader(const Json& obj, const Where& where, std::string_view path)
        : obj_(obj), where_(where), path_(path) {}

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

    int64_t integer(const Json& v, const std::string& path, int64_t lo, int64_t hi) const {
        if (!v.is_number_integer()) where_.fail_value(path, v, "must be an integer");
        // Unsigned values beyond int64 (e.g. 2^63) are refused before any conversion.
        if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(hi))
            where_.fail_value(path, v, fmt::format("must be <= {}", hi));
        int64_t x = v.get<int64_t>();
        if (x < lo) where_.fail_value(path, v, fmt::format("must be >= {}", lo));
        if (x > hi) where_.fail_value(path, v, fmt::format("must be <= {}", hi));
        return x;
    }

    int64_t int_key(std::string_view key, int64_t lo, int64_t fallback, bool required) const {
        const Json* j = required ? &require(key) : get(key);
        return j ? integer(*j, at(key), lo, kMaxInt) : fallback;
    }

    // Entries past `rank` keep `neutral`, as do all entries of an absent optional key.
    Spatial spatial(std::string_view key, int rank, int64_t lo, int64_t neutral,
                    bool required) const {
        Spatial s;
        s.key = at(key);
        s.v.fill(neutral);
        s.json = required ? &require(key) : get(key);
        if (!s.json) return s;
        const Json& j = *s.json;
        if (j.is_array()) {
            if (j.size() != size_t(rank))
                where_.fail_value(s.key, j,
                                  fmt::format("must have {} entr{}, one per spatial dim of "
                                              "input_size (or be a single integer)",
                                              rank, rank == 1 ? "y" : "ies"));
            for (int i = 0; i < rank; ++i) s.v[i] = integer(j[i], index(s.key, i), lo, kMaxInt);
        } else if (j.is_number_integer()) {
            int64_t x = integer(j, s.key, lo, kMaxInt);
            for (int i = 0; i < rank; ++i) s.v[i] = x;
        } else {
            where_.fail_value(s.key, j,
                              "must be an integer or a list of " + integers(rank) +
                                  " (one per spatial dim)");
        }
        return s;
    }

    template <class E>
    E choice(std::string_view key, const Options<E>& options, E fallback) const {
        const Json* j = get(key);
        if (!j) return fallback;
        std::vector<std::string_view> names;
        for (const auto& o : options) names.push_back(o.first);
        std::string rule = "must be one of: " + fmt::format("{}", fmt::join(names, ", "));
        if (!j->is_string()) where_.fail_value(at(key), *j, rule);
        const std::string& s = j->get_ref<const std::string&>();
        for (const auto& o : options)
            if (o.first == s) return o.second;
        where_.fail_value(at(key), *j, rule + did_you_mean(s, names));
    }

    bool boolean(std::string_view key, bool fallback) const {
        const Json* j = get(key);
        if (!j) return fallback;
        if (!j->is_boolean()) where_.fail_value(at(key), *j, "must be true or false");
        return j->get<bool>();
    }

    const Where& where() const { return where_; }
    std::string_view path() const { return path_; }

  private:
    const Json& obj_;
    const Where& where_;
    std::string_view path_;
};

// Explicit begin/end pads: ONNX "pads" [begin..., end...] or symmetric "padding".
void read_pads(const LayerReader& r, Problem& p) {
    const Json* pads = r.get("pads");
    if (!pads) {
        Spatial s = r.spatial("padding", p.rank, 0, 0, false);
        p.pad_begin = p.pad_end = s.v;
        return;
    }
    if (r.get("padding"))
        r.where().fail(r.path(), "\"padding\" and \"pads\" are both given; use one of them");
    const int n = 2 * p.rank;
    if (!pads->is_array() || pads->size() != size_t(n))
        r.where().fail_value(r.at("pads"), *pads,
                             "must be a list of " + integers(n) +
                                 " in ONNX order [begin..., end...]");
    for (int i = 0; i < n; ++i) {
        int64_t x = r.integer((*pads)[i], index(r.at("pads"), i), 0, kMaxInt);
        (i < p.rank ? p.pad_begin[i] : p.pad_end[i - p.rank]) = x;
    }
}

int64_t extent(const Problem& p, int i, int64_t op) {
    return output_extent(p.input[i], p.kernel[i], p.stride[i], p.dilation[i], p.pad_begin[i],
                         p.pad_end[i], op);
}

std::string stride_dilation(const Problem& p, int i) {
    return fmt::format("max(stride[{0}]={1}, dilation[{0}]={2})", i, p.stride[i], p.dilation[i]);
}

// output_padding, given directly or through PyTorch's output_size. It disambiguates among the
// max(S, D) input sizes that map to one output size, so it must stay below max(S, D).
void read_output_padding(const LayerReader& r, Problem& p) {
    const Json* size = r.get("output_size");
    if (!size) {
        Spatial op = r.spatial("output_padding", p.rank, 0, 0, false);
        for (int i = 0; i < p.rank; ++i)
            if (op.v[i] >= std::max(p.stride[i], p.dilation[i]))
                r.where().fail_value(op.path(i), Json(op.v[i]),
                                     "must be < " + stride_dilation(p, i));
        p.output_padding = op.v;
        return;
    }
    if (r.get("output_padding"))
        r.where().fail(r.path(),
                       "\"output_padding\" and \"output_size\" are both given; use one of them");
    Spatial want = r.spatial("output_size", p.rank, 1, 1, false);
    for (int i = 0; i < p.rank; ++i) {
        const int64_t base = extent(p, i, 0);
        const int64_t hi = base + std::max(p.stride[i], p.dilation[i]) - 1;
        const int64_t o = want.v[i];
        if (hi < 1)
            r.where().fail_value(want.path(i), Json(o),
                                 fmt::format("cannot be reached: with these sizes and pads the "
                                             "output size along dim {} is at most {}",
                                             i, hi));
        if (o < base || o > hi)
            r.where().fail_value(want.path(i), Json(o),
                                 fmt::format("must be in [{}, {}]: output_padding = "
                                             "output_size - {} must be < {}",
                                             std::max<int64_t>(base, 1), hi,
                                             base < 0 ? fmt::format("({})", base)
                                                      : std::to_string(base),
                                             stride_dilation(p, i)));
        p.output_padding[i] = o - base;
    }
}

void derive_output(const LayerReader& r, Problem& p) {
    for (int i = 0; i < p.rank; ++i) {
        const int64_t o = extent(p, i, p.output_padding[i]);
        if (o >= 1 && o <= kMaxInt) {
            p.output[i] = o;
            continue;
        }
        r.where().fail(
            r.path(),
            fmt::format("output size along dim {} = (I-1)*S - pad_begin - pad_end + D*(K-1) + "
                        "OP + 1 = ({}-1)*{} - {} - {} + {}*({}-1) + {} + 1 = {}, must be {}",
                        i, p.input[i], p.stride[i], p.pad_begin[i], p.pad_end[i], p.dilation[i],
                        p.kernel[i], p.output_padding[i], o,
                        o < 1 ? "at least 1" : fmt::format("at most {}", kMaxInt)));
    }
}

// Refuses tensors whose size overflows or exceeds the limit, before anyone allocates them.
void check_size(const LayerReader& r, const char* what, const std::vector<int64_t>& shape,
                const ConfigLimits& limits) {
    int64_t elems = 1;
    for (int64_t d : shape)
        if (__builtin_mul_overflow(elems, d, &elems))
            r.where().fail_size(r.path(), fmt::format("{} tensor {} is too large: its element "
                                                      "count overflows 64 bits",
                                                      what, shape_string(shape)));
    uint64_t bytes = 0;
    const bool overflow = __builtin_mul_overflow(uint64_t(elems), sizeof(float), &bytes);
    if (overflow || bytes > limits.max_tensor_bytes)
        r.where().fail_size(
            r.path(),
            fmt::format("{} tensor {} needs {}, over the limit of {} (max_tensor_bytes = {})",
                        what, shape_string(shape),
                        overflow ? std::string("more than 2^64 bytes")
                                 : fmt::format("{} ({} bytes)", human_bytes(bytes), bytes),
                        human_bytes(limits.max_tensor_bytes), limits.max_tensor_bytes));
}

}  // namespace

const std::vector<std::string_view>& layer_keys() {
    static const std::vector<std::string_view> keys{
        "name",           "batch",       "in_channels", "out_channels",   "input_size",
        "kernel_size",    "stride",      "dilation",    "padding",        "pads",
        "output_padding", "output_size", "groups",      "bias",           "activation",
        "negative_slope", "layout",      "dtype"};
    return keys;
}

std::string read_name(const Json& v, const Where& where, std::string_view path) {
    if (!v.is_string()) where.fail_value(path, v, "must be a string");
    const std::string& s = v.get_ref<const std::string&>();
    if (s.empty()) where.fail_value(path, v, "must not be empty");
    if (s.size() > kMaxNameBytes)
        where.fail_value(path, v, fmt::format("must be at most {} bytes long", kMaxNameBytes));
    for (unsigned char c : s)
        if (c < 0x20 || c == 0x7f)
            where.fail_value(path, v, "must not contain control characters");
    return s;
}

Problem parse_layer(const Json& layer, const Where& where, std::string_view path,
                    const std::string& default_name, const ConfigLimits& limits) {
    if (!layer.is_object())
        where.fail_value(path, layer, "must be a layer object ({\"in_channels\": ..., ...})");
    const LayerReader r(layer, where, path);
    r.reject_unknown_keys();

    Problem p;
    const Json* name = r.get("name");
    p.name = name ? read_name(*name, where, r.at("name")) : default_name;
    p.batch = r.int_key("batch", 1, 1, false);
    p.in_channels = r.int_key("in_channels", 1, 0, true);
    p.out_channels = r.int_key("out_channels", 1, 0, true);
    p.groups = r.int_key("groups", 1, 1, false);
    if (p.in_channels % p.groups != 0)
        where.fail_value(r.at("groups"), Json(p.groups),
                         fmt::format("must divide in_channels={}", p.in_channels));
    if (p.out_channels % p.groups != 0)
        where.fail_value(r.at("groups"), Json(p.groups),
                         fmt::format("must divide out_channels={}", p.out_channels));

    const Json& input = r.require("input_size");
    if (!input.is_array() || input.empty() || input.size() > size_t(kMaxRank))
        where.fail_value(r.at("input_size"), input,
                         "must be a list of 1, 2 or 3 integers ([W], [H, W] or [D, H, W])");
    p.rank = int(input.size());
    for (int i = 0; i < p.rank; ++i)
        p.input[i] = r.integer(input[i], index(r.at("input_size"), i), 1, kMaxInt);

    p.kernel = r.spatial("kernel_size", p.rank, 1, 1, true).v;
    p.stride = r.spatial("stride", p.rank, 1, 1, false).v;
    p.dilation = r.spatial("dilation", p.rank, 1, 1, false).v;
    read_pads(r, p);
    read_output_padding(r, p);
    derive_output(r, p);

    p.bias = r.boolean("bias", true);
    p.activation = r.choice("activation", kActivations, Activation::none);
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
    p.layout = r.choice("layout", kLayouts, Layout::channels_first);
    r.choice("dtype", kDtypes, Dtype::f32);  // validated; f32 is the only type

    check_size(r, "input", input_shape(p), limits);
    check_size(r, "output", output_shape(p), limits);
    check_size(r, "weights", weight_shape(p), limits);
    if (p.bias) check_size(r, "bias", bias_shape(p), limits);
    return p;
}

}  // namespace tconv::config_detail
