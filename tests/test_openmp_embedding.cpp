// SPDX-License-Identifier: Apache-2.0
// An application with its own OpenMP team calling tconv from inside it: the library's pool is
// not OpenMP, so the two never wait for each other. Not in `make test-tsan`: libgomp's own
// synchronisation is invisible to ThreadSanitizer.
#include <doctest/doctest.h>
#include <omp.h>

#include <cstring>
#include <vector>

#include "helpers.hpp"

namespace tconv::test {

TEST_CASE("openmp: layers executed from inside an application's OpenMP parallel region") {
    const Problem p = problem_from_json(R"({"batch": 2, "in_channels": 16, "out_channels": 24,
        "input_size": [10, 9], "kernel_size": 4, "stride": 2, "padding": 1, "activation": "relu"})");
    const LayerData d = random_layer_data(p, 21);
    const Layer shared = Layer::compile(p, d.w.data(), d.b.data());
    std::vector<float> want(size_t(p.output_elems()));
    shared.execute(d.x.data(), want.data(), 1);
    constexpr int kTeam = 4;
    std::vector<std::vector<float>> got(kTeam, std::vector<float>(want.size(), -1.0f));
    int mismatches = 0;
#pragma omp parallel num_threads(kTeam) reduction(+ : mismatches)
    {
        const int t = omp_get_thread_num();
        for (int repeat = 0; repeat < 5; ++repeat) {
            // Odd members ask for two threads each: one of them gets the pool, the rest run alone.
            shared.execute(d.x.data(), got[size_t(t)].data(), 1 + t % 2);
            mismatches += std::memcmp(got[size_t(t)].data(), want.data(),
                                      want.size() * sizeof(float)) != 0;
        }
    }
    CHECK(mismatches == 0);
    CHECK(compare_to_reference(p, d, want.data()) == "");
}

}  // namespace tconv::test
