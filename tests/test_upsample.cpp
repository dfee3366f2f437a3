// SPDX-License-Identifier: Apache-2.0
// resize_conv and pixel_shuffle lowered onto one transposed convolution: the lowering (in double,
// through the transposed reference) and the JIT running it, against the direct oracle
// (up-sample then convolve; convolve then depth-to-space), on random layers and both ISAs.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <random>

#include "helpers.hpp"
#include "upsample_lowering.hpp"

using namespace tconv;

namespace {

UpsampleProblem random_upsample(std::mt19937& rng) {
    auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    UpsampleProblem u;
    u.kind = UpsampleKind(pick(0, 2));
    Problem& c = u.conv;
    c.rank = u.kind == UpsampleKind::pixel_shuffle ? 2 : pick(1, 3);
    c.batch = pick(1, 2);
    c.groups = pick(1, 2);
    c.in_channels = c.groups * pick(1, 3);
    c.out_channels = c.groups * pick(1, 3);
    c.bias = pick(0, 1);
    c.activation = Activation(pick(0, 2));
    c.layout = Layout(pick(0, 1));
    u.upscale_factor = pick(1, 3);
    for (int i = 0; i < c.rank; ++i) {
        c.input[i] = pick(1, c.rank == 3 ? 4 : 6);
        c.kernel[i] = pick(1, 4);
        c.dilation[i] = u.kind == UpsampleKind::pixel_shuffle ? 1 : pick(1, 2);
        const int reach = int(c.dilation[i] * (c.kernel[i] - 1));
        c.pad_begin[i] = pick(0, reach);
        c.pad_end[i] = pick(0, reach);
        u.scale[i] = pick(1, 3);
    }
    return u;
}

bool valid(const UpsampleProblem& u) {
    const Dims o = u.output();
    for (int i = 0; i < u.conv.rank; ++i)
        if (o[i] < 1) return false;
    return lowering_rule(u).empty();
}

std::string describe(const UpsampleProblem& u) {
    const Problem& c = u.conv;
    std::string s = "kind " + std::to_string(int(u.kind)) + " rank " + std::to_string(c.rank) +
                    " n" + std::to_string(c.batch) + " ic" + std::to_string(c.in_channels) +
                    " oc" + std::to_string(c.out_channels) + " g" + std::to_string(c.groups) +
                    " r" + std::to_string(u.upscale_factor) + " layout " +
                    std::to_string(int(c.layout));
    for (int i = 0; i < c.rank; ++i)
        s += " [i" + std::to_string(c.input[i]) + " k" + std::to_string(c.kernel[i]) + " d" +
             std::to_string(c.dilation[i]) + " p" + std::to_string(c.pad_begin[i]) + "/" +
             std::to_string(c.pad_end[i]) + " s" + std::to_string(u.scale[i]) + "]";
    return s;
}

Problem output_problem(const UpsampleProblem& u) {
    Problem out = u.conv;
    out.output = u.output();
    return out;
}

std::array<int64_t, 3> extents3(const UpsampleProblem& u) {
    std::array<int64_t, 3> e{1, 1, 1};
    for (int i = 0; i < u.conv.rank; ++i) e[size_t(3 - u.conv.rank + i)] = u.output()[i];
    return e;
}

// Runs the lowering: the padded copy (linear), the transposed convolution by `run` (given the
// Lowered part, its input and output), the border slabs (padded linear), then the per-phase
// bias (pixel_shuffle).
template <class Run>
std::vector<float> run_lowered(const UpsampleProblem& u, const Lowered& l,
                               const std::vector<float>& x, Run run) {
    std::vector<float> in = x;
    if (l.upsampled_input) {
        in.resize(size_t(l.transposed.input_elems()));
        upsample_input(u, x.data(), in.data());
    }
    if (l.replicate_pad) {
        in.resize(size_t(l.transposed.input_elems()));
        replicate_pad_input(u.conv, x.data(), in.data());
    }
    std::vector<float> y(size_t(l.transposed.output_elems()));
    run(l, in, y);
    if (l.factored) {  // y is v: the filter makes the output
        std::vector<float> v = std::move(y);
        y.assign(size_t(output_problem(u).output_elems()), 0.0f);
        filter_output(u.conv, l.filter, v.data(), extents3(u), y.data());
    }
    for (const BorderSlab& slab : l.borders) {
        std::vector<float> buf(size_t(slab_floats(slab)));
        const float* first = slab_input(u, slab, x.data(), buf.data());
        const std::vector<float> sx(first, first + slab.conv.transposed.input_elems());
        std::vector<float> sy(size_t(slab.conv.transposed.output_elems()));
        run(slab.conv, sx, sy);
        paste_output(u, slab, sy.data(), y.data());
    }
    add_phase_bias(u, l, y.data());
    return y;
}

// The lowering run by the transposed reference, and by the JIT at each ISA of this CPU.
auto by_reference() {
    return [](const Lowered& part, const std::vector<float>& in, std::vector<float>& y) {
        reference_conv_transpose(part.transposed, in.data(), part.weights.data(),
                                 part.bias.empty() ? nullptr : part.bias.data(), y.data(), 1);
    };
}
auto by_jit(Isa isa) {
    return [isa](const Lowered& part, const std::vector<float>& in, std::vector<float>& y) {
        Options o;
        o.max_isa = isa;
        const Layer layer = Layer::compile(part.transposed, part.weights.data(),
                                           part.bias.empty() ? nullptr : part.bias.data(), o);
        layer.execute(in.data(), y.data());
    };
}

// max over elements of |got - want| / (sum of |terms| + |want|), the project's error measure.
double worst(const UpsampleProblem& u, const std::vector<float>& x, const std::vector<float>& w,
             const std::vector<float>& b, const std::vector<float>& got,
             const std::vector<float>& want) {
    UpsampleProblem a = u;
    a.conv.activation = Activation::none;
    auto abs_of = [](std::vector<float> v) {
        for (float& e : v) e = std::fabs(e);
        return v;
    };
    const std::vector<float> ax = abs_of(x), aw = abs_of(w), ab = abs_of(b);
    std::vector<float> mag(want.size());
    reference_upsample(a, ax.data(), aw.data(), u.conv.bias ? ab.data() : nullptr, mag.data());
    double e = 0;
    for (size_t i = 0; i < want.size(); ++i)
        e = std::max(e, std::fabs(double(got[i]) - double(want[i])) /
                            (double(mag[i]) + std::fabs(double(want[i])) + 1e-30));
    return e;
}

}  // namespace

