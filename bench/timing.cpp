// SPDX-License-Identifier: Apache-2.0
#include <algorithm>
#include <chrono>
#include <cmath>
#include <thread>

#include <time.h>

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

double others_cpu_seconds() {
    timespec p{}, t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &p);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return double(p.tv_sec - t.tv_sec) + 1e-9 * double(p.tv_nsec - t.tv_nsec);
}

int settle(const TimingPolicy& policy, const std::function<double()>& others_cpu,
           const std::function<void(double)>& sleep) {
    double waited = 0, last = others_cpu(), previous_step = 1e9;
    for (int steps = 1;; ++steps) {
        sleep(policy.settle_time);
        waited += policy.settle_time;
        const double now = others_cpu(), this_step = now - last;
        if (this_step + previous_step < 0.5 * policy.settle_time || waited >= policy.settle_max)
            return steps;
        last = now;
        previous_step = this_step;
    }
}

std::vector<std::vector<double>> time_interleaved(
    const std::vector<std::function<void()>>& runs, const TimingPolicy& policy,
    const std::vector<std::function<void(bool)>>& idle) {
    auto set_idle = [&](size_t i, bool paused) {
        if (i < idle.size() && idle[i]) idle[i](paused);
    };
    using clock = std::chrono::steady_clock;
    auto seconds_since = [](clock::time_point t0) {
        return std::chrono::duration<double>(clock::now() - t0).count();
    };
    // Warm-up (caches, page faults, lazy initialisation), which also sizes each batch.
    std::vector<int64_t> batch(runs.size(), 1);
    for (size_t i = 0; i < runs.size(); ++i) {
        if (i > 0 && policy.settle_time > 0) settle(policy);
        set_idle(i, false);
        const auto t0 = clock::now();
        runs[i]();
        const double once = seconds_since(t0);
        set_idle(i, true);
        if (policy.batch_time > once)
            batch[i] = std::min<int64_t>(int64_t(std::ceil(policy.batch_time / std::max(once, 1e-9))),
                                         policy.max_repeats);
    }

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
            if (runs.size() > 1 && policy.settle_time > 0) settle(policy);
            set_idle(i, false);
            const auto t0 = clock::now();
            for (int64_t k = 0; k < batch[i]; ++k) runs[i]();
            const double s = seconds_since(t0);
            set_idle(i, true);
            samples[i].push_back(s / double(batch[i]));
            total[i] += s;
            any_left = any_left || !done(i);
        }
    }
    return samples;
}

}  // namespace tconv::bench
