// SPDX-License-Identifier: Apache-2.0
// The column family (matrix product over the channels-first input read in place, then col2im):
// every tile and chunking against the reference, its choice by the planner, thread counts.
#include <doctest/doctest.h>

#include <cmath>
#include <random>

#include <cstring>

#include "helpers.hpp"
#include "impl.hpp"
#include "jit_impl.hpp"
#include "tconv/gen/plan.hpp"

using namespace tconv;
using namespace tconv::test;

namespace {

// The ISAs this CPU runs, as the dispatcher sees them.
bool cpu_has(Isa isa) { return isa <= cpu_info().best_isa(); }

// A channels-first layer; throws (validate_problem) when the parameters make no valid one.
Problem layer(int rank, int64_t batch, int64_t ic, int64_t oc, int64_t groups,
              std::vector<int64_t> in, std::vector<int64_t> k, std::vector<int64_t> s,
              std::vector<int64_t> d, std::vector<int64_t> pb, std::vector<int64_t> pe,
              std::vector<int64_t> op, Activation act, bool bias) {
    Problem p;
    p.name = "gemm";
    p.rank = rank;
    p.batch = batch;
    p.in_channels = ic;
    p.out_channels = oc;
    p.groups = groups;
    for (int i = 0; i < rank; ++i) {
        p.input[size_t(i)] = in[size_t(i)];
        p.kernel[size_t(i)] = k[size_t(i)];
        p.stride[size_t(i)] = s[size_t(i)];
        p.dilation[size_t(i)] = d[size_t(i)];
        p.pad_begin[size_t(i)] = pb[size_t(i)];
        p.pad_end[size_t(i)] = pe[size_t(i)];
        p.output_padding[size_t(i)] = op[size_t(i)];
        p.output[size_t(i)] = output_extent(in[size_t(i)], k[size_t(i)], s[size_t(i)],
                                            d[size_t(i)], pb[size_t(i)], pe[size_t(i)],
                                            op[size_t(i)]);
    }
    p.activation = act;
    p.negative_slope = 0.15f;
    p.bias = bias;
    p.layout = Layout::channels_first;
    validate_problem(p);
    return p;
}

struct Run {
    std::unique_ptr<Impl> impl;
    std::vector<float> y;
};

Run run_gemm(Isa isa, const Problem& p, const LayerData& d, const gen::PlanOverrides& o,
             int threads = 1) {
    Run r;
    std::string why;
    r.impl = make_jit_impl(isa, p, d.w.data(), p.bias ? d.b.data() : nullptr, {}, why, o);
    REQUIRE_MESSAGE(r.impl, why);
    r.y.assign(size_t(p.output_elems()), std::nanf(""));  // a missed output shows
    r.impl->execute(d.x.data(), r.y.data(), threads);
    return r;
}

gen::PlanOverrides gemm(int ur = 0, int mr = 0) {
    gen::PlanOverrides o;
    o.shape = 5;
    o.ur = ur;
    o.n_oc = mr;
    return o;
}

const Isa kIsas[] = {Isa::avx512, Isa::avx2};

}  // namespace

TEST_CASE("jit gemm: every tile, tail and chunking against the reference") {
    for (Layout layout : {Layout::channels_first, Layout::channels_last}) {
    // Pixels 5 x 13 = 65: full tiles of 1-4 vectors and a masked tail; 151 input channels run
    // in 3 chunks (the accumulating kernels), 20 and 21 in one (channels run in pairs, an odd
    // one last); rows 2 x 9 = 18 cut into blocks of every height the registers allow; every
    // activation through the epilogue kernel.
    const Activation acts[] = {Activation::none, Activation::relu, Activation::leaky_relu,
                               Activation::sigmoid, Activation::tanh};
    for (Isa isa : kIsas) {
        if (!cpu_has(isa)) continue;
        for (int64_t ic : {20, 21, 151}) {
            Problem p = layer(2, 1, ic, 2, 1, {5, 13}, {3, 3}, {2, 2}, {1, 1}, {1, 1}, {0, 1},
                              {1, 0}, acts[ic % 5], true);
            p.layout = layout;
            const LayerData d = random_layer_data(p, uint64_t(ic));
            for (int ur = 1; ur <= 4; ++ur)
                for (int mr : {1, 2, 3, 5, 7, 9, 14, 18}) {
                    if (!gen::gemm_tile_fits(isa, mr, ur, true)) continue;
                    const Run r = run_gemm(isa, p, d, gemm(ur, mr));
                    CHECK_MESSAGE(compare_to_reference(p, d, r.y.data()).empty(), to_string(isa),
                                  " ic ", ic, " ur ", ur, " mr ", mr, " ", to_string(layout));
                }
            for (Activation a : acts) {
                Problem q = p;
                q.activation = a;
                const Run r = run_gemm(isa, q, d, gemm());
                CHECK_MESSAGE(compare_to_reference(q, d, r.y.data()).empty(), to_string(a));
            }
        }
    }
    }
}

