// SPDX-License-Identifier: Apache-2.0
// `tconv bench` options and the expansion of config directories.
#ifdef TCONV_HAVE_BENCH

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "bench_args.hpp"
#include "helpers.hpp"

using namespace tconv::bench;
using tconv::Error;

namespace {

// The message of the Error `args` raises, or "" when they parse.
std::string parse_error(const std::vector<std::string>& args) {
    try {
        parse_bench_args(args);
    } catch (const Error& e) {
        CHECK(e.kind() == tconv::ErrorKind::invalid_argument);
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("bench args: defaults") {
    const BenchArgs a = parse_bench_args({"configs"});
    CHECK(a.inputs == std::vector<std::string>{"configs"});
    CHECK(a.threads == 0);
    CHECK(a.json_path.empty());
    CHECK(!a.markdown);
    CHECK(!a.layout);
    CHECK(!a.dtype);
    CHECK(!a.isa);
    CHECK(a.min_time == 0.2);
    CHECK(a.peers);
    CHECK(a.layers.empty());
    CHECK(!a.help);
}

TEST_CASE("bench args: --dtype") {
    CHECK(parse_bench_args({"configs", "--dtype", "bf16"}).dtype == tconv::DType::bf16);
    CHECK(parse_bench_args({"configs", "--dtype=f32"}).dtype == tconv::DType::f32);
    CHECK_THROWS_AS(parse_bench_args({"configs", "--dtype", "fp16"}), tconv::Error);
}

TEST_CASE("bench args: --random N [--seed S], alone or with configs") {
    const BenchArgs a = parse_bench_args({"--random", "100", "--seed=7"});
    CHECK(a.inputs.empty());
    CHECK(a.random == 100);
    CHECK(a.seed == 7);
    const BenchArgs b = parse_bench_args({"configs", "--random=3"});
    CHECK(b.inputs == std::vector<std::string>{"configs"});
    CHECK(b.random == 3);
    CHECK(b.seed == 1);  // the default draw
    CHECK(parse_bench_args({"configs"}).random == 0);
    CHECK(parse_error({"--random", "2.5"}).find("--random 2.5: must be a whole number") !=
          std::string::npos);
    CHECK(parse_error({"--random", "0"}).find("--random 0: must be a number from 1") !=
          std::string::npos);
    CHECK(parse_error({"configs", "--seed", "3"}).find("give --random N too") !=
          std::string::npos);
    CHECK(parse_error({"--random", "5", "--seed", "-1"}).find("--seed -1") != std::string::npos);
}

TEST_CASE("bench args: every option, both spellings") {
    const BenchArgs a = parse_bench_args(
        {"a.json", "--threads", "3", "--json=out.json", "--markdown", "dir", "--layout",
         "channels_last", "--isa=avx2", "--min-time", "0.5", "--no-peers", "--layer", "x",
         "--layer=y"});
    CHECK(a.inputs == std::vector<std::string>{"a.json", "dir"});
    CHECK(a.threads == 3);
    CHECK(a.json_path == "out.json");
    CHECK(a.markdown);
    CHECK(a.layout == tconv::Layout::channels_last);
    CHECK(a.isa == tconv::Isa::avx2);
    CHECK(a.min_time == 0.5);
    CHECK(!a.peers);
    CHECK(a.layers == std::vector<std::string>{"x", "y"});
    CHECK(parse_bench_args({"--help"}).help);  // no config needed for help
}

TEST_CASE("bench args: errors name the option and the value") {
    struct Case {
        std::vector<std::string> args;
        std::string expected;
    };
    const Case cases[] = {
        {{}, "no config given"},
        {{"a.json", "--fast"}, "unknown option --fast"},
        {{"a.json", "--theads", "2"}, "(did you mean --threads?)"},
        {{"a.json", "--threads"}, "option --threads needs a value"},
        {{"a.json", "--threads", "0"}, "--threads 0: must be an integer from 1 to 1024"},
        {{"a.json", "--threads", "2x"}, "--threads 2x:"},
        {{"a.json", "--threads=-1"}, "--threads -1:"},
        {{"a.json", "--threads", "1", "--threads", "2"}, "option --threads given twice"},
        {{"a.json", "--min-time", "-1"}, "--min-time -1: must be a number from 0 to 3600"},
        {{"a.json", "--min-time", "nan"}, "--min-time nan:"},
        {{"a.json", "--isa", "sse"},
         "--isa sse: must be avx512_amx, avx512_bf16, avx512, avx2 or scalar"},
        {{"a.json", "--layout", "nchw"}, "--layout nchw: must be one of channels_first, channels_last"},
        {{"a.json", "--markdown=yes"}, "option --markdown takes no value"},
        {{"a.json", "--json="}, "option --json needs a non-empty value"},
        {{"a.json", "--layer", ""}, "option --layer needs a non-empty value"},
    };
    for (const Case& c : cases) {
        std::string joined;
        for (const auto& s : c.args) joined += s + " ";
        INFO("args: ", joined);
        const std::string message = parse_error(c.args);
        CHECK_MESSAGE(message.find(c.expected) != std::string::npos, message);
    }
}

TEST_CASE("config files: directories expand to their sorted .json files") {
    tconv::test::TempDir dir;
    dir.write("b.json", "{}");
    dir.write("a.json", "{}");
    dir.write("notes.txt", "");
    const std::string file = dir.write("single.cfg", "{}");
    const auto files = tconv::config_files({dir.path.string(), file});
    REQUIRE(files.size() == 3);
    CHECK(files[0] == dir.file("a.json"));
    CHECK(files[1] == dir.file("b.json"));
    CHECK(files[2] == file);  // a file named directly is taken whatever its extension
}

TEST_CASE("config files: a missing path or a directory without configs is an error") {
    tconv::test::TempDir dir;
    CHECK_THROWS_WITH_AS(tconv::config_files({dir.file("missing.json")}),
                         doctest::Contains("no such file or directory"), Error);
    CHECK_THROWS_WITH_AS(tconv::config_files({dir.path.string()}),
                         doctest::Contains("no *.json configs"), Error);
}

#endif
