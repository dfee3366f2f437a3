// SPDX-License-Identifier: Apache-2.0
// The overlap analysis behind `tconv lint`: hand-computed counts, a brute-force scatter of every
// (input, tap) pair, and the JIT itself on all-ones data (its output is the overlap count).
#include <doctest/doctest.h>

#include <random>

#include "helpers.hpp"
#include "tconv/overlap.hpp"

using namespace tconv;
using V = std::vector<int64_t>;

namespace {

DimOverlap dim(int64_t in, int64_t k, int64_t s, int64_t d, int64_t pb, int64_t pe, int64_t op) {
    return dim_overlap(in, k, s, d, pb, output_extent(in, k, s, d, pb, pe, op));
}

// Every (input, tap) pair scattered to its output index: the definition, counted directly.
std::vector<int64_t> scatter(const Problem& p) {
    std::vector<int64_t> out(size_t(p.output_spatial()), 0);
    for (int64_t i = 0; i < p.input_spatial(); ++i)
        for (int64_t k = 0; k < p.kernel_spatial(); ++k) {
            int64_t flat = 0;
            bool inside = true;
            int64_t ii = i, kk = k, stride_o = 1;
            std::array<int64_t, kMaxRank> o{};
            for (int d = p.rank - 1; d >= 0; --d) {
                o[d] = (ii % p.input[d]) * p.stride[d] + (kk % p.kernel[d]) * p.dilation[d] -
                       p.pad_begin[d];
                ii /= p.input[d], kk /= p.kernel[d];
                inside = inside && o[d] >= 0 && o[d] < p.output[d];
            }
            if (!inside) continue;
            for (int d = p.rank - 1; d >= 0; --d) flat += o[d] * stride_o, stride_o *= p.output[d];
            ++out[size_t(flat)];
        }
    return out;
}

// The N-D count map as the product of the per-dim counts, last dim fastest.
std::vector<int64_t> product_map(const Overlap& o) {
    std::vector<int64_t> out{1};
    for (int d = 0; d < o.rank; ++d) {
        std::vector<int64_t> next;
        for (int64_t a : out)
            for (int64_t b : o.dims[d].counts) next.push_back(a * b);
        out = std::move(next);
    }
    return out;
}

}  // namespace

TEST_CASE("overlap: kernel 3 stride 2 alternates 2,1 and is uneven") {
    DimOverlap d = dim(4, 3, 2, 1, 1, 1, 0);
    CHECK(d.counts == V{1, 2, 1, 2, 1, 2, 1});
    CHECK(d.pattern == V{2, 1});
    CHECK(d.interior_begin == 1);
    CHECK(d.interior_end == 6);
    CHECK(d.band_begin == 0);
    CHECK(d.band_end == 0);
    CHECK_FALSE(d.even);
    CHECK_FALSE(d.holes);
    CHECK(d.even_kernel_below == 2);
    CHECK(d.even_kernel_above == 4);
}

TEST_CASE("overlap: kernel 4 stride 2 padding 1 is 2 inside, 1 at the outermost outputs") {
    DimOverlap d = dim(4, 4, 2, 1, 1, 1, 0);
    CHECK(d.counts == V{1, 2, 2, 2, 2, 2, 2, 1});
    CHECK(d.pattern == V{2, 2});
    CHECK(d.band_begin == 1);
    CHECK(d.band_end == 1);
    CHECK(d.even);
}

TEST_CASE("overlap: kernel 16 stride 8 padding 4 has a border band of 4") {
    DimOverlap d = dim(4, 16, 8, 1, 4, 4, 0);
    REQUIRE(d.counts.size() == 32);
    for (size_t o = 0; o < 32; ++o) CHECK(d.counts[o] == (o < 4 || o >= 28 ? 1 : 2));
    CHECK(d.band_begin == 4);
    CHECK(d.band_end == 4);
    CHECK(d.even);
}

TEST_CASE("overlap: dilation 2 with stride 2 leaves holes and no even kernel") {
    DimOverlap d = dim(3, 3, 2, 2, 0, 0, 0);
    CHECK(d.counts == V{1, 0, 2, 0, 3, 0, 2, 0, 1});
    CHECK(d.pattern == V{3, 0});
    CHECK(d.holes);
    CHECK_FALSE(d.even);
    CHECK(d.even_kernel_below == 0);
    CHECK(d.even_kernel_above == 0);
    // Dilation 3 is coprime to stride 2: kernel 2 and 4 are even.
    DimOverlap e = dim(5, 3, 2, 3, 0, 0, 0);
    CHECK_FALSE(e.even);
    CHECK(e.even_kernel_below == 2);
    CHECK(e.even_kernel_above == 4);
}

TEST_CASE("overlap: output_padding adds outputs at the end with fewer pairs") {
    DimOverlap d = dim(2, 3, 2, 1, 1, 1, 1);
    CHECK(d.counts == V{1, 2, 1, 1});
    CHECK(d.band_end == 1);
}

TEST_CASE("overlap: a long period reads as a constant or is cut (WaveGlow's k1024 s256)") {
    CHECK(pattern_text(V{2, 1}) == "2,1");
    CHECK(pattern_text(V(256, 4)) == "4 at all 256 phases");
    V uneven(20, 3);
    uneven[7] = 2;
    CHECK(pattern_text(uneven) == "3,3,3,3,3,3,3,2,3,3,3,3,3,3,3,3,... (20 phases)");
    Problem p = test::problem_from_json(R"({"in_channels": 1, "out_channels": 1,
        "input_size": [100], "kernel_size": 1024, "stride": 256})");
    const Overlap o = analyse_overlap(p);
    CHECK(o.even);
    CHECK(o.verdict.find("even: 4 pairs per output inside (4 at all 256 phases)") == 0);
    CHECK(o.verdict.size() < 120);
}

