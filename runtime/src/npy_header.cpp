// SPDX-License-Identifier: Apache-2.0
// The .npy header: a Python dict literal such as
// {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }, read by a small recursive-descent
// parser (a hostile file must not be able to crash or exhaust us) and checked key by key.
#include <fmt/format.h>

#include "npy_format.hpp"
#include "tconv/problem.hpp"

namespace tconv::npy {

void fail(ErrorKind kind, const std::string& path, const std::string& what) {
    throw Error(kind, path + ": " + what);
}

std::string quote_bytes(std::string_view bytes, size_t limit) {
    std::string s = "\"";
    for (size_t i = 0; i < bytes.size() && i < limit; ++i) {
        auto c = static_cast<unsigned char>(bytes[i]);
        if (c == '"' || c == '\\') s += fmt::format("\\{}", char(c));
        else if (c >= 0x20 && c < 0x7f) s += char(c);
        else if (c == '\n') s += "\\n";
        else s += fmt::format("\\x{:02x}", c);
    }
    if (bytes.size() > limit) s += "...";
    return s + "\"";
}

namespace {

struct PyValue {
    enum class Kind { string, integer, boolean, none, sequence, dict } kind = Kind::none;
    std::string text;                 // string value, or an integer's digits (sign included)
    int64_t integer = 0;
    bool integer_fits = true;         // false when the literal exceeds int64
    bool boolean = false;
    bool is_tuple = false;            // sequence: tuple or list
    std::vector<PyValue> items;       // sequence items, or dict values
    std::vector<std::string> keys;    // dict keys (strings only)
};

std::string describe(const PyValue& v) {
    switch (v.kind) {
        case PyValue::Kind::string: return "the string " + quote_bytes(v.text);
        case PyValue::Kind::integer: return "the integer " + v.text;
        case PyValue::Kind::boolean: return v.boolean ? "True" : "False";
        case PyValue::Kind::none: return "None";
        case PyValue::Kind::sequence: return v.is_tuple ? "a tuple" : "a list";
        case PyValue::Kind::dict: return "a dict";
    }
    return "?";
}

class HeaderParser {
  public:
    HeaderParser(std::string_view text, const std::string& path) : s_(text), path_(path) {}

    PyValue parse_top() {
        skip_space();
        if (peek() != '{') error("expected a dict starting with '{'");
        PyValue v = parse_value(0);
        skip_space();
        if (pos_ != s_.size()) error("unexpected text after the dict");
        return v;
    }

  private:
    static constexpr int kMaxDepth = 16;

    [[noreturn]] void error(const std::string& what) const {
        fail(ErrorKind::invalid_argument, path_,
             fmt::format("the .npy header is not a valid Python dict literal: {} at offset {} of "
                         "the header {}",
                         what, pos_, quote_bytes(s_, 200)));
    }
    char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
    bool at_end() const { return pos_ >= s_.size(); }
    void skip_space() {
        while (!at_end() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' ||
                             s_[pos_] == '\r'))
            ++pos_;
    }
    void expect(char c) {
        skip_space();
        if (peek() != c) error(fmt::format("expected '{}'", c));
        ++pos_;
    }

    PyValue parse_value(int depth) {
        if (depth > kMaxDepth) error("nesting too deep");
        skip_space();
        char c = peek();
        if (c == '\'' || c == '"') return parse_string();
        if (c == '{') return parse_dict(depth);
        if (c == '(' || c == '[') return parse_sequence(depth);
        if (c == '-' || c == '+' || (c >= '0' && c <= '9')) return parse_integer();
        if (c >= 'A' && c <= 'Z') return parse_name();
        if (at_end()) error("unexpected end of the header");
        error(fmt::format("unexpected character {}", quote_bytes(std::string_view(&s_[pos_], 1))));
    }

    PyValue parse_string() {
        char q = s_[pos_++];
        PyValue v;
        v.kind = PyValue::Kind::string;
        while (true) {
            if (at_end()) error("unterminated string");
            char c = s_[pos_++];
            if (c == q) break;
            if (c == '\\') {
                if (at_end()) error("unterminated string");
                c = s_[pos_++];
            }
            v.text += c;
        }
        return v;
    }