TEST_CASE("upsample: nearest resize of kernel 3 lowers to kernel 4 stride 2 with summed taps") {
    UpsampleProblem u;
    u.conv = test::problem_from_json(R"({"in_channels": 1, "out_channels": 1,
        "input_size": [3], "kernel_size": 3, "padding": 1, "bias": false})");
    u.scale = {2, 1, 1};
    const float w[] = {1, 10, 100};
    const Lowered l = lower(u, w, nullptr);
    CHECK(l.transposed.kernel[0] == 4);
    CHECK(l.transposed.stride[0] == 2);
    CHECK(l.transposed.pad_begin[0] == 1);
    CHECK(l.transposed.output[0] == 6);
    // Box [1, 1] convolved with the flipped kernel [100, 10, 1].
    CHECK(l.weights == std::vector<float>{100, 110, 11, 1});
}

TEST_CASE("upsample: factored, nearest resize of kernel 3 is the flipped kernel at stride 2, "
          "then a box of 2") {
    UpsampleProblem u;
    u.conv = test::problem_from_json(R"({"in_channels": 1, "out_channels": 1,
        "input_size": [3], "kernel_size": 3, "padding": 1, "bias": false})");
    u.scale = {2, 1, 1};
    const float w[] = {1, 10, 100};
    const Lowered l = lower(u, w, nullptr, LoweringChoice::factored);
    REQUIRE(l.factored);
    CHECK(l.transposed.kernel[0] == 3);
    CHECK(l.transposed.stride[0] == 2);
    CHECK(l.transposed.pad_begin[0] == 0);  // merged pad_begin 1, less the box's L-1 = 1
    CHECK(l.transposed.pad_end[0] == 0);
    CHECK(l.transposed.output[0] == 7);     // the 6 outputs read v[o] and v[o+1]
    CHECK(l.weights == std::vector<float>{100, 10, 1});
    CHECK(l.filter.h[2] == std::vector<float>{1, 1});
    CHECK(l.filter.shift[2] == 1);
    // x = [1, 2, 3]: up-sampled [1 1 2 2 3 3], padded conv with [1, 10, 100].
    const std::vector<float> x{1, 2, 3};
    const std::vector<float> y = run_lowered(u, l, x, by_reference());
    CHECK(y == std::vector<float>{110, 211, 221, 322, 332, 33});
}

