// SPDX-License-Identifier: Apache-2.0
// `tconv lint` as a user runs it: verdicts, --strict, --json and the --png picture decoded again.
#ifdef TCONV_HAVE_PICTURE
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "helpers.hpp"
#include "picture.hpp"
#include "tconv/tconv.hpp"

using tconv::test::run_cli;
using tconv::test::TempDir;

namespace {

const char* kUneven = R"({"name": "k3s2", "in_channels": 2, "out_channels": 2,
    "input_size": [6, 5], "kernel_size": 3, "stride": 2, "padding": 1})";
const char* kEven = R"({"name": "k4s2", "in_channels": 2, "out_channels": 2,
    "input_size": [6, 5], "kernel_size": 4, "stride": 2, "padding": 1})";

// Distinct colours of a decoded picture: a blank one has one.
size_t colours(const tconv::cli::Image& im) {
    std::set<uint32_t> s;
    for (size_t i = 0; i + 2 < im.rgb.size(); i += 3)
        s.insert(uint32_t(im.rgb[i]) << 16 | uint32_t(im.rgb[i + 1]) << 8 | im.rgb[i + 2]);
    return s.size();
}

}  // namespace

TEST_CASE("cli: lint prints the verdict; --strict fails only uneven layers") {
    TempDir dir;
    const std::string uneven = dir.write("uneven.json", kUneven);
    const std::string even = dir.write("even.json", kEven);
    auto r = run_cli({"lint", uneven});
    CHECK_MESSAGE(r.exit_code == 0, r.err);
    CHECK(r.out.find("uneven, checkerboard-prone: interior counts 4/2/2/1") != std::string::npos);
    CHECK(r.out.find("kernel sizes with even overlap: H 2 or 4, W 2 or 4") != std::string::npos);
    CHECK(run_cli({"lint", uneven, "--strict"}).exit_code == 1);
    auto e = run_cli({"lint", even, "--strict"});
    CHECK_MESSAGE(e.exit_code == 0, e.err);
    CHECK(e.out.find("even: 4 pairs per output inside") != std::string::npos);
    CHECK(run_cli({"lint", dir.path.string(), "--strict"}).exit_code == 1);
}

TEST_CASE("cli: lint --json carries the counts and the alternatives") {
    TempDir dir;
    auto r = run_cli({"lint", dir.write("uneven.json", kUneven), "--json"});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    const auto j = nlohmann::json::parse(r.out);
    const auto& layer = j.at("layers").at(0);
    CHECK(layer.at("even") == false);
    CHECK(layer.at("dims").at(0).at("counts") ==
          nlohmann::json({1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1}));
    CHECK(layer.at("dims").at(1).at("pattern") == nlohmann::json({2, 1}));
    const auto& alt = layer.at("alternatives");
    CHECK(alt.at("resize_conv").at("config").at("kind") == "resize_conv");
    CHECK(alt.at("pixel_shuffle").at("config").at("upscale_factor") == 2);
    CHECK(alt.at("pixel_shuffle").at("same_size") == false);  // 11x9, not 12x10
    // The suggested configs are layers tconv runs: the resize_conv one with the same output.
    const tconv::Config rc = tconv::parse_config(alt.at("resize_conv").at("config").dump(), "rc");
    CHECK(rc.layers.at(0).output == tconv::Dims{11, 9, 1});
    const tconv::Config ps =
        tconv::parse_config(alt.at("pixel_shuffle").at("config").dump(), "ps");
    CHECK(ps.layers.at(0).output == tconv::Dims{12, 10, 1});
}

TEST_CASE("cli: lint --png writes a picture of the one selected layer, 1D to 3D") {
    TempDir dir;
    for (const char* json :
         {kUneven, kEven,
          R"({"in_channels": 1, "out_channels": 1, "input_size": [12], "kernel_size": 16,
              "stride": 8, "padding": 4})",
          R"({"in_channels": 1, "out_channels": 1, "input_size": [3, 4, 5], "kernel_size": 3,
              "stride": 2, "dilation": 2})"}) {
        INFO(json);
        const std::string png = dir.file("map.png");
        auto r = run_cli({"lint", dir.write("l.json", json), "--png", png});
        REQUIRE_MESSAGE(r.exit_code == 0, r.err);
        const tconv::cli::Image im = tconv::cli::read_png(png);
        CHECK(im.width >= 200);
        CHECK(im.height >= 150);
        CHECK(colours(im) >= 4);  // background, text, at least two count colours
    }
    // Two layers: which one to draw is ambiguous.
    const std::string two = dir.write("two.json", std::string(R"({"layers": [)") + kUneven +
                                                      ", " + kEven + "]}");
    auto r = run_cli({"lint", two, "--png", dir.file("x.png")});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("--png draws one layer, but 2 are selected") != std::string::npos);
    CHECK(run_cli({"lint", two, "--layer", "k4s2", "--png", dir.file("x.png")}).exit_code == 0);
    auto bad = run_cli({"lint", dir.write("bad.json", R"({"in_channels": 1})")});
    CHECK(bad.exit_code == 2);
}
#endif
