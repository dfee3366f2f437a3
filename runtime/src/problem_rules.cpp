// SPDX-License-Identifier: Apache-2.0
#include "problem_rules.hpp"
#include "upsample_rules.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace tconv::rules {

namespace {

// Length of the UTF-8 sequence starting s[i], or 0 when it is not well formed (overlong forms,
// surrogates and code points past U+10FFFF included).
size_t utf8_length(std::string_view s, size_t i) {
    const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char c = byte(i);
    if (c < 0x80) return 1;
    size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
    if (n == 0 || c > 0xF4 || i + n > s.size()) return 0;
    for (size_t k = 1; k < n; ++k)
        if ((byte(i + k) & 0xC0) != 0x80) return 0;
    const unsigned char c1 = byte(i + 1);
    if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 >= 0xA0) || (c == 0xF0 && c1 < 0x90) ||
        (c == 0xF4 && c1 >= 0x90))
        return 0;
    return n;
}

bool valid_utf8(std::string_view s) {
    for (size_t i = 0, n; i < s.size(); i += n)
        if ((n = utf8_length(s, i)) == 0) return false;
    return true;
}

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

// Refuses a tensor whose size overflows or exceeds the limit, before anyone allocates it.
void check_size(const Spelling& s, const char* what, const std::vector<int64_t>& shape,
                const ConfigLimits& limits) {
    const auto fail = [&](const std::string& why) {
        throw Error(ErrorKind::out_of_memory, message(s.source, s.layer, why));
    };
    int64_t elems = 1;
    for (int64_t d : shape)
        if (__builtin_mul_overflow(elems, d, &elems))
            fail(fmt::format("{} tensor {} is too large: its element count overflows 64 bits",
                             what, shape_string(shape)));
    uint64_t bytes = 0;
    const bool overflow = __builtin_mul_overflow(uint64_t(elems), sizeof(float), &bytes);
    if (overflow || bytes > limits.max_tensor_bytes)
        fail(fmt::format("{} tensor {} needs {}, over the limit of {} (max_tensor_bytes = {})",
                         what, shape_string(shape),
                         overflow ? std::string("more than 2^64 bytes")
                                  : fmt::format("{} ({} bytes)", human_bytes(bytes), bytes),
                         human_bytes(limits.max_tensor_bytes), limits.max_tensor_bytes));
}

template <class E>
std::vector<std::string_view> names_of(const std::vector<E>& values) {
    std::vector<std::string_view> names;
    for (E v : values) names.push_back(to_string(v));
    return names;
}

template <class E>
void check_enum(const Spelling& s, std::string_view key, E value, const std::vector<E>& all) {
    if (std::find(all.begin(), all.end(), value) == all.end())
        s.fail_value(key, -1, std::to_string(int(value)), one_of_rule(names_of(all)));
}

void check_dims(const Spelling& s, std::string_view key, const Problem& p, const Dims& d,
                int64_t lo) {
    for (int i = 0; i < p.rank; ++i) s.check_range(key, i, d[size_t(i)], lo);
}

// Pads as the user wrote them: "padding[i]" for both ends, or ONNX "pads" [begin..., end...].
void check_pads(const Spelling& s, const Problem& p) {
    for (int end = 0; end < 2; ++end)
        for (int i = 0; i < p.rank; ++i) {
            const int64_t v = (end ? p.pad_end : p.pad_begin)[size_t(i)];
            if (s.symmetric_pads) s.check_range("padding", i, v, 0);
            else s.check_range("pads", end * p.rank + i, v, 0);
        }
}

}  // namespace

std::string message(std::string_view source, std::string_view path, std::string_view what) {
    std::string m(source);
    m += ": ";
    if (!path.empty()) m.append(path).append(": ");
    return m.append(what);
}

std::string value_message(std::string_view source, std::string_view path,
                          std::string_view value, std::string_view rule) {
    return fmt::format("{}: {}={} {}", source, path, value, rule);
}