TEST_CASE("upsample: both lowerings of PyTorch's resize cases give PyTorch's output") {
    // tests/golden/resize_* (make_upsample_golden.py: F.interpolate then conv, float64), each
    // run merged and factored by the JIT, whichever the default would pick.
    namespace fs = std::filesystem;
    int cases = 0;
    for (const auto& e : fs::directory_iterator(fs::path(TCONV_SOURCE_DIR) / "tests" / "golden")) {
        if (e.path().filename().string().rfind("resize_", 0) != 0) continue;
        INFO(e.path().filename().string());
        const Problem p = load_config((e.path() / "config.json").string()).layers.at(0);
        const UpsampleProblem u = upsample_problem(p);
        const Tensor x = read_npy((e.path() / "x.npy").string());
        const Tensor w = read_npy((e.path() / "w.npy").string());
        const Tensor y = read_npy((e.path() / "y.npy").string());
        const Tensor b = p.bias ? read_npy((e.path() / "b.npy").string()) : Tensor{};
        for (LoweringChoice how : {LoweringChoice::merged, LoweringChoice::factored}) {
            INFO("lowering " << int(how));
            const Lowered l = lower(u, w.data.data(), p.bias ? b.data.data() : nullptr, how);
            CHECK(l.factored == (how == LoweringChoice::factored));
            const std::vector<float> got =
                run_lowered(u, l, x.data, by_jit(cpu_info().best_isa()));
            CHECK(worst(u, x.data, w.data, b.data, got, y.data) <= 1e-5);
        }
        ++cases;
    }
    CHECK(cases >= 5);
}

TEST_CASE("upsample: the default lowering factors channel-heavy resizes, not depthwise ones") {
    auto choice = [](const char* json) {
        UpsampleProblem u = upsample_problem(test::problem_from_json(json));
        const std::vector<float> w(size_t(u.weight_elems()), 1.0f), b(size_t(u.bias_elems()));
        return lower(u, w.data(), b.data()).factored;
    };
    // Bilinear x2 does 4x fewer multiply-adds factored, nearest 1.8x: worth the pass from 64
    // and 256 input channels.
    CHECK(choice(R"({"kind": "resize_conv", "scale": 2, "mode": "bilinear", "in_channels": 64,
        "out_channels": 64, "input_size": [20, 20], "kernel_size": 3, "padding": 1})"));
    CHECK(choice(R"({"kind": "resize_conv", "scale": 2, "mode": "nearest", "in_channels": 256,
        "out_channels": 128, "input_size": [14, 14], "kernel_size": 3, "padding": 1})"));
    CHECK_FALSE(choice(R"({"kind": "resize_conv", "scale": 2, "mode": "nearest",
        "in_channels": 16, "out_channels": 64, "input_size": [20, 20], "kernel_size": 3,
        "padding": 1})"));
    // A 1x1 convolution: v would be three-quarters holes, written all the same.
    CHECK_FALSE(choice(R"({"kind": "resize_conv", "scale": 2, "mode": "nearest",
        "in_channels": 64, "out_channels": 64, "input_size": [20, 20], "kernel_size": 1})"));
    // Scale 8 bilinear: 16 filter terms per dim.
    CHECK_FALSE(choice(R"({"kind": "resize_conv", "scale": 8, "mode": "bilinear",
        "in_channels": 16, "out_channels": 128, "input_size": [8, 8], "kernel_size": 1})"));
    // One channel per group: the pass would cost more than the taps it saves.
    CHECK_FALSE(choice(R"({"kind": "resize_conv", "scale": 2, "mode": "bilinear",
        "in_channels": 64, "out_channels": 64, "groups": 64, "input_size": [20, 20],
        "kernel_size": 3, "padding": 1})"));
    // Scale 1 saves nothing.
    CHECK_FALSE(choice(R"({"kind": "resize_conv", "scale": 1, "mode": "nearest",
        "in_channels": 64, "out_channels": 64, "input_size": [20, 20], "kernel_size": 3})"));
}

