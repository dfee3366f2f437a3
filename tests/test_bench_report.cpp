// SPDX-License-Identifier: Apache-2.0
// The bench's summary (geometric means, slowest layer) and its renderings.
#ifdef TCONV_HAVE_BENCH

#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include "bench_peer.hpp"
#include "bench_report.hpp"
#include "helpers.hpp"

using namespace tconv::bench;

namespace {

PeerResult ok_peer(const std::string& name, double ms) {
    PeerResult p;
    p.peer = name;
    p.status = PeerResult::Status::ok;
    p.variants = {{"plain", "impl_a", "", 1.0, ms * 2, 5}, {"any", "impl_b", "", 1.0, ms, 5}};
    p.best = 1;
    return p;
}

PeerResult missing_peer(const std::string& name, PeerResult::Status status) {
    PeerResult p;
    p.peer = name;
    p.status = status;
    p.reason = "because";
    return p;
}

LayerResult layer(const std::string& name, double ms, std::vector<PeerResult> peers) {
    LayerResult l;
    l.name = name;
    l.problem = tconv::test::problem_from_json(
        R"({"layers": [{"in_channels": 4, "out_channels": 2, "input_size": [3, 3],
            "kernel_size": 2, "stride": 2}]})");
    l.implementation = "reference";
    l.median_ms = ms;
    l.gflops = 1.5;
    l.peers = std::move(peers);
    return l;
}

BenchRun sample_run() {
    BenchRun run;
    run.cpu_model = "Test CPU";
    run.threads = 2;
    run.isa = tconv::Isa::avx2;
    run.peak_gflops = 100.0;
    run.peer_names = {"P", "Q"};
    run.peer_versions = {"P 1.2.3", "Q 4.5", "R: not in this build"};
    // ratios: L1 P 4, Q 1;  L2 P 0.5, Q n/a;  L3 P WRONG, Q 2.
    run.layers.push_back(layer("L1", 1.0, {ok_peer("P", 4.0), ok_peer("Q", 1.0)}));
    run.layers.push_back(
        layer("L2", 2.0, {ok_peer("P", 1.0), missing_peer("Q", PeerResult::Status::unavailable)}));
    run.layers.push_back(
        layer("L3", 1.0, {missing_peer("P", PeerResult::Status::wrong), ok_peer("Q", 2.0)}));
    return run;
}

}  // namespace

TEST_CASE("bench summary: geometric means per peer and over the best peer, slowest layer") {
    const BenchRun run = sample_run();
    CHECK(run.layers[0].best_peer() == &run.layers[0].peers[1]);
    CHECK(run.layers[1].best_peer() == &run.layers[1].peers[0]);
    CHECK(run.layers[2].best_peer() == &run.layers[2].peers[1]);
    CHECK(*run.layers[0].ratio(run.layers[0].peers[0]) == doctest::Approx(4.0));
    CHECK(!run.layers[1].ratio(run.layers[1].peers[1]));
    CHECK(!run.layers[2].ratio(run.layers[2].peers[0]));  // WRONG never counts

    const Summary s = summarize(run);
    REQUIRE(s.peers.size() == 3);
    CHECK(s.peers[0].peer == "P");
    CHECK(*s.peers[0].geomean_ratio == doctest::Approx(std::sqrt(4.0 * 0.5)));
    CHECK(s.peers[0].layers == 2);
    CHECK(*s.peers[1].geomean_ratio == doctest::Approx(std::sqrt(1.0 * 2.0)));
    CHECK(s.peers[2].peer == "best peer");
    // best per layer: L1 min(4, 1) = 1, L2 0.5, L3 2
    CHECK(*s.peers[2].geomean_ratio == doctest::Approx(std::cbrt(1.0 * 0.5 * 2.0)));
    CHECK(s.slowest_layer == "L2");
    CHECK(*s.slowest_ratio == doctest::Approx(0.5));
    CHECK(s.wrong == 1);
}

TEST_CASE("bench summary without peers has no means") {
    BenchRun run = sample_run();
    run.peer_names.clear();
    for (auto& l : run.layers) l.peers.clear();
    const Summary s = summarize(run);
    CHECK(s.peers.empty());
    CHECK(!s.slowest_ratio);
}

