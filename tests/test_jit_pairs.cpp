// SPDX-License-Identifier: Apache-2.0
// The bf16 pair family: bf16 layers on AMX tiles (Isa::amx) and on vdpbf16ps
// (Isa::avx512_bf16). What the planner gives it and what it declines (no such CPU needed),
// then, for each of the two this CPU has (AMX when the OS grants the tiles), layers of every
// feature against the bf16 reference, every tile shape, bit-equal results on any thread count,
// and both layouts' narrowings bit for bit float_to_bf16 (the transposes alone:
// test_transpose.cpp).
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <random>

#include "bf16_impl.hpp"
#include "helpers.hpp"
#include "jit_impl.hpp"
#include "tconv/gen/plan.hpp"

using namespace tconv;

namespace {

Problem bf16_layer(const std::string& json) {
    Problem p = test::problem_from_json(json);
    p.dtype = DType::bf16;
    return p;
}

// p's extents, kernel, stride (up to max_stride, max_stride_w along W), dilation (2-3 in a
// quarter of the dims), pads and output padding, drawn for its rank: false when invalid.
bool random_geometry(Problem& p, std::mt19937_64& rng, int64_t max_in, int64_t max_stride,
                     int64_t max_stride_w) {
    auto pick = [&](int64_t lo, int64_t hi) {
        return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
    };
    for (size_t d = 0; d < size_t(p.rank); ++d) {
        p.input[d] = pick(1, max_in);
        p.kernel[d] = pick(1, 5);
        p.stride[d] = pick(1, d + 1 == size_t(p.rank) ? max_stride_w : max_stride);
        p.dilation[d] = pick(1, 4) == 1 ? pick(2, 3) : 1;
        const int64_t span = p.dilation[d] * (p.kernel[d] - 1);
        p.pad_begin[d] = pick(0, span);
        p.pad_end[d] = pick(0, span);
        p.output_padding[d] = pick(0, std::max(p.stride[d], p.dilation[d]) - 1);
        p.output[d] = output_extent(p.input[d], p.kernel[d], p.stride[d], p.dilation[d],
                                    p.pad_begin[d], p.pad_end[d], p.output_padding[d]);
        if (p.output[d] <= 0) return false;
    }
    try {
        validate_problem(p);
    } catch (const Error&) {
        return false;
    }
    return true;
}

// A random valid layer the family serves on `isa` (4 or more input channels per group;
// channels-first with enough work per output; not on lanes along W), small enough for the
// reference: ranks 1-3,
// groups, dilation, asymmetric pads, output padding, batch, both layouts, every activation.
Problem random_amx_layer(std::mt19937_64& rng, int index, Isa isa) {
    auto pick = [&](int64_t lo, int64_t hi) {
        return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
    };
    for (;;) {
        Problem p;
        p.name = "amx_random_" + std::to_string(index);
        p.dtype = DType::bf16;
        p.rank = int(pick(1, 3));
        p.batch = pick(1, 3);
        p.groups = pick(1, 4) == 1 ? pick(2, 3) : 1;
        p.in_channels = p.groups * pick(4, 80);
        p.out_channels = p.groups * (pick(0, 3) ? pick(8, 70) : pick(1, 7));
        p.layout = pick(0, 1) ? Layout::channels_last : Layout::channels_first;
        p.activation = Activation(pick(0, 4));
        p.negative_slope = 0.1f;
        p.bias = pick(0, 3) != 0;
        if (!random_geometry(p, rng, p.rank == 1 ? 70 : p.rank == 2 ? 14 : 6, 4, 4) ||
            p.flops() > 3e7)
            continue;
        gen::Plan plan;
        std::string why;
        if (gen::plan(p, isa, plan, why) && plan.shape() == gen::KernelShape::pairs) return p;
    }
}

// p compiled for isa on the pair family, whatever the planner would prefer (with its weights
// rounded as Layer::compile rounds them).
std::unique_ptr<Impl> compile_amx(Isa isa, const Problem& p, const test::LayerData& d,
                                  gen::PlanOverrides o = {}) {
    o.shape = 6;
    std::string why;
    const std::vector<float> w = bf16_weights(p, d.w.data());
    auto impl = make_jit_impl(isa, p, w.data(), p.bias ? d.b.data() : nullptr, {}, why, o);
    REQUIRE_MESSAGE(impl, p.name, ": ", why);
    return impl;
}

std::vector<uint16_t> run_bf16(const Impl& impl, const std::vector<float>& x, int64_t out,
                               int threads) {
    std::vector<uint16_t> xb(x.size()), y(size_t(out), 0x7fc0);
    float_to_bf16(x.data(), xb.data(), int64_t(x.size()));
    impl.execute_bf16(xb.data(), y.data(), threads, WaitPolicy::bounded);
    return y;
}

// "" when impl's result on threads 1 passes the bf16 bound and 2 and 3 threads give its bits.
std::string check_amx(const Problem& p, const test::LayerData& d, const Impl& impl) {
    const std::vector<uint16_t> y = run_bf16(impl, d.x, p.output_elems(), 1);
    std::vector<float> got(y.size());
    bf16_to_float(y.data(), got.data(), int64_t(y.size()));
    std::string err = test::compare_bf16_to_reference(p, d, got.data());
    for (int threads : {2, 3})
        if (err.empty() && run_bf16(impl, d.x, p.output_elems(), threads) != y)
            err = "different bits on " + std::to_string(threads) + " threads";
    return err.empty() ? err : p.name + ": " + err + " [" + impl.report().kernel_names[0] + "]";
}

bool amx_here() { return cpu_info().amx_bf16; }

// The pair ISAs this CPU runs: AMX where the OS grants the tiles, AVX512_BF16.
std::vector<Isa> pair_isas() {
    std::vector<Isa> out;
    if (amx_here()) out.push_back(Isa::amx);
    if (cpu_info().best_isa() >= Isa::avx512_bf16) out.push_back(Isa::avx512_bf16);
    return out;
}

std::string implementation_of(Isa isa) { return "jit_" + std::string(to_string(isa)); }

}  // namespace