TEST_CASE("jit gemm: random layers of every rank against the reference") {
    // Both layouts (channels_last through the transposed panels), groups, batch, dilation,
    // strides above the kernel (outputs no tap reaches: bias only), asymmetric pads, output
    // padding; the column family forced whatever the planner prefers.
    std::mt19937_64 rng(20261204);
    auto pick = [&](int64_t lo, int64_t hi) {
        return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
    };
    int checked = 0;
    for (int i = 0; i < 400 && checked < 60; ++i) {
        const int rank = int(pick(1, 3));
        const int64_t groups = pick(1, 3) == 3 ? pick(2, 4) : 1;
        std::vector<int64_t> in, k, s, d, pb, pe, op;
        for (int j = 0; j < rank; ++j) {
            in.push_back(pick(1, rank == 3 ? 5 : 11));
            k.push_back(pick(1, rank == 3 ? 4 : 6));
            s.push_back(pick(1, 4));
            d.push_back(pick(1, 2));
            pb.push_back(pick(0, d.back() * (k.back() - 1)));
            pe.push_back(pick(0, d.back() * (k.back() - 1)));
            op.push_back(pick(0, std::max(s.back(), d.back()) - 1));
        }
        Problem p;
        try {
            p = layer(rank, pick(1, 2), groups * pick(1, 40), groups * pick(1, 4), groups, in, k,
                      s, d, pb, pe, op, Activation(pick(0, 4)), pick(0, 1) == 1);
        } catch (const std::exception&) {
            continue;  // no valid layer
        }
        ++checked;
        if (i % 2 == 1) p.layout = Layout::channels_last;
        const LayerData data = random_layer_data(p, uint64_t(i));
        for (Isa isa : kIsas) {
            if (!cpu_has(isa)) continue;
            const Run r = run_gemm(isa, p, data, gemm());
            CHECK_MESSAGE(compare_to_reference(p, data, r.y.data()).empty(), to_string(isa),
                          " layer ", i, ": ", p.in_channels, " -> ", p.out_channels, " g",
                          p.groups, " rank ", rank, " ", to_string(p.layout));
        }
    }
    CHECK(checked >= 50);
}

TEST_CASE("jit gemm: channels-first planes a multiple of 1 KiB apart read through the panel") {
    // 256-pixel planes (16x16, 1D 512 and 4x8x8) with several row blocks: the tile's inputs are
    // copied into the thread's panel (GemmPlan::panel_floats); tails, groups, 70 channels (two
    // chunks) and a column pitch padded off 4 KiB, on 1-3 threads.
    const Problem layers[] = {
        layer(2, 2, 64, 3, 1, {16, 16}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, {0, 0},
              Activation::tanh, true),
        layer(1, 1, 2 * 70, 2 * 5, 2, {512}, {7}, {2}, {1}, {3}, {2}, {1}, Activation::relu,
              true),
        layer(3, 1, 48, 2, 1, {4, 8, 8}, {2, 3, 3}, {2, 2, 1}, {1, 1, 2}, {0, 1, 2}, {1, 0, 2},
              {1, 0, 0}, Activation::none, false),
    };
    for (const Problem& p : layers) {
        const LayerData d = random_layer_data(p, 11);
        for (Isa isa : kIsas) {
            if (!cpu_has(isa)) continue;
            gen::Plan plan;
            std::string why;
            REQUIRE(gen::plan(p, isa, plan, why, gemm()));
            const auto& gp = std::get<gen::GemmPlan>(plan.family);
            CHECK(gp.panel_floats > 0);
            CHECK(gp.row_blocks.size() > 1);
            CHECK(gp.col_pitch * 4 % 4096 != 0);
            const Run r = run_gemm(isa, p, d, gemm());
            CHECK_MESSAGE(compare_to_reference(p, d, r.y.data()).empty(), to_string(isa));
            for (int threads : {2, 3}) {
                const Run rn = run_gemm(isa, p, d, gemm(), threads);
                CHECK(std::memcmp(r.y.data(), rn.y.data(), r.y.size() * sizeof(float)) == 0);
            }
        }
    }
}

