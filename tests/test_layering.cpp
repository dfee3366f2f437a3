// SPDX-License-Identifier: Apache-2.0
// The include graph points one way: cli -> bench -> (public API, cli/args.hpp, cli/picture.hpp), and the library
// (runtime/, generator/) includes neither. The CLI and the bench see only the installed headers.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

const fs::path kRoot = TCONV_SOURCE_DIR;

// The project's headers a file includes: `#include "..."` and `#include <tconv/...>`.
std::vector<std::string> quoted_includes(const fs::path& file) {
    static const std::regex include(R"re(^\s*#\s*include\s*(?:"([^"]+)"|<(tconv/[^>]+)>))re");
    std::ifstream in(file);
    std::vector<std::string> out;
    std::smatch m;
    for (std::string line; std::getline(in, line);)
        if (std::regex_search(line, m, include)) out.push_back(m[1].matched ? m[1] : m[2]);
    return out;
}

std::vector<fs::path> sources_under(const std::string& dir) {
    std::vector<fs::path> out;
    for (const auto& e : fs::recursive_directory_iterator(kRoot / dir)) {
        const std::string ext = e.path().extension().string();
        if (ext == ".cpp" || ext == ".hpp" || ext == ".h") out.push_back(e.path());
    }
    return out;
}

// Resolves an include as the compiler would: next to the file, then along `search`.
fs::path resolve(const fs::path& file, const std::string& name,
                 const std::vector<std::string>& search) {
    if (fs::exists(file.parent_path() / name)) return fs::canonical(file.parent_path() / name);
    for (const std::string& dir : search)
        if (fs::exists(kRoot / dir / name)) return fs::canonical(kRoot / dir / name);
    return {};
}

// The headers `cmake --install` ships (cmake/install.cmake).
std::set<fs::path> public_headers() {
    std::set<fs::path> out{fs::canonical(kRoot / "generator/include/tconv/problem.hpp")};
    for (const auto& e : fs::directory_iterator(kRoot / "runtime/include/tconv"))
        out.insert(fs::canonical(e.path()));
    // tconv_onnx's header (onnx/include): part of the API the CLI and the bench use.
    out.insert(fs::canonical(kRoot / "onnx/include/tconv/onnx.hpp"));
    return out;
}

bool under(const fs::path& p, const std::string& dir) {
    const std::string d = fs::canonical(kRoot / dir).string() + "/";
    return p.string().rfind(d, 0) == 0;
}

}  // namespace

TEST_CASE("layering: the library includes neither the CLI nor the bench") {
    const std::vector<std::string> search{"runtime/include", "generator/include", "runtime/src",
                                          "generator/src"};
    for (const std::string dir : {"runtime", "generator"})
        for (const fs::path& f : sources_under(dir))
            for (const std::string& inc : quoted_includes(f)) {
                INFO(f.string() << " includes \"" << inc << "\"");
                const fs::path to = resolve(f, inc, search);
                CHECK((under(to, "runtime") || under(to, "generator")));
            }
}

TEST_CASE("layering: the CLI and the bench use the public API, the CLI calls into the bench") {
    const std::set<fs::path> api = public_headers();
    const fs::path bench_entry = fs::canonical(kRoot / "bench/bench.hpp");
    const fs::path cli_args = fs::canonical(kRoot / "cli/args.hpp");
    const fs::path cli_picture = fs::canonical(kRoot / "cli/picture.hpp");  // --plot's PNG
    // The include directories their CMake targets get.
    const std::vector<std::string> search{"cli", "bench", "runtime/include", "generator/include",
                                          "onnx/include"};
    for (const fs::path& f : sources_under("cli"))
        for (const std::string& inc : quoted_includes(f)) {
            INFO(f.string() << " includes \"" << inc << "\"");
            const fs::path to = resolve(f, inc, search);
            CHECK((under(to, "cli") || api.count(to) || to == bench_entry));
        }
    for (const fs::path& f : sources_under("bench"))
        for (const std::string& inc : quoted_includes(f)) {
            INFO(f.string() << " includes \"" << inc << "\"");
            const fs::path to = resolve(f, inc, search);
            CHECK((under(to, "bench") || api.count(to) || to == cli_args || to == cli_picture));
        }
}

TEST_CASE("layering: the ONNX reader stands on the public API; its ONNX headers stay inside") {
    const std::set<fs::path> api = public_headers();
    const std::vector<std::string> search{"onnx/include", "onnx/src", "runtime/include",
                                          "generator/include"};
    for (const fs::path& f : sources_under("onnx"))
        for (const std::string& inc : quoted_includes(f)) {
            INFO(f.string() << " includes \"" << inc << "\"");
            const fs::path to = resolve(f, inc, search);
            CHECK((under(to, "onnx/src") || api.count(to)));
        }
    // The public header includes no ONNX or protobuf header.
    std::ifstream in(kRoot / "onnx/include/tconv/onnx.hpp");
    for (std::string line; std::getline(in, line);) {
        INFO(line);
        CHECK(line.find("#include <onnx/") == std::string::npos);
        CHECK(line.find("google/protobuf") == std::string::npos);
    }
}