TEST_CASE("amx: bf16 layers plan on tiles") {
    const Problem p = bf16_layer(R"({"in_channels": 256, "out_channels": 128,
        "input_size": [14, 14], "kernel_size": 4, "stride": 2, "padding": 1,
        "layout": "channels_last"})");
    gen::Plan plan;
    std::string why;
    REQUIRE_MESSAGE(gen::plan(p, Isa::amx, plan, why), why);
    CHECK(plan.shape() == gen::KernelShape::pairs);
    const auto& amx = std::get<gen::PairPlan>(plan.family);
    CHECK(amx.input.bf16_pairs);
    CHECK(amx.k_pairs == 128);  // 256 channels in pairs
    CHECK(amx.io == DType::bf16);
    // 14 outputs per phase row: one A tile of 16 rows, holding 14; four vectors of channels.
    CHECK(amx.ur == 16);
    CHECK(amx.n_oc == 4);
    for (const gen::AnyKernelDesc& k : amx.kernels) {
        const std::string name = gen::kernel_name(k);
        CAPTURE(name);
        CHECK(name.rfind("tconv_bf16_amx_k4x4_s2x2_t2x2_r14_oc4_", 0) == 0);
        CHECK(name.size() > 12);
        CHECK(name.substr(name.size() - 12) == "__avx512_amx");
    }
    const std::string cl_name = gen::kernel_name(amx.kernels[0]);
    // Channels-first: the kernels build fp32 rows for the transposes, still named for the type
    // they multiply (a different code from the channels-last one: another hash).
    Problem cf = p;
    cf.layout = Layout::channels_first;
    REQUIRE(gen::plan(cf, Isa::amx, plan, why));
    const std::string cf_name = gen::kernel_name(plan.base().kernels[0]);
    CHECK(cf_name.rfind("tconv_bf16_amx_k4x4_s2x2_t2x2_r14_oc4_", 0) == 0);
    CHECK(cf_name != cl_name);
    // A 37-channel group pads to two 32-channel steps; 20 outputs: a last vector of 4 lanes.
    Problem odd = p;
    odd.in_channels = 37;
    odd.out_channels = 20;
    REQUIRE(gen::plan(odd, Isa::amx, plan, why));
    CHECK(std::get<gen::PairPlan>(plan.family).k_pairs == 32);
    CHECK(gen::kernel_name(plan.base().kernels[0]).find("_oc2_m4_") != std::string::npos);
}

TEST_CASE("bf16 dot: bf16 layers plan on vdpbf16ps in steps of up to 16 pairs") {
    Problem p = bf16_layer(R"({"in_channels": 256, "out_channels": 128,
        "input_size": [14, 14], "kernel_size": 4, "stride": 2, "padding": 1,
        "layout": "channels_last"})");
    gen::Plan plan;
    std::string why;
    REQUIRE_MESSAGE(gen::plan(p, Isa::avx512_bf16, plan, why), why);
    REQUIRE(plan.shape() == gen::KernelShape::pairs);
    const auto& pairs = std::get<gen::PairPlan>(plan.family);
    CHECK(pairs.input.bf16_pairs);
    CHECK(pairs.step_pairs == 16);
    CHECK(pairs.k_pairs == 128);
    // 14 outputs per phase row: all 14 in one tile of two vectors (28 accumulators).
    CHECK(pairs.ur == 14);
    CHECK(pairs.n_oc == 2);
    // The edge rows leave out the taps that read the halo (t1x2_from1x0_of2x2).
    int every_tap = 0;
    for (const gen::AnyKernelDesc& k : pairs.kernels) {
        const std::string name = gen::kernel_name(k);
        CAPTURE(name);
        CHECK(name.rfind("tconv_bf16_cvec_k4x4_s2x2_t", 0) == 0);
        CHECK(name.find("_ur14_oc2_p16_") != std::string::npos);
        CHECK(name.substr(name.size() - 13) == "__avx512_bf16");
        every_tap += name.rfind("tconv_bf16_cvec_k4x4_s2x2_t2x2_ur14_", 0) == 0;
    }
    CHECK(every_tap >= 1);
    CHECK(pairs.kernels.size() > size_t(every_tap));
    CHECK(plan.base().lines[0].find("vdpbf16ps") != std::string::npos);
    // Steps split the pairs evenly: 37 channels are 19 pairs, two steps of 10; 48 are two of
    // 12; 6 are one of 3.
    for (auto [ic, step, total] : {std::array<int64_t, 3>{37, 10, 20}, {48, 12, 24}, {6, 3, 3}}) {
        p.in_channels = ic;
        REQUIRE_MESSAGE(gen::plan(p, Isa::avx512_bf16, plan, why), why);
        CHECK(std::get<gen::PairPlan>(plan.family).step_pairs == step);
        CHECK(std::get<gen::PairPlan>(plan.family).k_pairs == total);
    }
    // Only bf16 layers, only this family.
    p.dtype = DType::f32;
    CHECK_FALSE(gen::plan(p, Isa::avx512_bf16, plan, why));
    p.dtype = DType::bf16;
    gen::PlanOverrides channel;
    channel.shape = 1;
    CHECK_FALSE(gen::plan(p, Isa::avx512_bf16, plan, why, channel));
    CHECK(why.find("bf16 pair family") != std::string::npos);
}