namespace {

// The column family forced on p, on every ISA the CPU has: exact on one thread, and the
// same bits on two and three.
void check_threads_bitwise(const Problem& p, uint64_t seed) {
    const LayerData d = random_layer_data(p, seed);
    for (Isa isa : kIsas) {
        if (!cpu_has(isa)) continue;
        std::string why;
        auto impl = make_jit_impl(isa, p, d.w.data(), d.b.data(), {}, why, gemm());
        REQUIRE(impl);
        std::vector<float> y1(size_t(p.output_elems())), yn(y1.size());
        impl->execute(d.x.data(), y1.data(), 1);
        CHECK_MESSAGE(compare_to_reference(p, d, y1.data()).empty(), to_string(isa));
        for (int threads : {2, 3}) {
            impl->execute(d.x.data(), yn.data(), threads);
            CHECK(std::memcmp(y1.data(), yn.data(), y1.size() * sizeof(float)) == 0);
        }
    }
}

}  // namespace

TEST_CASE("jit gemm: bitwise equal on 1, 2 and 3 threads") {
    // Shares of tiles may start inside a group and inside a chunk's run; col2im's rows too.
    check_threads_bitwise(layer(2, 2, 3 * 70, 3 * 2, 3, {6, 23}, {4, 4}, {2, 2}, {1, 1}, {1, 1},
                                {1, 1}, {0, 0}, Activation::tanh, true),
                          5);
}

TEST_CASE("jit gemm: tiles in blocks over the input-channel chunks") {
    // 150 inputs run in 3 chunks; blocks of 1 and 3 tiles (and a last, shorter block), none,
    // and the planner's, in both layouts and on 1-2 threads: every output as the reference's.
    for (Isa isa : kIsas) {
        if (!cpu_has(isa)) continue;
        for (Layout layout : {Layout::channels_first, Layout::channels_last}) {
            Problem p = layer(2, 2, 150, 3, 1, {9, 21}, {3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 1},
                              {1, 1}, Activation::relu, true);
            p.layout = layout;
            const LayerData d = random_layer_data(p, 91);
            for (int64_t block : {1, 3, -1, 0}) {
                gen::PlanOverrides o = gemm();
                o.gemm_tile_block = block;
                for (int threads : {1, 2}) {
                    const Run r = run_gemm(isa, p, d, o, threads);
                    INFO(to_string(isa), " ", to_string(layout), " block ", block, " threads ",
                         threads);
                    CHECK(compare_to_reference(p, d, r.y.data()) == "");
                }
            }
        }
    }
    // The planner blocks the tiles when all of their sums overflow half of L2 and the weights
    // of every chunk fit it: 256 -> 3 k3 on 128x128 (27 rows x 16384 pixels, 1.7 MB of sums,
    // 27 KB of weights) in blocks of tiles whose sums take at most half the planned L2 (here
    // the default 1 MiB); not with one chunk (48 inputs), nor when the weights overflow it
    // (1024 -> 64 k3: 2.4 MB).
    auto block = [](int64_t ic, int64_t oc, int64_t size, int64_t& all) {
        Problem p = layer(2, 1, ic, oc, 1, {size, size}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1},
                          {0, 0}, Activation::none, false);
        gen::Plan plan;
        std::string why;
        REQUIRE_MESSAGE(gen::plan(p, Isa::avx2, plan, why, gemm()), why);
        const auto& gp = std::get<gen::GemmPlan>(plan.family);
        all = gp.tiles + (gp.tail_vectors > 0 ? 1 : 0);
        CHECK(gp.tile_block >= 1);
        const int64_t sums = gp.rows * gp.ur * gp.vlen * 4;  // per tile
        if (gp.tile_block < all) CHECK(gp.tile_block * sums <= gp.l2_bytes / 2);
        return gp.tile_block;
    };
    int64_t all = 0;
    CHECK(block(256, 3, 128, all) < all);
    CHECK(block(48, 3, 128, all) == all);
    CHECK(block(1024, 64, 32, all) == all);
}

