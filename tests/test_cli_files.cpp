// SPDX-License-Identifier: Apache-2.0
// `tconv run` and the files it replaces: never an input, never a file whose mode forbids
// writing, the mode kept, links written through, no partial file after SIGINT/SIGTERM/SIGHUP,
// and one-line errors whatever the names hold.
#ifdef TCONV_CLI

#include <doctest/doctest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "helpers.hpp"

extern char** environ;

using namespace tconv;
using tconv::test::run_cli;
using tconv::test::TempDir;
namespace fs = std::filesystem;

namespace {

struct Files {
    TempDir dir;
    std::string config, x, w;
    Files() {
        config = dir.write("layer.json", R"({"in_channels": 1, "out_channels": 1,
            "input_size": [2, 2], "kernel_size": 3, "stride": 2, "padding": 1, "bias": false})");
        x = dir.file("x.npy");
        w = dir.file("w.npy");
        const float xs[] = {1, 2, 3, 4}, ws[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
        write_npy(x, {1, 1, 2, 2}, xs);
        write_npy(w, {1, 1, 3, 3}, ws);
    }
    test::CliResult run(const std::string& output) const {
        return run_cli({"run", config, "--input", x, "--weights", w, "--output", output});
    }
};

std::string slurp(const std::string& f) {
    std::ifstream in(f, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

bool has(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

int temporaries(const fs::path& dir) {
    int n = 0;
    for (auto& e : fs::directory_iterator(dir)) n += has(e.path().filename().string(), ".tmp.");
    return n;
}

}  // namespace

TEST_CASE("cli files: an input given as the output is refused, also through a link") {
    Files f;
    const std::string before_x = slurp(f.x), before_w = slurp(f.w), before_c = slurp(f.config);
    for (const std::string& out : {f.x, f.w, f.config}) {
        const auto r = f.run(out);
        CHECK(r.exit_code == 2);
        CHECK(has(r.err, "is the same file as"));
        CHECK(has(r.err, "refusing to overwrite an input"));
    }
    const std::string link = f.dir.file("link.npy"), hard = f.dir.file("hard.npy");
    fs::create_symlink(f.w, link);
    fs::create_hard_link(f.x, hard);
    CHECK(f.run(link).exit_code == 2);
    CHECK(f.run(hard).exit_code == 2);
    CHECK(slurp(f.x) == before_x);
    CHECK(slurp(f.w) == before_w);
    CHECK(slurp(f.config) == before_c);
}

TEST_CASE("cli files: a read-only output is refused; a writable one keeps its mode") {
    Files f;
    const std::string y = f.dir.file("y.npy");
    std::ofstream(y) << "previous";
    fs::permissions(y, fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
    auto r = f.run(y);
    CHECK(r.exit_code == 2);
    CHECK(has(r.err, "read-only (mode 0444)"));
    CHECK(slurp(y) == "previous");
    CHECK(temporaries(f.dir.path) == 0);

    fs::permissions(y, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
    r = f.run(y);
    CHECK_MESSAGE(r.exit_code == 0, r.err);
    CHECK(read_npy(y).data == std::vector<float>{5, 14, 10, 14, 36, 24, 15, 34, 20});
    struct stat st {};
    REQUIRE(::stat(y.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0640);
}

TEST_CASE("cli files: a link is written through; devices and directories are refused") {
    Files f;
    const std::string target = f.dir.file("target.npy"), link = f.dir.file("out.npy");
    std::ofstream(target) << "previous";
    fs::create_symlink("target.npy", link);  // relative, as users make them
    const auto r = f.run(link);
    CHECK_MESSAGE(r.exit_code == 0, r.err);
    CHECK(fs::is_symlink(link));
    CHECK(read_npy(target).data.size() == 9);
    const auto dev = f.run("/dev/null");
    CHECK(dev.exit_code == 2);
    CHECK(has(dev.err, "not a regular file"));
    CHECK(f.run(f.dir.path.string() + "/").exit_code == 2);
}

TEST_CASE("cli files: errors stay one line whatever the names hold") {
    Files f;
    const auto r = run_cli({"run", f.dir.file("a\nb\x1b[31m.json"), "--input", f.x, "--weights",
                            f.w, "--output", f.dir.file("y.npy")});
    CHECK(r.exit_code == 2);
    CHECK(has(r.err, "a\\nb\\x1b[31m.json"));
    CHECK(r.err.find('\n') == r.err.size() - 1);
}

TEST_CASE("cli files: an interrupted write leaves no partial file") {
    // A layer with a large output (128 MB from a small input), so writing it takes a while.
    TempDir dir;
    const std::string config = dir.write("big.json", R"({"in_channels": 1, "out_channels": 32,
        "input_size": [1024, 1024], "kernel_size": 1, "bias": false})");
    const std::string x = dir.file("x.npy"), w = dir.file("w.npy"), y = dir.file("y.npy");
    write_npy(x, {1, 1, 1024, 1024}, std::vector<float>(1 << 20, 1.0f).data());
    write_npy(w, {1, 32, 1, 1}, std::vector<float>(32, 2.0f).data());
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
        CAPTURE(sig);
        const std::string bin = TCONV_CLI;
        std::vector<std::string> args = {bin, "run", config, "--input", x, "--weights", w,
                                         "--output", y, "--threads", "1"};
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        pid_t pid = 0;
        REQUIRE(posix_spawn(&pid, bin.c_str(), nullptr, nullptr, argv.data(), environ) == 0);
        // Wait for the temporary file to appear, then interrupt the write.
        bool seen = false;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
        while (!seen && std::chrono::steady_clock::now() < deadline) {
            seen = temporaries(dir.path) > 0;
            if (!seen) std::this_thread::sleep_for(std::chrono::microseconds(200));
            int status = 0;
            if (!seen && ::waitpid(pid, &status, WNOHANG) == pid) break;  // finished first
        }
        REQUIRE_MESSAGE(seen, "the write finished before it could be interrupted");
        ::kill(pid, sig);
        int status = 0;
        REQUIRE(::waitpid(pid, &status, 0) == pid);
        CHECK(WIFSIGNALED(status));  // dies of the signal, as the shell expects
        CHECK(WTERMSIG(status) == sig);
        CHECK(temporaries(dir.path) == 0);
        CHECK_FALSE(fs::exists(y));
    }
}

#endif