TEST_CASE("bf16 dot: tiles on tiny maps under large weights are wide enough to reuse them") {
    // 512 -> 256 k3 dilation 2 on a 6x7x7 map: 11-wide rows whose outputs read 1-3 of the W
    // taps. One-wide tiles run the fewest taps, but each tap's four weight vectors (1.8 MB a
    // block) then come from L3 for 4 dot products: the model charges that wait.
    Problem p = bf16_layer(R"({"in_channels": 512, "out_channels": 256,
        "input_size": [6, 7, 7], "kernel_size": 3, "dilation": 2})");
    gen::Plan plan;
    std::string why;
    REQUIRE_MESSAGE(gen::plan(p, Isa::avx512_bf16, plan, why), why);
    REQUIRE(plan.shape() == gen::KernelShape::pairs);
    const auto& pairs = std::get<gen::PairPlan>(plan.family);
    CHECK(pairs.ur * pairs.n_oc >= 8);
    CHECK(pairs.ur >= 3);
}

TEST_CASE("amx: f32 layers and too few channels per group decline with a reason") {
    gen::Plan plan;
    std::string why;
    Problem p = bf16_layer(R"({"in_channels": 64, "out_channels": 64, "input_size": [8, 8],
        "kernel_size": 3, "stride": 2})");
    p.dtype = DType::f32;
    CHECK_FALSE(gen::plan(p, Isa::amx, plan, why));
    CHECK(why.find("bf16") != std::string::npos);
    p = bf16_layer(R"({"in_channels": 64, "out_channels": 64, "groups": 8,
        "input_size": [8, 8], "kernel_size": 3, "stride": 2})");
    CHECK_FALSE(gen::plan(p, Isa::amx, plan, why));
    CHECK(why.find("8 input and 8 output channels per group (channels_first)") !=
          std::string::npos);
    // Channels-last groups of up to 8 inputs with 2, 4 or 8 outputs: the AVX-512 depthwise
    // kernel's lanes across groups; 16 inputs stay on tiles, and so do 6 outputs per group.
    p.layout = Layout::channels_last;
    CHECK_FALSE(gen::plan(p, Isa::amx, plan, why));
    CHECK(why.find("8 -> 8 channels per group: the AVX-512 depthwise kernel") != std::string::npos);
    p.in_channels = 128;
    CHECK(gen::plan(p, Isa::amx, plan, why));
    p.in_channels = 64;
    p.out_channels = 48;
    CHECK(gen::plan(p, Isa::amx, plan, why));
    p.in_channels = 24;  // 3 per group
    CHECK_FALSE(gen::plan(p, Isa::amx, plan, why));
    // The family is Isa::amx's alone, and Isa::amx plans nothing else.
    p.groups = 1;
    gen::PlanOverrides amx_only;
    amx_only.shape = 6;
    CHECK_FALSE(gen::plan(p, Isa::avx512, plan, why, amx_only));
    gen::PlanOverrides channel;
    channel.shape = 1;
    CHECK_FALSE(gen::plan(p, Isa::amx, plan, why, channel));
}

TEST_CASE("bf16 pairs: the dispatcher puts bf16 layers on them, f32 layers pass by") {
    if (pair_isas().empty()) return;
    const Isa best = pair_isas()[0];  // AMX, else AVX512_BF16
    const Problem p = bf16_layer(R"({"in_channels": 32, "out_channels": 16,
        "input_size": [4, 4], "kernel_size": 2, "stride": 2, "layout": "channels_last"})");
    const test::LayerData d = test::random_layer_data(p, 1);
    const Layer bf16 = Layer::compile(p, d.w.data(), d.b.data());
    CHECK(bf16.implementation() == implementation_of(best));
    Problem f32 = p;
    f32.dtype = DType::f32;
    const Layer layer = Layer::compile(f32, d.w.data(), d.b.data());
    CHECK(layer.implementation() == "jit_avx512");
    CHECK(layer.report().declined.empty());  // not a candidate, so no decline to report
    Options capped;
    capped.max_isa = Isa::avx512;
    CHECK(Layer::compile(p, d.w.data(), d.b.data(), capped).implementation() == "jit_avx512");
    if (best == Isa::amx) {  // below the tiles: vdpbf16ps
        capped.max_isa = Isa::avx512_bf16;
        CHECK(Layer::compile(p, d.w.data(), d.b.data(), capped).implementation() ==
              "jit_avx512_bf16");
    }
}