TEST_CASE("jit gemm: the planner's choice") {
    auto family = [](const Problem& p, Isa isa = Isa::avx512) {
        gen::Plan plan;
        std::string why;
        REQUIRE(gen::plan(p, isa, plan, why));
        return plan.shape();
    };
    auto cf = [](int64_t ic, int64_t oc, int64_t k, Layout layout = Layout::channels_first) {
        Problem p = layer(2, 1, ic, oc, 1, {16, 16}, {k, k}, {2, 2}, {1, 1}, {1, 1}, {1, 1},
                          {0, 0}, Activation::tanh, true);
        p.layout = layout;
        return p;
    };
    // 512 -> 1 k4 (q = 16 / 512), a generator's last layer 64 -> 3 k4 (q = 0.75)
    CHECK(family(cf(512, 1, 4)) == gen::KernelShape::gemm);
    CHECK(family(cf(64, 3, 4)) == gen::KernelShape::gemm);
    CHECK(family(cf(64, 3, 4), Isa::avx2) == gen::KernelShape::gemm);
    CHECK(family(cf(512, 1, 4, Layout::channels_last)) == gen::KernelShape::gemm);
    // q > 1 (32 -> 4 k4: 64 column floats per 32 inputs), too few input channels, many
    // output channels (9 or more per group on AVX-512): the other families
    CHECK(family(cf(32, 4, 4)) != gen::KernelShape::gemm);
    CHECK(family(cf(16, 1, 2)) != gen::KernelShape::gemm);
    CHECK(family(cf(512, 17, 2, Layout::channels_last)) != gen::KernelShape::gemm);
    CHECK(family(cf(512, 64, 2, Layout::channels_last)) != gen::KernelShape::gemm);
    // ...but for AVX-512 channels-first layers of up to 24 outputs at q <= 1/2 (512 -> 17 k2:
    // q = 68 / 512), not past 24 outputs or at q = 0.71 (96 -> 17 k2), nor on AVX2
    CHECK(family(cf(512, 17, 2)) == gen::KernelShape::gemm);
    CHECK(family(cf(512, 24, 2)) == gen::KernelShape::gemm);
    CHECK(family(cf(512, 25, 2)) != gen::KernelShape::gemm);
    CHECK(family(cf(96, 17, 2)) != gen::KernelShape::gemm);
    CHECK(family(cf(512, 17, 2), Isa::avx2) != gen::KernelShape::gemm);
    // AVX2: 17 channels (71% of three vectors' lanes) at q <= 1 take the columns over the
    // channel kernel (a keypoint head, 14x14); full vectors (24) and a 2x2 map do not, and
    // AVX-512 keeps its rule
    auto keypoint = [&](int64_t oc, int64_t hw) {
        return layer(2, 8, 512, oc, 1, {hw, hw}, {4, 4}, {2, 2}, {1, 1}, {1, 1}, {1, 1}, {0, 0},
                     Activation::none, true);
    };
    CHECK(family(keypoint(17, 14), Isa::avx2) == gen::KernelShape::gemm);
    CHECK(family(cf(512, 17, 4, Layout::channels_last), Isa::avx2) == gen::KernelShape::gemm);
    CHECK(family(keypoint(24, 14), Isa::avx2) == gen::KernelShape::channel_vec);
    CHECK(family(keypoint(17, 2), Isa::avx2) != gen::KernelShape::gemm);
    CHECK(family(keypoint(17, 14)) != gen::KernelShape::gemm);
    // AVX2, channels-first: an RGB layer from at most 64 channels on a map of 32768 or more
    // pixels takes the spatial kernel; a 128x128 map, 128 channels, channels-last and AVX-512
    // keep the columns
    auto rgb = [&](int64_t ic, int64_t hw, Layout layout = Layout::channels_first) {
        Problem p = layer(2, 1, ic, 3, 1, {hw, hw}, {4, 4}, {2, 2}, {1, 1}, {1, 1}, {1, 1},
                          {0, 0}, Activation::tanh, true);
        p.layout = layout;
        return p;
    };
    CHECK(family(rgb(64, 256), Isa::avx2) == gen::KernelShape::spatial_vec);
    CHECK(family(rgb(32, 192), Isa::avx2) == gen::KernelShape::spatial_vec);
    CHECK(family(rgb(64, 128), Isa::avx2) == gen::KernelShape::gemm);
    CHECK(family(rgb(128, 256), Isa::avx2) == gen::KernelShape::gemm);
    CHECK(family(rgb(64, 256, Layout::channels_last), Isa::avx2) == gen::KernelShape::gemm);
    CHECK(family(rgb(64, 256)) == gen::KernelShape::gemm);
    // ... but 1D rows of that length keep the columns (64 -> 3 k4 s2 on 40000 steps)
    Problem rgb1d = layer(1, 1, 64, 3, 1, {40000}, {4}, {2}, {1}, {1}, {1}, {0},
                          Activation::tanh, true);
    CHECK(family(rgb1d, Isa::avx2) == gen::KernelShape::gemm);
    // AVX2, channels-first: few outputs from 32 or more channels under a dilation sharing a
    // factor with the stride (W phases without taps) take the columns at any q (AlexNet's
    // dilated 96 -> 3 k11 s4 d2: q = 3.8); without dilation, from 16 channels, channels-last
    // and AVX-512 keep the spatial kernel
    auto dilated = [&](int64_t ic, int64_t k, int64_t s, int64_t d,
                       Layout layout = Layout::channels_first) {
        Problem p = layer(2, 1, ic, 3, 1, {52, 52}, {k, k}, {s, s}, {d, d}, {0, 0}, {0, 0},
                          {0, 0}, Activation::none, true);
        p.layout = layout;
        return p;
    };
    CHECK(family(dilated(96, 11, 4, 2), Isa::avx2) == gen::KernelShape::gemm);
    CHECK(family(dilated(64, 7, 2, 2), Isa::avx2) == gen::KernelShape::gemm);
    CHECK(family(dilated(96, 11, 4, 1), Isa::avx2) == gen::KernelShape::spatial_vec);
    CHECK(family(dilated(16, 5, 2, 2), Isa::avx2) == gen::KernelShape::spatial_vec);
    CHECK(family(dilated(96, 11, 4, 2, Layout::channels_last), Isa::avx2) !=
          gen::KernelShape::gemm);
    CHECK(family(dilated(96, 11, 4, 2)) == gen::KernelShape::spatial_vec);
    // AVX2, channels-first: a tiny map under a dilated kernel, most taps reading the halo, and
    // large weights (benchdnn's 3D 512 -> 256 k3 d2 at 6x7x7: 24% of the taps live) takes the
    // columns; padded to half live, channels-last and AVX-512 keep the channel kernel
    auto halo = [&](int64_t pad, Layout layout = Layout::channels_first) {
        Problem p = layer(3, 1, 512, 256, 1, {6, 7, 7}, {3, 3, 3}, {1, 1, 1}, {2, 2, 2},
                          {pad, pad, pad}, {pad, pad, pad}, {0, 0, 0}, Activation::none, true);
        p.layout = layout;
        return p;
    };
    CHECK(family(halo(0), Isa::avx2) == gen::KernelShape::gemm);
    CHECK(family(halo(2), Isa::avx2) == gen::KernelShape::channel_vec);
    CHECK(family(halo(0, Layout::channels_last), Isa::avx2) == gen::KernelShape::channel_vec);
    CHECK(family(halo(0)) == gen::KernelShape::channel_vec);
    // AVX2, at most half a vector of outputs per group at q in (1, 2]: channels-last from 16
    // inputs per group (8 x 24 -> 3 k3x4: q = 1.5); channels-first from 48 on up to 2048
    // pixels, or from 16 at q <= 1.25 on a small map of short rows (16 x 32 -> 3 k3x4 on 3x2:
    // q = 1.125); q > 2, a long 1D row from 24 channels, 8 inputs per group, AVX-512 do not
    auto few = [&](int64_t groups, int64_t icg, int64_t ocg, std::vector<int64_t> in,
                   std::vector<int64_t> k, Layout layout) {
        const int rank = int(in.size());
        const std::vector<int64_t> one(size_t(rank), 1), zero(size_t(rank), 0);
        std::vector<int64_t> s(size_t(rank), 2);
        Problem p = layer(rank, 2, groups * icg, groups * ocg, groups, in, k, s, one, one, one,
                          zero, Activation::tanh, true);
        p.layout = layout;
        return p;
    };
    const Layout CL = Layout::channels_last, CF = Layout::channels_first;
    CHECK(family(few(8, 24, 3, {20, 20}, {3, 4}, CL), Isa::avx2) == gen::KernelShape::gemm);
    CHECK(family(few(8, 16, 2, {9, 40}, {3, 4}, CL), Isa::avx2) == gen::KernelShape::gemm);
    CHECK(family(few(8, 64, 3, {20, 20}, {5, 5}, CF), Isa::avx2) == gen::KernelShape::gemm);
    CHECK(family(few(16, 32, 3, {3, 2}, {3, 4}, CF), Isa::avx2) == gen::KernelShape::gemm);
    CHECK(family(few(8, 16, 4, {20, 20}, {4, 4}, CL), Isa::avx2) != gen::KernelShape::gemm);
    CHECK(family(few(6, 24, 4, {53}, {5}, CF), Isa::avx2) != gen::KernelShape::gemm);
    CHECK(family(few(8, 8, 2, {20, 20}, {3, 3}, CL), Isa::avx2) != gen::KernelShape::gemm);
    CHECK(family(few(8, 24, 3, {20, 20}, {3, 4}, CL)) != gen::KernelShape::gemm);
    // Channels-first groups from 32 inputs per group up to q = 2 on any map (16 x 32 -> 3 k4 on
    // 8x9: q = 1.5; 4 x 64 -> 4 k5 on 80x80: q = 1.56); ungrouped ones of 64 inputs there and
    // 16 inputs per group at q = 1.5 do not
    CHECK(family(few(16, 32, 3, {8, 9}, {4, 4}, CF), Isa::avx2) == gen::KernelShape::gemm);
    CHECK(family(few(4, 64, 4, {80, 80}, {5, 5}, CF), Isa::avx2) == gen::KernelShape::gemm);
    CHECK(family(few(1, 64, 4, {80, 80}, {5, 5}, CF), Isa::avx2) != gen::KernelShape::gemm);
    CHECK(family(few(16, 16, 2, {8, 9}, {3, 4}, CF), Isa::avx2) != gen::KernelShape::gemm);
    // ... and channels-last groups of 5-6 from 32 inputs per group up to q = 2 (4 x 64 -> 5
    // k4x4: q = 1.25), not from 16
    CHECK(family(few(4, 64, 5, {20, 20}, {4, 4}, CL), Isa::avx2) == gen::KernelShape::gemm);
    CHECK(family(few(8, 16, 5, {20, 20}, {2, 2}, CL), Isa::avx2) != gen::KernelShape::gemm);
    CHECK(family(few(4, 64, 5, {20, 20}, {4, 4}, CF), Isa::avx2) != gen::KernelShape::gemm);
    // ... and channels-first groups of one vector (8) from 64 inputs per group, 3 groups or
    // more; not 2 groups, not 32 inputs, not channels-last
    CHECK(family(few(4, 128, 8, {12, 10}, {2, 2}, CF), Isa::avx2) == gen::KernelShape::gemm);
    CHECK(family(few(3, 64, 8, {16, 23}, {4, 4}, CF), Isa::avx2) == gen::KernelShape::gemm);
    CHECK(family(few(2, 128, 8, {12, 10}, {2, 2}, CF), Isa::avx2) != gen::KernelShape::gemm);
    CHECK(family(few(4, 32, 8, {12, 10}, {2, 2}, CF), Isa::avx2) != gen::KernelShape::gemm);
    CHECK(family(few(4, 128, 8, {12, 10}, {2, 2}, CL), Isa::avx2) != gen::KernelShape::gemm);
    // One output per W phase (4 x 128 -> 4 x 2, k7x3x7 s1x3x2 d3x1x1 on 2x4x3 -> W 1): not lanes
    // along W but columns, at any q, on both ISAs; depthwise such layers on the depthwise kernel
    // (channels in lanes); two W outputs a phase keep the spatial kernel.
    auto narrow = [&](int64_t groups, int64_t icg, int64_t ocg, int64_t w) {
        return layer(3, 1, groups * icg, groups * ocg, groups, {2, 4, w}, {7, 3, 7}, {1, 3, 2},
                     {3, 1, 1}, {0, 0, 5}, {0, 0, 5}, {0, 0, 0}, Activation::sigmoid, true);
    };
    CHECK(narrow(4, 128, 2, 3).output[2] == 1);
    CHECK(family(narrow(4, 128, 2, 3), Isa::avx2) == gen::KernelShape::gemm);
    CHECK(family(narrow(4, 128, 2, 3)) == gen::KernelShape::gemm);
    CHECK(family(narrow(64, 1, 1, 3), Isa::avx2) == gen::KernelShape::depthwise);
    CHECK(family(narrow(4, 16, 2, 4), Isa::avx2) == gen::KernelShape::spatial_vec);
    for (Layout layout : {Layout::channels_first, Layout::channels_last}) {
        Problem p = narrow(4, 128, 2, 3);
        p.layout = layout;
        check_threads_bitwise(p, 31);
    }
}