    PyValue parse_integer() {
        PyValue v;
        v.kind = PyValue::Kind::integer;
        size_t start = pos_;
        bool negative = false;
        if (peek() == '-' || peek() == '+') negative = s_[pos_++] == '-';
        if (!(peek() >= '0' && peek() <= '9')) error("expected digits");
        uint64_t magnitude = 0;
        while (peek() >= '0' && peek() <= '9') {
            int d = s_[pos_++] - '0';
            if (magnitude > (uint64_t(INT64_MAX) - d) / 10) v.integer_fits = false;
            else magnitude = magnitude * 10 + d;
        }
        v.text = std::string(s_.substr(start, pos_ - start));
        if (peek() == 'L' || peek() == 'l') ++pos_;  // Python 2 long suffix, seen in old files
        v.integer = negative ? -int64_t(magnitude) : int64_t(magnitude);
        return v;
    }

    PyValue parse_name() {
        size_t start = pos_;
        while ((peek() >= 'A' && peek() <= 'Z') || (peek() >= 'a' && peek() <= 'z')) ++pos_;
        std::string_view name = s_.substr(start, pos_ - start);
        PyValue v;
        if (name == "True" || name == "False") {
            v.kind = PyValue::Kind::boolean;
            v.boolean = name == "True";
        } else if (name == "None") {
            v.kind = PyValue::Kind::none;
        } else {
            pos_ = start;
            error(fmt::format("unexpected name '{}'", name));
        }
        return v;
    }

    PyValue parse_sequence(int depth) {
        char open = s_[pos_++];
        char close = open == '(' ? ')' : ']';
        PyValue v;
        v.kind = PyValue::Kind::sequence;
        v.is_tuple = open == '(';
        bool saw_comma = false;
        while (true) {
            skip_space();
            if (peek() == close) break;
            v.items.push_back(parse_value(depth + 1));
            skip_space();
            if (peek() == ',') {
                ++pos_;
                saw_comma = true;
                continue;
            }
            if (peek() != close) error(fmt::format("expected ',' or '{}'", close));
        }
        ++pos_;
        // "(3)" is just a parenthesised 3 in Python, not a tuple.
        if (v.is_tuple && v.items.size() == 1 && !saw_comma) return v.items[0];
        return v;
    }

    PyValue parse_dict(int depth) {
        ++pos_;
        PyValue v;
        v.kind = PyValue::Kind::dict;
        while (true) {
            skip_space();
            if (peek() == '}') break;
            if (peek() != '\'' && peek() != '"') error("expected a string key");
            std::string key = parse_string().text;
            for (const auto& k : v.keys)
                if (k == key) error(fmt::format("duplicate key '{}'", key));
            expect(':');
            v.keys.push_back(key);
            v.items.push_back(parse_value(depth + 1));
            skip_space();
            if (peek() == ',') {
                ++pos_;
                continue;
            }
            if (peek() != '}') error("expected ',' or '}'");
        }
        ++pos_;
        return v;
    }

    std::string_view s_;
    const std::string& path_;
    size_t pos_ = 0;
};

// A name for a dtype descr that is not '<f4', so the message says what the file holds.
std::string dtype_name(const std::string& descr) {
    if (descr.size() < 2) return "";
    char order = descr[0];
    std::string_view code = std::string_view(descr).substr(1);
    std::string type;
    if (code == "f2") type = "float16";
    else if (code == "f4") type = "float32";
    else if (code == "f8") type = "float64";
    else if (code == "f16") type = "float128";
    else if (code == "i1") type = "int8";
    else if (code == "i2") type = "int16";
    else if (code == "i4") type = "int32";
    else if (code == "i8") type = "int64";
    else if (code == "u1") type = "uint8";
    else if (code == "u2") type = "uint16";
    else if (code == "u4") type = "uint32";
    else if (code == "u8") type = "uint64";
    else if (code == "b1") type = "bool";
    else if (code == "c8") type = "complex64";
    else if (code == "c16") type = "complex128";
    else if (code[0] == 'U') type = "unicode string";
    else if (code[0] == 'S') type = "byte string";
    else if (code[0] == 'O') type = "Python object";
    else if (code[0] == 'V') type = "raw bytes";
    else return "";
    if (order == '>') return "big-endian " + type;
    if (order == '=') return "native-order " + type;
    return type;
}

const PyValue* find_key(const PyValue& dict, std::string_view key) {
    for (size_t i = 0; i < dict.keys.size(); ++i)
        if (dict.keys[i] == key) return &dict.items[i];
    return nullptr;
}

}  // namespace

