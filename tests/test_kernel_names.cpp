// SPDX-License-Identifier: Apache-2.0
// Kernel identity: a kernel's name tells its code apart (same name <=> same descriptor, and the
// same name always means the same bytes), and kernels do not follow a layer's input extents: the
// lengths of a 1D layer share a few kernels, one per W-tail class.
#include <doctest/doctest.h>

#include <map>
#include <set>
#include <vector>

#include "helpers.hpp"
#include "tconv/gen/kernel.hpp"
#include "tconv/gen/kernel_cache.hpp"
#include "tconv/gen/plan.hpp"

using namespace tconv;

namespace {

std::string json_1d(int64_t ic, int64_t oc, int64_t len, int k, int s, int p, int64_t groups,
                    const char* layout) {
    return "{\"in_channels\": " + std::to_string(ic) + ", \"out_channels\": " +
           std::to_string(oc) + ", \"groups\": " + std::to_string(groups) +
           ", \"input_size\": [" + std::to_string(len) + "], \"kernel_size\": " +
           std::to_string(k) + ", \"stride\": " + std::to_string(s) + ", \"padding\": " +
           std::to_string(p) + ", \"layout\": \"" + layout + "\"}";
}

// The distinct kernels the plans of `lengths` of one 1D layer need.
std::set<std::string> kernels_over_lengths(const std::string& head, int64_t ic, int64_t oc, int k,
                                           int s, int p, int64_t groups, const char* layout,
                                           Isa isa, int64_t from, int64_t to, int& max_ur) {
    std::set<std::string> names;
    max_ur = 0;
    for (int64_t len = from; len < to; ++len) {
        const Problem pr = test::problem_from_json(json_1d(ic, oc, len, k, s, p, groups, layout));
        gen::Plan plan;
        std::string why;
        REQUIRE_MESSAGE(gen::plan(pr, isa, plan, why), why);
        for (const gen::AnyKernelDesc& d : plan.base().kernels) {
            const std::string n = gen::kernel_name(d);
            CHECK_MESSAGE(n.rfind(head, 0) == 0, n);
            names.insert(n);
        }
        max_ur = std::max(max_ur, plan.base().ur);
    }
    return names;
}

}  // namespace

TEST_CASE("kernel names: 2000 lengths of a 1D layer share one kernel per W-tail class") {
    for (Isa isa : {Isa::avx512, Isa::avx2}) {
        INFO(to_string(isa));
        int ur = 0;
        // HiFi-GAN's 512 -> 256 k16 s8 p4 (cvec): per oc block kind, the full tile and at most
        // ur - 1 tails (every phase has the same taps here).
        auto cvec = kernels_over_lengths("tconv_f32_cvec_", 512, 256, 16, 8, 4, 1,
                                         "channels_first", isa, 100, 2100, ur);
        CHECK(cvec.size() <= size_t(2 * ur));
        // A few output channels: the spatial family, tiles of lanes along W (no tails).
        auto svec = kernels_over_lengths("tconv_f32_svec_", 16, 1, 7, 1, 3, 1, "channels_first",
                                         isa, 100, 2100, ur);
        CHECK(svec.size() <= 8);
        // Many input channels into one (the column family): per row block and chunk kind, the
        // full tile and one tail per length of the last tile (ur * vlen classes), and the
        // epilogue.
        auto gemm = kernels_over_lengths("tconv_f32_gemm_", 512, 1, 16, 8, 4, 1, "channels_first",
                                         isa, 100, 2100, ur);
        CHECK(gemm.size() <= size_t(2 * 2 * (ur * gen::vector_length(isa) + 1) + 1));
        // Channels-first depthwise: per W phase interleave, one kernel per row tail.
        auto dwcf = kernels_over_lengths("tconv_f32_dwcf_", 64, 64, 4, 2, 1, 64,
                                         "channels_first", isa, 100, 2100, ur);
        CHECK(dwcf.size() <= size_t(2 * ur * gen::vector_length(isa)));
        MESSAGE(to_string(isa) << ": 2000 lengths: cvec " << cvec.size() << ", svec "
                               << svec.size() << ", dwcf " << dwcf.size() << ", gemm "
                               << gemm.size() << " kernels");
    }
}

TEST_CASE("kernel names: same name <=> same descriptor, and the same name means the same code") {
    if (cpu_info().best_isa() == Isa::scalar) return;  // no JIT here
    std::vector<Problem> problems;
    for (const std::string& f : config_files({std::string(TCONV_SOURCE_DIR) + "/configs"}))
        for (const Problem& p : load_config(f).layers) problems.push_back(p);
    // Lengths 1000 and 1001 of a 1D layer (once one name with two codes), and random layers.
    for (int64_t len : {1000, 1001})
        problems.push_back(test::problem_from_json(json_1d(64, 32, len, 16, 8, 4, 1,
                                                           "channels_first")));
    uint64_t seed = 7;
    auto rnd = [&seed](int64_t n) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        return int64_t((seed >> 33) % uint64_t(n));
    };
    for (int i = 0; i < 24; ++i) {
        const int64_t g = rnd(3) == 0 ? 8 : 1;
        const int64_t ic = g * (1 + rnd(24)), oc = g * (1 + rnd(40));
        const int k = int(1 + rnd(5)), s = int(1 + rnd(3));
        const std::string sz = "[" + std::to_string(2 + rnd(12)) + ", " +
                               std::to_string(2 + rnd(30)) + "]";
        problems.push_back(test::problem_from_json(
            "{\"in_channels\": " + std::to_string(ic) + ", \"out_channels\": " +
            std::to_string(oc) + ", \"groups\": " + std::to_string(g) + ", \"input_size\": " + sz +
            ", \"kernel_size\": " + std::to_string(k) + ", \"stride\": " + std::to_string(s) +
            ", \"padding\": " + std::to_string(rnd(k)) + ", \"layout\": \"" +
            (rnd(2) ? "channels_last" : "channels_first") + "\"}"));
    }
    std::map<std::string, gen::AnyKernelDesc> desc_of;
    std::map<std::string, std::vector<uint8_t>> code_of;
    size_t kernels = 0;
    for (const Problem& p : problems) {
        for (Isa isa : {Isa::avx512, Isa::avx2}) {
            if (isa > cpu_info().best_isa()) continue;
            gen::Plan plan;
            std::string why;
            if (!gen::plan(p, isa, plan, why)) continue;
            for (const gen::AnyKernelDesc& d : plan.base().kernels) {
                const std::string n = gen::kernel_name(d);
                auto [it, fresh] = desc_of.emplace(n, d);
                CHECK_MESSAGE(it->second == d, "one name for two descriptors: " << n);
                // Generated directly (not from the cache): equal descriptors emit equal bytes.
                const auto k = gen::generate(d);
                CHECK(k->name() == n);
                const std::vector<uint8_t> code(k->code(), k->code() + k->code_size());
                if (fresh) {
                    code_of[n] = code;
                    ++kernels;
                } else {
                    CHECK_MESSAGE(code_of[n] == code, "one name for two codes: " << n);
                }
            }
        }
    }
    // Distinct descriptors have distinct names (the map above would merge them otherwise).
    std::vector<gen::AnyKernelDesc> all;
    for (const auto& [n, d] : desc_of) all.push_back(d);
    for (size_t i = 0; i < all.size(); ++i)
        for (size_t j = i + 1; j < all.size(); ++j) CHECK(!(all[i] == all[j]));
    CHECK(kernels > 100);
    MESSAGE(problems.size() << " layers: " << kernels << " distinct kernels");
}