TEST_CASE("jit gemm: channels-last groups with few outputs, exact and bitwise equal on 1-3 "
          "threads") {
    // col2im hands channels-last threads whole output rows: shares that end inside a row,
    // 3D, a 1D layer of one row per image, W phases with different tap counts; long 1D rows
    // cut into W spans (the last one short; residues without taps under a dilation).
    const Problem cases[] = {
        layer(1, 2, 2 * 32, 2 * 3, 2, {300}, {4}, {2}, {1}, {1}, {2}, {1}, Activation::relu,
              true),
        layer(1, 1, 40, 4, 1, {211}, {3}, {4}, {2}, {0}, {1}, {3}, Activation::none, false),
        layer(2, 2, 8 * 24, 8 * 3, 8, {7, 9}, {3, 4}, {2, 2}, {1, 1}, {1, 0}, {0, 1}, {1, 0},
              Activation::relu, true),
        layer(3, 1, 4 * 32, 4 * 4, 4, {3, 4, 5}, {3, 3, 3}, {2, 1, 2}, {1, 1, 1}, {1, 1, 1},
              {1, 1, 1}, {0, 0, 1}, Activation::none, false),
        layer(1, 3, 2 * 40, 2 * 3, 2, {37}, {5}, {3}, {1}, {2}, {1}, {2}, Activation::sigmoid,
              true),
    };
    for (Problem p : cases) {
        p.layout = Layout::channels_last;
        check_threads_bitwise(p, 9);
    }
}

