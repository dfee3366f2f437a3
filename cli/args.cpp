// SPDX-License-Identifier: Apache-2.0
#include "args.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <sstream>

#include "tconv/error.hpp"
#include "tconv/tconv.hpp"

namespace tconv::cli {

static Error usage(const std::string& command, const std::string& what) {
    return Error(ErrorKind::invalid_argument,
                 command + ": " + what + " (see 'tconv " + command + " --help')");
}

std::optional<std::string> Args::value(const std::string& flag) const {
    auto it = values.find(flag);
    if (it == values.end()) return std::nullopt;
    return it->second;
}

std::string Args::required(const std::string& flag) const {
    auto v = value(flag);
    if (!v) throw usage(command, "missing required option " + flag);
    return *v;
}

std::vector<std::string> Args::all(const std::string& flag) const {
    auto it = lists.find(flag);
    return it == lists.end() ? std::vector<std::string>{} : it->second;
}

std::optional<std::string> Args::choice(const std::string& flag,
                                        const std::vector<std::string>& allowed) const {
    auto v = value(flag);
    if (!v || std::find(allowed.begin(), allowed.end(), *v) != allowed.end()) return v;
    std::string names;
    for (const auto& a : allowed) names += (names.empty() ? "" : ", ") + a;
    throw usage(command, flag + " " + *v + ": must be one of " + names);
}

std::optional<int> Args::threads() const {
    auto v = value("--threads");
    if (!v) return std::nullopt;
    int n = 0;
    auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
    if (ec != std::errc() || end != v->data() + v->size() || n < 1 || n > 1024)
        throw usage(command, "--threads " + *v + ": must be an integer from 1 to 1024");
    return n;
}

std::optional<Isa> Args::isa() const {
    auto v = value("--isa");
    if (!v) return std::nullopt;
    if (const auto isa = isa_from_string(*v)) return *isa;
    throw usage(command,
                "--isa " + *v + ": must be avx512_amx, avx512_bf16, avx512, avx2 or scalar");
}

std::optional<Layout> Args::layout() const {
    auto l = choice("--layout", {"channels_first", "channels_last"});
    if (!l) return std::nullopt;
    return *l == "channels_last" ? Layout::channels_last : Layout::channels_first;
}

std::vector<std::pair<std::string, std::vector<int64_t>>> Args::input_shapes() const {
    std::vector<std::pair<std::string, std::vector<int64_t>>> out;
    for (const std::string& v : all("--input-shape")) {
        const size_t eq = v.rfind('=');
        auto bad = [&](const std::string& why) {
            return Error(ErrorKind::invalid_argument, command + ": --input-shape " + v + ": " +
                                                          why + " (expected NAME=1x100x1x1)");
        };
        if (eq == std::string::npos || eq == 0) throw bad("no NAME=");
        std::vector<int64_t> dims;
        const char* s = v.c_str() + eq + 1;
        while (true) {
            char* end = nullptr;
            errno = 0;
            const long long d = std::strtoll(s, &end, 10);
            if (end == s || errno || d < 1 || d > (1LL << 30) || *end == '+' || *s == '+' ||
                *s == '-' || *s == ' ')
                throw bad("sizes must be integers from 1 to 2^30 separated by 'x'");
            dims.push_back(d);
            if (*end == '\0') break;
            if (*end != 'x') throw bad("sizes must be separated by 'x'");
            s = end + 1;
        }
        out.emplace_back(v.substr(0, eq), dims);
    }
    return out;
}

std::optional<DType> Args::dtype() const {
    auto d = choice("--dtype", {"f32", "bf16"});
    if (!d) return std::nullopt;
    return *d == "bf16" ? DType::bf16 : DType::f32;
}

std::optional<double> Args::number(const std::string& flag, double lo, double hi) const {
    auto v = value(flag);
    if (!v) return std::nullopt;
    double d = 0;
    auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), d);
    if (ec != std::errc() || end != v->data() + v->size() || !(d >= lo && d <= hi)) {
        std::ostringstream range;
        range << lo << " to " << hi;
        throw usage(command, flag + " " + *v + ": must be a number from " + range.str());
    }
    return d;
}

std::string closest_match(const std::string& word, const std::vector<std::string>& candidates) {
    auto distance = [](const std::string& a, const std::string& b) {
        std::vector<size_t> row(b.size() + 1);
        for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
        for (size_t i = 1; i <= a.size(); ++i) {
            size_t diag = row[0];
            row[0] = i;
            for (size_t j = 1; j <= b.size(); ++j) {
                size_t next = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] != b[j - 1])});
                diag = row[j];
                row[j] = next;
            }
        }
        return row[b.size()];
    };
    std::string best;
    size_t best_d = std::max<size_t>(2, word.size() / 3) + 1;
    for (const auto& c : candidates) {
        size_t d = distance(word, c);
        if (d < best_d) best_d = d, best = c;
    }
    return best;
}

Args parse_args(const std::string& command, const std::vector<std::string>& argv,
                const std::vector<Flag>& flags) {
    Args a;
    a.command = command;
    std::vector<std::string> names;
    for (const auto& f : flags) names.push_back(f.name);
    bool only_positional = false;
    for (size_t i = 0; i < argv.size(); ++i) {
        const std::string& arg = argv[i];
        if (only_positional || arg.size() < 2 || arg[0] != '-' ) {
            a.positional.push_back(arg);
            continue;
        }
        if (arg == "--") {
            only_positional = true;
            continue;
        }
        if (arg == "--help" || arg == "-h") {
            a.help = true;
            continue;
        }
        std::string name = arg, value;
        bool inline_value = false;
        if (auto eq = arg.find('='); eq != std::string::npos) {
            name = arg.substr(0, eq);
            value = arg.substr(eq + 1);
            inline_value = true;
        }
        auto f = std::find_if(flags.begin(), flags.end(), [&](const Flag& x) { return x.name == name; });
        if (f == flags.end()) {
            std::string hint = closest_match(name, names);
            throw usage(command, "unknown option " + name +
                                     (hint.empty() ? "" : " (did you mean " + hint + "?)"));
        }
        if (a.has(name) && !f->repeatable)
            throw usage(command, "option " + name + " given twice");
        if (!f->takes_value) {
            if (inline_value) throw usage(command, "option " + name + " takes no value");
            a.switches[name] = true;
            continue;
        }
        if (!inline_value) {
            if (i + 1 >= argv.size()) throw usage(command, "option " + name + " needs a value");
            value = argv[++i];
        }
        if (value.empty()) throw usage(command, "option " + name + " needs a non-empty value");
        if (f->repeatable) a.lists[name].push_back(value);
        else a.values[name] = value;
    }
    return a;
}

std::string flags_help(const std::vector<Flag>& flags) {
    std::string s = "Options:\n";
    for (const auto& f : flags) {
        std::string left = "  " + f.name;
        std::string help = f.help;
        if (f.takes_value) {
            auto sp = help.find(' ');
            left += " " + help.substr(0, sp);
            help = sp == std::string::npos ? "" : help.substr(sp + 1);
        }
        if (left.size() < 26) left.resize(26, ' ');
        else left += "  ";
        s += left + help + "\n";
    }
    s += "  --help                  this text\n";
    return s;
}

void override_dtype(Problem& p, DType dtype) {
    if (p.kind == LayerKind::transposed) p.dtype = dtype;
}

}  // namespace tconv::cli
