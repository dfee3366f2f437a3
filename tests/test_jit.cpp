// SPDX-License-Identifier: Apache-2.0
// The JIT against the reference: a structured sweep (one axis at a time around a few base
// layers) plus a seeded random sample, on AVX-512 and AVX2; thread-count determinism, plan
// choices, kernel names and W^X.
#include <doctest/doctest.h>
#include <xbyak/xbyak_util.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <tuple>

#include "helpers.hpp"
#include "bf16_impl.hpp"
#include "impl.hpp"
#include "jit_impl.hpp"
#include "tconv/gen/plan.hpp"

namespace tconv::test {
namespace {

bool cpu_has(Isa isa) {
    static const Xbyak::util::Cpu cpu;
    using C = Xbyak::util::Cpu;
    if (isa == Isa::avx512) return cpu.has(C::tAVX512F);
    return cpu.has(C::tAVX2) && cpu.has(C::tFMA);
}

std::unique_ptr<Impl> make_jit(Isa isa, const Problem& p, const LayerData& d, std::string& why) {
    const float* b = p.bias ? d.b.data() : nullptr;
    return isa == Isa::avx512 ? make_jit_avx512_impl(p, d.w.data(), b, {}, why)
                              : make_jit_avx2_impl(p, d.w.data(), b, {}, why);
}

// A layer from per-dimension parameters (same value in every dim unless given per dim).
struct Spec {
    int rank = 2;
    int64_t batch = 1, ic = 4, oc = 16, groups = 1;  // ic and oc: totals over the groups
    std::vector<int64_t> in{5, 5}, k{3, 3}, s{2, 2}, d{1, 1}, pb{1, 1}, pe{1, 1}, op{0, 0};
    Layout layout = Layout::channels_first;
    Activation act = Activation::none;
    bool bias = true;
};

std::vector<int64_t> fit(std::vector<int64_t> v, int rank) {
    while (int(v.size()) < rank) v.push_back(v.back());
    v.resize(size_t(rank));
    return v;
}

// Returns false when the parameters make no valid layer.
bool make_problem(Spec s, Problem& p) {
    p = Problem{};
    p.rank = s.rank;
    p.batch = s.batch;
    p.in_channels = s.ic;
    p.out_channels = s.oc;
    p.groups = s.groups;
    p.layout = s.layout;
    p.activation = s.act;
    p.negative_slope = 0.2f;
    p.bias = s.bias;
    auto in = fit(s.in, s.rank), k = fit(s.k, s.rank), st = fit(s.s, s.rank), d = fit(s.d, s.rank),
         pb = fit(s.pb, s.rank), pe = fit(s.pe, s.rank), op = fit(s.op, s.rank);
    std::ostringstream name;
    name << "rank" << s.rank << " n" << s.batch << " ic" << s.ic << " oc" << s.oc;
    if (s.groups > 1) name << " groups" << s.groups;
    for (int i = 0; i < s.rank; ++i) {
        const size_t u = size_t(i);
        if (op[u] >= st[u] && op[u] >= d[u]) return false;
        if (pb[u] > d[u] * (k[u] - 1) || pe[u] > d[u] * (k[u] - 1)) return false;
        p.input[u] = in[u];
        p.kernel[u] = k[u];
        p.stride[u] = st[u];
        p.dilation[u] = d[u];
        p.pad_begin[u] = pb[u];
        p.pad_end[u] = pe[u];
        p.output_padding[u] = op[u];
        p.output[u] = output_extent(in[u], k[u], st[u], d[u], pb[u], pe[u], op[u]);
        if (p.output[u] <= 0) return false;
        name << " | in" << in[u] << " k" << k[u] << " s" << st[u] << " d" << d[u] << " p" << pb[u]
             << "," << pe[u] << " op" << op[u] << " -> " << p.output[u];
    }
    name << " | " << to_string(s.layout) << " " << to_string(s.act) << (s.bias ? "" : " nobias");
    p.name = name.str();
    return true;
}

std::string join(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
    return s;
}

// Compiles `s` for `isa`, runs it and compares with the reference; returns "" on success.
// bf16: as Layer::compile builds a bf16 layer (weights rounded; an Impl storing fp32 wrapped
// in the conversion passes), run on bf16 bit patterns and checked against the bf16 reference.
std::string check_layer(Isa isa, const Spec& s, uint64_t seed, const gen::PlanOverrides& tile = {},
                        DType dtype = DType::f32) {
    Problem p;
    if (!make_problem(s, p)) return "";
    p.dtype = dtype;
    const LayerData d = random_layer_data(p, seed);
    std::string why;
    const bool bf16 = dtype == DType::bf16;
    const std::vector<float> w = bf16 ? bf16_weights(p, d.w.data()) : d.w;
    auto impl = make_jit_impl(isa, p, w.data(), p.bias ? d.b.data() : nullptr, {}, why, tile);
    if (!impl) return p.name + ": declined: " + why;
    std::vector<float> y(size_t(p.output_elems()), std::nanf(""));
    if (bf16) {
        impl = as_bf16_layer(std::move(impl));
        std::vector<uint16_t> xb(d.x.size()), yb(y.size(), 0x7fc0);
        float_to_bf16(d.x.data(), xb.data(), int64_t(xb.size()));
        impl->execute_bf16(xb.data(), yb.data(), 1, WaitPolicy::bounded);
        bf16_to_float(yb.data(), y.data(), int64_t(y.size()));
    } else {
        impl->execute(d.x.data(), y.data(), 1);
    }
    std::string err = bf16 ? compare_bf16_to_reference(p, d, y.data())
                           : compare_to_reference(p, d, y.data());
    if (!err.empty()) err += " [" + std::string(to_string(isa)) + ": " + join(impl->report().kernel_names) + "]";
    return err;
}

// A spec compiled for `isa` with its random data; fails the test case when it makes no valid
// layer or the JIT declines it.
struct Compiled {
    Problem p;
    LayerData d;
    std::unique_ptr<Impl> impl;
};
Compiled compile_spec(Isa isa, const Spec& s, uint64_t seed, const gen::PlanOverrides& o = {}) {
    Compiled c;
    REQUIRE(make_problem(s, c.p));
    c.d = random_layer_data(c.p, seed);
    std::string why;
    c.impl = make_jit_impl(isa, c.p, c.d.w.data(), c.p.bias ? c.d.b.data() : nullptr, {}, why, o);
    REQUIRE_MESSAGE(c.impl, why);
    return c;
}

// Output of one run on `threads` threads, pre-filled with NaN so that a missed output shows.
std::vector<float> run(const Compiled& c, int threads) {
    std::vector<float> y(size_t(c.p.output_elems()), std::nanf(""));
    c.impl->execute(c.d.x.data(), y.data(), threads);
    return y;
}

bool bitwise_equal(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

const Isa kIsas[] = {Isa::avx512, Isa::avx2};

// Base layers the structured sweep varies one axis at a time.
// One dimension's geometry, the same along every dim of a sweep's layer.
struct Geometry {
    int64_t k, s, d, pb, pe, op;
};

// A depthwise layer of `channels` x `mult` output channels with geometry g at `in`.
Spec depthwise_spec(Layout layout, int64_t channels, int64_t mult, const Geometry& g,
                    const std::vector<int64_t>& in) {
    Spec s;
    s.rank = int(in.size());
    s.layout = layout;
    s.groups = s.ic = channels;
    s.oc = channels * mult;
    s.in = in;
    s.k = {g.k};
    s.s = {g.s};
    s.d = {g.d};
    s.pb = {g.pb};
    s.pe = {g.pe};
    s.op = {g.op};
    return s;
}

std::vector<Spec> base_layers() {
    Spec a;  // 2D, odd channels, stride 2 with output padding
    a.ic = 5;
    a.oc = 33;
    a.in = {5, 6};
    a.op = {1, 0};
    Spec b;  // 1D, channels_last
    b.rank = 1;
    b.ic = 7;
    b.oc = 17;
    b.in = {9};
    b.k = {4};
    b.layout = Layout::channels_last;
    Spec c;  // 3D
    c.rank = 3;
    c.ic = 3;
    c.oc = 8;
    c.in = {3, 4, 5};
    c.op = {0, 1, 0};
    return {a, b, c};
}

std::vector<Spec> sweep() {
    std::vector<Spec> out;
    for (const Spec& base : base_layers()) {
        out.push_back(base);
        for (int64_t k = 1; k <= 9; ++k) {
            Spec s = base;
            s.k = {k};
            s.pb = s.pe = {k / 2};
            out.push_back(s);
        }
        {
            Spec s = base;
            s.k = {16};
            s.s = {8};
            s.pb = s.pe = {4};
            out.push_back(s);
        }
        for (int64_t st = 1; st <= 4; ++st) {
            Spec s = base;
            s.s = {st};
            out.push_back(s);
        }
        for (int64_t dl = 1; dl <= 3; ++dl)
            for (int64_t st : {1, 2, 3}) {
                Spec s = base;
                s.d = {dl};
                s.s = {st};
                out.push_back(s);
            }
        for (int64_t pad = 0; pad <= 2; ++pad)
            for (int64_t pe = 0; pe <= 2; ++pe) {
                Spec s = base;
                s.pb = {pad};
                s.pe = {pe};
                out.push_back(s);
            }
        for (int64_t ch : {1, 3, 7, 8, 15, 16, 17, 33, 64}) {
            Spec s = base;
            s.oc = ch;
            out.push_back(s);
            s = base;
            s.ic = ch;
            out.push_back(s);
        }
        for (int64_t size : {1, 2, 5, 8, 31}) {
            Spec s = base;
            s.in = {size};
            out.push_back(s);
        }
        for (Activation act : {Activation::relu, Activation::leaky_relu, Activation::sigmoid,
                               Activation::tanh}) {
            Spec s = base;
            s.act = act;
            out.push_back(s);
        }
        Spec s = base;
        s.batch = 3;
        out.push_back(s);
        if (base.rank < 3) {  // rows long enough to be split into W chunks
            s = base;
            s.ic = 128;
            s.oc = 40;
            s.in = {5, 250};
            s.k = {5};
            s.s = {3};
            s.pb = s.pe = {2};
            out.push_back(s);
        }
        s = base;
        s.layout = s.layout == Layout::channels_first ? Layout::channels_last : Layout::channels_first;
        out.push_back(s);
        s = base;
        s.bias = false;
        s.act = Activation::relu;
        out.push_back(s);
    }
    return out;
}

// Grouped layers: the base layers with channels per group around the vector widths (1, 7, 8,
// 9, 16, 17), depthwise (one input channel per group, channel multipliers 1-3), and every
// feature of the structured sweep applied to a grouped and a depthwise layer.
std::vector<Spec> grouped_sweep() {
    std::vector<Spec> out;
    for (const Spec& base : base_layers()) {
        for (int64_t g : {2, 3})
            for (int64_t icg : {1, 3, 8, 17})
                for (int64_t ocg : {1, 7, 8, 9, 16, 17}) {
                    Spec s = base;
                    s.groups = g;
                    s.ic = g * icg;
                    s.oc = g * ocg;
                    out.push_back(s);
                }
        for (int64_t g : {1, 5, 8, 16, 17, 24, 33})
            for (int64_t mult : {1, 2, 3}) {
                Spec s = base;
                s.groups = g;
                s.ic = g;
                s.oc = g * mult;
                out.push_back(s);
            }
        Spec grouped = base, dw = base;
        grouped.groups = 4;
        grouped.ic = 4 * 5;
        grouped.oc = 4 * 9;
        dw.groups = dw.ic = 24;
        dw.oc = 24;
        for (const Spec& g : {grouped, dw}) {
            for (int64_t k : {1, 2, 4, 5, 7}) {
                Spec s = g;
                s.k = {k};
                s.pb = s.pe = {k / 2};
                out.push_back(s);
            }
            Spec s = g;
            s.k = {16};
            s.s = {8};
            s.pb = s.pe = {4};
            out.push_back(s);
            for (int64_t st = 1; st <= 4; ++st)
                for (int64_t dl = 1; dl <= 3; ++dl) {
                    s = g;
                    s.s = {st};
                    s.d = {dl};
                    s.op = {std::max(st, dl) - 1};
                    out.push_back(s);
                }
            for (int64_t pb = 0; pb <= 2; ++pb)
                for (int64_t pe = 0; pe <= 2; ++pe) {
                    s = g;
                    s.pb = {pb};
                    s.pe = {pe};
                    out.push_back(s);
                }
            for (Activation act : {Activation::relu, Activation::leaky_relu, Activation::sigmoid,
                                   Activation::tanh}) {
                s = g;
                s.act = act;
                out.push_back(s);
            }
            for (int64_t size : {1, 2, 31}) {
                s = g;
                s.in = {size};
                out.push_back(s);
            }
            s = g;
            s.batch = 3;
            out.push_back(s);
            s.layout = s.layout == Layout::channels_first ? Layout::channels_last
                                                          : Layout::channels_first;
            out.push_back(s);
            s = g;
            s.bias = false;
            s.act = Activation::relu;
            out.push_back(s);
        }
    }
    return out;
}

// Random grouped layers drawn like the release check's: groups of 1-12 channels each way, or
// (one in five) depthwise with multiplier 1 or 2.
std::vector<Spec> random_grouped_layers(int count, uint64_t seed) {
    std::mt19937_64 g(seed);
    auto pick = [&g](int64_t lo, int64_t hi) {
        return std::uniform_int_distribution<int64_t>(lo, hi)(g);
    };
    const int ranks[] = {1, 2, 2, 2, 3};
    const int64_t group_counts[] = {1, 1, 1, 2, 3, 4, 8}, dw_groups[] = {8, 16, 24};
    const Activation acts[] = {Activation::none, Activation::relu, Activation::leaky_relu,
                               Activation::sigmoid, Activation::tanh};
    std::vector<Spec> out;
    while (int(out.size()) < count) {
        Spec s;
        s.rank = ranks[pick(0, 4)];
        if (pick(0, 4) == 0) {
            s.groups = dw_groups[pick(0, 2)];
            s.ic = s.groups;
            s.oc = s.groups * pick(1, 2);
        } else {
            s.groups = group_counts[pick(0, 6)];
            s.ic = s.groups * pick(1, 12);
            s.oc = s.groups * pick(1, 12);
        }
        s.batch = pick(1, 2);
        s.layout = pick(0, 1) ? Layout::channels_last : Layout::channels_first;
        s.act = acts[pick(0, 4)];
        s.bias = pick(0, 1) != 0;
        for (auto* v : {&s.in, &s.k, &s.s, &s.d, &s.pb, &s.pe, &s.op}) v->clear();
        for (int i = 0; i < s.rank; ++i) {
            const int64_t k = pick(1, 5), st = pick(1, 4), dl = pick(1, 3);
            s.in.push_back(pick(1, s.rank == 3 ? 5 : 9));
            s.k.push_back(k);
            s.s.push_back(st);
            s.d.push_back(dl);
            s.pb.push_back(pick(0, dl * (k - 1)));
            s.pe.push_back(pick(0, dl * (k - 1)));
            s.op.push_back(pick(0, std::max(st, dl) - 1));
        }
        Problem p;
        if (make_problem(s, p)) out.push_back(s);
    }
    return out;
}

std::vector<Spec> random_layers(int count, uint64_t seed) {
    std::mt19937_64 g(seed);
    auto pick = [&g](int64_t lo, int64_t hi) {
        return std::uniform_int_distribution<int64_t>(lo, hi)(g);
    };
    const int64_t channels[] = {1, 3, 7, 8, 15, 16, 17, 33, 64};
    const Activation acts[] = {Activation::none, Activation::relu, Activation::leaky_relu,
                               Activation::sigmoid, Activation::tanh};
    std::vector<Spec> out;
    while (int(out.size()) < count) {
        Spec s;
        s.rank = int(pick(1, 3));
        s.batch = pick(1, 3) == 3 ? 2 : 1;
        s.ic = channels[pick(0, 8)];
        s.oc = channels[pick(0, 8)];
        s.layout = pick(0, 1) ? Layout::channels_last : Layout::channels_first;
        s.act = acts[pick(0, 4)];
        s.bias = pick(0, 4) != 0;
        s.in.clear(); s.k.clear(); s.s.clear(); s.d.clear(); s.pb.clear(); s.pe.clear(); s.op.clear();
        for (int i = 0; i < s.rank; ++i) {
            const bool big = pick(0, 20) == 0;
            const int64_t k = big ? 16 : pick(1, s.rank == 3 ? 4 : 9);
            const int64_t st = big ? 8 : pick(1, 4), dl = big ? 1 : pick(1, 3);
            s.in.push_back(pick(1, s.rank == 3 ? 5 : 9));
            s.k.push_back(k);
            s.s.push_back(st);
            s.d.push_back(dl);
            s.pb.push_back(pick(0, dl * (k - 1)));
            s.pe.push_back(pick(0, dl * (k - 1)));
            s.op.push_back(pick(0, std::max(st, dl) - 1));
        }
        Problem p;
        if (make_problem(s, p) && p.output_elems() * p.in_channels < 2'000'000) out.push_back(s);
    }
    return out;
}

}  // namespace

// Every kernel family on every layer: the planner's choice, then each family forced (a forced
// spatial or depthwise family may decline: its tile does not fit, or the layer is not depthwise).
void check_all(const std::vector<Spec>& specs, uint64_t seed, DType dtype = DType::f32) {
    for (Isa isa : kIsas) {
        if (!cpu_has(isa)) continue;
        for (int shape : {0, 1, 2, 3, 4, 5}) {
            int failures = 0;
            for (size_t i = 0; i < specs.size() && failures < 5; ++i) {
                gen::PlanOverrides o;
                o.shape = shape;
                std::string err = check_layer(isa, specs[i], seed + i, o, dtype);
                if (shape >= 2 && err.find("declined") != std::string::npos) err.clear();
                CHECK_MESSAGE(err.empty(), "shape ", shape, ": ", err);
                failures += !err.empty();
            }
        }
    }
}

TEST_CASE("jit: structured sweep against the reference") { check_all(sweep(), 100); }

TEST_CASE("jit: every register tile against the reference") {
    // Tiles the planner may not pick for these layers: W tails, oc tails, every n_oc; for the
    // spatial shape, 1-4 vectors of m and channel blocks (declines when a tile does not fit).
    for (const Spec& base : base_layers()) {
        Spec s = base;
        s.in = {11};
        s.act = Activation::tanh;  // the largest epilogue register demand
        for (Isa isa : kIsas) {
            if (!cpu_has(isa)) continue;
            for (int n = 1; n <= 4; ++n) {
                for (int ur : {1, 2, 3, 5, 8, 13, 27}) {
                    if (!gen::channel_tile_fits(isa, ur, n, s.act, true)) continue;
                    const std::string err = check_layer(isa, s, 31 + ur * 8 + n, {ur, n, 1});
                    CHECK_MESSAGE(err.empty(), "channel tile ur ", ur, " n_oc ", n, ": ", err);
                }
                for (int ur = 1; ur <= 4; ++ur) {
                    std::string err = check_layer(isa, s, 77 + ur * 8 + n, {ur, n, 2});
                    if (err.find("declined") != std::string::npos) err.clear();
                    CHECK_MESSAGE(err.empty(), "spatial tile ur ", ur, " oc ", n, ": ", err);
                }
            }
        }
    }
}

TEST_CASE("jit: every depthwise tile against the reference") {
    // 1-4 channel vectors (a partial last block, a masked last vector) x W widths with tails,
    // the largest epilogue, both layouts, a channel multiplier.
    Spec s = base_layers()[0];
    s.in = {4, 11};
    s.act = Activation::tanh;
    for (int64_t mult : {1, 2})
        for (Layout layout : {Layout::channels_first, Layout::channels_last})
            for (Isa isa : kIsas) {
                if (!cpu_has(isa)) continue;
                s.groups = s.ic = 39;  // AVX-512: 3 vectors, the last of 7 (or 14) lanes
                s.oc = 39 * mult;
                s.layout = layout;
                for (int n = 1; n <= 4; ++n)
                    for (int ur : {1, 2, 3, 5, 9, 13}) {
                        if (!gen::depthwise_tile_fits(isa, ur, n, s.act, true)) continue;
                        gen::PlanOverrides o;
                        o.shape = 3;
                        o.ur = ur;
                        o.n_oc = n;
                        const std::string err = check_layer(isa, s, 900 + ur * 8 + n, o);
                        CHECK_MESSAGE(err.empty(), "depthwise tile ur ", ur, " x ", n, ": ", err);
                    }
            }
}

TEST_CASE("jit: grouped layers on the depthwise kernel, every tile, against the reference") {
    // Lanes across groups with a reduction over each group's input channels: 1-4 channel
    // vectors (13 groups x 3 outputs = 39 channels: a masked last vector) x W widths, the
    // largest epilogue, both layouts, ranks 1-3, one and several outputs per group; and a
    // large map copied in bands of rows.
    Spec s = base_layers()[0];
    s.act = Activation::tanh;
    s.groups = 13;
    const std::vector<int64_t> sizes[] = {{11}, {4, 11}, {3, 3, 5}};
    for (int rank = 1; rank <= 3; ++rank)
        for (auto [icg, ocg] : {std::pair<int64_t, int64_t>{3, 3}, {5, 1}, {2, 7}})
            for (Layout layout : {Layout::channels_first, Layout::channels_last})
                for (Isa isa : kIsas) {
                    if (!cpu_has(isa)) continue;
                    s.rank = rank;
                    s.in = sizes[rank - 1];
                    s.ic = 13 * icg;
                    s.oc = 13 * ocg;
                    s.layout = layout;
                    for (int n = 1; n <= 4; ++n)
                        for (int ur : {1, 3, 5, 13}) {
                            if (!gen::depthwise_tile_fits(isa, ur, n, s.act, true)) continue;
                            gen::PlanOverrides o;
                            o.shape = 3;
                            o.ur = ur;
                            o.n_oc = n;
                            const std::string err = check_layer(isa, s, 700 + ur * 8 + n, o);
                            CHECK_MESSAGE(err.empty(), "tile ur ", ur, " x ", n, ": ", err);
                        }
                    gen::PlanOverrides banded;
                    banded.shape = 3;
                    banded.band_rows = 2;
                    const std::string err = check_layer(isa, s, 777, banded);
                    CHECK_MESSAGE(err.empty(), "bands of 2 rows: ", err);
                }
}

TEST_CASE("jit: grouped layers on the depthwise kernel are bitwise equal on 1, 2 and 3 threads") {
    Spec s;
    s.groups = 11;
    s.ic = 33;  // 3 -> 2 channels per group
    s.oc = 22;
    s.in = {6, 9};
    s.k = {4};
    s.s = {2};
    s.pb = s.pe = {1};
    s.batch = 3;
    s.act = Activation::leaky_relu;
    for (Layout layout : {Layout::channels_first, Layout::channels_last})
        for (Isa isa : kIsas) {
            if (!cpu_has(isa)) continue;
            s.layout = layout;
            gen::PlanOverrides o;
            o.shape = 3;
            const Compiled c = compile_spec(isa, s, 19, o);
            const std::vector<float> y1 = run(c, 1);
            CHECK(compare_to_reference(c.p, c.d, y1.data()).empty());
            for (int threads : {2, 3}) CHECK(bitwise_equal(y1, run(c, threads)));
        }
}

TEST_CASE("jit: every channels-first depthwise tile against the reference") {
    // 1-8 vectors of m per W phase: rows of whole tiles, a shorter last tile and a masked last
    // vector; strides 1-4 and 8 with pads that rotate the W phase of a row's first output and
    // leave rows after the full groups of S_h rows; dilation, output padding, channel
    // multipliers 1 and 3, ranks 1-3, every activation (each takes an opmask the interleave's
    // fixed masks share).
    const Activation kActs[] = {Activation::relu, Activation::tanh, Activation::leaky_relu,
                                Activation::sigmoid};
    const Geometry geometries[] = {{3, 1, 1, 1, 1, 0}, {4, 2, 1, 1, 2, 1}, {5, 3, 2, 3, 2, 2},
                                   {8, 4, 1, 3, 0, 1}, {16, 8, 1, 4, 5, 0}};
    const std::vector<int64_t> sizes[] = {{37}, {5, 19}, {3, 4, 11}};
    for (int rank = 1; rank <= 3; ++rank)
        for (int64_t mult : {1, 3})
            for (const Geometry& g : geometries)
                for (Isa isa : kIsas) {
                    if (!cpu_has(isa)) continue;
                    Spec s = depthwise_spec(Layout::channels_first, 5, mult, g, sizes[rank - 1]);
                    for (int ur = 1; ur <= 8; ++ur) {
                        s.act = kActs[ur % 4];
                        s.bias = ur % 3 != 0;
                        if (!gen::depthwise_cf_tile_fits(isa, ur, g.s, s.act, true)) continue;
                        gen::PlanOverrides o;
                        o.shape = 4;
                        o.ur = ur;
                        const std::string err = check_layer(isa, s, 1300 + ur, o);
                        CHECK_MESSAGE(err.empty(), "depthwise_cf tile ur ", ur, ": ", err);
                    }
                }
}

// bf16 storage on every family's fp32 kernels, against the bf16 reference.
TEST_CASE("jit: bf16 structured sweep against the bf16 reference") {
    check_all(sweep(), 4100, DType::bf16);
}

TEST_CASE("jit: bf16 grouped and depthwise layers against the bf16 reference") {
    check_all(grouped_sweep(), 4200, DType::bf16);
}

TEST_CASE("jit: bf16 random layers against the bf16 reference") {
    check_all(random_layers(60, 20261203), 4300, DType::bf16);
}

TEST_CASE("jit: random layers against the reference") {
    check_all(random_layers(200, 20261122), 1000);
}

TEST_CASE("jit: grouped and depthwise layers against the reference") {
    check_all(grouped_sweep(), 2000);
}

TEST_CASE("jit: random grouped layers against the reference") {
    check_all(random_grouped_layers(300, 20261203), 3000);
}

TEST_CASE("jit: results are bitwise equal for 1 and 2 threads") {
    Spec s;
    s.ic = 16;
    s.oc = 40;
    s.in = {7, 9};
    s.k = {4};
    s.pb = s.pe = {1};
    s.batch = 2;
    s.act = Activation::tanh;
    for (Layout layout : {Layout::channels_first, Layout::channels_last})
        for (Isa isa : kIsas) {
            if (!cpu_has(isa)) continue;
            s.layout = layout;
            const Compiled c = compile_spec(isa, s, 7);
            CHECK(bitwise_equal(run(c, 1), run(c, 2)));
        }
}

TEST_CASE("jit: a 1D layer's long input rows are copied in pieces on every thread") {
    // One row per image, fewer rows than threads: the copy cuts each row along W. Channel
    // counts off the vector width leave lanes the copy zeroes.
    Spec s;
    s.rank = 1;
    s.oc = 8;
    s.in = {3001};
    s.k = {4};
    s.s = {2};
    s.pb = s.pe = {1};
    for (int64_t ic : {8, 20})
    for (Layout layout : {Layout::channels_first, Layout::channels_last})
        for (Isa isa : kIsas) {
            if (!cpu_has(isa)) continue;
            s.ic = ic;
            s.layout = layout;
            const Compiled c = compile_spec(isa, s, 13);
            const std::vector<float> y1 = run(c, 1);
            CHECK(compare_to_reference(c.p, c.d, y1.data()).empty());
            for (int threads : {2, 3}) {
                const std::vector<float> yt = run(c, threads);
                CHECK(compare_to_reference(c.p, c.d, yt.data()).empty());
                CHECK(bitwise_equal(y1, yt));
            }
        }
}

namespace {

// A random small layer for the tests that force a plan: `rank` dims of in_lo..in_hi inputs,
// kernels up to k_hi, strides up to s_hi, dilations up to d_hi, pads within the kernel's reach,
// output_padding, groups, channel tails, batches, both layouts, activations and bias.
struct DrawRanges {
    int in_lo, in_hi, k_hi, s_hi, d_hi;
};
// The ranges of the chunk, stream and layout draws: 1D rows of in_lo-in_hi steps (long rows
// are cut into W chunks), 2D maps up to 12, 3D up to 6.
DrawRanges ranges_by_rank(int rank, int in_lo = 3, int in_hi = 60) {
    return rank == 1 ? DrawRanges{in_lo, in_hi, 6, 4, 2}
           : rank == 2 ? DrawRanges{1, 12, 5, 3, 2}
                       : DrawRanges{1, 6, 3, 2, 2};
}

Spec random_small_spec(std::mt19937& rng, int rank, const DrawRanges& r) {
    auto pick = [&](int lo, int hi) { return int(std::uniform_int_distribution<int>(lo, hi)(rng)); };
    const Activation acts[] = {Activation::none, Activation::relu, Activation::tanh};
    Spec s;
    s.rank = rank;
    s.batch = pick(1, 2);
    s.groups = pick(1, 2);
    s.ic = s.groups * std::vector<int64_t>{3, 16, 20, 40}[size_t(pick(0, 3))];
    s.oc = s.groups * std::vector<int64_t>{5, 16, 33}[size_t(pick(0, 2))];
    s.in.clear(), s.k.clear(), s.s.clear(), s.d.clear(), s.pb.clear(), s.pe.clear(), s.op.clear();
    for (int i = 0; i < s.rank; ++i) {
        s.in.push_back(pick(r.in_lo, r.in_hi));
        s.k.push_back(pick(1, r.k_hi));
        s.s.push_back(pick(1, r.s_hi));
        s.d.push_back(pick(1, r.d_hi));
        s.pb.push_back(pick(0, int(s.d.back() * (s.k.back() - 1))));
        s.pe.push_back(pick(0, int(s.d.back() * (s.k.back() - 1))));
        s.op.push_back(pick(0, int(std::max(s.s.back(), s.d.back()) - 1)));
    }
    s.layout = pick(0, 1) ? Layout::channels_last : Layout::channels_first;
    s.act = acts[pick(0, 2)];
    s.bias = pick(0, 1) == 1;
    return s;
}

// Draw i of a sweep over ranks 1-3 in turn, in ranges_by_rank's ranges.
Spec draw_by_rank(std::mt19937& rng, int i, int in_lo = 3, int in_hi = 60) {
    const int rank = 1 + i % 3;
    return random_small_spec(rng, rank, ranges_by_rank(rank, in_lo, in_hi));
}

// Compiles s, when valid, for every ISA the CPU has, with `on` (a forced plan choice whose
// description says `marker`) and with `off` (which must not say it): both against the
// reference, `on` bitwise equal on 1-3 threads. Counts the compiles `on` took effect in.
int check_forced_plan(const Spec& s, uint64_t seed, const gen::PlanOverrides& on,
                      const gen::PlanOverrides& off, const std::string& marker) {
    Problem probe;
    if (!make_problem(s, probe)) return 0;
    int took = 0;
    for (Isa isa : kIsas) {
        if (!cpu_has(isa)) continue;
        const Compiled c = compile_spec(isa, s, seed, on);
        const std::string lines = join(c.impl->report().plan_lines);
        INFO(c.p.name, " ", to_string(isa), ": ", lines);
        const std::vector<float> y1 = run(c, 1);
        CHECK(compare_to_reference(c.p, c.d, y1.data()) == "");
        for (int threads : {2, 3}) CHECK(bitwise_equal(y1, run(c, threads)));
        const Compiled w = compile_spec(isa, s, seed, off);
        CHECK(join(w.impl->report().plan_lines).find(marker) == std::string::npos);
        CHECK(compare_to_reference(w.p, w.d, run(w, 2).data()) == "");
        took += lines.find(marker) != std::string::npos;
    }
    return took;
}

// The channel family's plan with `knob` forced on (1) and off (-1).
std::array<gen::PlanOverrides, 2> forced(int gen::PlanOverrides::*knob) {
    gen::PlanOverrides on, off;
    on.shape = off.shape = 1;
    on.*knob = 1;
    off.*knob = -1;
    return {on, off};
}

// f(a, b) for s compiled with `on` (a) and `off` (b) on every ISA the CPU has.
template <class F>
void for_each_isa(const Spec& s, uint64_t seed, const gen::PlanOverrides& on,
                  const gen::PlanOverrides& off, F f) {
    for (Isa isa : kIsas) {
        if (!cpu_has(isa)) continue;
        const Compiled a = compile_spec(isa, s, seed, on), b = compile_spec(isa, s, seed, off);
        INFO(a.p.name, " ", to_string(isa), ": ", join(a.impl->report().plan_lines));
        f(a, b);
    }
}

// check_forced_plan over `draws` layers from draw(), the channel family's `knob` forced on
// (1) and off (-1).
template <class Draw>
int check_forced_draws(int draws, uint64_t seed0, int gen::PlanOverrides::*knob,
                       const std::string& marker, Draw draw) {
    const auto [on, off] = forced(knob);
    int took = 0;
    for (int i = 0; i < draws; ++i)
        took += check_forced_plan(draw(), seed0 + uint64_t(i), on, off, marker);
    return took;
}

// The channel family's plan of s for isa.
gen::ChannelPlan channel_plan(const Spec& s, Isa isa, const gen::PlanOverrides& ov = {}) {
    Problem p;
    REQUIRE(make_problem(s, p));
    gen::Plan plan;
    std::string why;
    REQUIRE_MESSAGE(gen::plan(p, isa, plan, why, ov), why);
    INFO(p.name, " ", to_string(isa));
    const auto* ch = std::get_if<gen::ChannelPlan>(&plan.family);
    REQUIRE(ch);
    return *ch;
}

// The channel family's plan of an ic -> oc k4 s2 p1 layer on `in` (the layers the planner's
// cache rules are pinned on).
gen::ChannelPlan channel_plan_k4s2(int64_t ic, int64_t oc, const std::vector<int64_t>& in,
                                   Isa isa, Layout layout, const gen::PlanOverrides& ov = {}) {
    Spec s;
    s.rank = int(in.size());
    s.ic = ic;
    s.oc = oc;
    s.in = in;
    s.k = {4};
    s.s = {2};
    s.pb = s.pe = {1};
    s.layout = layout;
    return channel_plan(s, isa, ov);
}

}  // namespace

TEST_CASE("jit: small layers' listed kernel calls agree with their items on every thread") {
    // One thread runs a small layer's kernel calls (and channels-first transposes) from a list
    // made at compile time; more threads walk its items. Random small layers of the phased
    // families (channel, depthwise, lanes across groups), ranks 1-3, batches of 1-3, both
    // layouts, tap subsets of tiny maps: both ways bitwise equal, and against the reference.
    std::mt19937 rng(909);
    for (int i = 0; i < 24; ++i) {
        const int rank = 1 + i % 3;
        Spec s = random_small_spec(rng, rank, DrawRanges{1, 7, 4, 3, 2});
        s.batch = 1 + i % 3;
        if (i % 4 == 3) s.groups = s.ic = s.oc = 16;  // depthwise
        Problem probe;
        if (!make_problem(s, probe)) continue;
        for (Isa isa : kIsas) {
            if (!cpu_has(isa)) continue;
            const Compiled c = compile_spec(isa, s, 300 + uint64_t(i));
            INFO(c.p.name, " ", to_string(isa), ": ", join(c.impl->report().plan_lines));
            const std::vector<float> y1 = run(c, 1);
            CHECK(compare_to_reference(c.p, c.d, y1.data()) == "");
            for (int threads : {2, 3}) CHECK(bitwise_equal(y1, run(c, threads)));
        }
    }
}

TEST_CASE("jit: 1D layers copied per W chunk by the thread that computes it") {
    // Chunk copies forced on random 1D layers: each chunk's columns (halo included, taps
    // reaching back up to dilation x kernel, output_padding, asymmetric pads, phases without
    // taps) copied into a thread's own buffer, channel tails and groups, both layouts, batches,
    // activations; 1-3 threads bitwise equal, and the same layer copied whole agrees.
    std::mt19937 rng(2024);
    const int chunked =
        check_forced_draws(40, 2100, &gen::PlanOverrides::chunk_copies, "per W chunk",
                           [&] { return random_small_spec(rng, 1, {20, 600, 9, 5, 3}); });
    CHECK(chunked >= 20);  // most draws have more than one W chunk
}

namespace {

// A bf16 layer's outputs from execute_bf16 on `threads` threads.
std::vector<uint16_t> run_bf16(const Impl& impl, const std::vector<uint16_t>& x, int threads) {
    std::vector<uint16_t> y(size_t(impl.problem().output_elems()), 0x7fc0);
    impl.execute_bf16(x.data(), y.data(), threads, WaitPolicy::bounded);
    return y;
}

// p (bf16) compiled for `isa` twice with `o`: converting in its input copy and stores, and as
// its fp32 kernels between conversion passes (the same sums, rounded by float_to_bf16).
struct Bf16Pair {
    std::unique_ptr<Impl> fused, passes;
    bool converts = false;  // `fused` converts in its copy and stores (else: passes as well)
};
Bf16Pair compile_bf16_pair(Isa isa, const Problem& p, const std::vector<float>& w,
                           const float* b, const gen::PlanOverrides& o) {
    std::string why;
    Bf16Pair r;
    r.fused = make_jit_impl(isa, p, w.data(), b, {}, why, o);
    REQUIRE_MESSAGE(r.fused, p.name, ": ", why);
    r.converts = r.fused->handles_bf16();
    if (!r.converts) r.fused = as_bf16_layer(std::move(r.fused));
    Problem p32 = p;
    p32.dtype = DType::f32;
    auto inner = make_jit_impl(isa, p32, w.data(), b, {}, why, o);
    REQUIRE_MESSAGE(inner, p.name, ": ", why);
    r.passes = as_bf16_layer(std::move(inner));
    return r;
}

}  // namespace

TEST_CASE("jit: bf16 converted in the input copy and the output stores, bit for bit the passes" *
          doctest::skip(!cpu_has(Isa::avx2))) {
    // Random layers of the channel family (a quarter on the spatial one, and 16 depthwise
    // ones, channels-first ones on either depthwise family; ranks 1-3, groups, channel tails, both layouts, pads, dilation, output_padding,
    // activations; whole copies, bands, per-chunk copies), inputs
    // with NaN, infinities and values whose outputs overflow in a third of them: execute_bf16
    // equal on 1-3 threads and to the passes, and execute's floats too. AVX2 and AVX-512.
    for (Isa isa : kIsas) {
    if (!cpu_has(isa)) continue;
    CAPTURE(to_string(isa));
    std::mt19937 rng(20261205);
    int fused = 0;
    for (int i = 0; i < 64; ++i) {
        const int rank = 1 + i % 3;
        Spec s = random_small_spec(
            rng, rank, rank == 1 ? DrawRanges{20, 700, 9, 4, 3} : DrawRanges{1, 9, 5, 3, 2});
        const bool depthwise = i >= 48;
        if (depthwise) {  // channels with a multiplier of 1 or 2
            s.groups = s.ic = std::vector<int64_t>{5, 8, 20, 37}[size_t(i % 4)];
            s.oc = s.ic * (1 + i % 2);
        }
        Problem p;
        if (!make_problem(s, p)) continue;
        p.dtype = DType::bf16;
        const LayerData d = random_layer_data(p, 5000 + uint64_t(i));
        const std::vector<float> w = bf16_weights(p, d.w.data());
        gen::PlanOverrides o;
        o.shape = !depthwise ? (i % 4 == 3 ? 2 : 1)
                  : s.layout == Layout::channels_first && i % 4 < 2 ? 4 : 3;
        if (i % 4 == 1) o.chunk_copies = 1;
        if (i % 4 == 2) o.band_rows = 1;
        const Bf16Pair c = compile_bf16_pair(isa, p, w, p.bias ? d.b.data() : nullptr, o);
        INFO(p.name, ": ", join(c.fused->report().kernel_names));
        fused += c.converts;
        std::vector<uint16_t> x(d.x.size());
        float_to_bf16(d.x.data(), x.data(), int64_t(x.size()));
        if (i % 3 == 0) {
            x[0] = 0x7fc1;                // NaN
            x[x.size() / 2] = 0xff80;     // -inf
            x[x.size() / 3] = 0x7f7f;     // near the largest: sums overflow
            x[x.size() - 1] = 0x0001;     // subnormal
        }
        const std::vector<uint16_t> want = run_bf16(*c.passes, x, 1);
        for (int threads : {1, 2, 3}) CHECK(run_bf16(*c.fused, x, threads) == want);
        std::vector<float> xf(x.size()), y1(want.size()), y2(want.size());
        bf16_to_float(x.data(), xf.data(), int64_t(x.size()));
        c.fused->execute(xf.data(), y1.data(), 2);
        c.passes->execute(xf.data(), y2.data(), 2);
        CHECK(bitwise_equal(y1, y2));
    }
    CHECK(fused >= (isa == Isa::avx2 ? 54 : 50));  // folded rows keep the passes
    }
}

TEST_CASE("jit: bf16 stores round to nearest even, keep NaN quiet, overflow to infinity" *
          doctest::skip(!cpu_has(Isa::avx2))) {
    // A 1x1 layer with zero weights outputs its bias: each of 37 channels (a channel tail of 5)
    // a rounding case, stored by each family that rounds its own stores (channel, spatial,
    // depthwise, channels-first depthwise: by their kernels, copies or transposes) against
    // float_to_bf16.
    const uint32_t cases[] = {0x3f808000, 0x3f818000, 0x3f807fff, 0x3f808001, 0xbf808000,
                              0xbf818000, 0x00018000, 0x00008000, 0x00008001, 0x80008000,
                              0x7f7fffff, 0xff7fffff, 0x7f7f8000, 0x7f7f7fff, 0x7f800000,
                              0xff800000, 0x7fa00000, 0xffc00001, 0x7fffffff, 0x00000000,
                              0x80000000, 0x3effffff, 0x40490fdb};
    const std::pair<int, Layout> families[] = {
        {1, Layout::channels_last}, {1, Layout::channels_first}, {2, Layout::channels_last},
        {2, Layout::channels_first}, {3, Layout::channels_last}, {3, Layout::channels_first},
        {4, Layout::channels_first}};
    for (Isa isa : kIsas)
    for (const auto& [shape, layout] : families) {
        if (!cpu_has(isa)) continue;
        CAPTURE(to_string(isa));
        Spec s;
        s.ic = shape >= 3 ? 37 : 3;  // depthwise: a group per channel
        s.groups = shape >= 3 ? 37 : 1;
        s.oc = 37;
        s.in = {5, 11};
        s.k = {1, 1};
        s.s = {1, 1};
        s.pb = s.pe = {0, 0};
        s.layout = layout;
        Problem p;
        REQUIRE(make_problem(s, p));
        p.dtype = DType::bf16;
        p.bias = true;
        std::vector<float> w(size_t(p.weight_elems()), 0.0f), b(size_t(p.out_channels));
        for (size_t c = 0; c < b.size(); ++c) b[c] = std::bit_cast<float>(cases[c % std::size(cases)]);
        gen::PlanOverrides o;
        o.shape = shape;
        const Bf16Pair c = compile_bf16_pair(isa, p, w, b.data(), o);
        INFO(p.name, ": ", join(c.fused->report().kernel_names));
        REQUIRE(c.converts);
        const std::vector<uint16_t> x(size_t(p.input_elems()), 0x3f80);
        const std::vector<uint16_t> y = run_bf16(*c.fused, x, 1);
        const int64_t pixels = p.output_spatial();
        for (int64_t oc = 0; oc < p.out_channels; ++oc)
            for (int64_t px : {int64_t(0), pixels - 1}) {
                const size_t at = size_t(layout == Layout::channels_last ? px * p.out_channels + oc
                                                                         : oc * pixels + px);
                CHECK_MESSAGE(y[at] == float_to_bf16(0.0f + b[size_t(oc)]), "channel ", oc);
            }
        CHECK(y == run_bf16(*c.passes, x, 1));
    }
}

TEST_CASE("jit: bf16 channels-first depthwise rows store every output once, as the passes" *
          doctest::skip(!cpu_has(Isa::avx2))) {
    // The dwcf kernel stores bf16 rows as dwords of two neighbouring outputs (even S_w) or
    // narrowed vectors (odd S_w): strides 1-8 and 16 (AVX-512: 8 pair phases, whose fixed
    // masks take k1 and k2, which the tail stores and the rounding borrow), pads that start
    // rows at every phase, rows of 1-208 outputs (tails of every length), every activation,
    // against the fp32 kernel with a rounding pass, and nothing written into the 64 words
    // after the output.
    constexpr size_t kGuard = 64;
    const uint16_t sentinel = 0x7fc5;
    const Activation acts[] = {Activation::none, Activation::relu, Activation::tanh,
                               Activation::sigmoid, Activation::leaky_relu};
    for (Isa isa : kIsas) {
    if (!cpu_has(isa)) continue;
    CAPTURE(to_string(isa));
    int cases = 0;
    for (int64_t S : {1, 2, 3, 4, 6, 8, 16})
        for (int64_t pad = 0; pad < S; ++pad)
            for (int64_t in : {1, 2, 3, 5, 8, 13}) {
                Spec s;
                s.rank = 1 + int(in % 2);
                s.groups = s.ic = s.oc = 3;
                s.in = {2, in};
                s.k = {2 * S};
                s.s = {S};
                s.pb = {pad};
                s.pe = {(pad + in) % S};
                s.op = {in % S ? 1 : 0};
                if (S == 16 && (isa == Isa::avx2 || pad % 5 != 0)) continue;
                Problem p;
                if (!make_problem(s, p)) continue;
                p.dtype = DType::bf16;
                p.activation = acts[size_t(cases) % std::size(acts)];
                const LayerData d = random_layer_data(p, 7000 + uint64_t(S * 100 + pad * 10 + in));
                const std::vector<float> w = bf16_weights(p, d.w.data());
                gen::PlanOverrides o;
                o.shape = 4;
                const Bf16Pair c = compile_bf16_pair(isa, p, w, d.b.data(), o);
                INFO(p.name, ": ", join(c.fused->report().kernel_names));
                REQUIRE(c.converts);
                std::vector<uint16_t> x(d.x.size());
                float_to_bf16(d.x.data(), x.data(), int64_t(x.size()));
                x[0] = 0x7fc1;  // NaN
                const std::vector<uint16_t> want = run_bf16(*c.passes, x, 1);
                std::vector<uint16_t> y(want.size() + kGuard, sentinel);
                c.fused->execute_bf16(x.data(), y.data(), 1, WaitPolicy::bounded);
                CHECK(std::equal(want.begin(), want.end(), y.begin()));
                const auto untouched = [&](uint16_t v) { return v == sentinel; };
                CHECK(std::all_of(y.end() - kGuard, y.end(), untouched));
                ++cases;
            }
    CHECK(cases >= (isa == Isa::avx2 ? 140 : 160));
    }
}

TEST_CASE("jit: depthwise layers are bitwise equal on 1, 2 and 3 threads") {
    // Shares of (image, channel) items and of rows x channel blocks: a thread may start inside
    // a group of output channels that read one input channel.
    Spec s;
    s.groups = s.ic = 7;
    s.oc = 21;
    s.in = {6, 9};
    s.k = {4};
    s.s = {2};
    s.pb = s.pe = {1};
    s.batch = 2;
    s.act = Activation::sigmoid;
    for (Layout layout : {Layout::channels_first, Layout::channels_last})
        for (Isa isa : kIsas) {
            if (!cpu_has(isa)) continue;
            s.layout = layout;
            const Compiled c = compile_spec(isa, s, 11);
            const std::vector<float> y1 = run(c, 1);
            CHECK(compare_to_reference(c.p, c.d, y1.data()).empty());
            for (int threads : {2, 3}) CHECK(bitwise_equal(y1, run(c, threads)));
        }
}

TEST_CASE("jit: channel and row tails store their lanes and nothing past the output") {
    // A last vector of 1-7 (AVX2) or 1-15 (AVX-512) lanes is stored in pieces or under a
    // mask: the output's last pixel (channels_last) or row (channels_first) ends at the
    // buffer's end, so a lane too many would land in the guard after it.
    constexpr size_t kGuard = 64;
    const float sentinel = -1234.5f;
    for (Isa isa : kIsas) {
        if (!cpu_has(isa)) continue;
        for (int64_t tail = 1; tail < (isa == Isa::avx512 ? 16 : 8); ++tail) {
            Spec dense;  // the channel kernel, one and two vectors per tile row
            dense.layout = Layout::channels_last;
            dense.ic = 5;
            dense.oc = tail + (isa == Isa::avx512 ? 16 : 8) * (tail % 2);
            Spec grouped = dense;  // every group's last vector a tail
            grouped.groups = 3;
            grouped.ic = 6;
            grouped.oc = 3 * tail;
            Spec dw = grouped;  // depthwise, channels_last: lanes across the groups
            dw.groups = dw.ic = dw.oc = 8 + tail;
            Spec planes = dw;  // depthwise, channels_first: a row of tail + 16 outputs
            planes.layout = Layout::channels_first;
            planes.rank = 1;
            planes.in = {(tail + 16 + 1) / 2};
            planes.k = {4};
            planes.s = {2};
            planes.pb = planes.pe = {1};
            planes.op = {(tail + 16) % 2};
            planes.groups = planes.ic = planes.oc = 3;
            for (const Spec& s : {dense, grouped, dw, planes}) {
                const Compiled c = compile_spec(isa, s, 90 + uint64_t(tail));
                std::vector<float> y(size_t(c.p.output_elems()) + kGuard, sentinel);
                c.impl->execute(c.d.x.data(), y.data(), 1);
                CHECK_MESSAGE(compare_to_reference(c.p, c.d, y.data()).empty(), c.p.name);
                for (size_t i = y.size() - kGuard; i < y.size(); ++i)
                    CHECK_MESSAGE(y[i] == sentinel, c.p.name, ": ",
                                  join(c.impl->report().kernel_names), " wrote past the end");
            }
        }
    }
}

TEST_CASE("jit: thread shares balanced by channel vectors cover every output once") {
    // Shares are cut by vectors of channels, not items: with a partial last block, oc groups
    // and slabs of groups copied one at a time, every thread count must still compute each
    // output exactly once.
    Spec dense = base_layers()[0];
    dense.batch = 2;
    dense.oc = 70;  // AVX-512: 5 vectors; AVX2: 9
    Spec grouped = dense;  // a partial last block in every group
    grouped.groups = 3;
    grouped.ic = 6;
    grouped.oc = 3 * 23;
    for (const Spec& s : {dense, grouped})
    for (Isa isa : kIsas) {
        if (!cpu_has(isa)) continue;
        for (int n_oc : {1, 2, 3})
            for (int64_t group : {1, 2, 0})
                for (int64_t slab : {0, 1, 2}) {
                    gen::PlanOverrides o;
                    o.ur = 3;  // fits both register files with up to 3 vectors
                    o.n_oc = n_oc;
                    o.oc_group = group;
                    o.group_slab = slab;
                    o.shape = 1;
                    const Compiled c = compile_spec(isa, s, 70 + n_oc, o);
                    const std::vector<float> y1 = run(c, 1);
                    CHECK(compare_to_reference(c.p, c.d, y1.data()).empty());
                    for (int threads : {2, 3, 7})
                        CHECK_MESSAGE(bitwise_equal(y1, run(c, threads)), to_string(isa),
                                      " n_oc ", n_oc, " group ", group, " slab ", slab,
                                      " threads ", threads);
                }
    }
}

TEST_CASE("jit: bands of rows copied one at a time cover every output once") {
    // Large images are copied and computed in bands of output rows, each band copying only the
    // input rows it is the first to read: force bands of 1-5 rows on small layers (both layouts,
    // ranks 2 and 3, stride 2 with padding and dilation, a batch of 2, groups) against the
    // reference and across thread counts; the channel family, and the spatial family (which
    // bands channels-first images).
    std::vector<Spec> specs;
    for (Spec s : base_layers()) {
        if (s.rank == 1) continue;  // one row: nothing to band
        s.batch = 2;
        s.layout = Layout::channels_first;
        specs.push_back(s);
        s.layout = Layout::channels_last;
        s.d = {2};
        s.k = {3};
        specs.push_back(s);
        s.groups = 2;
        s.ic = 6;
        s.oc = 40;
        s.pb = {2, 0, 1};
        specs.push_back(s);
    }
    for (const Spec& s : specs)
        for (Isa isa : kIsas) {
            if (!cpu_has(isa)) continue;
            for (int shape : {1, 2})
                for (int64_t band : {1, 2, 5}) {
                    if (shape == 2 && s.groups > 1) continue;
                    gen::PlanOverrides o;
                    o.shape = shape;
                    o.band_rows = band;
                    const Compiled c = compile_spec(isa, s, 90 + band, o);
                    const std::vector<float> y1 = run(c, 1);
                    CHECK_MESSAGE(compare_to_reference(c.p, c.d, y1.data()).empty(),
                                  to_string(isa), " shape ", shape, " band ", band);
                    for (int threads : {2, 3})
                        CHECK_MESSAGE(bitwise_equal(y1, run(c, threads)), to_string(isa),
                                      " shape ", shape, " band ", band, " threads ", threads);
                }
        }
}

TEST_CASE("jit: channels-last rows without a W halo are copied a plane at a time") {
    // One block holding every input channel and a 1-wide kernel along W: a one-thread call
    // copies each D plane's rows at once, halo rows zeroed around them (benchdnn's 8 -> 8
    // k3x1 d3 on a 5x1 map, 3D with D and H padding, bands of 1-2 rows, images); two threads
    // copy row by row. Both exact and bitwise equal.
    const Spec flat{.batch = 2, .ic = 8, .oc = 8, .in = {5, 1}, .k = {3, 1}, .s = {1, 1},
                    .d = {3, 1}, .pb = {3, 0}, .pe = {6, 0}, .op = {0, 0},
                    .layout = Layout::channels_last};
    const Spec cube{.rank = 3, .batch = 2, .ic = 16, .oc = 5, .in = {3, 4, 6}, .k = {2, 3, 1},
                    .s = {2, 1, 1}, .d = {1, 2, 1}, .pb = {0, 1, 0}, .pe = {1, 3, 0},
                    .op = {1, 0, 0}, .layout = Layout::channels_last};
    for (const Spec& s : {flat, cube})
        for (Isa isa : kIsas) {
            if (!cpu_has(isa)) continue;
            for (int64_t band : {0, 1, 2}) {
                gen::PlanOverrides o;
                o.shape = 1;
                o.band_rows = band;
                const Compiled c = compile_spec(isa, s, 300 + band, o);
                INFO(c.p.name, " ", to_string(isa), " band ", band);
                const std::vector<float> y1 = run(c, 1);
                CHECK(compare_to_reference(c.p, c.d, y1.data()) == "");
                CHECK(bitwise_equal(y1, run(c, 2)));
                CHECK(bitwise_equal(y1, run(c, 1)));  // the halo kept from the first call
            }
        }
}

TEST_CASE("jit: oc groups and image groups against the reference") {
    // Weight-heavy layers run oc blocks in groups and large images one group at a time; force
    // the smallest groups on small layers (several oc blocks, a batch of 3) on both threads.
    for (Spec s : base_layers()) {
        s.batch = 3;
        s.oc = 70;
        for (Isa isa : kIsas) {
            if (!cpu_has(isa)) continue;
            for (int64_t group : {1, 2}) {
                gen::PlanOverrides o;
                o.n_oc = 1;
                o.oc_group = group;
                o.batch_group = group;
                CHECK_MESSAGE(check_layer(isa, s, 500 + group, o).empty(), "groups of ", group);
                o.shape = 2;  // the spatial shape groups images only
                o.n_oc = 0;
                std::string err = check_layer(isa, s, 600 + group, o);
                if (err.find("declined") != std::string::npos) err.clear();
                CHECK_MESSAGE(err.empty(), "spatial, groups of ", group);
            }
        }
    }
}

namespace {

// A grouped layer of `groups` x (icg -> ocg) channels, batch 2, bias unless the activation is
// ReLU: the few-channel group tests' cases.
struct GroupCase {
    int rank;
    int64_t groups, icg, ocg;
    std::vector<int64_t> in;
    Geometry g;
    Activation act;
};

Spec grouped_spec(Layout layout, const GroupCase& k) {
    Spec s = depthwise_spec(layout, k.groups, 1, k.g, k.in);
    s.ic = k.groups * k.icg;
    s.oc = k.groups * k.ocg;
    s.batch = 2;
    s.act = k.act;
    s.bias = k.act != Activation::relu;
    return s;
}

}  // namespace

TEST_CASE("jit: channels_last few-channel groups on the spatial and depthwise kernels") {
    // Rows of chunks of oc blocks, transposed at once into the channels-last output: 2-5
    // channels per group, channel counts off the vector widths, ranks 1-3, odd widths, a batch
    // of 2, bias and activations, chunks smaller than the layer's blocks (a wide row; a 1D row
    // split for threads; a 1D row past the buffer budget), the planner's choice (the spatial kernel while it is faster) and the
    // spatial kernel forced, the depthwise kernel forced; 1, 2 and 3 threads bitwise equal.
    const GroupCase cases[] = {
        {2, 37, 3, 3, {7, 9}, {4, 2, 1, 1, 1, 0}, Activation::none},
        {2, 9, 2, 2, {5, 11}, {3, 2, 1, 1, 1, 1}, Activation::relu},
        {2, 13, 4, 4, {4, 13}, {3, 1, 1, 1, 1, 0}, Activation::tanh},
        {2, 7, 5, 5, {5, 7}, {4, 2, 1, 1, 1, 0}, Activation::leaky_relu},
        {2, 11, 3, 2, {3, 9}, {5, 3, 1, 2, 1, 2}, Activation::sigmoid},
        {2, 40, 3, 3, {2, 203}, {4, 2, 1, 1, 1, 0}, Activation::none},
        {1, 64, 3, 3, {37}, {4, 2, 1, 1, 1, 0}, Activation::relu},
        {1, 5, 2, 4, {19}, {3, 2, 2, 2, 1, 1}, Activation::none},
        {1, 9, 3, 3, {2100}, {4, 2, 1, 1, 1, 0}, Activation::sigmoid},
        {3, 19, 3, 3, {3, 4, 5}, {4, 2, 1, 1, 1, 0}, Activation::tanh},
        {3, 6, 4, 2, {2, 3, 7}, {3, 2, 1, 1, 0, 1}, Activation::none},
    };
    for (const GroupCase& k : cases)
        for (Isa isa : kIsas) {
            if (!cpu_has(isa)) continue;
            const Spec s = grouped_spec(Layout::channels_last, k);
            for (int shape : {0, 2, 3}) {
                gen::PlanOverrides o;
                o.shape = shape;
                const Compiled c = compile_spec(isa, s, 1500 + k.groups, o);
                const std::string name = join(c.impl->report().kernel_names);
                INFO(c.p.name, " ", to_string(isa), ": ", name);
                const int64_t vlen = isa == Isa::avx512 ? 16 : 8;
                // The planner fills the lanes: along W, or across groups (the depthwise
                // kernel with a reduction, where the taps pay for its copy).
                const bool svec = name.find("_svec_") != std::string::npos;
                const bool dwg = name.find("_dwg_") != std::string::npos;
                if (shape == 0 && k.ocg <= 4 && k.ocg * 8 <= vlen * 3) CHECK((svec || dwg));
                if (shape == 2) CHECK(svec);
                if (shape == 3) CHECK(dwg);
                const std::vector<float> y1 = run(c, 1);
                CHECK(compare_to_reference(c.p, c.d, y1.data()) == "");
                for (int threads : {2, 3}) CHECK(bitwise_equal(y1, run(c, threads)));
            }
        }
}

TEST_CASE("jit: channels_first groups with few outputs take the spatial kernel, any inputs") {
    // Few output channels per group (at most half a vector) and more input channels per group
    // than a vector holds: lanes along W, as for a dense layer with few outputs (the channel
    // kernel would fill 2-4 lanes of each vector). Not where the column family is favoured
    // (32 or more inputs per group and oc_g x taps <= ic_g; AVX2: up to 2 x ic_g, so the
    // 16 x 32 -> 3 case takes the columns there). Ranks 1-3, batch 2, bias and activations; 1,
    // 2 and 3 threads bitwise equal.
    const GroupCase cases[] = {
        {2, 16, 32, 3, {8, 9}, {4, 2, 1, 1, 1, 0}, Activation::relu},
        {2, 8, 17, 4, {9, 7}, {4, 2, 1, 1, 1, 0}, Activation::none},
        {2, 4, 24, 2, {11, 6}, {3, 2, 1, 1, 1, 1}, Activation::tanh},
        {1, 6, 24, 4, {53}, {5, 3, 1, 2, 1, 1}, Activation::sigmoid},
        {3, 4, 20, 3, {3, 4, 5}, {3, 2, 1, 1, 1, 0}, Activation::leaky_relu},
    };
    for (const GroupCase& k : cases)
        for (Isa isa : kIsas) {
            if (!cpu_has(isa)) continue;
            const Spec s = grouped_spec(Layout::channels_first, k);
            const Compiled c = compile_spec(isa, s, 1700 + k.groups, {});
            const std::string name = join(c.impl->report().kernel_names);
            INFO(c.p.name, " ", to_string(isa), ": ", name);
            const int64_t vlen = isa == Isa::avx512 ? 16 : 8;
            const bool columns = isa == Isa::avx2 && k.icg >= 32;
            if (k.ocg * 2 <= vlen)
                CHECK(name.find(columns ? "_gemm_" : "_svec_") != std::string::npos);
            const std::vector<float> y1 = run(c, 1);
            CHECK(compare_to_reference(c.p, c.d, y1.data()) == "");
            for (int threads : {2, 3}) CHECK(bitwise_equal(y1, run(c, threads)));
        }
}

TEST_CASE("jit: a spatial layer's few rows split into W spans for threads") {
    // One or two rows (1D, batch 1 or 2; a 2D map one row high) give threads too few items:
    // the rows' tiles are split into spans, each copied out on its own. Spans starting inside
    // the padding (pad_begin 1 and 3), ending in the output_padding, a last span shorter than
    // the others, both layouts; 1-4 threads bitwise equal to one (whole rows) and exact.
    struct Case {
        int rank;
        int64_t batch, ic, oc;
        std::vector<int64_t> in;
        Geometry g;
        Layout layout;
    };
    const Case cases[] = {
        {1, 1, 16, 8, {3001}, {4, 2, 1, 1, 1, 0}, Layout::channels_first},
        {1, 1, 16, 8, {3001}, {4, 2, 1, 1, 1, 0}, Layout::channels_last},
        {1, 2, 5, 3, {1777}, {7, 3, 1, 3, 2, 1}, Layout::channels_first},
        {1, 1, 8, 1, {999}, {16, 8, 1, 4, 4, 0}, Layout::channels_last},
        {2, 1, 4, 6, {1, 700}, {3, 2, 1, 0, 1, 1}, Layout::channels_first},
    };
    for (const Case& k : cases)
        for (Isa isa : kIsas) {
            if (!cpu_has(isa)) continue;
            Spec s = depthwise_spec(k.layout, 1, 1, k.g, k.in);
            s.ic = k.ic;
            s.oc = k.oc;
            s.batch = k.batch;
            gen::PlanOverrides o;
            o.shape = 2;  // the spatial family
            const Compiled c = compile_spec(isa, s, 1700 + k.oc, o);
            const std::string name = join(c.impl->report().kernel_names);
            INFO(c.p.name, " ", to_string(isa), ": ", name);
            CHECK(name.find("_svec_") != std::string::npos);
            const std::vector<float> y1 = run(c, 1);
            CHECK(compare_to_reference(c.p, c.d, y1.data()) == "");
            for (int threads : {2, 3, 4}) CHECK(bitwise_equal(y1, run(c, threads)));
        }
}

TEST_CASE("jit: folded rows against the reference") {
    // Folding forced on random tiny-map layers: a run's tiles span rows and read across the
    // halo between them; the dropped outputs must not reach the output, the kept ones every
    // tap. Ranks 2 and 3, strides 1-3 (phases without taps: bias only), dilation, asymmetric
    // pads, output_padding, groups, several input-channel blocks, channel tails, batches, both
    // layouts, activations; 1-3 threads bitwise equal; the layer as planned (rows) agrees.
    std::mt19937 rng(77);
    const int folded = check_forced_draws(60, 1900, &gen::PlanOverrides::fold, "rows folded", [&] {
        const int rank = std::uniform_int_distribution<int>(2, 3)(rng);
        return random_small_spec(rng, rank, {1, 5, 5, 3, 2});
    });
    CHECK(folded >= 40);  // most draws have a phase with two rows or more
}

TEST_CASE("jit: input channels reduced in chunks keep their sums between the chunks") {
    // Chunks forced on random layers of 2-7 input-channel blocks: 2, 3 or every block per
    // chunk (clamped to a divisor); ranks 1-3, tiny maps whose tiles run tap subsets (and
    // bias-only kernels that may only write when the sums finish), phases without taps,
    // dilation, pads, output_padding, groups, channel tails, batches, both layouts,
    // activations and bias; 1-3 threads bitwise equal, and one chunk agrees.
    std::mt19937 rng(4242);
    int split = 0;
    for (int i = 0; i < 36; ++i) {
        Spec s = draw_by_rank(rng, i);
        s.ic = s.groups * std::vector<int64_t>{40, 64, 100}[size_t(i / 3 % 3)];
        gen::PlanOverrides on, off;
        on.shape = off.shape = 1;
        on.ic_split = std::vector<int64_t>{2, 3, 64}[size_t(i % 3)];
        off.ic_split = -1;
        split += check_forced_plan(s, 5000 + uint64_t(i), on, off, "ic blocks (fp32 sums");
    }
    int isas = 0;
    for (Isa isa : kIsas) isas += cpu_has(isa);
    CHECK(split >= 12 * isas);  // most draws have several blocks per group
}

// c's output written `shift` floats past a 64-byte boundary.
std::vector<float> run_shifted(const Compiled& c, int threads, int64_t shift) {
    const size_t n = size_t(c.p.output_elems());
    std::vector<float> buf(n + 32, std::nanf(""));
    const size_t pad = (64 - reinterpret_cast<uintptr_t>(buf.data()) % 64) % 64 / sizeof(float);
    float* y = buf.data() + pad + shift;
    c.impl->execute(c.d.x.data(), y, threads);
    return std::vector<float>(y, y + n);
}

TEST_CASE("jit: streamed stores write what cached ones do, on aligned outputs or not") {
    // Streaming forced on random layers: channels-last ones of 16-48 output channels per group
    // (the kernels' non-temporal stores, taken where y is 64-byte aligned) and channels-first
    // ones (the rows' transposes, from 64 outputs a row); ranks 1-3, pads, dilation, groups,
    // batches, activations, and some with input-channel chunks (the finishing call streams).
    // Against the reference, and bitwise equal to the layer without streaming at outputs 0, 1
    // and 4 floats past a line boundary, on 1-3 threads.
    std::mt19937 rng(606);
    int streamed = 0;
    for (int i = 0; i < 30; ++i) {
        Spec s = draw_by_rank(rng, i, 20, 90);
        s.oc = s.groups * std::vector<int64_t>{16, 32, 48}[size_t(i % 3)];
        Problem probe;
        if (!make_problem(s, probe)) continue;
        auto [on, off] = forced(&gen::PlanOverrides::stream);
        if (i % 4 == 0) on.ic_split = off.ic_split = 2;
        for_each_isa(s, 6060 + uint64_t(i), on, off, [&](const Compiled& a, const Compiled& b) {
            const std::string lines = join(a.impl->report().plan_lines);
            streamed += lines.find("stores: ") != std::string::npos;
            CHECK(join(b.impl->report().plan_lines).find("stores: ") == std::string::npos);
            const std::vector<float> want = run_shifted(b, 1, 0);
            CHECK(compare_to_reference(a.p, a.d, want.data()) == "");
            for (int64_t shift : {0, 1, 4})
                for (int threads : {1, 2, 3})
                    CHECK(bitwise_equal(run_shifted(a, threads, shift), want));
        });
    }
    // Channels-last ones on both ISAs, channels-first on AVX-512 (16 on an AVX2-only CPU).
    CHECK(streamed >= (cpu_has(Isa::avx512) ? 30 : 12));
}

TEST_CASE("jit: inputs copied pixel-major hold what block-major copies do") {
    // The interleaved copy forced on and off on random small layers of several input-channel
    // blocks: ranks 1-3, pads (zero halo between the blocks of a pixel), dilation, strides,
    // output_padding, batches, both layouts, activations, with folded rows, band and W-chunk
    // copies and chunks as the planner picks them; against the reference, 1-3 threads bitwise.
    std::mt19937 rng(515);
    const int interleaved =
        check_forced_draws(36, 7100, &gen::PlanOverrides::interleave, "pixel-major", [&] {
            const int rank = 1 + int(rng() % 3);
            Spec s = random_small_spec(rng, rank, ranges_by_rank(rank));
            s.groups = 1;
            s.ic = std::vector<int64_t>{20, 40, 100}[rng() % 3];
            s.oc = std::vector<int64_t>{5, 16, 33}[rng() % 3];
            return s;
        });
    CHECK(interleaved >= 30);  // channels-last ones without halo are read in place instead
    // Band copies (rows of a 2D image, planes of a 3D one) and W-chunk copies (a 1D row) into
    // the pixel-major layout: the window and column copies stride by a pixel's blocks.
    Spec band{.ic = 48, .oc = 20, .in = {64, 64}, .k = {3}, .s = {2}, .pb = {1}, .pe = {1},
              .op = {1}};
    Spec chunk{.rank = 1, .ic = 40, .oc = 24, .in = {3000}, .k = {4}, .s = {2}, .pb = {1},
               .pe = {1}, .op = {0}};
    for (Layout layout : {Layout::channels_first, Layout::channels_last}) {
        band.layout = chunk.layout = layout;
        auto [on, off] = forced(&gen::PlanOverrides::interleave);
        on.band_copies = off.band_copies = 1;
        CHECK(check_forced_plan(band, 7301, on, off, "pixel-major") >= 1);
        band.rank = 3, band.in = {6, 16, 16};
        CHECK(check_forced_plan(band, 7302, on, off, "pixel-major") >= 1);
        band.rank = 2, band.in = {64, 64};
        on.band_copies = off.band_copies = 0;
        on.chunk_copies = off.chunk_copies = 1;
        CHECK(check_forced_plan(chunk, 7303, on, off, "pixel-major") >= 1);
    }
}

TEST_CASE("jit: rows visited H phase by H phase hold what rows in order do") {
    // The order is a permutation of the rows, each H phase's in a run, in order within it.
    for (int64_t S = 1; S <= 5; ++S)
        for (int64_t I = 1; I <= 6; ++I)
            for (int64_t pb = 0; pb <= 2; ++pb) {
                Spec s{.ic = 16, .oc = 16, .in = {I, 3}, .k = {3}, .s = {S, 1}, .pb = {pb, 1},
                       .pe = {1}, .op = {0}};
                Problem probe;
                if (!make_problem(s, probe)) continue;
                gen::PlanOverrides on;
                on.shape = 1;
                on.phase_rows = 1;
                const gen::ChannelPlan pl = channel_plan(s, Isa::avx2, on);
                std::vector<int64_t> rows = pl.row_order();
                INFO("S ", S, " in ", I, " pad ", pb, " rows ", pl.out[1]);
                CHECK(pl.phase_rows == (S > 1 && pl.out[1] > 1));
                for (size_t i = 1; i < rows.size(); ++i) {
                    const int64_t a = (rows[i - 1] + pb) % S, b = (rows[i] + pb) % S;
                    CHECK((a < b || (a == b && rows[i] == rows[i - 1] + S)));
                }
                std::sort(rows.begin(), rows.end());
                REQUIRE(int64_t(rows.size()) == pl.out[1]);
                for (int64_t i = 0; i < pl.out[1]; ++i) CHECK(rows[size_t(i)] == i);
            }
    // Forced on and off on random small layers strided along H (ranks 2-3, dilation, pads,
    // output_padding, groups, batches, both layouts, activations, folded rows and
    // input-channel chunks where the planner picks them): against the reference, bitwise
    // equal on 1-3 threads.
    std::mt19937 rng(1213);
    const int by_phase =
        check_forced_draws(36, 12130, &gen::PlanOverrides::phase_rows, "H phase by H phase", [&] {
            const int rank = 2 + int(rng() % 2);
            Spec s = random_small_spec(rng, rank, ranges_by_rank(rank));
            const size_t h = size_t(rank - 2);
            s.s = fit(s.s, rank);
            s.s[h] = 2 + int64_t(rng() % 3);
            return s;
        });
    CHECK(by_phase >= 20);
}

TEST_CASE("jit: W taps sharing their broadcasts sum exactly as taps one by one") {
    // Shared broadcasts forced on and off on random layers of several W taps per phase:
    // ranks 1-3, kernels 2-6, strides 1-3, dilation 1-2 (taps two pixels apart), tiny maps
    // whose tiles run subsets of the taps, folded rows on some, groups, tails, batches, both
    // layouts, activations. Against the reference, and bitwise equal to the unshared tiles
    // (each accumulator takes its taps in the same order), on 1-3 threads.
    std::mt19937 rng(919);
    int shared = 0;
    for (int i = 0; i < 36; ++i) {
        Spec s = draw_by_rank(rng, i);
        s.k.back() = 2 + int64_t(rng() % 5);
        s.pb.back() = s.pe.back() = int64_t(rng() % uint64_t(s.d.back() * (s.k.back() - 1) + 1));
        Problem probe;
        if (!make_problem(s, probe)) continue;
        auto [on, off] = forced(&gen::PlanOverrides::shared_bcast);
        if (i % 4 == 0) on.fold = off.fold = 1;
        for_each_isa(s, 9190 + uint64_t(i), on, off, [&](const Compiled& a, const Compiled& b) {
            bool any = false;
            for (const std::string& k : a.impl->report().kernel_names)
                any = any || k.find("_sb_") != std::string::npos;
            shared += any;
            const std::vector<float> y = run(a, 1);
            CHECK(compare_to_reference(a.p, a.d, y.data()) == "");
            CHECK(bitwise_equal(y, run(b, 1)));
            for (int threads : {2, 3}) CHECK(bitwise_equal(y, run(a, threads)));
        });
    }
    CHECK(shared >= (cpu_has(Isa::avx512) ? 30 : 20));  // 26 on an AVX2-only CPU
}

TEST_CASE("jit: which AVX2 layers share their broadcasts among W taps") {
    // Where a group's outputs are one vector (HiFi-GAN v2's 16 -> 8 k4 s2, ResNeXt's 8 per
    // group), or two under two W taps (32 -> 16), the tiles load a broadcast per FMA or two:
    // AVX2 shares them. Wider outputs keep their wider unshared tiles.
    Spec s;
    s.rank = 1;
    s.in = {512};
    s.k = {4};
    s.s = {2};
    s.pb = s.pe = {1};
    for (auto [ic, oc, groups, shared] : {std::tuple{16, 8, 1, true}, {32, 16, 1, true},
                                          {256, 256, 32, true}, {128, 64, 1, false}}) {
        s.ic = ic;
        s.oc = oc;
        s.groups = groups;
        for (Layout layout : {Layout::channels_first, Layout::channels_last}) {
            s.layout = layout;
            INFO(s.ic, " -> ", s.oc, " in ", s.groups, " groups");
            CHECK(channel_plan(s, Isa::avx2).shared_bcast == shared);
        }
    }
    s.k = {6};  // 3 W taps: two vectors stay unshared
    s.ic = 32;
    s.oc = 16;
    s.groups = 1;
    CHECK_FALSE(channel_plan(s, Isa::avx2).shared_bcast);
}

TEST_CASE("jit: which layers stream their output stores") {
    // U-Net's 128 -> 64 k2 s2: at 196x196 (39 MB out) both layouts stream on AVX-512; at
    // 100x100 (10 MB) neither. 40 channels (pixels of partial lines) and bf16 never; 16
    // channels channels_last only.
    Spec s{.ic = 128, .oc = 64, .k = {2}, .s = {2}, .pb = {0}, .pe = {0}, .op = {0}};
    auto streams = [&](int64_t side, Layout layout, Isa isa) {
        s.in = {side, side};
        s.layout = layout;
        return channel_plan(s, isa).stream;
    };
    const Layout cl = Layout::channels_last, cf = Layout::channels_first;
    CHECK(streams(196, cl, Isa::avx512));
    CHECK(streams(196, cf, Isa::avx512));
    CHECK_FALSE(streams(196, cl, Isa::avx2));
    CHECK_FALSE(streams(196, cf, Isa::avx2));
    CHECK_FALSE(streams(100, cl, Isa::avx512));
    CHECK_FALSE(streams(100, cf, Isa::avx512));
    s.oc = 40;
    CHECK_FALSE(streams(196, cl, Isa::avx512));
    s.oc = 16;
    CHECK(streams(400, cl, Isa::avx512));
    s.oc = 64;
    s.in = {196, 196};
    s.layout = cl;
    Problem p;
    REQUIRE(make_problem(s, p));
    p.dtype = DType::bf16;
    gen::Plan plan;
    std::string why;
    REQUIRE_MESSAGE(gen::plan(p, Isa::avx512, plan, why), why);
    CHECK_FALSE(std::get<gen::ChannelPlan>(plan.family).stream);
    // V-Net's 64 -> 16 k2 s2 at 32x64x64 (67 MB): channels_last only.
    s.rank = 3;
    s.ic = 64;
    s.oc = 16;
    s.in = {32, 64, 64};
    CHECK(channel_plan(s, Isa::avx512).stream);
    s.layout = cf;
    CHECK_FALSE(channel_plan(s, Isa::avx512).stream);
}

TEST_CASE("jit: which layers reduce their input channels in chunks") {
    // The benchdnn 3D 512 -> 256 k3 dilation 2 at 6x7x7 (14 MB of weights, 11-wide rows) and
    // at 6x14x14 (18-wide rows: each tile would stream its row's 3.5 MB) split, with tiles of
    // several vectors; U-Net's 128 -> 64 k4 s2 (weights within L2), a 1D layer (one row: its
    // W chunks share the weights) and a bf16 layer keep one chunk.
    Spec s;
    s.rank = 3;
    s.ic = 512;
    s.oc = 256;
    s.k = {3};
    s.d = {2};
    s.s = {1};
    s.pb = s.pe = s.op = {0};
    for (std::vector<int64_t> in : {std::vector<int64_t>{6, 7, 7}, {6, 14, 14}}) {
        s.in = in;
        for (Layout layout : {Layout::channels_first, Layout::channels_last}) {
            s.layout = layout;
            const gen::ChannelPlan pl = channel_plan(s, Isa::avx512);
            CHECK(pl.ic_split > 1);
            CHECK(pl.n_oc >= 3);
            CHECK(pl.w_rows / pl.ic_split * 27 * pl.n_oc * 16 * 4 <= 1024 * 1024);
        }
    }
    CHECK(channel_plan_k4s2(128, 64, {64, 64}, Isa::avx512, Layout::channels_first).ic_split ==
          1);
    CHECK(channel_plan_k4s2(1024, 512, {300}, Isa::avx512, Layout::channels_first).ic_split ==
          1);
    s.in = {6, 7, 7};
    Problem p;
    REQUIRE(make_problem(s, p));
    p.dtype = DType::bf16;
    gen::Plan plan;
    std::string why;
    gen::PlanOverrides channel;
    channel.shape = 1;
    REQUIRE_MESSAGE(gen::plan(p, Isa::avx512, plan, why, channel), why);
    CHECK(std::get<gen::ChannelPlan>(plan.family).ic_split == 1);
}

TEST_CASE("jit: the planned L2 size") {
    // Planning sizes for the CPU's L2 between 256 KiB and 1 MiB (1 MiB when not reported).
    CHECK(gen::planning_l2_bytes(0) == 1 << 20);
    CHECK(gen::planning_l2_bytes(512 << 10) == 512 << 10);
    CHECK(gen::planning_l2_bytes(2 << 20) == 1 << 20);
    CHECK(gen::planning_l2_bytes(64 << 10) == 256 << 10);
    CHECK(cpu_info().plan_l2_bytes == gen::planning_l2_bytes(cpu_info().l2_bytes));
    // A 512 KiB L2 chunks the input channels of pix2pix's 1024 -> 256 at 16x16 (a block's
    // 4 x 6 KiB per input channel cycles every 16-wide row), which 1 MiB keeps whole.
    gen::PlanOverrides half, full;
    half.l2_bytes = 512 << 10;
    full.l2_bytes = 1 << 20;
    const Layout cf = Layout::channels_first;
    const gen::ChannelPlan a = channel_plan_k4s2(1024, 256, {16, 16}, Isa::avx2, cf, half);
    const gen::ChannelPlan b = channel_plan_k4s2(1024, 256, {16, 16}, Isa::avx2, cf, full);
    CHECK(a.l2_bytes == 512 << 10);
    CHECK(a.ic_split > b.ic_split);
    // The images copied together keep the calibrated 1 MiB budget (halved, bands of rows ran
    // random layers 0.92-0.95x).
    const Spec batch = {.batch = 8, .ic = 64, .oc = 64, .in = {24, 24}, .k = {4}};
    CHECK(channel_plan(batch, Isa::avx2, half).batch_group ==
          channel_plan(batch, Isa::avx2, full).batch_group);
    // DeconvNet's 512 -> 512 k3 s1 at 14x14: 0.3 MB of weights a block beside 0.5 MB of input
    // chunks on a 512 KiB L2 (the input over its budget), not on 1 MiB.
    const Spec deconv5 = {.ic = 512, .oc = 512, .in = {14, 14}, .k = {3}, .s = {1}};
    CHECK(channel_plan(deconv5, Isa::avx2, half).ic_split == 2);
    CHECK(channel_plan(deconv5, Isa::avx2, full).ic_split == 1);
    // Short 1D rows chunk their channels as 2D maps do (WaveGAN's 1024 -> 512 k25 s4 on 16
    // steps); long ones keep whole blocks.
    Spec wavegan = {.rank = 1, .ic = 1024, .oc = 512, .in = {16}, .k = {25}, .s = {4},
                    .pb = {11}, .pe = {11}, .op = {1}};
    CHECK(channel_plan(wavegan, Isa::avx2, full).ic_split > 1);
    wavegan.in = {300};
    CHECK(channel_plan(wavegan, Isa::avx2, full).ic_split == 1);
    // Any size gives the reference's results: small random layers of 64 input channels per
    // group planned for a 16 KiB L2 (their blocks' weights in chunks) and for 1 MiB.
    std::mt19937 rng(4242);
    gen::PlanOverrides tiny;
    tiny.l2_bytes = 16 << 10;
    int differ = 0;
    for (int i = 0; i < 24; ++i) {
        Spec r = draw_by_rank(rng, i, 2, 40);
        r.batch = 1 + i % 3;
        r.ic = r.groups * 64;
        Problem probe;
        if (!make_problem(r, probe)) continue;
        for_each_isa(r, 7000 + uint64_t(i), tiny, full, [&](const Compiled& a, const Compiled& b) {
            CHECK(compare_to_reference(a.p, a.d, run(a, 1).data()) == "");
            CHECK(compare_to_reference(a.p, a.d, run(a, 2).data()) == "");
            CHECK(compare_to_reference(b.p, b.d, run(b, 2).data()) == "");
            differ += a.impl->report().plan_lines != b.impl->report().plan_lines;
        });
    }
    CHECK(differ >= 6);
}

TEST_CASE("jit: 2D and 3D layers copied per band by the thread that computes it") {
    // Band copies forced on random 2D layers (bands of rows) and 3D ones (bands of planes):
    // each band's input window (halo, taps reaching back up to dilation x kernel,
    // output_padding, asymmetric pads, phases without taps), groups, channel tails, batches,
    // both layouts, activations; 1-3 threads bitwise equal, and the layer copied whole agrees.
    std::mt19937 rng(2025);
    int i = 0;
    const int banded =
        check_forced_draws(48, 2300, &gen::PlanOverrides::band_copies, "copied per band", [&] {
            return ++i % 3 == 0 ? random_small_spec(rng, 3, {2, 9, 4, 3, 2})
                                : random_small_spec(rng, 2, {2, 30, 6, 4, 3});
        });
    CHECK(banded >= 24);
}

TEST_CASE("jit: which layers copy their input per band") {
    // U-Net's 128 -> 64 at 196x196 (19 MB of input) in channels-first, and k4 s2 p1 in
    // channels-last (a halo: not read in place), copy per band of rows; the same at 28x28
    // (400 KiB, within the L2 budget) copies the whole image; channels-last k2 s2 reads it in
    // place; a 3D 32^3 image copies per band of planes.
    struct Case {
        int64_t in, k, p;
        Layout layout;
        bool bands;
    };
    const Case cases[] = {
        {196, 2, 0, Layout::channels_first, true}, {196, 4, 1, Layout::channels_last, true},
        {28, 2, 0, Layout::channels_first, false}, {196, 2, 0, Layout::channels_last, false},
        {-32, 2, 0, Layout::channels_first, true},  // 3D 32^3 (17 MB): bands of planes
    };
    for (const Case& c : cases)
        for (Isa isa : kIsas) {
            Spec s;
            s.ic = 128;
            s.oc = 64;
            const int64_t in = std::abs(c.in);
            s.rank = c.in < 0 ? 3 : 2;
            s.in = {in};
            s.k = {c.k};
            s.s = {2};
            s.pb = s.pe = {c.p};
            s.layout = c.layout;
            const gen::ChannelPlan plan = channel_plan(s, isa);
            const gen::ChannelPlan* ch = &plan;
            INFO(c.in, " k", c.k, " ", to_string(c.layout), " ", to_string(isa));
            CHECK(ch->band_copies == c.bands);
            if (!ch->band_copies) continue;
            // At least 8 bands along H (2D) or D (3D); their windows fit the buffer and cover
            // the input.
            const size_t d = s.rank == 3 ? 0 : 1;
            CHECK(ch->band_axis == int(d));
            CHECK(ch->band_windows.size() >= 8);
            for (const auto& [r0, r1] : ch->band_windows)
                CHECK((r0 <= r1 && r1 - r0 <= ch->band_input.padded[d]));
            CHECK(ch->band_windows.front()[0] <= ch->input.halo_lo[d]);
            CHECK(ch->band_windows.back()[1] >= ch->input.halo_lo[d] + in);
        }
}

TEST_CASE("jit: one-row images over half the L2 input budget are copied per W chunk") {
    // HiFi-GAN-like 32 -> 16 and 64 -> 32 k4 s2 at 16384 steps (2-4 MiB of input) copy per
    // chunk; the same at 1024 steps (128 KiB), a 2D layer and a weight-heavy 1D layer (its oc blocks in
    // several L2 groups, each re-reading the chunk) copy the whole image.
    struct Case {
        int64_t ic, oc;
        std::vector<int64_t> in;
        bool chunks;
    };
    const Case cases[] = {
        {32, 16, {16384}, true},     {64, 32, {16384}, true},  {32, 16, {1024}, false},
        {64, 32, {128, 128}, false}, {1024, 512, {2048}, false},
    };
    for (const Case& k : cases)
        for (Isa isa : kIsas)
            for (Layout layout : {Layout::channels_first, Layout::channels_last}) {
                INFO(k.ic, " -> ", k.oc, " ", to_string(isa), " ", to_string(layout));
                const gen::ChannelPlan plan = channel_plan_k4s2(k.ic, k.oc, k.in, isa, layout);
                const gen::ChannelPlan* ch = &plan;
                CHECK(ch->chunk_copies == k.chunks);
                if (!ch->chunk_copies) continue;
                // Every chunk's columns fit the buffer, and together they cover the input.
                REQUIRE(int64_t(ch->chunk_columns.size()) == ch->w_chunks);
                for (const auto& [c0, c1] : ch->chunk_columns)
                    CHECK((c0 <= c1 && c1 - c0 <= ch->chunk_input.padded[2]));
                CHECK(ch->chunk_columns.front()[0] <= ch->input.halo_lo[2]);
                CHECK(ch->chunk_columns.back()[1] >= ch->input.halo_lo[2] + k.in.back());
            }
}

TEST_CASE("jit: channels-last inputs without halo are read in place, not copied") {
    // Random layers whose taps all land inside the input (kernel <= stride, no padding; a
    // quarter keep their pads and output_padding, so need a halo): the in-place reads (strides
    // of the user's tensor: pixels of ic_g * groups floats, blocks side by side) against the
    // reference and the copied buffer, groups, channel tails, 1-3 threads, AVX-512 and AVX2.
    std::mt19937 rng(4242);
    const int in_place = check_forced_draws(60, 3100, &gen::PlanOverrides::in_place,
                                            "input read in place", [&] {
        const int rank = std::uniform_int_distribution<int>(1, 3)(rng);
        Spec s = random_small_spec(rng, rank, {1, 24, 3, 3, 1});
        if (rng() % 4 != 0)
            for (int i = 0; i < rank; ++i) {
                s.k[size_t(i)] = std::min(s.k[size_t(i)], s.s[size_t(i)]);
                s.pb[size_t(i)] = s.pe[size_t(i)] = s.op[size_t(i)] = 0;
            }
        return s;
    });
    CHECK(in_place >= 20);  // channels-last draws whose channels fill their blocks
}

TEST_CASE("jit: which inputs the channel family reads in place") {
    struct Case {
        int64_t ic, k, p;
        Layout layout;
        bool in_place;
    };
    const Case cases[] = {
        {128, 2, 0, Layout::channels_last, true},    // U-Net's up-convolution
        {128, 2, 0, Layout::channels_first, false},  // the layout differs: transposed by the copy
        {128, 4, 1, Layout::channels_last, false},   // k4 s2 p1: taps reach a zero halo
        {40, 2, 0, Layout::channels_last, false},    // 3 blocks of 14 lanes: 2 lanes of padding
    };
    for (const Case& c : cases)
        for (Isa isa : kIsas) {
            Spec s;
            s.ic = c.ic;
            s.oc = 64;
            s.in = {24, 24};
            s.k = {c.k};
            s.s = {2};
            s.pb = s.pe = {c.p};
            s.layout = c.layout;
            const gen::ChannelPlan ch = channel_plan(s, isa);
            INFO(c.ic, " k", c.k, " ", to_string(c.layout), " ", to_string(isa));
            CHECK(ch.input.in_place == c.in_place);
            if (c.in_place) CHECK(ch.input.strides()[2] == c.ic);  // the user's pixel stride
        }
}

TEST_CASE("jit: a 1D row cut into W chunks keeps each oc block's weights within L2") {
    // WaveGAN's 512 -> 256 k25 s4 at 64 steps: 64-channel blocks (3.3 MB of weights) would be
    // re-read from beyond L2 by each of the row's 4 chunks; its tiles take narrower blocks.
    // The same weights over a 2D map (many rows, each re-reading them anyway) keep 4 vectors.
    auto plan_of = [](std::vector<int64_t> in) {
        Spec s;
        s.rank = int(in.size());
        s.ic = 512;
        s.oc = 256;
        s.in = in;
        s.k = {25, 1};
        s.s = {4, 1};
        s.pb = s.pe = {11, 0};
        s.op = {1, 0};
        if (s.rank == 2) s.k = {1, 25}, s.s = {1, 4}, s.pb = s.pe = {0, 11}, s.op = {0, 1};
        return channel_plan(s, Isa::avx512);
    };
    const gen::ChannelPlan row = plan_of({64});
    CHECK(row.n_oc <= 2);
    CHECK(row.w_rows * 25 * row.n_oc * 16 * 4 <= 2 * 1024 * 1024);  // a block's weights fit
    CHECK(plan_of({64, 64}).n_oc == 4);
}

TEST_CASE("jit: AVX2 tiles on short rows whose one-vector blocks overflow L2 are wider") {
    // simple-baselines' 2048 -> 256 at 8x6: a one-vector block (1 MiB) overflows AVX2's L2
    // budget, so every tile streams its weights from L3 and two vectors per tile halve the
    // input re-reads; AVX-512 keeps its tile. 1024 -> 256 at 16x16 (512 KiB one-vector
    // blocks) reduces in two chunks instead, whose 3-vector blocks stay within L2.
    CHECK(channel_plan_k4s2(2048, 256, {8, 6}, Isa::avx2, Layout::channels_first).n_oc == 2);
    CHECK(channel_plan_k4s2(2048, 256, {8, 6}, Isa::avx512, Layout::channels_first).n_oc == 1);
    const gen::ChannelPlan mid =
        channel_plan_k4s2(1024, 256, {16, 16}, Isa::avx2, Layout::channels_first);
    CHECK((mid.ic_split == 2 && mid.n_oc == 3));
}

TEST_CASE("jit: AVX2 channels-last tiles write whole output lines when the chunk leaves L1") {
    // 2 -> 256 channels, k8 s4 on 2000 steps: one-vector blocks would write half of every
    // output line each, the other half a block later from L2 (1.9-2.8x slower); the tile takes
    // two vectors or more.
    const Spec s{.rank = 1, .ic = 2, .oc = 256, .in = {2000}, .k = {8}, .s = {4}, .pb = {2},
                 .pe = {2}, .layout = Layout::channels_last};
    CHECK(channel_plan(s, Isa::avx2).n_oc >= 2);
}

TEST_CASE("jit: rows fold on short rows under large weights only") {
    // pix2pix's 1024 -> 512 at 2x2 and 4x4 and the simple-baselines head's 2048 -> 256 at 8x6
    // fold (AVX2: rows of at most 3, so 2x2 and 3x3 maps only); DCGAN's 256 -> 128 at 8x8
    // (2 MiB of weights, kept in L2) and U-Net's long rows do not; a 1D layer has no rows to
    // fold. Rows whose blocks reduce in input-channel chunks fold up to 6 outputs, one image:
    // pix2pix's 1024 -> 512 at 8x8, and 4 images at 4x4, keep rows.
    struct Case {
        int64_t ic, oc;
        std::vector<int64_t> in;
        bool fold, fold_avx2;
        int64_t batch = 1;
    };
    const Case cases[] = {
        {1024, 512, {2, 2}, true, true},     {1024, 512, {3, 3}, true, true},
        {1024, 512, {4, 4}, true, false},    {2048, 256, {8, 6}, true, false},
        {256, 128, {8, 8}, false, false},    {1024, 512, {28, 28}, false, false},
        {1024, 512, {16}, false, false},     {1024, 512, {8, 8}, false, false},
        {1024, 512, {4, 4}, false, false, 4},
    };
    for (const Case& k : cases)
        for (Isa isa : kIsas) {
            INFO(k.ic, " -> ", k.oc, " ", to_string(isa), " batch ", k.batch);
            Spec sp;
            sp.rank = int(k.in.size());
            sp.batch = k.batch;
            sp.ic = k.ic;
            sp.oc = k.oc;
            sp.in = k.in;
            sp.k = {4};
            sp.pb = sp.pe = {1};
            const gen::ChannelPlan plan = channel_plan(sp, isa);
            const gen::ChannelPlan* ch = &plan;
            CHECK(ch->fold == (isa == Isa::avx2 ? k.fold_avx2 : k.fold));
            if (ch->fold)
                for (const gen::AnyKernelDesc& d : ch->kernels)
                    CHECK(std::get<gen::ChannelKernelDesc>(d).w_prefetch > 0);
        }
    // Short rows and 5.5 MiB of weights, but a k7x4x4 kernel on a 2x3x3 map: most taps read
    // only the halo, which rows leave out and a run would compute.
    Spec s;
    s.rank = 3;
    s.ic = 384;
    s.oc = 24;
    s.in = {2, 3, 3};
    s.k = {7, 4, 4};
    s.s = {1, 1, 4};
    s.pb = s.pe = {3, 1, 1};
    s.op = {0, 0, 0};
    s.d = {1, 1, 1};
    Problem p;
    REQUIRE(make_problem(s, p));
    gen::Plan plan;
    std::string why;
    REQUIRE_MESSAGE(gen::plan(p, Isa::avx512, plan, why), why);
    const auto* ch = std::get_if<gen::ChannelPlan>(&plan.family);
    REQUIRE(ch);
    CHECK_FALSE(ch->fold);
    // Every tap of the phases with taps reads the halo (D: one output, dilated taps around the
    // one input plane); the bias-only phases' outputs must not count as taps read.
    s.ic = 512;
    s.oc = 256;
    s.in = {1, 3, 3};
    s.k = {3, 2, 2};
    s.s = {1, 2, 3};
    s.d = {2, 2, 1};
    s.pb = {3, 1, 1};
    s.pe = {1, 2, 0};
    s.op = {0, 1, 0};
    REQUIRE(make_problem(s, p));
    REQUIRE_MESSAGE(gen::plan(p, Isa::avx512, plan, why), why);
    ch = std::get_if<gen::ChannelPlan>(&plan.family);
    REQUIRE(ch);
    CHECK_FALSE(ch->fold);
}

TEST_CASE("jit: layers sharing a thread's scratch stay exact") {
    // A layer running again on a thread copies only its input's interior, trusting the zero
    // halo it left there; another layer in between overwrites that halo with its own data.
    // Channel-vectorised and spatial shapes, both layouts, a padded last channel block.
    std::vector<Spec> specs;
    for (Spec s : base_layers()) {
        s.ic = 21;
        specs.push_back(s);
        s.oc = 1;  // the spatial shape
        s.layout = s.layout == Layout::channels_first ? Layout::channels_last : Layout::channels_first;
        specs.push_back(s);
    }
    for (Isa isa : kIsas) {
        if (!cpu_has(isa)) continue;
        std::vector<Compiled> layers;
        for (const Spec& s : specs) layers.push_back(compile_spec(isa, s, 300 + layers.size()));
        const size_t order[] = {0, 0, 1, 0, 2, 3, 3, 1, 4, 5, 0, 5, 5, 2};
        for (size_t i : order) {
            const Compiled& c = layers[i % layers.size()];
            CHECK_MESSAGE(compare_to_reference(c.p, c.d, run(c, 1).data()).empty(), c.p.name);
        }
    }
}

TEST_CASE("jit: a single input pixel runs as a matrix product") {
    // DCGAN's first layer: 1x1 input, no padding, so output = kernel. Every rank, both layouts,
    // a batch, odd channel counts, bias and activation, 1 and 2 threads.
    for (int rank = 1; rank <= 3; ++rank)
        for (Layout layout : {Layout::channels_first, Layout::channels_last})
            for (Isa isa : kIsas) {
                if (!cpu_has(isa)) continue;
                Spec s;
                s.rank = rank;
                s.batch = rank == 2 ? 3 : 1;
                s.ic = 5;
                s.oc = 17;
                s.in = {1};
                s.k = {rank == 3 ? 2 : 4};
                s.s = {1 + rank % 2};
                s.pb = s.pe = s.op = {0};
                s.layout = layout;
                s.act = rank == 1 ? Activation::tanh : Activation::leaky_relu;
                s.bias = rank != 3;
                const Compiled c = compile_spec(isa, s, 40 + rank);
                const auto& lines = c.impl->report().plan_lines;
                REQUIRE(!lines.empty());
                CHECK(lines[0].find("matrix product") != std::string::npos);
                const std::vector<float> y1 = run(c, 1);
                CHECK_MESSAGE(compare_to_reference(c.p, c.d, y1.data()).empty(), c.p.name);
                CHECK(bitwise_equal(y1, run(c, 2)));
            }
    // Leading dims with a 1-wide kernel over single pixels of the trailing dims are a product
    // too (a 1x12 kernel on a 7x1 map, 3D 1x2x3 on 4x1x1): channels-last directly,
    // channels-first between transposes; the 1-wide dim after the single pixel takes the phase
    // path, and a channels-first pointwise layer (1x1 kernel on 7x1) is one row of its pixels
    // (next test case). All stay exact.
    Spec rows;
    rows.batch = 2;
    rows.ic = 7;
    rows.oc = 18;
    rows.in = {7, 1};
    rows.k = {1, 12};
    rows.s = {1, 2};
    rows.pb = rows.pe = rows.op = {0};
    Spec cube = rows;
    cube.rank = 3;
    cube.in = {4, 1, 1};
    cube.k = {1, 2, 3};
    cube.s = {1, 1, 1};
    cube.act = Activation::sigmoid;
    Spec swapped = rows;
    swapped.in = {1, 7};
    swapped.k = {12, 1};
    swapped.s = {2, 1};
    Spec pointwise = rows;
    pointwise.k = {1, 1};
    pointwise.act = Activation::relu;
    pointwise.bias = true;
    for (const Spec& base : {rows, cube, swapped, pointwise})
        for (Layout layout : {Layout::channels_first, Layout::channels_last})
            for (Isa isa : kIsas) {
                if (!cpu_has(isa)) continue;
                Spec t = base;
                t.layout = layout;
                const Compiled c = compile_spec(isa, t, 11);
                const bool product = base.in[0] > 1 &&
                                     (layout == Layout::channels_last || base.k[1] > 1);
                CHECK((c.impl->report().plan_lines[0].find("matrix product") !=
                       std::string::npos) == product);
                const std::vector<float> y1 = run(c, 1);
                CHECK_MESSAGE(compare_to_reference(c.p, c.d, y1.data()).empty(), c.p.name);
                CHECK(bitwise_equal(y1, run(c, 2)));
            }
    // Padding crops the kernel to the window the outputs read, one tap each: pix2pix's
    // innermost 512 -> 512 k4 s2 p1 from 1x1 (2x2 outputs, taps 1-2 per dim), asymmetric pads
    // in 3D, output_padding up to pad_end, and a padded single-pixel dim after a 1-wide one.
    const Spec inner{.batch = 2, .ic = 5, .oc = 17, .in = {1, 1}, .k = {4, 4}, .s = {2, 2},
                     .pb = {1, 1}, .pe = {1, 1}, .op = {0, 0}, .act = Activation::relu};
    const Spec skew{.rank = 3, .batch = 2, .ic = 5, .oc = 17, .in = {1, 1, 1}, .k = {3, 4, 5},
                    .s = {1, 2, 3}, .pb = {0, 2, 1}, .pe = {1, 0, 2}, .op = {0, 0, 2},
                    .act = Activation::relu};
    Spec lead = rows;
    lead.pb = {0, 3};
    lead.pe = {0, 2};
    lead.op = {0, 1};
    for (const Spec& base : {inner, skew, lead})
        for (Layout layout : {Layout::channels_first, Layout::channels_last})
            for (Isa isa : kIsas) {
                if (!cpu_has(isa)) continue;
                Spec t = base;
                t.layout = layout;
                const Compiled c = compile_spec(isa, t, 12);
                CHECK(c.impl->report().plan_lines[0].find("matrix product") != std::string::npos);
                const std::vector<float> y1 = run(c, 1);
                CHECK_MESSAGE(compare_to_reference(c.p, c.d, y1.data()).empty(), c.p.name);
                CHECK(bitwise_equal(y1, run(c, 2)));
            }
    // Near misses take the phase path and stay exact: output padding past pad_end (an output
    // past the kernel, bias only), dilation.
    Spec s;
    s.ic = 6;
    s.oc = 20;
    s.in = {1};
    s.k = {3};
    s.pb = s.pe = s.op = {0};
    Spec op = s, dil = s;
    op.op = {1};
    dil.d = {2};
    for (const Spec& t : {op, dil})
        for (Isa isa : kIsas) {
            if (!cpu_has(isa)) continue;
            const Compiled c = compile_spec(isa, t, 9);
            CHECK(c.impl->report().plan_lines[0].find("matrix product") == std::string::npos);
            CHECK(compare_to_reference(c.p, c.d, run(c, 1).data()).empty());
        }
}

TEST_CASE("jit: a channels-first pointwise layer runs as one row of its pixels") {
    // Kernel 1, stride 1, no padding in every dim: each image's planes are one row of D*H*W
    // pixels. 2D and 3D, a batch, groups, dilation (no effect on a 1-wide kernel), odd channel
    // counts, bias and activation, 1 and 2 threads; a stride or output_padding in one dim keeps
    // the phase path.
    const Spec flat{.rank = 2, .batch = 2, .ic = 37, .oc = 19, .in = {13, 9}, .k = {1, 1},
                    .s = {1, 1}, .pb = {0, 0}, .pe = {0, 0}, .op = {0, 0},
                    .act = Activation::relu};
    Spec cube = flat;
    cube.rank = 3;
    cube.in = {3, 5, 7};
    cube.k = {1, 1, 1};
    cube.s = {1, 1, 1};
    cube.d = {2, 1, 3};
    cube.pb = cube.pe = cube.op = {0, 0, 0};
    cube.bias = false;
    Spec grouped = flat;
    grouped.ic = 48;
    grouped.oc = 40;
    grouped.groups = 4;
    grouped.act = Activation::sigmoid;
    Spec strided = flat, out_pad = flat;
    strided.s = {2, 1};
    out_pad.d = {2, 2};
    out_pad.op = {1, 0};
    for (const Spec& t : {flat, cube, grouped, strided, out_pad})
        for (Isa isa : kIsas) {
            if (!cpu_has(isa)) continue;
            const Compiled c = compile_spec(isa, t, 23);
            const bool lowered =
                std::all_of(t.s.begin(), t.s.end(), [](int64_t v) { return v == 1; }) &&
                std::all_of(t.op.begin(), t.op.end(), [](int64_t v) { return v == 0; });
            CAPTURE(c.p.name);
            CAPTURE(c.impl->report().plan_lines[0]);
            CHECK((c.impl->report().plan_lines[0].find("pointwise in every dim") !=
                   std::string::npos) == lowered);
            const std::vector<float> y1 = run(c, 1);
            CHECK_MESSAGE(compare_to_reference(c.p, c.d, y1.data()).empty(), c.p.name);
            CHECK(bitwise_equal(y1, run(c, 2)));
        }
}

TEST_CASE("jit: taps that read only the zero halo are left out, exactly") {
    // Tiny maps under large or dilated kernels: rows whose D/H taps partly read the halo run
    // kernels without those taps, and W taps no output of a row reads are dropped. Every rank,
    // dilation with stride, kernels larger than the input, rows shorter than the tile, a 1x1
    // input with padding, both layouts, AVX-512 and AVX2, 1 and 2 threads.
    std::vector<Spec> specs;
    for (int rank = 1; rank <= 3; ++rank)
        for (int64_t st : {1, 2, 3})
            for (int64_t dl : {1, 2, 3}) {
                Spec s;
                s.rank = rank;
                s.batch = 2;
                s.ic = 19;
                s.oc = 21;
                s.in = {rank == 3 ? 2 : 3};
                s.k = {rank == 3 ? 3 : 5};
                s.s = {st};
                s.d = {dl};
                s.pb = {dl};
                s.pe = {2 * dl - 1};
                Problem p;
                if (make_problem(s, p)) specs.push_back(s);  // the output may be empty
            }
    Spec one;  // pix2pix's innermost up-sampling: a 1x1 input with padding 1
    one.ic = 24;
    one.oc = 40;
    one.in = {1};
    one.k = {4};
    one.pb = one.pe = {1};
    specs.push_back(one);
    Spec wide;  // a 1x12 kernel on a 7x2 map, with padding along W
    wide.ic = 9;
    wide.oc = 33;
    wide.in = {7, 2};
    wide.k = {1, 12};
    wide.s = {1, 1};
    wide.pb = wide.pe = {0, 3};
    specs.push_back(wide);
    int narrowed = 0;
    for (Spec s : specs)
        for (Layout layout : {Layout::channels_first, Layout::channels_last})
            for (Isa isa : kIsas) {
                if (!cpu_has(isa)) continue;
                s.layout = layout;
                s.act = layout == Layout::channels_last ? Activation::relu : Activation::none;
                for (int ur : {0, 2}) {  // 2: several W tiles of different live taps a row
                    gen::PlanOverrides o;
                    o.ur = ur;
                    o.lower = -1;  // the 1x1 input too: its phases, not the matrix product
                    const Compiled c = compile_spec(isa, s, 1200 + specs.size(), o);
                    for (const std::string& n : c.impl->report().kernel_names)
                        narrowed += n.find("_from") != std::string::npos;
                    const std::vector<float> y1 = run(c, 1);
                    CHECK_MESSAGE(compare_to_reference(c.p, c.d, y1.data()).empty(), c.p.name);
                    CHECK(bitwise_equal(y1, run(c, 2)));
                }
            }
    if (cpu_has(Isa::avx2)) CHECK(narrowed > 0);  // the path under test was taken
}

TEST_CASE("jit: plan choices, names and declines") {
    Problem p;
    Spec s;
    s.ic = 256;
    s.oc = 128;
    s.in = {14, 14};
    s.k = {4};
    s.pb = s.pe = {1};
    REQUIRE(make_problem(s, p));
    for (Isa isa : kIsas) {
        gen::Plan plan;
        std::string why;
        REQUIRE_MESSAGE(gen::plan(p, isa, plan, why), why);
        REQUIRE(plan.shape() == gen::KernelShape::channel_vec);
        const auto& cp = std::get<gen::ChannelPlan>(plan.family);
        const int regs = gen::vector_registers(isa);
        INFO(to_string(isa), " ur ", cp.ur, " n_oc ", cp.n_oc);
        const bool embedded = isa == Isa::avx512 && cp.n_oc == 1;  // no broadcast register
        CHECK(cp.ur * cp.n_oc + cp.n_oc + (embedded ? 0 : 1) <= regs);
        CHECK(cp.ur * cp.n_oc >= 8);  // enough independent FMAs in flight
        CHECK(cp.phases.size() == 4);
        for (const auto& ph : cp.phases) CHECK(ph.taps_total() == 4);
        CHECK(cp.kernels.size() >= 1);
        const std::string name = gen::kernel_name(cp.kernels[0]);
        CHECK(name.rfind("tconv_f32_cvec_k4x4_s2x2_t2x2_ur", 0) == 0);
        CHECK(name.ends_with(std::string("__") + std::string(to_string(isa))));
    }
    // Few output channels (FSRCNN's last layer): spatial-vectorised, all W phases in one kernel.
    {
        Spec f;
        f.ic = 56;
        f.oc = 1;
        f.in = {64, 64};
        f.k = {9};
        f.pb = f.pe = {4};
        f.op = {1};
        REQUIRE(make_problem(f, p));
        for (Isa isa : kIsas) {
            gen::Plan plan;
            std::string why;
            REQUIRE_MESSAGE(gen::plan(p, isa, plan, why), why);
            CHECK(plan.shape() == gen::KernelShape::spatial_vec);
            const auto& kernels = plan.base().kernels;
            REQUIRE(kernels.size() == 2);  // r_h = 0 (5 x (5|4) taps) and r_h = 1 (4 x ...)
            CHECK(gen::kernel_name(kernels[0]).rfind("tconv_f32_svec_k9x9_s2x2_t5x5.4_ur", 0) == 0);
            CHECK(gen::kernel_name(kernels[1]).rfind("tconv_f32_svec_k9x9_s2x2_t4x5.4_ur", 0) == 0);
        }
    }
    // Channels-first, ungrouped: W lanes when they fill 30% more than channel lanes would
    // (17 outputs: 17 of 32 lanes; a W phase of 14 outputs: 14 of 16), not on a 7-wide row
    // (7 of 16), nor for 24 channels (24 of 32).
    for (const auto& [oc, w, shape] :
         {std::tuple{17, 14, gen::KernelShape::spatial_vec},
          std::tuple{17, 7, gen::KernelShape::channel_vec},
          std::tuple{24, 14, gen::KernelShape::channel_vec}}) {
        Spec f;
        f.ic = 64;
        f.oc = oc;
        f.in = {w, w};
        f.k = {4};
        f.op = {0};
        REQUIRE(make_problem(f, p));
        gen::Plan plan;
        std::string why;
        REQUIRE_MESSAGE(gen::plan(p, Isa::avx512, plan, why), why);
        INFO(p.name);
        CHECK(plan.shape() == shape);
        f.layout = Layout::channels_last;  // channels-last keeps channel lanes
        REQUIRE(make_problem(f, p));
        REQUIRE_MESSAGE(gen::plan(p, Isa::avx512, plan, why), why);
        CHECK(plan.shape() == gen::KernelShape::channel_vec);
    }
    // Channels-last, few channels: W lanes only on rows wider than max(2, oc) outputs (a
    // benchdnn 8 -> 8 layer with 1-wide rows ran 2x faster on channel lanes); channels-first
    // keeps W lanes on the same rows.
    for (const auto& row :
         {std::tuple{Isa::avx512, 8, 1, gen::KernelShape::channel_vec},
          std::tuple{Isa::avx512, 8, 8, gen::KernelShape::channel_vec},
          std::tuple{Isa::avx512, 8, 16, gen::KernelShape::spatial_vec},
          std::tuple{Isa::avx512, 4, 4, gen::KernelShape::channel_vec},
          std::tuple{Isa::avx512, 4, 8, gen::KernelShape::spatial_vec},
          std::tuple{Isa::avx2, 4, 4, gen::KernelShape::channel_vec},
          std::tuple{Isa::avx2, 4, 8, gen::KernelShape::spatial_vec}}) {
        const auto [isa, oc, w, shape] = row;
        const Isa cap = isa;
        const int64_t channels = oc, width = w;
        Spec f;
        f.ic = 16;  // too few for the column family
        f.oc = oc;
        f.in = {w, w};  // k3 s1 p1: W outputs
        f.k = {3};
        f.s = {1};
        f.pb = f.pe = {1};
        f.op = {0};
        f.layout = Layout::channels_last;
        REQUIRE(make_problem(f, p));
        gen::Plan plan;
        std::string why;
        REQUIRE_MESSAGE(gen::plan(p, isa, plan, why), why);
        INFO(to_string(cap), " oc ", channels, " W ", width);
        CHECK(plan.shape() == shape);
        f.layout = Layout::channels_first;
        REQUIRE(make_problem(f, p));
        REQUIRE_MESSAGE(gen::plan(p, isa, plan, why), why);
        if (w > 1) CHECK(plan.shape() == gen::KernelShape::spatial_vec);
    }
    // A tiny map under a dilated kernel: along W (3 inputs, k3 dilation 3) each output reads
    // one live tap, and each 3-wide tile one: the tile is 3 wide, not the whole 9-wide row.
    {
        Spec t;
        t.ic = t.oc = 32;
        t.in = {5, 3};
        t.k = {4, 3};
        t.s = {4, 1};
        t.d = {1, 3};
        t.pb = t.pe = t.op = {0};
        REQUIRE(make_problem(t, p));
        gen::Plan plan;
        std::string why;
        REQUIRE_MESSAGE(gen::plan(p, Isa::avx512, plan, why), why);
        CHECK(plan.base().ur == 3);
    }
    // A phase no tap reaches (K < S) is bias + activation only.
    s.k = {1};
    s.pb = s.pe = {0};
    s.s = {3};
    REQUIRE(make_problem(s, p));
    gen::Plan plan;
    std::string why;
    REQUIRE(gen::plan(p, Isa::avx512, plan, why));
    int empty = 0;
    for (const auto& ph : std::get<gen::ChannelPlan>(plan.family).phases) empty += !ph.has_taps();
    CHECK(empty == 8);
    // Groups: every oc block lies in one group and reads that group's input blocks.
    s.ic = 12;
    s.oc = 40;
    s.groups = 2;
    REQUIRE(make_problem(s, p));
    REQUIRE(gen::plan(p, Isa::avx512, plan, why));
    CHECK(plan.shape() == gen::KernelShape::channel_vec);
    const gen::PlanBase& grouped = plan.base();
    REQUIRE(grouped.input.blocks.size() == 2);  // one block of 6 channels per group
    for (const gen::OcBlock& b : grouped.blocks) {
        CHECK(b.oc0 / 20 == b.group);
        CHECK((b.oc0 + b.valid - 1) / 20 == b.group);
        CHECK(grouped.input.blocks[size_t(b.x_block)].first == 6 * b.group);
    }
    // Few channels per group: lanes along W in channels_first (no transposes; depthwise on
    // its own kernel), channels in lanes across groups in channels_last (depthwise, and groups
    // of 4 or 8: the depthwise kernel with a reduction), one group's channels in lanes else.
    struct Choice {
        int64_t groups, ic, oc;
        Layout layout;
        gen::KernelShape shape;
        const char* name;
    };
    const Choice choices[] = {
        {64, 64, 64, Layout::channels_first, gen::KernelShape::depthwise_cf,
         "tconv_f32_dwcf_k4x4_s2x2_t2x2.2_wt28_ur1_h"},
        {64, 64, 64, Layout::channels_last, gen::KernelShape::depthwise, "tconv_f32_dw_k4x4_s2x2_nhwc_t2.2_"},
        {32, 256, 256, Layout::channels_first, gen::KernelShape::spatial_vec, "tconv_f32_svec_"},
        {32, 256, 256, Layout::channels_last, gen::KernelShape::depthwise, "tconv_f32_dwg_"},
        {64, 256, 256, Layout::channels_last, gen::KernelShape::depthwise, "tconv_f32_dwg_"},
        {4, 64, 128, Layout::channels_first, gen::KernelShape::channel_vec, "tconv_f32_cvec_"},
        // channels_last depthwise with a channel multiplier: the depthwise kernel up to 6
        // outputs per group, lanes along W up to half a vector, one group's outputs in lanes
        // beyond
        {64, 64, 256, Layout::channels_last, gen::KernelShape::depthwise, "tconv_f32_dw_"},
        {64, 64, 512, Layout::channels_last, gen::KernelShape::spatial_vec, "tconv_f32_svec_"},
        {64, 64, 768, Layout::channels_last, gen::KernelShape::channel_vec, "tconv_f32_cvec_"},
        {64, 64, 256, Layout::channels_first, gen::KernelShape::depthwise_cf, "tconv_f32_dwcf_"},
    };
    const Choice wide_strides[] = {  // stride 4 along W: the depthwise kernel stays faster
        {64, 64, 256, Layout::channels_last, gen::KernelShape::depthwise, "tconv_f32_dw_"},
    };
    auto check = [&](const Choice& c, int64_t stride) {
        s.groups = c.groups;
        s.ic = c.ic;
        s.oc = c.oc;
        s.layout = c.layout;
        s.k = {2 * stride};
        s.s = {stride};
        s.pb = s.pe = {1};
        REQUIRE(make_problem(s, p));
        REQUIRE(gen::plan(p, Isa::avx512, plan, why));
        INFO(p.name);
        CHECK(plan.shape() == c.shape);
        CHECK(gen::kernel_name(plan.base().kernels[0]).rfind(c.name, 0) == 0);
    };
    for (const Choice& c : choices) check(c, 2);
    for (const Choice& c : wide_strides) check(c, 4);

    // Groups of up to 16 inputs: the depthwise kernel with a reduction over the group's inputs
    // (lanes across groups) for 2, 4 or 8 outputs per group in channels_last (broadcast
    // inputs), and with 2+ taps per output and a stride along W for 3 outputs (channels_last),
    // in 3D, or with one output per group; not for 32 inputs, 1 tap of 3 outputs, 6 outputs
    // in 2D, nor 1D or 2D channels_first with several outputs per group.
    struct Lanes {
        int rank;
        int64_t groups, icg, ocg, k;
        Layout layout;
        bool dwg;
    };
    const Lanes lanes[] = {
        {2, 64, 4, 4, 4, Layout::channels_last, true},
        {1, 64, 2, 2, 4, Layout::channels_last, true},
        {3, 32, 4, 4, 4, Layout::channels_first, true},
        {2, 64, 8, 1, 4, Layout::channels_first, true},
        {2, 64, 4, 4, 2, Layout::channels_last, true},
        {2, 64, 3, 3, 2, Layout::channels_last, false},
        {2, 16, 16, 8, 4, Layout::channels_last, true},
        {2, 8, 32, 8, 4, Layout::channels_last, false},
        {2, 32, 6, 6, 4, Layout::channels_last, false},
        {2, 64, 4, 4, 4, Layout::channels_first, false},
        {1, 64, 4, 4, 4, Layout::channels_first, false},
    };
    for (const Lanes& c : lanes) {
        Spec t;
        t.rank = c.rank;
        t.groups = c.groups;
        t.ic = c.groups * c.icg;
        t.oc = c.groups * c.ocg;
        t.layout = c.layout;
        t.in = fit({12}, c.rank);
        t.k = fit({c.k}, c.rank);
        t.s = fit({2}, c.rank);
        t.d = fit({1}, c.rank);
        t.op = fit({0}, c.rank);
        t.pb = t.pe = fit({c.k == 2 ? 0 : 1}, c.rank);
        REQUIRE(make_problem(t, p));
        REQUIRE(gen::plan(p, Isa::avx512, plan, why));
        INFO(p.name);
        CHECK((plan.shape() == gen::KernelShape::depthwise) == c.dwg);
        if (c.dwg) CHECK(gen::kernel_name(plan.base().kernels[0]).rfind("tconv_f32_dwg_", 0) == 0);
    }
}

TEST_CASE("jit: code pages are read+execute, never writable" * doctest::skip(!cpu_has(Isa::avx2))) {
    Spec s;
    Problem p;
    REQUIRE(make_problem(s, p));
    const LayerData d = random_layer_data(p, 3);
    std::string why;
    auto impl = make_jit(cpu_has(Isa::avx512) ? Isa::avx512 : Isa::avx2, p, d, why);
    REQUIRE_MESSAGE(impl, why);
    auto* src = dynamic_cast<const JitCodeSource*>(impl.get());
    REQUIRE(src);
    const auto code = src->kernel_code();
    REQUIRE(!code.empty());
    for (const KernelCode& k : code) {
        CHECK(k.size > 0);
        const auto addr = reinterpret_cast<uintptr_t>(k.code);
        std::ifstream maps("/proc/self/maps");
        std::string line, perms;
        while (std::getline(maps, line)) {
            std::istringstream ls(line);
            std::string range;
            ls >> range >> perms;
            const auto dash = range.find('-');
            const uintptr_t lo = std::stoull(range.substr(0, dash), nullptr, 16);
            const uintptr_t hi = std::stoull(range.substr(dash + 1), nullptr, 16);
            if (addr >= lo && addr < hi) break;
            perms.clear();
        }
        INFO(k.name);
        CHECK(perms.substr(0, 3) == "r-x");
    }
}

// --- dw in place (channels_last depthwise, multiplier 1, read in place) ---
namespace {

// check_layer, also failing when the in-place depthwise kernels did not serve the layer.
std::string check_in_place(Isa isa, const Spec& s, uint64_t seed, const gen::PlanOverrides& o) {
    Problem p;
    if (!make_problem(s, p)) return "";
    const LayerData d = random_layer_data(p, seed);
    std::string why;
    auto impl = make_jit_impl(isa, p, d.w.data(), p.bias ? d.b.data() : nullptr, {}, why, o);
    if (!impl) return p.name + ": declined: " + why;
    const std::string names = join(impl->report().kernel_names);
    if (names.find("_nhwc_") == std::string::npos) return "not in place: " + names;
    std::vector<float> y(size_t(p.output_elems()), std::nanf(""));
    impl->execute(d.x.data(), y.data(), 1);
    std::string err = compare_to_reference(p, d, y.data());
    if (!err.empty()) err += " [" + std::string(to_string(isa)) + ": " + names + "]";
    return err;
}

}  // namespace

TEST_CASE("jit: in-place channels_last depthwise tiles against the reference") {
    // Edge tiles on both sides (pads, dilation, output padding shift which taps and outputs a
    // tile leaves out), W tails of the interior, a masked last vector of channels, ranks 1-3 (D and H taps clamped per row at
    // run time), 1-4 vectors per block with a smaller last block, every activation, bias on
    // and off, both ISAs.
    const Activation kActs[] = {Activation::none, Activation::relu, Activation::tanh,
                                Activation::leaky_relu, Activation::sigmoid};
    const Geometry geometries[] = {{4, 2, 1, 1, 1, 0}, {3, 1, 1, 1, 1, 0}, {3, 2, 1, 0, 0, 1},
                                   {5, 3, 2, 3, 2, 2}, {8, 4, 1, 2, 2, 0}, {8, 4, 1, 3, 0, 1},
                                   {16, 8, 1, 4, 4, 0}, {6, 3, 1, 0, 0, 0}, {2, 2, 3, 4, 1, 2}};
    const std::vector<int64_t> sizes[] = {{23}, {5, 13}, {3, 4, 9}};
    int step = 0;
    for (Isa isa : kIsas) {
        if (!cpu_has(isa)) continue;
        const int64_t VL = gen::vector_length(isa);
        for (int rank = 1; rank <= 3; ++rank)
            for (const Geometry& g : geometries)
                for (int64_t channels : {VL, 3 * VL, 4 * VL, VL - 5, 3 * VL - 3}) {
                    const int64_t vectors = (channels + VL - 1) / VL;
                    Spec s =
                        depthwise_spec(Layout::channels_last, channels, 1, g, sizes[rank - 1]);
                    for (int n = 1; n <= int(std::min<int64_t>(vectors, 4)); ++n)
                        for (int ur = 1; ur <= 4; ++ur) {
                            if (!gen::depthwise_row_tile_fits(isa, ur, n, g.s, Activation::tanh,
                                                              channels % VL != 0))
                                continue;
                            ++step;
                            s.act = kActs[step % 5];
                            s.bias = step % 3 != 0;
                            gen::PlanOverrides o;
                            o.ur = ur;
                            o.n_oc = n;
                            o.dw_prefetch = step % 2 ? 1 : -1;  // results must not depend on it
                            o.dw_pieces = step % 4 < 2 ? 1 : 0;  // nor on rows in pieces
                            const std::string err = check_in_place(isa, s, 4100 + step, o);
                            CHECK_MESSAGE(err.empty(), "dw in place ur ", ur, " n ", n, ": ", err);
                        }
                }
    }
}

TEST_CASE("jit: in-place depthwise runs rows of 1 MiB of output in pieces of the blocks") {
    // 512 channels: 8 blocks of 64. A 1D row of 1200 -> 2400 steps (4.9 MB of floats) goes in
    // pieces, a 2D row of 28 -> 56 pixels (115 KB) whole; every output is stored once.
    for (Isa isa : kIsas) {
        if (!cpu_has(isa)) continue;
        for (const std::vector<int64_t>& size : {std::vector<int64_t>{1200}, {28, 28}}) {
            Spec s = depthwise_spec(Layout::channels_last, 512, 1, {4, 2, 1, 1, 1, 0}, size);
            Problem p;
            REQUIRE(make_problem(s, p));
            gen::Plan plan;
            std::string why;
            REQUIRE_MESSAGE(gen::plan(p, isa, plan, why), why);
            const auto& dp = std::get<gen::DepthwisePlan>(plan.family);
            REQUIRE(dp.in_place);
            INFO(to_string(isa), " rank ", size.size());
            CHECK((dp.pieces > 1) == (size.size() == 1));
            CHECK(dp.piece_tiles * (dp.pieces - 1) <
                  dp.row_segments[size_t(dp.interior_segment)].tiles);
            CHECK(check_in_place(isa, s, 4099, {}).empty());
        }
    }
}

TEST_CASE("jit: in-place depthwise prefetches the output lines of outputs from 8 MiB") {
    // 64 channels up-sampled 2x to 224x224 (12.8 MB) wait on the lines' reads for ownership;
    // 128x128 (4 MB) does not. The override forces it either way.
    for (Isa isa : kIsas) {
        for (int64_t size : {112, 64}) {
            Spec s = depthwise_spec(Layout::channels_last, 64, 1, {4, 2, 1, 1, 1, 0}, {size, size});
            Problem p;
            REQUIRE(make_problem(s, p));
            for (int force : {0, 1, -1}) {
                gen::PlanOverrides o;
                o.dw_prefetch = force;
                gen::Plan plan;
                std::string why;
                REQUIRE_MESSAGE(gen::plan(p, isa, plan, why, o), why);
                const auto& dp = std::get<gen::DepthwisePlan>(plan.family);
                REQUIRE(dp.in_place);
                const bool want = force > 0 || (force == 0 && size == 112);
                for (const auto& any : dp.kernels) {
                    const auto& k = std::get<gen::DwKernelDesc>(any);
                    INFO(to_string(isa), " size ", size, " force ", force);
                    CHECK((k.y_prefetch > 0) == want);
                    CHECK((gen::kernel_name(k).find("_pfw8k_") != std::string::npos) == want);
                }
            }
        }
    }
}

TEST_CASE("jit: in-place depthwise is bitwise equal on 1, 2 and 3 threads") {
    Spec s;
    s.layout = Layout::channels_last;
    s.groups = s.ic = s.oc = 48;
    s.in = {7, 9};
    s.k = {4};
    s.s = {2};
    s.pb = s.pe = {1};
    s.batch = 3;
    s.act = Activation::sigmoid;
    for (Isa isa : kIsas) {
        if (!cpu_has(isa)) continue;
        const Compiled c = compile_spec(isa, s, 13);
        REQUIRE(join(c.impl->report().kernel_names).find("_nhwc_") != std::string::npos);
        const std::vector<float> y1 = run(c, 1);
        CHECK(compare_to_reference(c.p, c.d, y1.data()).empty());
        for (int threads : {2, 3}) CHECK(bitwise_equal(y1, run(c, threads)));
    }
}
// --- end dw in place ---

}  // namespace tconv::test