TEST_CASE("bf16 pairs: random layers against the bf16 reference, the same bits on 1-3 threads") {
    for (Isa isa : pair_isas()) {
        CAPTURE(isa);
        std::mt19937_64 rng(20261205);
        int cf = 0, cl = 0;
        for (int i = 0; i < 60; ++i) {
            const Problem p = random_amx_layer(rng, i, isa);
            CAPTURE(p.name);
            const test::LayerData d = test::random_layer_data(p, uint64_t(100 + i));
            const auto impl = compile_amx(isa, p, d);
            CHECK(check_amx(p, d, *impl) == "");
            (p.layout == Layout::channels_first ? cf : cl) += 1;
        }
        CHECK(cf > 10);
        CHECK(cl > 10);
    }
}

TEST_CASE("amx: every tile shape, with W tails and a partial last vector") {
    if (!amx_here()) return;  // the vdpbf16ps tiles: the test after this one
    // 53 outputs per W phase row (tails of 5 and 21), 70 channels (a last vector of 6 lanes),
    // 40 input channels (a second, mostly zero step).
    for (Layout layout : {Layout::channels_last, Layout::channels_first}) {
        Problem p = bf16_layer(R"({"in_channels": 40, "out_channels": 70, "input_size": [3, 53],
            "kernel_size": [3, 3], "stride": [1, 2], "padding": 1, "output_padding": [0, 1],
            "activation": "tanh"})");
        p.layout = layout;
        const test::LayerData d = test::random_layer_data(p, 7);
        for (int ur : {16, 32})
            for (int n_oc = 1; n_oc <= (ur == 32 ? 2 : 4); ++n_oc) {
                gen::PlanOverrides o;
                o.ur = ur;
                o.n_oc = n_oc;
                const auto impl = compile_amx(Isa::amx, p, d, o);
                CHECK_MESSAGE(check_amx(p, d, *impl) == "", "ur ", ur, " n_oc ", n_oc);
            }
    }
}

TEST_CASE("bf16 dot: every register tile, with W tails, partial vectors and uneven steps") {
    if (cpu_info().best_isa() < Isa::avx512_bf16) return;
    // 53 outputs per W phase row (a tail for most ur), 70 channels (a last vector of 6 lanes),
    // 41 input channels (21 pairs: two steps of 11, the last pair half zero); 7 taps x 11 pairs
    // run the pairs in a run-time loop, 1 tap unrolls them.
    for (Layout layout : {Layout::channels_last, Layout::channels_first})
        for (const char* kernel : {"[3, 3]", "[1, 1]"}) {
            Problem p = bf16_layer(std::string(R"({"in_channels": 41, "out_channels": 70,
                "input_size": [3, 53], "stride": [1, 2], "padding": 1, "output_padding": [0, 1],
                "activation": "tanh", "kernel_size": )") + kernel + "}");
            p.layout = layout;
            const test::LayerData d = test::random_layer_data(p, 7);
            int tiles = 0;
            for (int n_oc = 1; n_oc <= 4; ++n_oc)
                for (int ur = 1; gen::dot_tile_fits(ur, n_oc, p.activation); ur += 3) {
                    gen::PlanOverrides o;
                    o.ur = ur;
                    o.n_oc = n_oc;
                    const auto impl = compile_amx(Isa::avx512_bf16, p, d, o);
                    const std::string name = impl->report().kernel_names[0];
                    CHECK(name.find("_ur" + std::to_string(ur) + "_oc" + std::to_string(n_oc) +
                                    "_p11") != std::string::npos);
                    CHECK_MESSAGE(check_amx(p, d, *impl) == "", "ur ", ur, " n_oc ", n_oc);
                    ++tiles;
                }
            CHECK(tiles > 15);
        }
}

