// SPDX-License-Identifier: Apache-2.0
// Weight packing: every packed float against the layout the kernels read, written out directly
// from its index; any split into parts, and any compile thread count, gives the same bytes.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "helpers.hpp"
#include "tconv/gen/plan.hpp"

using namespace tconv;

namespace {

// Odd shapes: channels not multiples of a vector, several ic and oc blocks with a padded last
// one, 1D/2D/3D, dilation, and strides above the kernel (phases without taps).
const char* const kLayers[] = {
    R"({"in_channels": 5, "out_channels": 33, "input_size": [4, 5], "kernel_size": 3,
        "stride": 2, "padding": 1})",
    R"({"in_channels": 17, "out_channels": 40, "input_size": [6], "kernel_size": 16,
        "stride": 8, "padding": 4})",
    R"({"in_channels": 33, "out_channels": 7, "input_size": [3, 4, 5], "kernel_size": [2, 3, 1],
        "stride": [3, 2, 2]})",
    R"({"in_channels": 20, "out_channels": 100, "input_size": [5, 5], "kernel_size": 3,
        "stride": 4, "dilation": 2, "padding": 1})",
    R"({"in_channels": 3, "out_channels": 257, "input_size": [7], "kernel_size": 5, "stride": 1,
        "padding": 2})",
    // Groups: several blocks per group with a partial last one, and few channels per group.
    R"({"in_channels": 10, "out_channels": 66, "groups": 2, "input_size": [4, 5],
        "kernel_size": 3, "stride": 2, "padding": 1})",
    R"({"in_channels": 21, "out_channels": 9, "groups": 3, "input_size": [6], "kernel_size": 4,
        "stride": 3})",
};

// The expected value of every packed float, by its coordinates: [phase][group][oc block of the
// group][ic of the group (padded)][tap (d, h, w)][n_oc * vlen]; zero for padded channels and
// lanes. Returns "" when all match (and every float of the buffer was written), else the first
// mismatch.
std::string check_channel_vec(const Problem& p, const gen::ChannelPlan& pl,
                              const std::vector<float>& w, const std::vector<float>& packed) {
    const int64_t VL = pl.vlen, icp = pl.w_rows;
    const int64_t G = p.groups, ICG = p.in_channels / G, OCG = p.out_channels / G;
    const int64_t ovg = (OCG + VL - 1) / VL, nbg = (ovg + pl.n_oc - 1) / pl.n_oc;
    int64_t k3[3] = {1, 1, 1};
    for (int i = 0; i < p.rank; ++i) k3[3 - p.rank + i] = p.kernel[size_t(i)];
    std::vector<char> seen(packed.size(), 0);
    for (const gen::PhasePlan& ph : pl.phases) {
        const int64_t taps = ph.taps_total();
        for (int64_t gb = 0; gb < G * nbg; ++gb) {
            const int64_t g = gb / nbg, b = gb % nbg;
            const int64_t width = (b == nbg - 1 ? ovg - (nbg - 1) * pl.n_oc : pl.n_oc) * VL;
            const int64_t before = (g * ovg + b * pl.n_oc) * VL;  // lanes of the blocks before
            for (int64_t ic = 0; ic < icp; ++ic)
                for (int64_t t = 0; t < taps; ++t)
                    for (int64_t lane = 0; lane < width; ++lane) {
                        const int64_t tw = t % ph.taps[2].count;
                        const int64_t th = t / ph.taps[2].count % ph.taps[1].count;
                        const int64_t td = t / (ph.taps[2].count * ph.taps[1].count);
                        const int64_t kd = ph.taps[0].k0 + td * ph.taps[0].kstep;
                        const int64_t kh = ph.taps[1].k0 + th * ph.taps[1].kstep;
                        const int64_t kw = ph.taps[2].k0 + tw * ph.taps[2].kstep;
                        const int64_t oc = b * pl.n_oc * VL + lane;  // within the group
                        const float want =
                            ic < ICG && oc < OCG
                                ? w[size_t((((g * ICG + ic) * OCG + oc) * k3[0] + kd) * k3[1] *
                                               k3[2] + kh * k3[2] + kw)]
                                : 0.0f;
                        const size_t at = size_t(ph.w_offset + before * icp * taps +
                                                 (ic * taps + t) * width + lane);
                        if (at >= packed.size())
                            return "float " + std::to_string(at) + " is past the end";
                        seen[at] = 1;
                        if (std::memcmp(&packed[at], &want, sizeof(float)) != 0)
                            return "float " + std::to_string(at) + " (ic " + std::to_string(ic) +
                                   ", oc " + std::to_string(oc) + ", tap " + std::to_string(t) +
                                   "): got " + std::to_string(packed[at]) + ", want " +
                                   std::to_string(want);
                    }
        }
    }
    for (size_t i = 0; i < seen.size(); ++i)
        if (!seen[i]) return "float " + std::to_string(i) + " is outside the layout";
    return "";
}

