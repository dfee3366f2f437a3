// SPDX-License-Identifier: Apache-2.0
// Robust timing: medians of repeats, runs of several contenders interleaved so that a slow
// drift of the machine (frequency, other load) hits every contender alike.
#pragma once

#include <chrono>
#include <functional>
#include <thread>
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
    // A sample is the mean of a batch of back-to-back runs lasting at least this long (one run
    // when a run is longer), so that a microsecond layer is not timed against clock overhead,
    // and long enough that the first milliseconds after a rest (a virtual machine's idle core
    // waking slowly, a pool's worker woken onto its caller's core until Linux moves it) weigh
    // little: with 5 ms batches a fast contender's samples were mostly that start, while a
    // contender whose one run outlasts the batch was timed in its steady state...
    double batch_time = 0.05;
    // ...and between two contenders the machine rests this long, so that one contender's thread
    // pool (OpenMP or pthreadpool workers still spinning after its run) does not steal the cores
    // of the next one. Neither the batching nor the rest changes what is timed.
    double settle_time = 0.002;
    // ...and longer, in steps of settle_time up to this, while other threads of the process
    // still burn CPU (libgomp's workers spin for milliseconds after a parallel region).
    double settle_max = 0.030;
};

// CPU seconds the process's threads other than the calling one have used.
double others_cpu_seconds();

// Rests until the process's other threads stop burning CPU (a thread pool still spinning after
// the last contender's batch, such as libgomp's workers for milliseconds), in steps of
// settle_time, at least two, at most settle_max, so that the next contender gets the cores to
// itself; returns the steps. Two steps because the kernel adds a running thread's time to the
// process's clock at scheduler ticks (up to 4 ms apart). Not much longer: on a virtual machine,
// cores idle for tens of milliseconds run the next few milliseconds slowly. The clock and the
// sleep are parameters for the tests.
int settle(const TimingPolicy& policy, const std::function<double()>& others_cpu = others_cpu_seconds,
           const std::function<void(double)>& sleep = [](double s) {
               std::this_thread::sleep_for(std::chrono::duration<double>(s));
           });

// Warms every contender up once (which also sizes its batch), then runs rounds A B C, A B C, ...
// of one batch each; a contender leaves the rounds once its timed runs add up to `min_time` and
// it has `min_repeats` samples (so a fast contender is not held to the repeat count of a slow
// one). Returns each contender's samples (seconds per run), in the order of `runs`.
// `idle`, when given, has one hook per contender: idle[i](false) before each of its batches and
// idle[i](true) after, both untimed (see Runner::pause).
std::vector<std::vector<double>> time_interleaved(
    const std::vector<std::function<void()>>& runs, const TimingPolicy& policy,
    const std::vector<std::function<void(bool)>>& idle = {});

}  // namespace tconv::bench
