// SPDX-License-Identifier: Apache-2.0
// Every source file names its licence (Apache-2.0, LICENSE at the top) in an SPDX line within its
// first three lines, so a file copied out of the tree still says how it may be used.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace fs = std::filesystem;

namespace {

const fs::path kRoot = TCONV_SOURCE_DIR;

bool is_source(const fs::path& p) {
    const std::string ext = p.extension().string(), name = p.filename().string();
    return ext == ".cpp" || ext == ".hpp" || ext == ".h" || ext == ".py" || ext == ".sh" ||
           ext == ".cmake" || ext == ".map" || name == "CMakeLists.txt" || name == "Makefile" ||
           name.ends_with(".cmake.in") || name.ends_with(".pc.in");
}

bool has_spdx(const fs::path& p) {
    std::ifstream in(p);
    std::string line;
    for (int i = 0; i < 3 && std::getline(in, line); ++i)
        if (line.find("SPDX-License-Identifier: Apache-2.0") != std::string::npos) return true;
    return false;
}

}  // namespace

TEST_CASE("licence: LICENSE is Apache-2.0 and every source file carries its SPDX line") {
    std::ifstream licence(kRoot / "LICENSE");
    std::string first;
    std::getline(licence, first);
    while (first.find_first_not_of(' ') == std::string::npos && std::getline(licence, first)) {
    }
    CHECK(first.find("Apache License") != std::string::npos);
    int checked = 0;
    for (const char* dir : {"generator", "runtime", "cli", "bench", "tests", "fuzz", "examples",
                            "scripts", "cmake", ".ci", "python"}) {
        if (!fs::exists(kRoot / dir)) continue;
        for (const auto& e : fs::recursive_directory_iterator(kRoot / dir)) {
            if (!e.is_regular_file()) continue;
            const bool ci_script = e.path().parent_path().filename() == ".ci";
            if (!is_source(e.path()) && !ci_script) continue;
            CAPTURE(e.path().string());
            CHECK(has_spdx(e.path()));
            ++checked;
        }
    }
    for (const char* top : {"CMakeLists.txt", "Makefile"}) {
        CAPTURE(top);
        CHECK(has_spdx(kRoot / top));
    }
    CHECK(checked > 100);
}
