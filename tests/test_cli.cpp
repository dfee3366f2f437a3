// SPDX-License-Identifier: Apache-2.0
// The `tconv` command as a user runs it: exit codes, messages, and output files that appear
// whole or not at all.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "helpers.hpp"

using namespace tconv;
using tconv::test::run_cli;
using tconv::test::TempDir;

namespace {

// The textbook layer: 2x2 input, 3x3 kernel, stride 2, padding 1, no bias.
const char* kTextbook = R"({"in_channels": 1, "out_channels": 1, "input_size": [2, 2],
                            "kernel_size": 3, "stride": 2, "padding": 1, "bias": false})";

struct Fixture {
    TempDir dir;
    std::string config, x, w;
    Fixture() {
        config = dir.write("layer.json", kTextbook);
        x = dir.file("x.npy");
        w = dir.file("w.npy");
        const float xs[] = {1, 2, 3, 4}, ws[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
        write_npy(x, {1, 1, 2, 2}, xs);
        write_npy(w, {1, 1, 3, 3}, ws);
    }
};

std::string slurp(const std::string& f) {
    std::ifstream in(f, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace

TEST_CASE("cli: run computes the textbook example and writes the output") {
    Fixture f;
    for (std::string isa : {"avx512", "avx2", "scalar"}) {
        if (isa != "scalar" && Isa(isa == "avx512" ? 2 : 1) > cpu_info().best_isa()) continue;
        INFO("isa " << isa);
        std::string y = f.dir.file("y_" + isa + ".npy");
        auto r = run_cli({"run", f.config, "--input", f.x, "--weights", f.w, "--output", y,
                          "--isa", isa, "--threads", "2"});
        CHECK_MESSAGE(r.exit_code == 0, r.err);
        Tensor t = read_npy(y);
        CHECK(t.shape == std::vector<int64_t>{1, 1, 3, 3});
        CHECK(t.data == std::vector<float>{5, 14, 10, 14, 36, 24, 15, 34, 20});
    }
}

TEST_CASE("cli: a failed run leaves no new file and an existing output untouched") {
    Fixture f;
    std::string y = f.dir.file("y.npy");
    // Weights of the wrong shape: exit 2, a message naming the file and both shapes, no file.
    std::string bad_w = f.dir.file("bad_w.npy");
    const float ws[8] = {};
    write_npy(bad_w, {1, 1, 2, 4}, ws);
    auto r = run_cli({"run", f.config, "--input", f.x, "--weights", bad_w, "--output", y});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("tconv: error: ") == 0);
    CHECK(r.err.find("bad_w.npy") != std::string::npos);
    CHECK(r.err.find("[1, 1, 3, 3]") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(y));

    std::ofstream(y) << "previous";
    r = run_cli({"run", f.config, "--input", f.dir.file("missing.npy"), "--weights", f.w,
                 "--output", y});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("missing.npy") != std::string::npos);
    CHECK(slurp(y) == "previous");
    // Only the files the test made are in the directory: no temporary left behind.
    int files = 0;
    for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(f.dir.path)) ++files;
    CHECK(files == 5);  // layer.json x.npy w.npy bad_w.npy y.npy
}

TEST_CASE("cli: bias is required exactly when the layer has one") {
    Fixture f;
    std::string with_bias = f.dir.write("bias.json", R"({"in_channels": 1, "out_channels": 1,
        "input_size": [2, 2], "kernel_size": 3, "stride": 2, "padding": 1})");
    auto r = run_cli({"run", with_bias, "--input", f.x, "--weights", f.w, "--output", f.dir.file("y.npy")});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("--bias") != std::string::npos);
    CHECK(r.err.find("[1]") != std::string::npos);

    std::string b = f.dir.file("b.npy");
    const float bs[] = {0.5f};
    write_npy(b, {1}, bs);
    r = run_cli({"run", f.config, "--input", f.x, "--weights", f.w, "--bias", b, "--output",
                 f.dir.file("y.npy")});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("\"bias\": false") != std::string::npos);

    r = run_cli({"run", with_bias, "--input", f.x, "--weights", f.w, "--bias", b, "--output",
                 f.dir.file("y.npy")});
    CHECK_MESSAGE(r.exit_code == 0, r.err);
    CHECK(read_npy(f.dir.file("y.npy")).data[4] == 36.5f);
}