TEST_CASE("bench renderings carry the figures") {
    const BenchRun run = sample_run();
    const Summary s = summarize(run);

    const std::string text = format_text(run, s);
    CHECK(text.find("Test CPU") != std::string::npos);
    CHECK(text.find("100.0 GFLOP/s") != std::string::npos);
    CHECK(text.find("1x4x3x3 -> 1x2x6x6") != std::string::npos);
    CHECK(text.find("1.000 (any)") != std::string::npos);  // P on L2: the faster variant
    CHECK(text.find("WRONG") != std::string::npos);
    CHECK(text.find("Q n/a: because (L2)") != std::string::npos);
    CHECK(text.find("slowest layer vs its best peer: L2 at 0.50x") != std::string::npos);
    // aligned: every table line is equally long up to trailing blanks of the last column
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line) && line.rfind("layer", 0) != 0) {
    }
    const size_t ms_column = line.find("GFLOP/s");
    for (int i = 0; i < 3 && std::getline(lines, line); ++i)
        CHECK(line.substr(ms_column, 7) == "    1.5");

    const std::string md = format_markdown(run, s);
    CHECK(md.find("| layer | in -> out |") != std::string::npos);
    CHECK(md.find("| --- | --- |") != std::string::npos);
    // the header names what each column ran, and the peers this build lacks
    CHECK(md.find("peers: P 1.2.3, Q 4.5, R: not in this build\n") != std::string::npos);
    // the fastest correct peer per layer (L1: Q at 1x; L2: P, Q n/a; L3: Q, P WRONG)
    CHECK(md.find("| best peer | vs best |") != std::string::npos);
    CHECK(md.find("| Q | 1.00x |\n") != std::string::npos);
    CHECK(md.find("| P | 0.50x |\n") != std::string::npos);
    CHECK(md.find("| Q | 2.00x |\n") != std::string::npos);

    const std::string json = format_json(run, s);
    CHECK(json.find("\"slowest_layer\": \"L2\"") != std::string::npos);
    CHECK(json.find("\"status\": \"WRONG\"") != std::string::npos);
    CHECK(json.find("\"peak_gflops\": 100.0") != std::string::npos);
    CHECK(json.find("\"P 1.2.3\"") != std::string::npos);
    CHECK(json.find("\"best\": true") != std::string::npos);
    // every variant's own time, the slower one (plain, twice the best) included
    CHECK(json.find("\"variant\": \"plain\"") != std::string::npos);
    CHECK(json.find("\"median_ms\": 8.0") != std::string::npos);
}

TEST_CASE("bench report: XNNPACK on a channels_first layer is n/a, says why, is never best") {
    BenchRun run;
    run.cpu_model = "Test CPU";
    run.threads = 1;
    run.peer_names = {"oneDNN", "XNNPACK"};
    PeerResult xnnpack = missing_peer("XNNPACK", PeerResult::Status::unavailable);
    xnnpack.reason = kXnnpackNhwcOnly;
    run.layers.push_back(layer("CF", 2.0, {ok_peer("oneDNN", 4.0), xnnpack}));
    const Summary s = summarize(run);
    REQUIRE(s.peers.size() == 3);  // oneDNN, XNNPACK, best peer
    CHECK(s.peers[1].peer == "XNNPACK");
    CHECK(s.peers[1].layers == 0);
    CHECK(!s.peers[1].geomean_ratio);
    CHECK(run.layers[0].best_peer()->peer == "oneDNN");
    const std::string text = format_text(run, s);
    CHECK(text.find("XNNPACK n/a: NHWC only; run with --layout channels_last (CF)") !=
          std::string::npos);
    const std::string json = format_json(run, s);
    CHECK(json.find("\"reason\": \"NHWC only; run with --layout channels_last\"") !=
          std::string::npos);
    CHECK(json.find("\"status\": \"n/a\"") != std::string::npos);
    CHECK(json.find("deconv_only_ms") == std::string::npos);  // no transposes to split off
}

TEST_CASE("bench JSON is written atomically") {
    tconv::test::TempDir dir;
    const std::string path = dir.file("out.json");
    write_file_atomically(path, "first");
    write_file_atomically(path, "second");
    std::ifstream f(path);
    std::string content((std::istreambuf_iterator<char>(f)), {});
    CHECK(content == "second");
    int files = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir.path)) {
        (void)e;
        ++files;
    }
    CHECK(files == 1);  // no temporary left behind
    CHECK_THROWS_AS(write_file_atomically(dir.file("no/such/dir/out.json"), "x"), tconv::Error);
}

#endif