TEST_CASE("upsample: the lowering and the JIT equal the direct oracle (random layers)") {
    std::mt19937 rng(1717);
    int tested[3] = {0, 0, 0}, replicated = 0, upsampled = 0, factored = 0;
    for (int t = 0; t < 400 && (tested[0] + tested[1] + tested[2]) < 150; ++t) {
        const UpsampleProblem u = random_upsample(rng);
        if (!valid(u)) continue;
        INFO(describe(u));
        const test::LayerData d{test::random_vector(size_t(u.conv.input_elems()), 3 * t + 1),
                                test::random_vector(size_t(u.weight_elems()), 3 * t + 2),
                                test::random_vector(size_t(u.bias_elems()), 3 * t + 3)};
        const float* b = u.conv.bias ? d.b.data() : nullptr;
        Problem out = u.conv;
        out.output = u.output();
        std::vector<float> want(size_t(out.output_elems()));
        reference_upsample(u, d.x.data(), d.w.data(), b, want.data());

        for (LoweringChoice how : {LoweringChoice::merged, LoweringChoice::factored}) {
            INFO("lowering " << int(how));
            const Lowered l = lower(u, d.w.data(), b, how);
            replicated += l.replicate_pad;
            upsampled += l.upsampled_input;
            factored += l.factored;
            CHECK(worst(u, d.x, d.w, d.b, run_lowered(u, l, d.x, by_reference()), want) <= 1e-6);
            for (Isa isa : {Isa::avx512, Isa::avx2}) {
                if (isa > cpu_info().best_isa()) continue;
                INFO("isa " << to_string(isa));
                CHECK(worst(u, d.x, d.w, d.b, run_lowered(u, l, d.x, by_jit(isa)), want) <=
                      1e-5);
            }
        }
        ++tested[int(u.kind)];
    }
    CHECK(tested[0] >= 20);
    CHECK(tested[1] >= 20);
    CHECK(tested[2] >= 20);
    CHECK(replicated >= 5);  // both ways of lowering a linear resize
    CHECK(upsampled >= 5);
    CHECK(factored >= 40);   // nearest and linear, factored
}

TEST_CASE("upsample: a padded linear resize_conv recomputes its border slabs (random layers)") {
    // Maps of 30-70 (3D: 16-24): ranks 1-3, kernels up to 4, dilation, asymmetric pads (some
    // zero), scales 1-3, groups, both layouts, activations, batches; slabs along D, H and W
    // (exchanged with H), through the reference and the JIT, and the whole layer through
    // Layer::compile.
    std::mt19937 rng(4242);
    int tested = 0, slabs = 0;
    for (int t = 0; t < 200 && tested < 24; ++t) {
        UpsampleProblem u = random_upsample(rng);
        u.kind = UpsampleKind::linear;
        Problem& c = u.conv;
        const int lo = c.rank == 3 ? 16 : 30, hi = c.rank == 3 ? 24 : 70;
        for (int i = 0; i < c.rank; ++i) c.input[i] = std::uniform_int_distribution<int>(lo, hi)(rng);
        if (!valid(u)) continue;
        const test::LayerData d{test::random_vector(size_t(c.input_elems()), 5 * t + 1),
                                test::random_vector(size_t(u.weight_elems()), 5 * t + 2),
                                test::random_vector(size_t(u.bias_elems()), 5 * t + 3)};
        const float* b = c.bias ? d.b.data() : nullptr;
        const Lowered l = lower(u, d.w.data(), b);
        if (l.borders.empty()) continue;
        INFO(describe(u));
        Problem out = c;
        out.output = u.output();
        std::vector<float> want(size_t(out.output_elems()));
        reference_upsample(u, d.x.data(), d.w.data(), b, want.data());
        for (LoweringChoice how : {LoweringChoice::merged, LoweringChoice::factored}) {
            INFO("lowering " << int(how));
            const Lowered m = lower(u, d.w.data(), b, how);
            CHECK(m.borders.size() == l.borders.size());
            CHECK(worst(u, d.x, d.w, d.b, run_lowered(u, m, d.x, by_reference()), want) <= 1e-6);
            CHECK(worst(u, d.x, d.w, d.b,
                        run_lowered(u, m, d.x, by_jit(cpu_info().best_isa())), want) <= 1e-5);
        }
        Problem layer = c;
        layer.kind = LayerKind::resize_conv;
        layer.mode = ResizeMode::linear;
        layer.scale = u.scale;
        layer.output = u.output();
        const Layer whole = Layer::compile(layer, d.w.data(), b);
        std::vector<float> got(want.size());
        whole.execute(d.x.data(), got.data(), 2);
        CHECK(worst(u, d.x, d.w, d.b, got, want) <= 1e-5);
        slabs += int(l.borders.size());
        ++tested;
    }
    CHECK(tested >= 12);
    CHECK(slabs >= 30);
}

