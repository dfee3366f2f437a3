#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <system_error>

#include "bench_args.hpp"
#include "tconv/error.hpp"

namespace tconv::bench {
namespace {

Error usage(const std::string& message) {
    return Error(ErrorKind::invalid_argument,
                 "bench: " + message + " (see `tconv bench --help`)");
}

int parse_threads(const std::string& opt, const std::string& v) {
    errno = 0;
    char* end = nullptr;
    const long n = std::strtol(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0' || errno != 0 || n < 1 || n > 4096)
        throw usage(opt + " expects a whole number from 1 to 4096, got '" + v + "'");
    return int(n);
}

double parse_seconds(const std::string& opt, const std::string& v) {
    errno = 0;
    char* end = nullptr;
    const double s = std::strtod(v.c_str(), &end);
    if (v.empty() || *end != '\0' || errno != 0 || !std::isfinite(s) || s < 0 || s > 3600)
        throw usage(opt + " expects seconds from 0 to 3600, got '" + v + "'");
    return s;
}

template <class Enum>
Enum parse_enum(const std::string& opt, const std::string& v, std::initializer_list<Enum> all) {
    std::string names;
    for (Enum e : all) {
        if (to_string(e) == v) return e;
        names += (names.empty() ? "" : ", ") + std::string(to_string(e));
    }
    throw usage(opt + " expects one of " + names + ", got '" + v + "'");
}

}  // namespace

BenchArgs parse_bench_args(const std::vector<std::string>& args) {
    BenchArgs out;
    for (size_t i = 0; i < args.size(); ++i) {
        std::string opt = args[i];
        std::optional<std::string> inline_value;
        if (opt.rfind("--", 0) == 0) {
            if (const auto eq = opt.find('='); eq != std::string::npos) {
                inline_value = opt.substr(eq + 1);
                opt.resize(eq);
            }
        }
        // Flags take no value; `--flag=x` is refused rather than silently ignored.
        auto flag = [&] {
            if (inline_value) throw usage(opt + " takes no value");
        };
        auto value = [&]() -> std::string {
            if (inline_value) return *inline_value;
            if (i + 1 >= args.size()) throw usage(opt + " needs a value");
            return args[++i];
        };

        if (opt == "--help" || opt == "-h") {
            flag();
            out.help = true;
        } else if (opt == "--markdown") {
            flag();
            out.markdown = true;
        } else if (opt == "--no-peers") {
            flag();
            out.peers = false;
        } else if (opt == "--threads") {
            out.threads = parse_threads(opt, value());
        } else if (opt == "--json") {
            out.json_path = value();
            if (out.json_path.empty()) throw usage("--json needs a file name");
        } else if (opt == "--layout") {
            out.layout = parse_enum(opt, value(), {Layout::channels_first, Layout::channels_last});
        } else if (opt == "--isa") {
            out.isa = parse_enum(opt, value(), {Isa::avx512, Isa::avx2, Isa::scalar});
        } else if (opt == "--min-time") {
            out.min_time = parse_seconds(opt, value());
        } else if (opt == "--layer") {
            out.layers.push_back(value());
            if (out.layers.back().empty()) throw usage("--layer needs a layer name");
        } else if (opt.size() > 1 && opt[0] == '-') {
            throw usage("unknown option '" + args[i] + "'");
        } else {
            out.inputs.push_back(opt);
        }
    }
    if (out.inputs.empty() && !out.help)
        throw usage("no config given: name one or more config files or directories");
    return out;
}

std::vector<std::string> expand_inputs(const std::vector<std::string>& inputs) {
    namespace fs = std::filesystem;
    std::vector<std::string> files;
    for (const std::string& in : inputs) {
        std::error_code ec;
        const fs::file_status st = fs::status(in, ec);
        if (ec || !fs::exists(st))
            throw Error(ErrorKind::io, "bench: '" + in + "' does not exist");
        if (!fs::is_directory(st)) {
            files.push_back(in);
            continue;
        }
        std::vector<std::string> found;
        for (fs::directory_iterator it(in, ec), end; !ec && it != end; it.increment(ec)) {
            if (it->path().extension() == ".json" && !it->is_directory(ec))
                found.push_back(it->path().string());
        }
        if (ec) throw Error(ErrorKind::io, "bench: cannot list '" + in + "': " + ec.message());
        if (found.empty())
            throw Error(ErrorKind::invalid_argument,
                        "bench: directory '" + in + "' holds no .json config");
        std::sort(found.begin(), found.end());
        files.insert(files.end(), found.begin(), found.end());
    }
    return files;
}

}  // namespace tconv::bench