TEST_CASE("bf16 dot: few output channels run lanes along W on vdpbf16ps, in channel pairs") {
    // Where the fp32 planner gives lanes along W (few output channels per group), the spatial
    // kernel takes the pairs: HiFi-GAN v2's 16 -> 8. Odd channels per group do not pair (an
    // odd group's last channel would share a channels-last word with the next group's) and
    // f32 layers are not bf16: both decline to the AVX-512 kernels.
    Problem p = bf16_layer(R"({"in_channels": 16, "out_channels": 8, "input_size": [300],
        "kernel_size": 4, "stride": 2, "padding": 1})");
    gen::Plan plan;
    std::string why;
    REQUIRE_MESSAGE(gen::plan(p, Isa::avx512_bf16, plan, why), why);
    REQUIRE(plan.shape() == gen::KernelShape::spatial_vec);
    const auto& sp = std::get<gen::SpatialPlan>(plan.family);
    CHECK(sp.ic_steps == 8);
    CHECK(sp.input.bf16_pairs);
    CHECK(sp.input.blocks.size() == 8);
    const std::string name = gen::kernel_name(sp.kernels[0]);
    CHECK(name.rfind("tconv_bf16_svec_k4_s2_", 0) == 0);
    CHECK(name.substr(name.size() - 13) == "__avx512_bf16");
    CHECK(plan.base().lines.back().find("vdpbf16ps") != std::string::npos);
    p.in_channels = 15;
    CHECK_FALSE(gen::plan(p, Isa::avx512_bf16, plan, why));
    CHECK(why.find("15 input channels per group do not pair up") != std::string::npos);
    p.in_channels = 16;
    p.dtype = DType::f32;
    gen::PlanOverrides spatial;
    spatial.shape = 2;
    CHECK_FALSE(gen::plan(p, Isa::avx512_bf16, plan, why, spatial));
    // 9-31 output channels, which the pair kernel would run in half-idle vectors: lanes along W
    // where more of theirs hold outputs (Mask R-CNN's 512 -> 17 keypoint head at 14x14), the
    // pair kernel on a 7x7 map (14 outputs a row in 32 lanes) and where its lanes are fuller
    // (28 of 32).
    auto shape_of = [&](const char* json) {
        REQUIRE_MESSAGE(gen::plan(bf16_layer(json), Isa::avx512_bf16, plan, why), why);
        return plan.shape();
    };
    CHECK(shape_of(R"({"in_channels": 512, "out_channels": 17, "input_size": [14, 14],
        "kernel_size": 4, "stride": 2, "padding": 1, "batch": 8})") ==
          gen::KernelShape::spatial_vec);
    CHECK(shape_of(R"({"in_channels": 512, "out_channels": 17, "input_size": [7, 7],
        "kernel_size": 4, "stride": 2, "padding": 1})") == gen::KernelShape::pairs);
    CHECK(shape_of(R"({"in_channels": 128, "out_channels": 28, "input_size": [28, 28],
        "kernel_size": 3, "stride": 2, "padding": 1})") == gen::KernelShape::pairs);
    // Where the fp32 planner takes columns: lanes along W on rows of outputs (a 64 -> 3 super-
    // resolution head), not on a 3D map of 2 outputs a row (those decline to the columns).
    CHECK(shape_of(R"({"in_channels": 64, "out_channels": 3, "input_size": [256, 256],
        "kernel_size": 4, "stride": 2, "padding": 1})") == gen::KernelShape::spatial_vec);
    p = bf16_layer(R"({"in_channels": 16, "out_channels": 8, "groups": 2, "batch": 2,
        "input_size": [4, 1, 1], "kernel_size": [4, 4, 1], "stride": [1, 1, 3],
        "dilation": [2, 2, 2], "pads": [3, 3, 0, 4, 0, 0], "output_padding": [1, 1, 1]})");
    CHECK_FALSE(gen::plan(p, Isa::avx512_bf16, plan, why));
    CHECK(why.find("column kernel serves it better") != std::string::npos);
    // Channels-first layers the pair kernel declines (1D 16 -> 16 k4 s2: 32 multiply-adds an
    // output): lanes along W on long rows, the AVX-512 kernels on 5 steps.
    CHECK(shape_of(R"({"in_channels": 16, "out_channels": 16, "input_size": [3000],
        "kernel_size": 4, "stride": 2, "padding": 1})") == gen::KernelShape::spatial_vec);
    p = bf16_layer(R"({"in_channels": 16, "out_channels": 16, "input_size": [5],
        "kernel_size": 4, "stride": 2, "padding": 1})");
    CHECK_FALSE(gen::plan(p, Isa::avx512_bf16, plan, why));
    CHECK(why.find("the AVX-512 kernels serve it better") != std::string::npos);
    // Channels-last ones keep the AVX-512 kernels however full the W lanes (the rows'
    // transposes into the user's pixels: 1D 8 -> 128 in 4 groups 4x slower on lanes along W).
    p = bf16_layer(R"({"in_channels": 8, "out_channels": 128, "groups": 4,
        "input_size": [3000], "kernel_size": 4, "stride": 2, "layout": "channels_last"})");
    CHECK_FALSE(gen::plan(p, Isa::avx512_bf16, plan, why));
    CHECK(shape_of(R"({"in_channels": 8, "out_channels": 128, "groups": 4,
        "input_size": [3000], "kernel_size": 4, "stride": 2})") ==
          gen::KernelShape::spatial_vec);
}

TEST_CASE("bf16 dot: lanes along W in channel pairs against the bf16 reference") {
    if (cpu_info().best_isa() < Isa::avx512_bf16) return;
    // Random layers with 1-12 output channels per group and an even number of inputs (2-40),
    // ranks 1-3, groups, strides to 5 (every interleave width), dilation, pads, output
    // padding, batch, both layouts, every activation; every third copied in bands of rows.
    std::mt19937_64 rng(20261207);
    auto pick = [&](int64_t lo, int64_t hi) {
        return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
    };
    int cf = 0, cl = 0, banded = 0;
    for (int i = 0; i < 48; ++i) {
        Problem p;
        p.name = "svec_pairs_" + std::to_string(i);
        p.dtype = DType::bf16;
        p.rank = int(1 + i % 3);
        p.batch = pick(1, 2);
        p.groups = pick(0, 2) == 0 ? pick(2, 3) : 1;
        p.in_channels = p.groups * 2 * pick(1, 20);
        p.out_channels = p.groups * pick(1, 12);
        p.layout = i % 2 ? Layout::channels_last : Layout::channels_first;
        p.activation = Activation(i % 5);
        p.negative_slope = 0.1f;
        p.bias = i % 4 != 0;
        if (!random_geometry(p, rng, p.rank == 1 ? 90 : p.rank == 2 ? 12 : 5, 3, 5)) continue;
        CAPTURE(p.name);
        gen::PlanOverrides o;
        o.shape = 2;
        if (i % 3 == 0 && p.layout == Layout::channels_first) o.band_rows = 1;
        const test::LayerData d = test::random_layer_data(p, uint64_t(300 + i));
        const std::vector<float> w = bf16_weights(p, d.w.data());
        std::string why;
        auto impl = make_jit_impl(Isa::avx512_bf16, p, w.data(), p.bias ? d.b.data() : nullptr,
                                  {}, why, o);
        if (!impl) {  // a tile that does not fit the registers at this stride
            CHECK_MESSAGE(why.find("does not fit") != std::string::npos, why);
            continue;
        }
        CHECK(impl->report().kernel_names[0].rfind("tconv_bf16_svec_", 0) == 0);
        CHECK(check_amx(p, d, *impl) == "");
        (p.layout == Layout::channels_first ? cf : cl) += 1;
        banded += o.band_rows > 0;
    }
    CHECK(cf > 15);
    CHECK(cl > 15);
    CHECK(banded > 4);
}