TEST_CASE("upsample: a channel-heavy padded bilinear layer runs factored, its slabs merged") {
    auto data = [](const UpsampleProblem& u) {
        return test::LayerData{test::random_vector(size_t(u.conv.input_elems()), 1),
                               test::random_vector(size_t(u.weight_elems()), 2),
                               test::random_vector(size_t(u.bias_elems()), 3)};
    };
    // Dilation makes a slab's scale-1 lowering look cheaper factored; the slabs run as plain
    // layers, so they must stay merged (a factored slab lost its bias and activation).
    const UpsampleProblem u = upsample_problem(test::problem_from_json(R"({"kind": "resize_conv",
        "mode": "bilinear", "scale": [2, 2], "in_channels": 32, "out_channels": 16,
        "input_size": [9, 7], "kernel_size": [3, 5], "dilation": [1, 2], "pads": [1, 2, 0, 3],
        "bias": true, "activation": "leaky_relu"})"));
    const test::LayerData d = data(u);
    const Lowered l = lower(u, d.w.data(), d.b.data(), LoweringChoice::factored);
    CHECK(l.factored);
    REQUIRE(l.borders.size() == 3);
    for (const BorderSlab& slab : l.borders) CHECK_FALSE(slab.conv.factored);
    std::vector<float> want(size_t(output_problem(u).output_elems()));
    reference_upsample(u, d.x.data(), d.w.data(), d.b.data(), want.data());
    CHECK(worst(u, d.x, d.w, d.b, run_lowered(u, l, d.x, by_jit(cpu_info().best_isa())), want) <=
          1e-5);

    // The whole layer, as a user compiles it: factored by default, slabs after the filter.
    const Problem p = test::problem_from_json(R"({"kind": "resize_conv", "mode": "bilinear",
        "scale": 2, "in_channels": 64, "out_channels": 32, "input_size": [12, 10],
        "kernel_size": 3, "padding": 1, "bias": true, "activation": "leaky_relu"})");
    const UpsampleProblem v = upsample_problem(p);
    const test::LayerData e = data(v);
    const Layer layer = Layer::compile(p, e.w.data(), e.b.data());
    CHECK(layer.report().plan_lines.at(0).find("resize's filter") != std::string::npos);
    std::vector<float> want2(size_t(p.output_elems())), got(want2.size());
    reference_upsample(v, e.x.data(), e.w.data(), e.b.data(), want2.data());
    for (int threads : {1, 2}) {
        layer.execute(e.x.data(), got.data(), threads);
        CHECK(worst(v, e.x, e.w, e.b, got, want2) <= 1e-5);
    }
}

