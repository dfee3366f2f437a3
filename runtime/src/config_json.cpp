// SPDX-License-Identifier: Apache-2.0
#include "config_json.hpp"

#include <algorithm>
#include <cctype>
#include <unordered_set>

#include "problem_rules.hpp"
#include "tconv/error.hpp"

namespace tconv::config_detail {

namespace {

// Configs are a few levels deep; a limit keeps hostile input from costing deep recursion anywhere
// (destruction, rendering).
constexpr int kMaxDepth = 32;

// Tracks where the parser is, to name the object holding a duplicate key.
struct Frame {
    bool array = false;
    size_t next = 0;                       // arrays: index of the element being read
    std::string key;                       // objects: key of the member being read
    std::unordered_set<std::string> seen;  // objects: keys read so far
};

std::string path_of(const std::vector<Frame>& frames, size_t depth) {
    std::string p;
    for (size_t i = 0; i < depth; ++i)
        p = frames[i].array ? index(p, frames[i].next) : join(p, frames[i].key);
    return p;
}

std::string scalar(const Json& v) {
    constexpr size_t kMaxString = 48;
    if (v.is_string()) return rules::quote(v.get_ref<const std::string&>(), kMaxString);
    return v.dump();
}

std::string lower(std::string_view s) {
    std::string r(s);
    for (char& c : r) c = char(std::tolower(static_cast<unsigned char>(c)));
    return r;
}

// Optimal string alignment distance: insertions, deletions, substitutions and swaps of two
// neighbours ("chian" -> "chain") each cost one.
size_t edit_distance(std::string_view a, std::string_view b) {
    const size_t w = b.size() + 1;
    std::vector<size_t> d((a.size() + 1) * w);
    for (size_t i = 0; i <= a.size(); ++i) d[i * w] = i;
    for (size_t j = 0; j <= b.size(); ++j) d[j] = j;
    for (size_t i = 1; i <= a.size(); ++i)
        for (size_t j = 1; j <= b.size(); ++j) {
            size_t& x = d[i * w + j];
            x = std::min({d[(i - 1) * w + j] + 1, d[i * w + j - 1] + 1,
                          d[(i - 1) * w + j - 1] + (a[i - 1] != b[j - 1] ? 1u : 0u)});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                x = std::min(x, d[(i - 2) * w + j - 2] + 1);
        }
    return d.back();
}

}  // namespace

std::string join(std::string_view parent, std::string_view key) {
    if (parent.empty()) return std::string(key);
    std::string p(parent);
    p += '.';
    p += key;
    return p;
}

std::string index(std::string_view parent, size_t i) {
    return std::string(parent) + "[" + std::to_string(i) + "]";
}

std::string render(const Json& v) {
    constexpr size_t kMaxEntries = 8;
    if (v.is_object()) return v.empty() ? "{}" : "{...}";
    if (!v.is_array()) return scalar(v);
    if (v.size() > kMaxEntries) return "[... " + std::to_string(v.size()) + " entries]";
    std::string s = "[";
    for (size_t i = 0; i < v.size(); ++i) {
        if (i) s += ", ";
        const Json& e = v[i];
        s += e.is_array() ? "[...]" : e.is_object() ? "{...}" : scalar(e);
    }
    return s + "]";
}

std::string did_you_mean(std::string_view word, const std::vector<std::string_view>& candidates) {
    // Nothing is close to a long word, and measuring would cost len(word) * len(candidate).
    constexpr size_t kMaxWord = 64;
    if (word.size() > kMaxWord) return "";
    const std::string w = lower(word);
    std::string_view best;
    size_t best_distance = SIZE_MAX;
    for (std::string_view c : candidates) {
        const std::string lc = lower(c);
        size_t d = edit_distance(w, lc);
        // A typo costs about one edit per three letters; a truncated key ("kernel") is a prefix.
        bool close = d <= std::max<size_t>(1, lc.size() / 3) ||
                     (w.size() >= 3 && lc.compare(0, w.size(), w) == 0);
        if (close && d < best_distance) best = c, best_distance = d;
    }
    if (best.empty()) return "";
    return " (did you mean \"" + std::string(best) + "\"?)";
}

void Where::fail(std::string_view path, const std::string& what) const {
    throw Error(ErrorKind::invalid_config, rules::message(source, path, what));
}

void Where::fail_value(std::string_view path, const Json& value, const std::string& rule) const {
    throw Error(ErrorKind::invalid_config, rules::value_message(source, path, render(value), rule));
}

Json parse_json(std::string_view text, std::string_view source) {
    const Where where{source};
    std::vector<Frame> frames;
    auto advance = [&] {
        if (!frames.empty() && frames.back().array) ++frames.back().next;
    };
    Json::parser_callback_t check = [&](int depth, nlohmann::json::parse_event_t event,
                                        Json& parsed) {
        using E = nlohmann::json::parse_event_t;
        switch (event) {
            case E::object_start:
            case E::array_start:
                if (depth >= kMaxDepth)
                    where.fail(path_of(frames, frames.size()),
                               "nested deeper than " + std::to_string(kMaxDepth) + " levels");
                frames.push_back(Frame{event == E::array_start, 0, {}, {}});
                break;
            case E::key: {
                Frame& f = frames.back();
                f.key = parsed.get<std::string>();
                if (!f.seen.insert(f.key).second)
                    where.fail(path_of(frames, frames.size() - 1),
                               "duplicate key " + render(parsed));
                break;
            }
            case E::object_end:
            case E::array_end:
                frames.pop_back();
                advance();
                break;
            case E::value:
                advance();
                break;
        }
        return true;
    };
    try {
        return Json::parse(text.begin(), text.end(), check);
    } catch (const nlohmann::json::exception& e) {
        // nlohmann's text is "[json.exception.parse_error.101] parse error at line 3, column 5:
        // ..."; keep the part after the bracketed id.
        std::string what = e.what();
        if (size_t end = what.find("] "); what.rfind("[json.exception.", 0) == 0 &&
                                          end != std::string::npos)
            what.erase(0, end + 2);
        throw Error(ErrorKind::invalid_config, std::string(source) + ": invalid JSON: " + what);
    }
}

}  // namespace tconv::config_detail