Header parse_header(std::string_view text, const std::string& path) {
    PyValue dict = HeaderParser(text, path).parse_top();
    static constexpr std::string_view kKeys[] = {"descr", "fortran_order", "shape"};
    const std::string expected_keys = "expected exactly the keys 'descr', 'fortran_order', 'shape'";
    for (auto key : kKeys)
        if (!find_key(dict, key))
            fail(ErrorKind::invalid_argument, path,
                 fmt::format("the .npy header has no '{}' key ({}); header {}", key,
                             expected_keys, quote_bytes(text, 200)));
    for (const auto& key : dict.keys)
        if (key != "descr" && key != "fortran_order" && key != "shape")
            fail(ErrorKind::invalid_argument, path,
                 fmt::format("unexpected key {} in the .npy header ({})", quote_bytes(key),
                             expected_keys));

    const PyValue& descr = *find_key(dict, "descr");
    if (descr.kind != PyValue::Kind::string)
        fail(ErrorKind::invalid_argument, path,
             fmt::format("expected little-endian float32 data (descr '<f4'), found {}",
                         descr.kind == PyValue::Kind::sequence ? "a structured dtype"
                                                               : describe(descr)));
    if (descr.text != "<f4") {
        std::string name = dtype_name(descr.text);
        fail(ErrorKind::invalid_argument, path,
             fmt::format("expected little-endian float32 data (descr '<f4'), found '{}'{}; "
                         "convert it with numpy: a.astype('<f4')",
                         descr.text, name.empty() ? "" : " (" + name + ")"));
    }

    const PyValue& fortran = *find_key(dict, "fortran_order");
    if (fortran.kind != PyValue::Kind::boolean)
        fail(ErrorKind::invalid_argument, path,
             fmt::format("expected 'fortran_order' to be False, found {}", describe(fortran)));
    if (fortran.boolean)
        fail(ErrorKind::invalid_argument, path,
             "expected C-order data ('fortran_order': False), found Fortran order; save "
             "np.ascontiguousarray(a) instead");

    const PyValue& shape = *find_key(dict, "shape");
    if (shape.kind != PyValue::Kind::sequence || !shape.is_tuple)
        fail(ErrorKind::invalid_argument, path,
             fmt::format("expected 'shape' to be a tuple of non-negative integers, found {}",
                         describe(shape)));
    Header h;
    for (size_t i = 0; i < shape.items.size(); ++i) {
        const PyValue& d = shape.items[i];
        if (d.kind != PyValue::Kind::integer || !d.integer_fits || d.integer < 0)
            fail(ErrorKind::invalid_argument, path,
                 fmt::format("expected 'shape' to be a tuple of non-negative integers, found {} "
                             "at position {}",
                             d.kind == PyValue::Kind::integer && d.integer_fits && d.integer < 0
                                 ? "the negative size " + d.text
                                 : describe(d),
                             i));
        h.shape.push_back(d.integer);
    }
    // Elements and bytes must fit in 64 bits; larger claims are absurd (and would wrap).
    uint64_t bytes = 0;
    for (int64_t d : h.shape)
        if (__builtin_mul_overflow(h.elements, uint64_t(d), &h.elements))
            fail(ErrorKind::invalid_argument, path,
                 fmt::format("the shape {} in the .npy header has more elements than fit in 64 "
                             "bits",
                             shape_string(h.shape)));
    if (__builtin_mul_overflow(h.elements, uint64_t(sizeof(float)), &bytes) ||
        bytes > uint64_t(INT64_MAX))
        fail(ErrorKind::invalid_argument, path,
             fmt::format("the shape {} in the .npy header is too large to address",
                         shape_string(h.shape)));
    return h;
}

// NumPy's layout: the dict, padded with spaces and ended by '\n' so that the data starts at a
// multiple of 64 bytes (aligned for any SIMD load when the file is memory-mapped).
std::string header_block(const std::vector<int64_t>& shape) {
    std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (";
    for (size_t i = 0; i < shape.size(); ++i) dict += fmt::format("{}, ", shape[i]);
    if (shape.size() > 1) dict.resize(dict.size() - 2);
    else if (shape.size() == 1) dict.pop_back();  // "(3,)": a one-element tuple keeps its comma
    dict += "), }";
    // Version 1 holds headers below 64 KiB; longer ones (thousands of dimensions) need v2.
    int major = 1;
    size_t prefix = kPrefixV1;
    auto padded = [&] { return (prefix + dict.size() + 1 + 63) / 64 * 64 - prefix; };
    if (padded() > 0xffff) {
        major = 2;
        prefix = kPrefixV2;
    }
    const size_t header_len = padded();
    dict.append(header_len - dict.size() - 1, ' ');
    dict += '\n';
    std::string block(kMagic);
    block += char(major);
    block += char(0);
    for (size_t i = 0; i < prefix - kPrefixV1 + 2; ++i)
        block += char((header_len >> (8 * i)) & 0xff);
    return block + dict;
}

}  // namespace tconv::npy
