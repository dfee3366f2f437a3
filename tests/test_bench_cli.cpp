// SPDX-License-Identifier: Apache-2.0
// `tconv bench` end to end on a tiny config: exit status, table, JSON, and usage errors.
#if defined(TCONV_HAVE_BENCH) && defined(TCONV_CLI)

#include <doctest/doctest.h>

#include <cctype>
#include <fstream>
#include <iterator>
#include <string>

#include "helpers.hpp"

namespace {

const char* kTinyConfig = R"({"name": "tiny", "layers": [
    {"name": "up2x", "in_channels": 8, "out_channels": 4, "input_size": [6, 5],
     "kernel_size": 4, "stride": 2, "padding": 1, "activation": "relu"},
    {"name": "wave", "in_channels": 4, "out_channels": 4, "groups": 2, "input_size": [16],
     "kernel_size": 5, "stride": 3, "dilation": 2, "output_padding": 1}]})";

bool contains(const std::string& s, const std::string& what) {
    return s.find(what) != std::string::npos;
}

}  // namespace

TEST_CASE("tconv bench runs a config, peers agree, JSON is written") {
    tconv::test::TempDir dir;
    const std::string config = dir.write("tiny.json", kTinyConfig);
    const std::string json = dir.file("out.json");
    const auto r = tconv::test::run_cli(
        {"bench", config, "--threads", "1", "--min-time", "0", "--json", json});
    INFO("stdout: ", r.out, "\nstderr: ", r.err);
    CHECK(r.exit_code == 0);  // 1 would mean a peer disagreed with tconv
    CHECK(contains(r.out, "up2x"));
    CHECK(contains(r.out, "1x8x6x5 -> 1x4x12x10"));
    CHECK(contains(r.out, "wave"));
    CHECK(!contains(r.out, "WRONG"));
    CHECK(r.err.empty());  // no progress line when stderr is not a terminal
    std::ifstream f(json);
    const std::string text((std::istreambuf_iterator<char>(f)), {});
    CHECK(contains(text, "\"name\": \"up2x\""));
    CHECK(contains(text, "\"summary\""));
#ifdef TCONV_HAVE_XNNPACK
    // channels_first: XNNPACK (NHWC only) sits out, and the note says how to race it
    CHECK(contains(r.out, "XNNPACK n/a: NHWC only; run with --layout channels_last (up2x, wave)"));
    CHECK(contains(text, "\"reason\": \"NHWC only; run with --layout channels_last\""));
    CHECK(!contains(text, "deconv_only_ms"));
    // channels_last: XNNPACK races in its own layout
    const auto cl = tconv::test::run_cli(
        {"bench", config, "--threads", "1", "--min-time", "0", "--layout", "channels_last"});
    INFO("stdout: ", cl.out);
    CHECK(cl.exit_code == 0);
    CHECK(!contains(cl.out, "XNNPACK n/a"));
    CHECK(contains(cl.out, "XNNPACK ran NWC as H = 1 (wave)"));
#endif
}

TEST_CASE("tconv bench --dtype bf16 races oneDNN's bf16 and probes the bf16 peak") {
    tconv::test::TempDir dir;
    const std::string config = dir.write("tiny.json", kTinyConfig);
    const std::string json = dir.file("out.json");
    const auto r = tconv::test::run_cli({"bench", config, "--threads", "1", "--min-time", "0",
                                         "--dtype", "bf16", "--json", json});
    INFO("stdout: ", r.out, "\nstderr: ", r.err);
    CHECK(r.exit_code == 0);  // 1 would mean a peer disagreed with tconv
    CHECK(!contains(r.out, "WRONG"));
    std::ifstream f(json);
    const std::string text((std::istreambuf_iterator<char>(f)), {});
    CHECK(contains(text, "\"dtype\": \"bf16\""));
    if (tconv::cpu_info().amx_bf16)
        CHECK(contains(r.out, "(tdpbf16ps probe"));
    else if (tconv::cpu_info().avx512_bf16 && tconv::cpu_info().best_isa() == tconv::Isa::avx512)
        CHECK(contains(r.out, "bf16 peak: "));
}

TEST_CASE("tconv bench --layer, --no-peers and --markdown") {
    tconv::test::TempDir dir;
    dir.write("tiny.json", kTinyConfig);
    const auto r = tconv::test::run_cli({"bench", dir.path.string(), "--layer", "wave",
                                         "--no-peers", "--markdown", "--min-time", "0"});
    INFO("stderr: ", r.err);
    CHECK(r.exit_code == 0);
    CHECK(contains(r.out, "| wave |"));
    CHECK(!contains(r.out, "up2x"));
    CHECK(!contains(r.out, "oneDNN"));
}

TEST_CASE("tconv bench --random races a seeded draw, with or without configs") {
    tconv::test::TempDir dir;
    const std::string json = dir.file("random.json");
    const auto r = tconv::test::run_cli({"bench", "--random", "2", "--seed", "5", "--no-peers",
                                         "--threads", "1", "--min-time", "0", "--json", json});
    INFO("stdout: ", r.out, "\nstderr: ", r.err);
    CHECK(r.exit_code == 0);
    CHECK(contains(r.out, "random_5_0"));
    CHECK(contains(r.out, "random_5_1"));
    CHECK(!contains(r.out, "random_5_2"));
    std::ifstream f(json);
    const std::string text((std::istreambuf_iterator<char>(f)), {});
    CHECK(contains(text, "\"config\": \"random (seed 5)\""));
    // --layer picks a drawn layer by name, as it picks configured ones
    const auto one = tconv::test::run_cli({"bench", "--random", "3", "--seed", "5", "--layer",
                                           "random_5_2", "--no-peers", "--min-time", "0"});
    CHECK(one.exit_code == 0);
    CHECK(contains(one.out, "random_5_2"));
    CHECK(!contains(one.out, "random_5_0"));
}

TEST_CASE("tconv bench usage errors exit 2 with a message") {
    const auto none = tconv::test::run_cli({"bench"});
    CHECK(none.exit_code == 2);
    CHECK(contains(none.err, "tconv: error: bench: no config given"));
    CHECK(contains(none.err, "or --random N"));
    const auto bad = tconv::test::run_cli({"bench", "x.json", "--threads", "many"});
    CHECK(bad.exit_code == 2);
    CHECK(contains(bad.err, "--threads many: must be an integer from 1 to 1024"));
}

#endif