TEST_CASE("upsample: the input passes, the filter and the bias pass give the same bits on any "
          "thread count") {
    std::mt19937 rng(2929);
    int checked = 0;
    for (int t = 0; t < 400 && checked < 60; ++t) {
        const UpsampleProblem u = random_upsample(rng);
        if (!valid(u)) continue;
        const Lowered l = lower(u, test::random_vector(size_t(u.weight_elems()), t).data(),
                                test::random_vector(size_t(u.bias_elems()), t + 1).data(),
                                t % 2 ? LoweringChoice::factored : LoweringChoice::automatic);
        if (!l.upsampled_input && !l.replicate_pad && l.phase_bias.empty() && !l.factored)
            continue;
        INFO(describe(u));
        const std::vector<float> x = test::random_vector(size_t(u.conv.input_elems()), t + 2);
        auto pass = [&](int threads) {
            std::vector<float> out;
            if (l.factored) {  // the filter on a stand-in for the kernel's output
                const std::vector<float> v =
                    test::random_vector(size_t(l.transposed.output_elems()), t + 3);
                out.resize(size_t(output_problem(u).output_elems()));
                filter_output(u.conv, l.filter, v.data(), extents3(u), out.data(), threads);
            } else if (l.phase_bias.empty()) {
                out.resize(size_t(l.transposed.input_elems()));
                if (l.upsampled_input) upsample_input(u, x.data(), out.data(), threads);
                else replicate_pad_input(u.conv, x.data(), out.data(), threads);
            } else {  // the bias pass on a stand-in for the kernel's output
                out = test::random_vector(size_t(l.transposed.output_elems()), t + 3);
                add_phase_bias(u, l, out.data(), threads);
            }
            return out;
        };
        const std::vector<float> one = pass(1);
        CHECK(pass(2) == one);
        CHECK(pass(3) == one);
        ++checked;
    }
    CHECK(checked >= 30);
}

TEST_CASE("upsample: the pixel shuffle's bias pass adds each phase's bias, then the activation") {
    // Tall maps (bands of rows in channels-first), every activation, both layouts, rows of 14
    // and 21 (vectors and a scalar tail): each output against its own sum in double, and the
    // same bits on 1-3 threads.
    std::mt19937 rng(4242);
    int checked = 0;
    for (const Activation act : {Activation::none, Activation::relu, Activation::leaky_relu,
                                 Activation::sigmoid, Activation::tanh})
        for (const Layout layout : {Layout::channels_first, Layout::channels_last})
            for (const int64_t r : {2, 3}) {
                UpsampleProblem u;
                u.kind = UpsampleKind::pixel_shuffle;
                u.upscale_factor = r;
                Problem& c = u.conv;
                c.rank = 2;
                c.batch = 2;
                c.in_channels = 3;
                c.out_channels = 5;
                c.input = {std::uniform_int_distribution<int64_t>(30, 50)(rng), 7, 1};
                c.kernel = {3, 3, 1};
                c.pad_begin = c.pad_end = {1, 1, 0};
                c.bias = true;
                c.activation = act;
                c.negative_slope = 0.25f;
                c.layout = layout;
                REQUIRE(valid(u));
                INFO(describe(u) << " activation " << int(act));
                const std::vector<float> b = test::random_vector(size_t(u.bias_elems()), checked);
                const Lowered l = lower(
                    u, test::random_vector(size_t(u.weight_elems()), checked + 1).data(), b.data());
                std::vector<float> y0 =
                    test::random_vector(size_t(l.transposed.output_elems()), checked + 2);
                for (size_t i = 0; i < y0.size(); i += 5) y0[i] *= 120;  // exp's clamped range
                std::vector<float> y = y0;
                add_phase_bias(u, l, y.data(), 1);
                const int64_t C = c.out_channels, H = c.input[0] * r, W = c.input[1] * r;
                int bad = 0;
                for (int64_t n = 0; n < c.batch; ++n)
                    for (int64_t ch = 0; ch < C; ++ch)
                        for (int64_t h = 0; h < H; ++h)
                            for (int64_t v = 0; v < W; ++v) {
                                const int64_t at = layout == Layout::channels_last
                                                       ? ((n * H + h) * W + v) * C + ch
                                                       : ((n * C + ch) * H + h) * W + v;
                                const double bias = b[size_t((ch * r + h % r) * r + v % r)];
                                const double want =
                                    apply_activation(c, double(y0[size_t(at)]) + bias);
                                if (std::fabs(y[size_t(at)] - want) > 1e-6 * (1 + std::fabs(want)))
                                    ++bad;
                            }
                CHECK(bad == 0);
                for (const int threads : {2, 3}) {
                    std::vector<float> yt = y0;
                    add_phase_bias(u, l, yt.data(), threads);
                    CHECK(yt == y);
                }
                ++checked;
            }
    CHECK(checked == 20);
}
