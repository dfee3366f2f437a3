// SPDX-License-Identifier: Apache-2.0
// A 32-bit counter threads wait on: spin for as long as the wait policy allows, then sleep on a
// futex until a change wakes them. Sleeping, not spinning, is what frees a core another process
// (or a worker of this call that the scheduler parked there) needs.
#pragma once

#include <immintrin.h>

#include <atomic>
#include <chrono>
#include <cstdint>

#include "tconv/tconv.hpp"

namespace tconv {

// How long WaitPolicy::bounded spins before sleeping: long enough to bridge the gap between
// the phases of a call and between the layers of a chain (microseconds), short enough that a
// worker idle between requests leaves its core within a scheduler tick.
inline constexpr std::chrono::microseconds kBoundedSpin{50};
// A spinning thread whose clock jumps by more than this between two looks was descheduled:
// another thread or process wants its core. bounded then sleeps at once for kContendedFor, so
// a spinner never takes slices from the work it waits for (README "Threads").
inline constexpr std::chrono::microseconds kPreempted{200};
inline constexpr std::chrono::milliseconds kContendedFor{1000};

// The process-wide end of the current contended period (steady_clock ticks; 0: none).
std::atomic<int64_t>& contended_until();

// The bounded policy's budget for one wait, fed the clock at each look: spinning goes on while
// the wait is younger than kBoundedSpin and no contended period runs. A jump of more than
// kPreempted between two looks starts a contended period for every waiter of the process.
class SpinBudget {
  public:
    using clock = std::chrono::steady_clock;
    explicit SpinBudget(clock::time_point start) : start_(start), last_(start) {}
    bool keep_spinning(clock::time_point now) {
        std::atomic<int64_t>& until = contended_until();
        if (now - last_ > kPreempted)
            until.store((now + kContendedFor).time_since_epoch().count(), std::memory_order_relaxed);
        last_ = now;
        return now - start_ <= kBoundedSpin &&
               now.time_since_epoch().count() >= until.load(std::memory_order_relaxed);
    }

  private:
    clock::time_point start_, last_;
};

void futex_wait(const std::atomic<uint32_t>& word, uint32_t expected);
void futex_wake(const std::atomic<uint32_t>& word, int count);

class WaitWord {
  public:
    uint32_t load() const { return value_.load(); }
    void store(uint32_t v) { value_.store(v); }
    // Adds n (a wrapping subtraction when n is -k) and wakes up to `wake` sleepers.
    void add(uint32_t n, int wake = 1 << 30) {
        value_.fetch_add(n);
        // Sequentially consistent with wait(): a sleeper either saw the new value or is counted.
        if (sleepers_.load() > 0) futex_wake(value_, wake);
    }

    // Returns once ready(value) holds. `policy` is read as the wait goes, so a pool's idle
    // workers follow a policy that changes while they wait.
    template <class Ready>
    void wait(const Ready& ready, const std::atomic<WaitPolicy>& policy) const {
        if (spin(ready, policy)) return;
        for (;;) {
            sleepers_.fetch_add(1);
            const uint32_t v = value_.load();
            if (!ready(v)) futex_wait(value_, v);
            sleepers_.fetch_sub(1);
            if (ready(value_.load())) return;
        }
    }

  private:
    // True when ready() held within the policy's spin; the clock is read every 64 pauses.
    template <class Ready>
    bool spin(const Ready& ready, const std::atomic<WaitPolicy>& policy) const {
        SpinBudget budget(SpinBudget::clock::now());
        for (;;) {
            if (ready(value_.load())) return true;
            const WaitPolicy p = policy.load(std::memory_order_relaxed);
            if (p == WaitPolicy::passive) return false;
            if (p == WaitPolicy::bounded && !budget.keep_spinning(SpinBudget::clock::now()))
                return false;
            for (int i = 0; i < 64; ++i) {
                if (ready(value_.load())) return true;
                _mm_pause();
            }
        }
    }

    std::atomic<uint32_t> value_{0};
    mutable std::atomic<int> sleepers_{0};
};

}  // namespace tconv