TEST_CASE("cli: usage errors exit 2 with a message and a hint") {
    Fixture f;
    struct Case {
        std::vector<std::string> args;
        std::string message;
    };
    const std::vector<Case> cases = {
        {{}, "usage: tconv"},
        {{"frobnicate"}, "unknown command 'frobnicate'"},
        {{"rnu"}, "did you mean 'run'?"},
        {{"run", f.config, "--inptu", f.x}, "unknown option --inptu (did you mean --input?)"},
        {{"run", f.config, "--weights", f.w, "--output", "y.npy"}, "missing required option --input"},
        {{"run", "--input", f.x}, "expected exactly one CONFIG"},
        {{"run", f.config, "--input"}, "option --input needs a value"},
        {{"run", f.config, "--input", f.x, "--input", f.x}, "option --input given twice"},
        {{"run", f.config, "--input", f.x, "--weights", f.w, "--output", "y.npy", "--threads", "0"},
         "--threads 0: must be an integer from 1 to 1024"},
        {{"run", f.config, "--input", f.x, "--weights", f.w, "--output", "y.npy", "--isa", "sse"},
         "--isa sse: must be avx512_amx, avx512_bf16, avx512, avx2 or scalar"},
        {{"run", f.config, "--input", f.x, "--weights", f.w, "--output", "y.npy", "--layer", "nope"},
         "no layer named \"nope\""},
        {{"verify"}, "expected at least one CONFIG"},
        {{"compile", f.dir.file("none.json")}, "none.json: no such file or directory"},
        {{"info", "--isa", "avx1024"}, "--isa avx1024"},
    };
    for (const auto& c : cases) {
        std::string joined;
        for (const auto& a : c.args) joined += a + " ";
        INFO("tconv " << joined);
        auto r = run_cli(c.args);
        CHECK(r.exit_code == 2);
        CHECK_MESSAGE(r.err.find(c.message) != std::string::npos, r.err);
    }
}

TEST_CASE("cli: every subcommand has --help") {
    for (std::string cmd : {"info", "run", "verify", "compile", "bench"}) {
        INFO(cmd);
        auto r = run_cli({cmd, "--help"});
        CHECK(r.exit_code == 0);
        CHECK(r.out.find("usage: tconv " + cmd) != std::string::npos);
    }
    auto r = run_cli({"--help"});
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("Commands:") != std::string::npos);
}

TEST_CASE("cli: info names the CPU and its features") {
    auto r = run_cli({"info"});
    CHECK(r.exit_code == 0);
    for (const char* key : {"cpu:", "avx2:", "fma:", "avx512f:", "avx512bw:", "avx512vl:",
                            "avx512_bf16:", "amx:", "l2 per core:", "threads:", "isa in use:"})
        CHECK_MESSAGE(r.out.find(key) != std::string::npos, key);
    // The L2 line names the size kernels are planned for, between 256 KiB and 1 MiB.
    const std::string planned =
        "planned for " + std::to_string(cpu_info().plan_l2_bytes >> 10) + " KiB";
    CHECK_MESSAGE(r.out.find(cpu_info().l2_bytes > 0 ? planned : "planned for 1 MiB") !=
                      std::string::npos,
                  r.out);
}

TEST_CASE("cli: verify passes on valid layers and compile describes them") {
    Fixture f;
    std::string cfg = f.dir.write("two.json", R"({"name": "two", "layers": [
        {"name": "a", "in_channels": 3, "out_channels": 5, "input_size": [5, 4], "kernel_size": 3,
         "stride": 2, "padding": 1, "output_padding": 1, "activation": "relu"},
        {"name": "b", "in_channels": 4, "out_channels": 2, "input_size": [6], "kernel_size": 4,
         "stride": 3, "groups": 2, "layout": "channels_last"}]})");
    auto r = run_cli({"verify", cfg});
    CHECK_MESSAGE(r.exit_code == 0, r.out << r.err);
    CHECK(r.out.find(" 0 mismatched") != std::string::npos);
    r = run_cli({"compile", cfg});
    CHECK_MESSAGE(r.exit_code == 0, r.err);
    CHECK(r.out.find("implementation:") != std::string::npos);
    CHECK(r.out.find("a: [1, 3, 5, 4] -> [1, 5, 10, 8]") != std::string::npos);
    CHECK(r.out.find("\ncompiled 2 layers: total compile time ") != std::string::npos);
    CHECK(r.out.find(" us), median ") != std::string::npos);
    CHECK(r.out.find(", weight packing ") != std::string::npos);
    r = run_cli({"compile", cfg, "--layer", "b"});
    CHECK(r.out.find("\ncompiled 1 layer: total compile time ") != std::string::npos);
}