TEST_CASE("bf16 pairs: both narrowings round as float_to_bf16, NaN and infinities included") {
    for (Isa isa : pair_isas()) {
        CAPTURE(isa);
        // A 1x1 stride-1 layer whose weights are the identity: each output is its input (a finite,
        // normal bf16 value: the tiles count subnormal inputs as zero, and a NaN input would reach
        // every output through the zero weights) plus a bias, exact in fp32, so the sums hit ties,
        // overflow and NaN at will. The channels-last kernel narrows in its stores, the
        // channels-first one in the transpose.
        const int64_t C = 32, W = 40;
        Problem p = bf16_layer(R"({"in_channels": 32, "out_channels": 32, "input_size": [40],
            "kernel_size": 1, "bias": true, "layout": "channels_last"})");
        std::vector<float> w(size_t(C * C), 0.0f), b(static_cast<size_t>(C));
        for (int64_t c = 0; c < C; ++c) w[size_t(c * C + c)] = 1.0f;
        const float biases[] = {0.00390625f, -0.01171875f, 0.01171875f, 3.0e38f, -3.0e38f, INFINITY,
                                -INFINITY, NAN, 0.0f, -0.0f, 1e-39f, 65504.0f};
        const float inputs[] = {1.0f, -1.0f, 3.0e38f, 0.0f, -0.0f, 2.0f, 0.5f};
        for (int64_t c = 0; c < C; ++c)
            b[size_t(c)] = biases[size_t(c) % 12] * (c < 12 ? 1.0f : 0.5f);
        std::vector<float> x(size_t(W * C));
        for (size_t i = 0; i < x.size(); ++i) x[i] = round_to_bf16(inputs[(i * 5) % 7]);
        std::string why;
        auto cl = make_jit_impl(isa, p, w.data(), b.data(), {}, why);
        REQUIRE_MESSAGE(cl, why);
        p.layout = Layout::channels_first;
        auto cf = make_jit_impl(isa, p, w.data(), b.data(), {}, why);
        REQUIRE_MESSAGE(cf, why);
        std::vector<uint16_t> xl(x.size()), xf(x.size()), yl(x.size()), yf(x.size());
        for (int64_t v = 0; v < W; ++v)
            for (int64_t c = 0; c < C; ++c) {
                xl[size_t(v * C + c)] = float_to_bf16(x[size_t(v * C + c)]);
                xf[size_t(c * W + v)] = xl[size_t(v * C + c)];
            }
        cl->execute_bf16(xl.data(), yl.data(), 1, WaitPolicy::bounded);
        cf->execute_bf16(xf.data(), yf.data(), 1, WaitPolicy::bounded);
        for (int64_t v = 0; v < W; ++v)
            for (int64_t c = 0; c < C; ++c) {
                CAPTURE(v);
                CAPTURE(c);
                // One product (x * 1) summed from zero, plus the bias: exact in fp32 (a zero sum
                // is +0, as the accumulators start), then one rounding.
                const float want = (0.0f + x[size_t(v * C + c)]) + b[size_t(c)];
                const uint16_t bits = float_to_bf16(want);
                CHECK(yl[size_t(v * C + c)] == bits);
                CHECK(yf[size_t(c * W + v)] == bits);
            }
    }
}

namespace {

// The bf16 layer of `json` in `layout` with random data `d` (from `seed`), compiled under the
// ISA cap `isa`.
Layer compile_capped(const char* json, Layout layout, Isa isa, uint64_t seed,
                     test::LayerData& d) {
    Problem p = bf16_layer(json);
    p.layout = layout;
    d = test::random_layer_data(p, seed);
    Options o;
    o.max_isa = isa;
    return Layer::compile(p, d.w.data(), d.b.data(), o);
}

// `layer` reshaped to each input size at batch 2: still served as `served` says, its weights
// packed once, its results within the bf16 bound of the reference.
void check_reshapes(Layer& layer, const test::LayerData& d,
                    const std::vector<std::vector<int64_t>>& sizes, uint64_t seed,
                    const std::function<bool(const Layer&)>& served) {
    for (const std::vector<int64_t>& size : sizes) {
        layer.reshape(2, size);
        const Problem q = layer.problem();
        CAPTURE(q.name);
        CHECK(served(layer));
        CHECK(layer.report().weight_packs == 1);
        test::LayerData dq = d;
        dq.x = test::random_vector(size_t(q.input_elems()), seed);
        std::vector<float> y(size_t(q.output_elems()));
        layer.execute(dq.x.data(), y.data());
        CHECK(test::compare_bf16_to_reference(q, dq, y.data()) == "");
    }
}

}  // namespace

