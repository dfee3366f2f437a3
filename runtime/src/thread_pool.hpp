// SPDX-License-Identifier: Apache-2.0
// The library's thread pool: persistent workers, started on first need, that help the calling
// thread through a call's items. Every item is claimed by exactly one thread, one at a time:
// a worker that has not woken up yet, or was descheduled before claiming, holds nothing back,
// since the caller runs whatever is left. Phases replace a team barrier: phase p's items start
// once every item of phase p - 1 has finished, whoever ran them.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <thread>
#include <vector>

#include "tconv/tconv.hpp"
#include "wait_word.hpp"

namespace tconv {

class ThreadPool {
  public:
    ThreadPool() = default;
    ~ThreadPool();  // stops and joins the workers; no call may be running
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    // Runs fn(phase, item) once for every phase < phases and item < items, on the calling
    // thread and at most threads - 1 workers, phase after phase; returns when all have run.
    // The first exception an item throws is rethrown here (the items not yet started are then
    // skipped). While another call holds the workers (calls from several application threads,
    // or a call from inside an item), this one runs on its calling thread alone: nothing waits
    // for the pool, so nesting cannot deadlock. `wait` says how this call's threads wait for
    // each other and how the workers wait for the next call.
    template <class Fn>
    void run(int64_t phases, int items, int threads, WaitPolicy wait, const Fn& fn) {
        if (threads <= 1 || phases * items <= 1) {
            for (int64_t p = 0; p < phases; ++p)
                for (int i = 0; i < items; ++i) fn(p, i);
            return;
        }
        run_erased(phases, items, threads, wait, &fn,
                   [](const void* f, int64_t p, int i) { (*static_cast<const Fn*>(f))(p, i); });
    }

    int workers() const { return worker_count_.load(); }
    // Idle workers sleep from now until the next call (which sets its own policy again).
    void park() { idle_policy_.store(WaitPolicy::passive); }

  private:
    using Call = void (*)(const void* fn, int64_t phase, int item);
    struct Job;
    void run_erased(int64_t phases, int items, int threads, WaitPolicy wait, const void* fn,
                    Call call);
    void run_job(Job& job, int threads);
    void add_workers(int n);
    void worker_main(uint32_t seen);

    std::vector<std::thread> threads_;  // changed only by the call holding busy_
    std::atomic<int> worker_count_{0};
    std::atomic<bool> busy_{false};      // a call holds the workers
    std::atomic<bool> stop_{false};
    std::atomic<Job*> current_{nullptr};  // the job workers may join
    WaitWord generation_;                 // bumped per job: idle workers wait on it
    WaitWord inside_;                     // workers that may be looking at current_
    std::atomic<WaitPolicy> idle_policy_{WaitPolicy::bounded};
};

// The process's pool, shared by every layer, the reference and weight packing. Never destroyed:
// a layer may run from another static object's destructor.
ThreadPool& global_pool();

}  // namespace tconv
