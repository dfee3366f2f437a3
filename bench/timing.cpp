#include <algorithm>
#include <chrono>
#include <cmath>

#include "bench_timing.hpp"
#include "tconv/error.hpp"

namespace tconv::bench {

double median(std::vector<double> samples) {
    if (samples.empty()) throw Error(ErrorKind::internal, "bench: median of no samples");
    const size_t mid = samples.size() / 2;
    std::nth_element(samples.begin(), samples.begin() + mid, samples.end());
    if (samples.size() % 2) return samples[mid];
    const double upper = samples[mid];
    const double lower = *std::max_element(samples.begin(), samples.begin() + mid);
    return 0.5 * (lower + upper);
}

double geometric_mean(const std::vector<double>& values) {
    if (values.empty()) throw Error(ErrorKind::internal, "bench: geometric mean of no values");
    double log_sum = 0;
    for (double v : values) {
        if (!(v > 0) || !std::isfinite(v))
            throw Error(ErrorKind::internal, "bench: geometric mean of a non-positive value");
        log_sum += std::log(v);
    }
    return std::exp(log_sum / double(values.size()));
}

std::vector<std::vector<double>> time_interleaved(const std::vector<std::function<void()>>& runs,
                                                  const TimingPolicy& policy) {
    using clock = std::chrono::steady_clock;
    for (const auto& run : runs) run();  // warm-up: caches, page faults, lazy initialisation

    std::vector<std::vector<double>> samples(runs.size());
    std::vector<double> total(runs.size(), 0.0);
    auto done = [&](size_t i) {
        const int n = int(samples[i].size());
        return n >= policy.max_repeats || (n >= policy.min_repeats && total[i] >= policy.min_time);
    };
    for (bool any_left = true; any_left;) {
        any_left = false;
        for (size_t i = 0; i < runs.size(); ++i) {
            if (done(i)) continue;
            const auto t0 = clock::now();
            runs[i]();
            const double s = std::chrono::duration<double>(clock::now() - t0).count();
            samples[i].push_back(s);
            total[i] += s;
            any_left = any_left || !done(i);
        }
    }
    return samples;
}

}  // namespace tconv::bench