std::string quote(std::string_view s, size_t max_bytes) {
    const bool cut = s.size() > max_bytes;
    if (cut) {
        s = s.substr(0, max_bytes);
        // Drop a character the cut may have split (and the one before it, as the config's
        // renderer always has).
        while (!s.empty() && (static_cast<unsigned char>(s.back()) & 0xC0) == 0x80)
            s.remove_suffix(1);
        if (!s.empty() && static_cast<unsigned char>(s.back()) >= 0xC0) s.remove_suffix(1);
    }
    std::string q = "\"";
    for (size_t i = 0, n; i < s.size(); i += n) {
        n = utf8_length(s, i);
        if (n == 0) {
            q += "\xEF\xBF\xBD";  // U+FFFD for a byte that starts no character
            n = 1;
            continue;
        }
        const char c = s[i];
        switch (c) {
            case '"': q += "\\\""; break;
            case '\\': q += "\\\\"; break;
            case '\b': q += "\\b"; break;
            case '\f': q += "\\f"; break;
            case '\n': q += "\\n"; break;
            case '\r': q += "\\r"; break;
            case '\t': q += "\\t"; break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) q += fmt::format("\\u{:04x}", int(c));
                else q.append(s.substr(i, n));
        }
    }
    return q + (cut ? "\"..." : "\"");
}

const char* name_rule(std::string_view name) {
    if (name.empty()) return "must not be empty";
    static_assert(kMaxNameBytes == 256, "the rule below states the limit");
    if (name.size() > kMaxNameBytes) return "must be at most 256 bytes long";
    for (unsigned char c : name)
        if (c < 0x20 || c == 0x7f) return "must not contain control characters";
    if (!valid_utf8(name)) return "must be UTF-8 text";
    return nullptr;
}

const std::vector<Activation>& activations() {
    static const std::vector<Activation> all{Activation::none, Activation::relu,
                                             Activation::leaky_relu, Activation::sigmoid,
                                             Activation::tanh};
    return all;
}

const std::vector<Layout>& layouts() {
    static const std::vector<Layout> all{Layout::channels_first, Layout::channels_last};
    return all;
}

const std::vector<DType>& dtypes() {
    static const std::vector<DType> all{DType::f32, DType::bf16};
    return all;
}

std::string one_of_rule(const std::vector<std::string_view>& names) {
    return fmt::format("must be one of: {}", fmt::join(names, ", "));
}

std::string Spelling::path(std::string_view key, int i) const {
    std::string k(key);
    if (i >= 0 && std::find(scalar.begin(), scalar.end(), key) == scalar.end())
        k += fmt::format("[{}]", i);
    return layer.empty() ? k : layer + "." + k;
}

void Spelling::fail(const std::string& what) const {
    throw Error(ErrorKind::invalid_config, message(source, layer, what));
}

void Spelling::fail_value(std::string_view key, int i, std::string_view value,
                          std::string_view rule) const {
    throw Error(ErrorKind::invalid_config, value_message(source, path(key, i), value, rule));
}

void Spelling::check_range(std::string_view key, int i, int64_t value, int64_t lo) const {
    if (value < lo) fail_value(key, i, std::to_string(value), fmt::format("must be >= {}", lo));
    if (value > kMaxInt)
        fail_value(key, i, std::to_string(value), fmt::format("must be <= {}", kMaxInt));
}

Spelling code_spelling(const Problem& p) {
    Spelling s;
    s.source = p.name.empty() ? std::string("layer") : "layer " + quote(p.name);
    s.name_given = !p.name.empty();  // a Problem in code may go unnamed
    return s;
}

