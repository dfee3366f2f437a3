// SPDX-License-Identifier: Apache-2.0
// `tconv bench --plot`: the chart of a run, decoded again.
#if defined(TCONV_HAVE_BENCH) && defined(TCONV_HAVE_PICTURE)
#include <doctest/doctest.h>

#include "bench_plot.hpp"
#include "helpers.hpp"
#include "picture.hpp"

using namespace tconv;

namespace {

bool has_colour(const cli::Image& im, cli::Rgb c) {
    for (size_t i = 0; i + 2 < im.rgb.size(); i += 3)
        if (im.rgb[i] == c.r && im.rgb[i + 1] == c.g && im.rgb[i + 2] == c.b) return true;
    return false;
}

}  // namespace

TEST_CASE("bench: --plot draws a bar per layer and contender, the peak as a line") {
    bench::BenchRun run;
    run.threads = 2;
    run.isa = Isa::avx512;
    run.peak_gflops = 300;
    run.peer_names = {"oneDNN", "XNNPACK"};
    for (int i = 0; i < 3; ++i) {
        bench::LayerResult l;
        l.name = "layer" + std::to_string(i);
        l.problem = test::problem_from_json(R"({"in_channels": 8, "out_channels": 8,
            "input_size": [8, 8], "kernel_size": 4, "stride": 2, "padding": 1})");
        l.gflops = 50.0 * (i + 1);
        bench::PeerResult onednn;
        onednn.peer = "oneDNN";
        onednn.status = bench::PeerResult::Status::ok;
        onednn.variants.push_back({"any", "jit", "", 1.0, l.problem.flops() / 40e6, 5});
        onednn.best = 0;
        l.peers = {onednn, bench::PeerResult{}};  // XNNPACK unavailable
        run.layers.push_back(l);
    }
    test::TempDir dir;
    const std::string png = dir.file("bench.png");
    bench::write_plot(run, png);
    const cli::Image im = cli::read_png(png);
    CHECK(im.width >= 600);
    CHECK(im.height >= 3 * 3 * 9);
    CHECK(has_colour(im, cli::series_colour(0)));   // tconv's bars
    CHECK(has_colour(im, cli::series_colour(1)));   // oneDNN's bars
    CHECK(has_colour(im, cli::Rgb{200, 0, 0}));     // the peak line
    // A directory that does not exist: an io Error, no file.
    CHECK_THROWS_AS(bench::write_plot(run, dir.file("missing/bench.png")), Error);
}

TEST_CASE("cli: bench --plot writes the chart of the run") {
    test::TempDir dir;
    const std::string config = dir.write("l.json", R"({"name": "tiny", "in_channels": 4,
        "out_channels": 4, "input_size": [6, 6], "kernel_size": 4, "stride": 2, "padding": 1})");
    const std::string png = dir.file("run.png");
    auto r = test::run_cli({"bench", config, "--no-peers", "--min-time", "0.01", "--plot", png});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    const cli::Image im = cli::read_png(png);
    CHECK(im.width >= 600);
    CHECK(has_colour(im, cli::series_colour(0)));
    auto bad = test::run_cli({"bench", config, "--no-peers", "--plot", dir.file("no/run.png")});
    CHECK(bad.exit_code == 2);
}
#endif