TEST_CASE("jit gemm: col2im bands of many rows, rows no tap reaches filled, channel blocks") {
    // Strides over the kernel leave whole rows (and 3D planes) without a tap: act(bias) fills
    // them; bands hold many short rows, each tap adding its rows of a residue at once;
    // channels-last items transpose blocks of up to 8 channels into their pixels. Both
    // layouts, with and without bias, an activation that moves act(bias) off bias, 1-3
    // threads, against the reference and bitwise across thread counts.
    const Problem cases[] = {
        layer(2, 1, 8 * 32, 8 * 3, 8, {35, 28}, {2, 2}, {4, 3}, {1, 1}, {0, 0}, {0, 0}, {0, 0},
              Activation::sigmoid, true),
        layer(2, 2, 64, 5, 1, {6, 9}, {3, 2}, {5, 3}, {2, 1}, {1, 0}, {2, 1}, {4, 2},
              Activation::tanh, true),
        layer(3, 1, 48, 2, 1, {3, 4, 5}, {2, 2, 3}, {4, 3, 2}, {1, 1, 1}, {0, 1, 1},
              {1, 0, 0}, {2, 1, 1}, Activation::sigmoid, true),
        layer(2, 1, 40, 3, 1, {7, 5}, {1, 2}, {3, 4}, {1, 1}, {0, 0}, {0, 0}, {2, 3},
              Activation::none, false),
        // one channel in W spans (16 rows of 600: rows of H residues 1-2 take no tap)
        layer(2, 1, 64, 1, 1, {6, 300}, {1, 4}, {3, 2}, {1, 1}, {0, 1}, {0, 1}, {0, 0},
              Activation::sigmoid, true),
        // one channel (channels-last rows are then dense), and 8 + 3 channels in two blocks
        layer(2, 1, 64, 1, 1, {9, 11}, {4, 4}, {2, 3}, {1, 1}, {1, 1}, {1, 0}, {0, 1},
              Activation::tanh, true),
        layer(2, 2, 96, 11, 1, {5, 13}, {3, 4}, {2, 2}, {1, 1}, {1, 1}, {1, 1}, {1, 0},
              Activation::relu, true),
    };
    for (Problem p : cases)
        for (Layout layout : {Layout::channels_first, Layout::channels_last}) {
            p.layout = layout;
            INFO(p.input[0], "x", p.input[1], " ", to_string(layout));
            check_threads_bitwise(p, 17);
        }
    // Bands of short rows fill 8 KiB of floats at most, yet leave at least 8 bands per image
    // over the channels where there are rows for them: 24 channels of 136 x 83 outputs take
    // 24 rows a band; 2 channels of 32 x 40, 8 rows (4 bands each) rather than 51.
    auto band = [](const Problem& p) {
        gen::Plan plan;
        std::string why;
        REQUIRE_MESSAGE(gen::plan(p, Isa::avx2, plan, why, gemm()), why);
        const auto& gp = std::get<gen::GemmPlan>(plan.family);
        CHECK(gp.band_floats * 4 <= 8192 + 4 * gp.vlen);
        return gp.col2im_rows;
    };
    CHECK(band(cases[0]) == 24);
    // A channels-last 1D row of 40000 outputs in W spans of 128 phase indices: the band's
    // buffer holds a span's 256 outputs, not the row's.
    Problem wide = layer(1, 1, 64, 4, 1, {20000}, {4}, {2}, {1}, {1}, {1}, {0},
                         Activation::none, true);
    wide.layout = Layout::channels_last;
    gen::Plan plan;
    std::string why;
    REQUIRE_MESSAGE(gen::plan(wide, Isa::avx2, plan, why, gemm()), why);
    CHECK(std::get<gen::GemmPlan>(plan.family).w_spans > 1);
    CHECK(std::get<gen::GemmPlan>(plan.family).band_floats == 256);
    check_threads_bitwise(wide, 23);
    // Rows of 2200 outputs: blocks of 7 channels keep the thread's buffer near 64 KiB (9 = 7
    // + 2 channels).
    Problem rows = layer(2, 1, 32, 9, 1, {16, 1100}, {2, 2}, {2, 2}, {1, 1}, {0, 0}, {0, 0},
                         {0, 0}, Activation::relu, true);
    rows.layout = Layout::channels_last;
    check_threads_bitwise(rows, 29);
    CHECK(band(layer(2, 1, 256, 2, 1, {16, 20}, {4, 4}, {2, 2}, {1, 1}, {1, 1}, {1, 1}, {0, 0},
                     Activation::none, true)) == 8);
}