void check_fields(const Problem& p, const Spelling& s) {
    if (s.name_given)
        if (const char* rule = name_rule(p.name))
            s.fail_value("name", -1, quote(p.name, 48), rule);
    s.check_range("batch", -1, p.batch, 1);
    s.check_range("in_channels", -1, p.in_channels, 1);
    s.check_range("out_channels", -1, p.out_channels, 1);
    s.check_range("groups", -1, p.groups, 1);
    if (p.in_channels % p.groups != 0)
        s.fail_value("groups", -1, std::to_string(p.groups),
                     fmt::format("must divide in_channels={}", p.in_channels));
    if (p.out_channels % p.groups != 0)
        s.fail_value("groups", -1, std::to_string(p.groups),
                     fmt::format("must divide out_channels={}", p.out_channels));

    if (p.rank < 1 || p.rank > kMaxRank)
        s.fail_value("rank", -1, std::to_string(p.rank), "must be 1, 2 or 3");
    check_dims(s, "input_size", p, p.input, 1);
    check_dims(s, "kernel_size", p, p.kernel, 1);
    check_dims(s, "stride", p, p.stride, 1);
    check_dims(s, "dilation", p, p.dilation, 1);
    check_pads(s, p);
    check_dims(s, "output_padding", p, p.output_padding, 0);
    // output_padding picks one of the max(S, D) input sizes that give the same output size.
    for (int i = 0; i < p.rank; ++i)
        if (p.output_padding[size_t(i)] >= std::max(p.stride[size_t(i)], p.dilation[size_t(i)]))
            s.fail_value("output_padding", i, std::to_string(p.output_padding[size_t(i)]),
                         fmt::format("must be < max(stride[{0}]={1}, dilation[{0}]={2})", i,
                                     p.stride[size_t(i)], p.dilation[size_t(i)]));

    check_enum(s, "activation", p.activation, activations());
    if (p.activation == Activation::leaky_relu && !std::isfinite(p.negative_slope))
        s.fail_value("negative_slope", -1, fmt::format("{}", p.negative_slope),
                     "must be a finite number");
    check_enum(s, "layout", p.layout, layouts());
    check_enum(s, "dtype", p.dtype, dtypes());
    check_upsample_fields(p, s);
}

Dims derive_output(const Problem& p, const Spelling& s) {
    if (p.kind != LayerKind::transposed) return derive_upsample_output(p, s);
    Dims out{1, 1, 1};
    for (int i = 0; i < p.rank; ++i) {
        const size_t d = size_t(i);
        const int64_t o = output_extent(p.input[d], p.kernel[d], p.stride[d], p.dilation[d],
                                        p.pad_begin[d], p.pad_end[d], p.output_padding[d]);
        if (o < 1 || o > kMaxInt)
            s.fail(fmt::format(
                "output size along dim {} = (I-1)*S - pad_begin - pad_end + D*(K-1) + OP + 1 = "
                "({}-1)*{} - {} - {} + {}*({}-1) + {} + 1 = {}, must be {}",
                i, p.input[d], p.stride[d], p.pad_begin[d], p.pad_end[d], p.dilation[d],
                p.kernel[d], p.output_padding[d], o,
                o < 1 ? "at least 1" : fmt::format("at most {}", kMaxInt)));
        out[d] = o;
    }
    return out;
}

void check_sizes(const Problem& p, const ConfigLimits& limits, const Spelling& s) {
    check_size(s, "input", input_shape(p), limits);
    check_size(s, "output", output_shape(p), limits);
    check_size(s, "weights", weight_shape(p), limits);
    if (p.bias) check_size(s, "bias", bias_shape(p), limits);
}

void validate(const Problem& p, const ConfigLimits& limits, const Spelling& s) {
    check_fields(p, s);
    const Dims derived = derive_output(p, s);
    for (int i = 0; i < p.rank; ++i)
        if (p.output[size_t(i)] != derived[size_t(i)])
            s.fail_value("output", i, std::to_string(p.output[size_t(i)]),
                         fmt::format("must be the derived size {} = (I-1)*S - pad_begin - "
                                     "pad_end + D*(K-1) + OP + 1",
                                     derived[size_t(i)]));
    check_sizes(p, limits, s);
}

}  // namespace tconv::rules

namespace tconv {

void validate_problem(const Problem& problem, const ConfigLimits& limits) {
    rules::validate(problem, limits, rules::code_spelling(problem));
}

}  // namespace tconv
