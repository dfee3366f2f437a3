// SPDX-License-Identifier: Apache-2.0
// Times a config as an application calls it: a "chain": true config as one Model, otherwise
// one named layer, executed back to back (or with a pause between calls, as a server between
// requests) for a few seconds; prints the median milliseconds of one call. The thread count is
// an argument; the wait policy comes from TCONV_WAIT_POLICY, the default thread count from
// TCONV_NUM_THREADS, as in any application.
//
//   timing CONFIG [--layer NAME] [--threads N] [--seconds S] [--gap-us U]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "tconv/tconv.hpp"

namespace {

std::vector<float> values(int64_t n, float scale) {
    std::vector<float> v(static_cast<size_t>(n));
    for (size_t i = 0; i < v.size(); ++i) v[i] = scale * float(int(i * 7919 % 201) - 100) / 100;
    return v;
}

// Median milliseconds of call() over at least `seconds` (and 20 calls), after 5 untimed ones.
template <class Call>
double median_ms(const Call& call, double seconds, int gap_us) {
    using clock = std::chrono::steady_clock;
    for (int i = 0; i < 5; ++i) call();
    std::vector<double> ms;
    const clock::time_point end =
        clock::now() + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(seconds));
    while (ms.size() < 20 || clock::now() < end) {
        if (gap_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(gap_us));
        const clock::time_point t0 = clock::now();
        call();
        ms.push_back(std::chrono::duration<double, std::milli>(clock::now() - t0).count());
    }
    std::nth_element(ms.begin(), ms.begin() + ms.size() / 2, ms.end());
    return ms[ms.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: timing CONFIG [--layer NAME] [--threads N] [--seconds S] "
                             "[--gap-us U]\n");
        return 2;
    }
    std::string layer;
    int threads = 0, gap_us = 0;
    double seconds = 2;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--layer")) layer = argv[i + 1];
        else if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--seconds")) seconds = std::atof(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--gap-us")) gap_us = std::atoi(argv[i + 1]);
        else {
            std::fprintf(stderr, "timing: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    try {
        const tconv::Config config = tconv::load_config(argv[1]);
        tconv::Options options;
        options.threads = threads;  // 0: the default
        double ms = 0;
        if (config.chain && layer.empty()) {
            std::vector<std::vector<float>> w, b;
            std::vector<const float*> wp, bp;
            for (const tconv::Problem& p : config.layers) {
                w.push_back(values(p.weight_elems(), 0.05f));
                b.push_back(values(p.bias_elems(), 0.01f));
                wp.push_back(w.back().data());
                bp.push_back(p.bias ? b.back().data() : nullptr);
            }
            const tconv::Model m = tconv::Model::compile(config, wp, bp, options);
            const std::vector<float> x = values(m.input_elems(), 1);
            std::vector<float> y(size_t(m.output_elems()));
            ms = median_ms([&] { m.execute(x.data(), y.data()); }, seconds, gap_us);
        } else {
            tconv::Problem p;
            for (const tconv::Problem& q : config.layers)
                if (q.name == layer || (layer.empty() && config.layers.size() == 1)) p = q;
            if (p.name.empty()) {
                std::fprintf(stderr, "timing: name a layer of %s with --layer\n", argv[1]);
                return 2;
            }
            const std::vector<float> w = values(p.weight_elems(), 0.05f);
            const std::vector<float> b = values(p.bias_elems(), 0.01f);
            const tconv::Layer l =
                tconv::Layer::compile(p, w.data(), p.bias ? b.data() : nullptr, options);
            const std::vector<float> x = values(l.input_elems(), 1);
            std::vector<float> y(size_t(l.output_elems()));
            ms = median_ms([&] { l.execute(x.data(), y.data()); }, seconds, gap_us);
        }
        const char* wait = std::getenv("TCONV_WAIT_POLICY");
        std::printf("%s%s%s threads=%d wait=%s median_ms=%.4f\n", argv[1], layer.empty() ? "" : ":",
                    layer.c_str(), threads > 0 ? threads : tconv::default_threads(),
                    wait && *wait ? wait : "bounded", ms);
        return 0;
    } catch (const tconv::Error& e) {
        std::fprintf(stderr, "timing: %s\n", e.what());
        return 2;
    }
}