std::vector<float> pack_all(const gen::Plan& pl, const std::vector<float>& w) {
    std::vector<float> packed(size_t(pl.base().packed_weight_floats), std::nanf(""));
    gen::pack_weights(pl, w.data(), packed.data());
    return packed;
}

}  // namespace

TEST_CASE("pack: every packed float sits where the kernels read it") {
    for (const char* json : kLayers) {
        const Problem p = test::problem_from_json(json);
        const std::vector<float> w = test::random_vector(size_t(p.weight_elems()), 5);
        for (Isa isa : {Isa::avx512, Isa::avx2})
            for (int n_oc : {0, 1, 2, 3}) {  // 0: the planner's choice
                gen::Plan pl;
                std::string why;
                gen::PlanOverrides o;
                o.shape = 1;
                o.n_oc = n_oc;
                o.ur = n_oc > 0 ? 2 : 0;  // a tile that fits AVX2's registers
                REQUIRE_MESSAGE(gen::plan(p, isa, pl, why, o), why);
                CAPTURE(json);
                CAPTURE(n_oc);
                CHECK(check_channel_vec(p, std::get<gen::ChannelPlan>(pl.family), w,
                                        pack_all(pl, w)) == "");
            }
    }
}

TEST_CASE("pack: any split into parts, in any order, gives the same bytes") {
    for (const char* json : kLayers) {
        const Problem p = test::problem_from_json(json);
        const std::vector<float> w = test::random_vector(size_t(p.weight_elems()), 6);
        for (int shape : {1, 2}) {
            gen::Plan pl;
            std::string why;
            gen::PlanOverrides o;
            o.shape = shape;
            if (!gen::plan(p, Isa::avx512, pl, why, o)) continue;  // spatial may not fit
            const std::vector<float> whole = pack_all(pl, w);
            const int64_t parts = gen::pack_weight_parts(pl);
            REQUIRE(parts >= 1);
            std::vector<float> split(whole.size(), std::nanf(""));
            for (int64_t part = parts - 1; part >= 0; part -= 2)  // backwards, odd then even
                gen::pack_weights(pl, w.data(), split.data(), part, part + 1);
            for (int64_t part = parts - 2; part >= 0; part -= 2)
                gen::pack_weights(pl, w.data(), split.data(), part, part + 1);
            CAPTURE(json);
            CHECK(std::memcmp(whole.data(), split.data(), whole.size() * sizeof(float)) == 0);
        }
    }
}

TEST_CASE("pack: compiling with 1 or 2 threads gives bitwise equal results; bad counts refused") {
    if (cpu_info().best_isa() == Isa::scalar) return;  // no JIT here
    // Packed weights of 4 MiB: enough for compile to share the packing among threads.
    const Problem p = test::problem_from_json(R"({"in_channels": 256, "out_channels": 260,
        "input_size": [3, 4], "kernel_size": 4, "stride": 2, "padding": 1})");
    const test::LayerData d = test::random_layer_data(p, 9);
    std::vector<std::vector<float>> outputs;
    for (int threads : {1, 2}) {
        Options o;
        o.compile_threads = threads;
        const Layer layer = Layer::compile(p, d.w.data(), d.b.data(), o);
        REQUIRE(layer.report().implementation.rfind("jit_", 0) == 0);
        std::vector<float> y(size_t(p.output_elems()));
        layer.execute(d.x.data(), y.data(), 1);
        CHECK(test::compare_to_reference(p, d, y.data()) == "");
        outputs.push_back(std::move(y));
    }
    CHECK(std::memcmp(outputs[0].data(), outputs[1].data(), outputs[0].size() * sizeof(float)) ==
          0);
    for (int bad : {-1, 1025}) {
        Options o;
        o.compile_threads = bad;
        CHECK_THROWS_WITH(Layer::compile(p, d.w.data(), d.b.data(), o),
                          doctest::Contains("compile_threads must be from 0"));
    }
}