TEST_CASE("bf16 pairs: a reshaped bf16 layer keeps its packed weights and stays exact") {
    for (Isa isa : pair_isas())
        for (Layout layout : {Layout::channels_last, Layout::channels_first}) {
            test::LayerData d;
            Layer layer = compile_capped(R"({"in_channels": 48, "out_channels": 40,
                "input_size": [6, 9], "kernel_size": 3, "stride": 2, "padding": 1,
                "activation": "relu"})", layout, isa, 21, d);
            REQUIRE(layer.implementation() == implementation_of(isa));
            check_reshapes(layer, d, {{11, 37}, {1, 2}}, 5, [&](const Layer& l) {
                return l.implementation() == implementation_of(isa);
            });
        }
}

TEST_CASE("bf16 dot: a reshaped layer on lanes along W keeps its family and packed weights") {
    if (cpu_info().best_isa() < Isa::avx512_bf16) return;
    // 64 -> 17 runs lanes along W at 14x14; at 7x7 it would plan the pair kernel, but a
    // reshape keeps the packing (and so the family): exact at every size, packed once.
    for (Layout layout : {Layout::channels_last, Layout::channels_first}) {
        test::LayerData d;
        Layer layer = compile_capped(R"({"in_channels": 64, "out_channels": 17,
            "input_size": [14, 14], "kernel_size": 4, "stride": 2, "padding": 1,
            "activation": "sigmoid"})", layout, Isa::avx512_bf16, 22, d);
        auto on_lanes_along_w = [](const Layer& l) {
            return l.report().kernel_names[0].rfind("tconv_bf16_svec_", 0) == 0;
        };
        REQUIRE(on_lanes_along_w(layer));
        check_reshapes(layer, d, {{7, 7}, {3, 40}}, 6, on_lanes_along_w);
    }
}

TEST_CASE("bf16 pairs: channels-first inputs are paired in pieces of pixels and of channels") {
    for (Isa isa : pair_isas()) {
        CAPTURE(isa);
        // 128 channels (64 pairs) on 300 pixels: the pairing buffer holds 128 pixels at a time;
        // 16390 channels: more pairs than it holds, so it takes them in runs too (and an odd last
        // channel pairs with zero).
        for (const char* json : {R"({"in_channels": 128, "out_channels": 24, "input_size": [300],
                                     "kernel_size": 4, "stride": 2, "padding": 1})",
                                 R"({"in_channels": 16391, "out_channels": 2, "input_size": [3],
                                     "kernel_size": 2, "stride": 1})"}) {
            const Problem p = bf16_layer(json);
            CAPTURE(p.name);
            const test::LayerData d = test::random_layer_data(p, 31);
            const auto impl = compile_amx(isa, p, d);
            CHECK(check_amx(p, d, *impl) == "");
        }
    }
}

namespace {

// A random bf16 depthwise layer `name` + i: `groups` channels, `multiplier` outputs each, rank
// 1 + i % 3 (inputs up to max_1d steps, max_2d a side in 2D, 6 in 3D), batch 1-2, activation
// i % 5, bias on two in three, the geometry of random_geometry (strides to 3, to 5 along W);
// false when it drew an invalid layer.
bool random_depthwise(Problem& p, std::mt19937_64& rng, const char* name, int i, Layout layout,
                      int64_t groups, int64_t multiplier, int64_t max_1d, int64_t max_2d) {
    p.name = name + std::to_string(i);
    p.dtype = DType::bf16;
    p.rank = int(1 + i % 3);
    p.batch = std::uniform_int_distribution<int64_t>(1, 2)(rng);
    p.groups = p.in_channels = groups;
    p.out_channels = groups * multiplier;
    p.layout = layout;
    p.activation = Activation(i % 5);
    p.negative_slope = 0.1f;
    p.bias = i % 3 != 0;
    return random_geometry(p, rng, p.rank == 1 ? max_1d : p.rank == 2 ? max_2d : 6, 3, 5);
}

}  // namespace

TEST_CASE("bf16 dot: channels-last depthwise layers run in place, W taps in pairs") {
    if (cpu_info().best_isa() < Isa::avx512_bf16) return;
    // Random depthwise layers (23-80 channels: chunk tails, several blocks), ranks 1-3,
    // strides to 5, dilation, pads, output padding, batch, every activation, rows with and
    // without an interior: in place on vdpbf16ps, against the bf16 reference on 1-3 threads.
    std::mt19937_64 rng(20261208);
    auto pick = [&](int64_t lo, int64_t hi) {
        return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
    };
    int checked = 0, no_interior = 0;
    for (int i = 0; i < 60; ++i) {
        Problem p;
        const int64_t channels = i % 4 == 0 ? pick(23, 32) : pick(33, 80);
        if (!random_depthwise(p, rng, "dw_pairs_", i, Layout::channels_last, channels, 1, 60, 12))
            continue;
        CAPTURE(p.name);
        const test::LayerData d = test::random_layer_data(p, uint64_t(500 + i));
        const std::vector<float> w = bf16_weights(p, d.w.data());
        std::string why;
        gen::PlanOverrides o;
        o.dw_pieces = i % 2 ? 1 : 0;  // rows in pieces wherever they can be, or as planned
        auto impl = make_jit_impl(Isa::avx512_bf16, p, w.data(), p.bias ? d.b.data() : nullptr,
                                  {}, why, o);
        if (!impl) {  // chunks of 32 channels less than 70% full
            CHECK_MESSAGE(p.out_channels * 10 < (p.out_channels + 31) / 32 * 224, why);
            continue;
        }
        for (const std::string& name : impl->report().kernel_names) {
            const bool tap_pairs = name.find("_dw_") != std::string::npos &&
                                   name.find("_tp") != std::string::npos;
            CHECK_MESSAGE(tap_pairs, name);
        }
        CHECK(check_amx(p, d, *impl) == "");
        ++checked;
        gen::Plan plan;
        REQUIRE(gen::plan(p, Isa::avx512_bf16, plan, why));
        for (const std::string& line : plan.base().lines)
            no_interior += line.find("no interior") != std::string::npos;
    }
    CHECK(checked > 30);
    CHECK(no_interior > 3);
}

