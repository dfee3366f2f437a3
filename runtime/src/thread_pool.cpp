// SPDX-License-Identifier: Apache-2.0
// The pool's protocol. A call publishes its job in current_ and bumps generation_; a worker
// counts itself in inside_ before reading current_, and the call, once every item is done,
// clears current_ and waits for inside_ to drain before its job (on its stack) goes away.
// Both sides use sequentially consistent atomics, so either the worker sees the job and the
// call sees the worker, or the worker sees no job.
#include "thread_pool.hpp"

#include <algorithm>
#include <system_error>

#include <pthread.h>

namespace tconv {

struct ThreadPool::Job {
    Job(const void* f, Call c, int64_t p0, uint32_t n, uint32_t t, int helpers, WaitPolicy w)
        : fn(f), call(c), phase0(p0), items(n), total(t), max_helpers(helpers), policy(w) {}
    const void* fn;
    Call call;
    int64_t phase0;         // the caller's number of the job's phase 0
    uint32_t items, total;  // items per phase; phases * items
    int max_helpers;
    std::atomic<WaitPolicy> policy;
    std::atomic<uint32_t> next{0};  // the next item to claim
    WaitWord done;                  // items finished (or skipped after an error)
    std::atomic<int> helpers{0};    // workers that joined, capped at max_helpers
    std::atomic<bool> failed{false};
    std::exception_ptr error;  // set by the thread that set `failed`, read after `done`
};

namespace {

// Every thread of a job, the caller included: claim items until none is left.
template <class Job>
void work(Job& j) {
    for (;;) {
        const uint32_t i = j.next.fetch_add(1, std::memory_order_relaxed);
        if (i >= j.total) return;
        const uint32_t phase = i / j.items, start = phase * j.items;
        // The previous phase's items must all have finished (their writes are then visible).
        if (phase > 0) j.done.wait([start](uint32_t d) { return d >= start; }, j.policy);
        if (!j.failed.load(std::memory_order_relaxed)) {
            try {
                j.call(j.fn, j.phase0 + phase, int(i - start));
            } catch (...) {
                if (!j.failed.exchange(true)) j.error = std::current_exception();
            }
        }
        j.done.add(1);
    }
}

// The 32-bit counters bound a job's items; more phases run as several jobs in a row.
constexpr int64_t kMaxJobItems = int64_t(1) << 30;

}  // namespace

ThreadPool::~ThreadPool() {
    stop_.store(true);
    generation_.add(1);
    for (std::thread& t : threads_) t.join();
}

void ThreadPool::run_erased(int64_t phases, int items, int threads, WaitPolicy wait, const void* fn,
                            Call call) {
    if (busy_.exchange(true, std::memory_order_acquire)) {  // the workers serve another call
        for (int64_t p = 0; p < phases; ++p)
            for (int i = 0; i < items; ++i) call(fn, p, i);
        return;
    }
    struct Release {
        std::atomic<bool>& busy;
        ~Release() { busy.store(false, std::memory_order_release); }
    } release{busy_};
    idle_policy_.store(wait);
    if (workers() < threads - 1) add_workers(threads - 1 - workers());
    const int64_t chunk = std::max<int64_t>(1, kMaxJobItems / items);
    for (int64_t p0 = 0; p0 < phases; p0 += chunk) {
        Job job(fn, call, p0, uint32_t(items),
                uint32_t(std::min(chunk, phases - p0)) * uint32_t(items), threads - 1, wait);
        run_job(job, threads);
        if (job.error) std::rethrow_exception(job.error);
    }
}

void ThreadPool::run_job(Job& job, int threads) {
    current_.store(&job);
    generation_.add(1, threads - 1);
    work(job);
    job.done.wait([&job](uint32_t d) { return d >= job.total; }, job.policy);
    current_.store(nullptr);
    inside_.wait([](uint32_t n) { return n == 0; }, job.policy);
}

void ThreadPool::add_workers(int n) {
    for (int k = 0; k < n; ++k) {
        try {
            // A worker that starts after this call's job was published still joins it.
            threads_.emplace_back([this, seen = generation_.load()] { worker_main(seen); });
        } catch (const std::system_error&) {
            return;  // no more threads: the callers run what the workers would have
        }
        worker_count_.fetch_add(1);
    }
}

void ThreadPool::worker_main(uint32_t seen) {
    pthread_setname_np(pthread_self(), "tconv-worker");  // as top -H and debuggers show it
    for (;;) {
        generation_.wait([seen](uint32_t g) { return g != seen; }, idle_policy_);
        seen = generation_.load();
        if (stop_.load()) return;
        inside_.add(1, 0);
        if (Job* j = current_.load(); j && j->helpers.fetch_add(1) < j->max_helpers) work(*j);
        inside_.add(uint32_t(-1));
    }
}

ThreadPool& global_pool() {
    static ThreadPool* pool = new ThreadPool;
    return *pool;
}

}  // namespace tconv