TEST_CASE("jit gemm: AVX2 tiles of 12 accumulators over 8-9") {
    // The loop body's instruction count leaves AVX2 tiles of 3 x 3, 2 x 4 or 12 x 1 short of
    // the FMA ports: rows run 6 to a block over 2 vectors of pixels (a dilated 64 -> 3 k7 s2:
    // 147 rows, were 3 x 3; 32 rows from 96 channels on 533 pixels, were 2 x 4).
    auto tile = [](const Problem& p, Isa isa) {
        gen::Plan plan;
        std::string why;
        REQUIRE(gen::plan(p, isa, plan, why, gemm()));
        const auto& g = std::get<gen::GemmPlan>(plan.family);
        return std::pair<int, int>{g.n_oc, g.ur};
    };
    const Problem rgb = layer(2, 2, 64, 3, 1, {109, 109}, {7, 7}, {2, 2}, {2, 2}, {3, 3},
                              {3, 3}, {1, 1}, Activation::none, true);
    const Problem rows32 = layer(2, 1, 96, 2, 1, {13, 41}, {4, 4}, {1, 1}, {1, 1}, {0, 0},
                                 {0, 0}, {0, 0}, Activation::none, true);
    CHECK(tile(rgb, Isa::avx2) == std::pair<int, int>{6, 2});
    CHECK(tile(rows32, Isa::avx2) == std::pair<int, int>{6, 2});
}

TEST_CASE("jit gemm: kernel names say family, tile, tail and chunk") {
    const Problem p = layer(2, 1, 150, 2, 1, {5, 13}, {3, 3}, {2, 2}, {1, 1}, {1, 1}, {0, 1},
                            {1, 0}, Activation::sigmoid, true);
    gen::Plan plan;
    std::string why;
    REQUIRE(gen::plan(p, Isa::avx512, plan, why, gemm(2)));
    std::vector<std::string> names;
    for (const auto& k : plan.base().kernels) names.push_back(gen::kernel_name(k));
    auto has = [&](const std::string& part) {
        for (const auto& n : names)
            if (n.find(part) != std::string::npos) return true;
        return false;
    };
    CHECK(has("tconv_f32_gemm_k3x3_s2x2_mr"));
    CHECK(has("_ur2_h"));                 // full tiles of 2 vectors
    CHECK(has("_ur1_m1_h"));              // 65 = 2 x 32 + 1: a 1-lane tail
    CHECK(has("_acc_h"));                 // 150 channels: later chunks accumulate
    CHECK(has("tconv_f32_gemm_epilogue_sigmoid_h"));
}