TEST_CASE("bf16 dot: the dispatcher takes tap pairs for depthwise layers that have them") {
    if (cpu_info().best_isa() < Isa::avx512_bf16) return;
    // DLA-34's up-sampler channels-last, also reshaped (to a row without an interior too), and
    // channels-first; one tap per W phase channels-first, a channels-last channel multiplier
    // of 2 and 16 channels (half a chunk) stay on the AVX-512 kernels.
    const char* dla = R"({"in_channels": 64, "out_channels": 64, "groups": 64,
        "input_size": [14, 14], "kernel_size": 4, "stride": 2, "padding": 1})";
    test::LayerData d;
    Layer layer = compile_capped(dla, Layout::channels_last, Isa::avx512_bf16, 41, d);
    CHECK(layer.implementation() == "jit_avx512_bf16");
    CHECK(layer.report().kernel_names[0].find("_tp") != std::string::npos);
    check_reshapes(layer, d, {{28, 5}, {1, 1}}, 7, [](const Layer& l) {
        return l.report().kernel_names[0].find("_tp") != std::string::npos;
    });
    const Layer cf = compile_capped(dla, Layout::channels_first, Isa::avx512_bf16, 41, d);
    CHECK(cf.implementation() == "jit_avx512_bf16");
    CHECK(cf.report().kernel_names[0].find("_dwcf_") != std::string::npos);
    const char* one_tap = R"({"in_channels": 64, "out_channels": 64, "groups": 64,
        "input_size": [14, 14], "kernel_size": 2, "stride": 2})";
    CHECK(compile_capped(one_tap, Layout::channels_first, Isa::avx512_bf16, 41, d)
              .implementation() == "jit_avx512");
    const char* multiplier = R"({"in_channels": 32, "out_channels": 64, "groups": 32,
        "input_size": [14, 14], "kernel_size": 4, "stride": 2, "padding": 1})";
    CHECK(compile_capped(multiplier, Layout::channels_last, Isa::avx512_bf16, 41, d)
              .implementation() == "jit_avx512");
    const char* sixteen = R"({"in_channels": 16, "out_channels": 16, "groups": 16,
        "input_size": [14, 14], "kernel_size": 4, "stride": 2, "padding": 1})";
    CHECK(compile_capped(sixteen, Layout::channels_last, Isa::avx512_bf16, 41, d)
              .implementation() == "jit_avx512");
}

TEST_CASE("bf16 dot: channels-first depthwise planes take W taps in pairs") {
    if (cpu_info().best_isa() < Isa::avx512_bf16) return;
    // Random channels-first depthwise layers (multipliers 1-3), ranks 1-3, strides to 5 (every
    // interleave), dilation (pairs a cstep apart), pads, output padding, batch, every
    // activation: on vdpbf16ps where a W phase has two taps or more and rows run lanes along
    // W, against the bf16 reference on 1-3 threads; the others decline with the reason.
    std::mt19937_64 rng(20261209);
    auto pick = [&](int64_t lo, int64_t hi) {
        return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
    };
    int paired = 0, declined = 0;
    for (int i = 0; i < 90; ++i) {
        Problem p;
        const int64_t groups = pick(2, 6), multiplier = pick(1, 3);
        if (!random_depthwise(p, rng, "dwcf_pairs_", i, Layout::channels_first, groups,
                              multiplier, 90, 14))
            continue;
        CAPTURE(p.name);
        const test::LayerData d = test::random_layer_data(p, uint64_t(700 + i));
        const std::vector<float> w = bf16_weights(p, d.w.data());
        std::string why;
        auto impl = make_jit_impl(Isa::avx512_bf16, p, w.data(), p.bias ? d.b.data() : nullptr,
                                  {}, why, {});
        if (!impl) {  // one tap a W phase, or few outputs a row (the depthwise kernel's lanes)
            const bool known = why.find("two or more W taps") != std::string::npos ||
                               why.find("AVX-512 depthwise kernel serves") != std::string::npos;
            CHECK_MESSAGE(known, why);
            ++declined;
            continue;
        }
        const std::string& name = impl->report().kernel_names[0];
        const bool tap_pairs = name.find("_dwcf_") != std::string::npos &&
                               name.find("_tp") != std::string::npos;
        CHECK_MESSAGE(tap_pairs, name);
        CHECK(check_amx(p, d, *impl) == "");
        ++paired;
    }
    CHECK(paired > 20);
    CHECK(declined > 3);
}
