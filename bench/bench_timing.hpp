// Robust timing: medians of repeats, runs of several contenders interleaved so that a slow
// drift of the machine (frequency, other load) hits every contender alike.
#pragma once

#include <functional>
#include <vector>

namespace tconv::bench {

// The median of `samples` (mean of the middle two for an even count). Throws on empty input.
double median(std::vector<double> samples);

// exp(mean(log v)). Every value must be positive and finite; throws on empty input.
double geometric_mean(const std::vector<double>& values);

struct TimingPolicy {
    double min_time = 0.2;  // seconds of timed runs per contender
    int min_repeats = 5;
    int max_repeats = 1000000;  // guards against a near-zero time looping forever
};

// Warms every contender up once, then runs rounds A B C, A B C, ...; a contender leaves the
// rounds once its timed runs add up to `min_time` and it has `min_repeats` of them (so a fast
// contender is not held to the repeat count of a slow one). Returns each contender's samples in
// seconds, in the order of `runs`.
std::vector<std::vector<double>> time_interleaved(const std::vector<std::function<void()>>& runs,
                                                  const TimingPolicy& policy);

}  // namespace tconv::bench