TEST_CASE("cli: compile --dump writes each kernel's code, named as the kernel") {
    if (cpu_info().best_isa() == Isa::scalar) return;  // no JIT on this CPU: nothing to dump
    Fixture f;
    std::string cfg = f.dir.write("big.json", R"({"in_channels": 32, "out_channels": 32,
        "input_size": [6, 6], "kernel_size": 4, "stride": 2, "padding": 1})");
    std::string dump = f.dir.file("dump");
    auto r = run_cli({"compile", cfg, "--dump", dump});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    int files = 0;
    for (const auto& e : std::filesystem::directory_iterator(dump)) {
        ++files;
        const std::string name = e.path().stem().string();
        CHECK(r.out.find("kernel: " + name) != std::string::npos);
        CHECK(e.path().extension() == ".bin");
        CHECK(std::filesystem::file_size(e.path()) > 64);
    }
    CHECK(files >= 1);
    // Lengths 1000 and 1001 of a 1D layer share their kernels: one file per distinct kernel,
    // every listed name dumped, the count in the summary.
    std::string lengths = f.dir.write("lengths.json", R"({"layers": [
        {"name": "l1000", "in_channels": 64, "out_channels": 32, "input_size": [1000],
         "kernel_size": 16, "stride": 8, "padding": 4},
        {"name": "l1001", "in_channels": 64, "out_channels": 32, "input_size": [1001],
         "kernel_size": 16, "stride": 8, "padding": 4}]})");
    std::string dump2 = f.dir.file("dump2");
    r = run_cli({"compile", lengths, "--dump", dump2});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    std::set<std::string> listed;
    for (size_t at = r.out.find("kernel: "); at != std::string::npos;
         at = r.out.find("kernel: ", at + 1))
        listed.insert(r.out.substr(at + 8, r.out.find('\n', at) - at - 8));
    std::set<std::string> on_disk;
    for (const auto& e : std::filesystem::directory_iterator(dump2))
        on_disk.insert(e.path().stem().string());
    CHECK(listed == on_disk);
    CHECK(r.out.find("dumped " + std::to_string(on_disk.size()) + " distinct kernel") !=
          std::string::npos);
    // A path that cannot be a directory: exit 2, nothing half-written.
    std::string blocker = f.dir.write("file", "x");
    r = run_cli({"compile", cfg, "--dump", blocker + "/sub"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("--dump") != std::string::npos);
}

TEST_CASE("cli: compile and verify --layout run every layer in the layout asked for") {
    Fixture f;
    std::string cfg = f.dir.write("g.json", R"({"name": "g", "in_channels": 24, "out_channels": 24,
        "groups": 8, "input_size": [5, 7], "kernel_size": 3, "stride": 2, "padding": 1})");
    auto r = run_cli({"compile", cfg, "--layout", "channels_last"});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    CHECK(r.out.find("g: [1, 5, 7, 24] -> [1, 9, 13, 24]") != std::string::npos);
    r = run_cli({"compile", cfg});
    CHECK(r.out.find("g: [1, 24, 5, 7] -> [1, 24, 9, 13]") != std::string::npos);
    r = run_cli({"verify", cfg, "--layout", "channels_last", "--threads", "2"});
    CHECK_MESSAGE(r.exit_code == 0, r.err);
    CHECK(r.out.find(" 0 mismatched") != std::string::npos);
    r = run_cli({"verify", cfg, "--layout", "nhwc"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("--layout nhwc: must be one of channels_first, channels_last") !=
          std::string::npos);
}
