// SPDX-License-Identifier: Apache-2.0
// `tconv bench --random`: the draw is valid, reproducible, within its flops, covers every
// feature the issue lists, and every drawn layer computes what the reference computes.
#ifdef TCONV_HAVE_BENCH

#include <doctest/doctest.h>

#include <set>

#include "helpers.hpp"
#include "jit_impl.hpp"
#include "random_layers.hpp"

using namespace tconv;
using tconv::bench::random_layers;

TEST_CASE("random layers: a pure function of the seed, valid, within the flops") {
    const std::vector<Problem> a = random_layers(60, 1), b = random_layers(60, 1);
    const std::vector<Problem> c = random_layers(60, 2);
    REQUIRE(a.size() == 60);
    CHECK(a == b);
    CHECK(a != c);
    CHECK(random_layers(10, 1) == std::vector<Problem>(a.begin(), a.begin() + 10));  // prefixes
    for (const Problem& p : a) {
        CAPTURE(p.name);
        CHECK_NOTHROW(validate_problem(p));
        CHECK(p.flops() >= 1e6);
        CHECK(p.flops() <= 3e8);
    }
}

TEST_CASE("random layers: a draw of 100 covers ranks, groups, depthwise, dilation, pads, layouts") {
    std::set<int> ranks;
    bool depthwise = false, grouped = false, dilated_strided = false, asymmetric = false;
    bool output_padding = false, cf = false, cl = false, batched = false, activation = false;
    for (const Problem& p : random_layers(100, 1)) {
        ranks.insert(p.rank);
        depthwise |= p.groups > 1 && p.ic_per_group() == 1;
        grouped |= p.groups > 1 && p.ic_per_group() > 1;
        (p.layout == Layout::channels_first ? cf : cl) = true;
        batched |= p.batch > 1;
        activation |= p.activation != Activation::none;
        for (int d = 0; d < p.rank; ++d) {
            dilated_strided |= p.dilation[size_t(d)] > 1 && p.stride[size_t(d)] > 1;
            asymmetric |= p.pad_begin[size_t(d)] != p.pad_end[size_t(d)];
            output_padding |= p.output_padding[size_t(d)] > 0;
        }
    }
    CHECK(ranks == std::set<int>{1, 2, 3});
    CHECK(depthwise);
    CHECK(grouped);
    CHECK(dilated_strided);
    CHECK(asymmetric);
    CHECK(output_padding);
    CHECK(cf);
    CHECK(cl);
    CHECK(batched);
    CHECK(activation);
}

TEST_CASE("random layers: small draws through every JIT against the reference") {
    bench::RandomLayerSpec small;  // the reference is slow: a few MFLOP each
    small.min_flops = 1e4;
    small.max_flops = 2e6;
    for (const Problem& p : random_layers(40, 7, small))
        for (Isa isa : {Isa::avx512, Isa::avx2}) {
            if (cpu_info().best_isa() < isa) continue;
            CAPTURE(p.name);
            CAPTURE(to_string(isa));
            const test::LayerData d = test::random_layer_data(p, 3);
            std::string why;
            auto impl = make_jit_impl(isa, p, d.w.data(), p.bias ? d.b.data() : nullptr, {}, why);
            REQUIRE_MESSAGE(impl, why);
            std::vector<float> y(size_t(p.output_elems()));
            impl->execute(d.x.data(), y.data(), 2);
            CHECK(test::compare_to_reference(p, d, y.data()) == "");
        }
}

#endif  // TCONV_HAVE_BENCH