TEST_CASE("overlap: the textbook 2x2 example and its verdict") {
    Problem p = test::problem_from_json(R"({"in_channels": 1, "out_channels": 1,
        "input_size": [2, 2], "kernel_size": 3, "stride": 2, "padding": 1})");
    Overlap o = analyse_overlap(p);
    CHECK(product_map(o) == V{1, 2, 1, 2, 4, 2, 1, 2, 1});
    CHECK_FALSE(o.even);
    CHECK(o.verdict == "uneven, checkerboard-prone: interior counts 4/2/2/1 (2,1 x 2,1)");
    Problem q = test::problem_from_json(R"({"in_channels": 256, "out_channels": 128,
        "input_size": [14, 14], "kernel_size": 4, "stride": 2, "padding": 1})");
    Overlap e = analyse_overlap(q);
    CHECK(e.even);
    CHECK(e.verdict == "even: 4 pairs per output inside (2,2 x 2,2); the outermost output at "
                       "each border gets fewer");
    // The alternatives: same output size; FLOPs of a 3x3 conv at 28x28 and one to 512 channels
    // at 14x14 (2.25x the transposed layer's 16 taps at 14x14).
    CHECK(e.resize_conv.pad_begin[0] == 1);
    CHECK(e.resize_conv.pad_end[1] == 1);
    CHECK(e.resize_conv.flops == doctest::Approx(2.0 * 256 * 128 * 9 * 28 * 28));
    CHECK(e.pixel_shuffle.applicable);
    CHECK(e.pixel_shuffle.same_size);
    CHECK(e.pixel_shuffle.conv_out_channels == 512);
    CHECK(e.pixel_shuffle.flops == doctest::Approx(2.25 * q.flops()));
    // k3 s2 p1 gives 27, not 28: the resize conv pads one side only; the shuffle cannot match.
    Overlap u = analyse_overlap(test::problem_from_json(R"({"in_channels": 4,
        "out_channels": 4, "input_size": [14, 14], "kernel_size": 3, "stride": 2,
        "padding": 1})"));
    CHECK(u.resize_conv.pad_begin[0] + u.resize_conv.pad_end[0] == 1);
    CHECK_FALSE(u.pixel_shuffle.same_size);
    // Stride 1 up-samples nothing; an input shorter than the kernel has no interior.
    Overlap s1 = analyse_overlap(test::problem_from_json(R"({"in_channels": 1,
        "out_channels": 1, "input_size": [1, 1], "kernel_size": 4})"));
    CHECK_FALSE(s1.resize_conv.applicable);
    CHECK_FALSE(s1.pixel_shuffle.applicable);
    CHECK(s1.verdict.rfind("no interior", 0) == 0);
}

TEST_CASE("overlap: the per-dim product equals a brute-force scatter (random layers)") {
    std::mt19937 rng(17);
    auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    for (int t = 0; t < 300; ++t) {
        Problem p;
        p.in_channels = p.out_channels = 1;
        p.rank = pick(1, 3);
        for (int d = 0; d < p.rank; ++d) {
            p.input[d] = pick(1, 6);
            p.kernel[d] = pick(1, 6);
            p.stride[d] = pick(1, 4);
            p.dilation[d] = pick(1, 3);
            const int64_t reach = p.dilation[d] * (p.kernel[d] - 1);
            p.pad_begin[d] = pick(0, int(reach));
            p.pad_end[d] = pick(0, int(reach));
            p.output_padding[d] = pick(0, int(std::max(p.stride[d], p.dilation[d]) - 1));
            p.output[d] = output_extent(p.input[d], p.kernel[d], p.stride[d], p.dilation[d],
                                        p.pad_begin[d], p.pad_end[d], p.output_padding[d]);
        }
        bool valid = true;
        for (int d = 0; d < p.rank; ++d) valid = valid && p.output[d] >= 1;
        if (!valid) continue;
        INFO("layer " << t);
        CHECK(product_map(analyse_overlap(p)) == scatter(p));
    }
}

TEST_CASE("overlap: the JIT on all-ones input and weights outputs the overlap count") {
    for (const char* json : {
             R"({"in_channels": 1, "out_channels": 1, "input_size": [9, 7], "kernel_size": 3,
                 "stride": 2, "padding": 1, "output_padding": 1, "bias": false})",
             R"({"in_channels": 1, "out_channels": 1, "input_size": [6, 5], "kernel_size": 4,
                 "stride": 2, "padding": 1, "bias": false})",
             R"({"in_channels": 1, "out_channels": 1, "input_size": [4], "kernel_size": 16,
                 "stride": 8, "padding": 4, "bias": false})",
             R"({"in_channels": 1, "out_channels": 1, "input_size": [3, 4, 5], "kernel_size": 3,
                 "stride": 2, "dilation": 2, "bias": false})"}) {
        INFO(json);
        Problem p = test::problem_from_json(json);
        std::vector<float> w(size_t(p.weight_elems()), 1.0f), x(size_t(p.input_elems()), 1.0f),
            y(size_t(p.output_elems()), -1.0f);
        Layer layer = Layer::compile(p, w.data(), nullptr);
        layer.execute(x.data(), y.data());
        const std::vector<int64_t> counts = product_map(analyse_overlap(p));
        REQUIRE(counts.size() == y.size());
        for (size_t i = 0; i < y.size(); ++i) CHECK(y[i] == float(counts[i]));
    }
}
