// SPDX-License-Identifier: Apache-2.0
// bf16 storage over the fp32 implementations (bf16_impl.hpp). The conversions are passes of
// their own over the input and the output, split across the call's threads: on this machine
// they stream at memory speed and cost about what one more copy of each tensor costs.
#include "bf16_impl.hpp"

#include <algorithm>
#include <optional>

#include "jit_impl.hpp"
#include "scratch.hpp"
#include "tconv/bf16.hpp"
#include "team.hpp"
#include "thread_pool.hpp"

namespace tconv {

void Impl::execute_bf16(const uint16_t*, uint16_t*, int, WaitPolicy) const {
    throw Error(ErrorKind::invalid_argument,
                problem_.name + ": execute_bf16 needs a layer with \"dtype\": \"bf16\" (this one "
                                "is f32: use execute with float buffers)");
}

std::vector<float> bf16_weights(const Problem& p, const float* w) {
    std::vector<float> r(size_t(p.weight_elems()));
    round_to_bf16(w, r.data(), p.weight_elems());
    return r;
}

namespace {

// Elements per share at least: waking a thread for less costs more than it saves.
constexpr int64_t kMinShare = int64_t(1) << 16;

// f(begin, end) over [0, n) in shares on up to `threads` threads.
template <class F>
void split(int64_t n, int threads, WaitPolicy wait, const F& f) {
    const int shares = int(std::clamp<int64_t>(n / kMinShare, 1, threads));
    if (shares == 1) return f(int64_t(0), n);
    global_pool().run(1, shares, shares, wait, [&](int64_t, int s) {
        const Share share(n, s, shares);
        f(share.begin, share.end);
    });
}

class Bf16Impl final : public Impl, public JitCodeSource {
  public:
    explicit Bf16Impl(std::shared_ptr<const Impl> inner) : inner_(std::move(inner)) {
        problem_ = inner_->problem();
        report_ = inner_->report();
        report_.plan_lines.push_back(
            "bf16 storage: conversion passes around the fp32 kernels (the input widened to fp32 "
            "before, the output rounded to bf16, RNE, after)");
        ScratchNeed need;
        need[ScratchKind::bf16] = problem_.input_elems() + problem_.output_elems();
        claim_.emplace(need);
    }

    // fp32 in and out: the input rounded to bf16 as the layer stores it, the output rounded.
    int threads_for(int requested) const override { return inner_->threads_for(requested); }

    void execute(const float* x, float* y, int threads, WaitPolicy wait) const override {
        const int64_t ni = problem_.input_elems(), no = problem_.output_elems();
        float* xs = thread_scratch().bf16.get(ni);
        split(ni, threads, wait, [&](int64_t b, int64_t e) { round_to_bf16(x + b, xs + b, e - b); });
        inner_->execute(xs, y, threads, wait);
        split(no, threads, wait, [&](int64_t b, int64_t e) { round_to_bf16(y + b, y + b, e - b); });
    }

    void execute_bf16(const uint16_t* x, uint16_t* y, int threads,
                      WaitPolicy wait) const override {
        const int64_t ni = problem_.input_elems(), no = problem_.output_elems();
        float* xs = thread_scratch().bf16.get(ni + no);
        float* ys = xs + ni;
        split(ni, threads, wait, [&](int64_t b, int64_t e) { bf16_to_float(x + b, xs + b, e - b); });
        inner_->execute(xs, ys, threads, wait);
        split(no, threads, wait, [&](int64_t b, int64_t e) { float_to_bf16(ys + b, y + b, e - b); });
    }

    bool handles_bf16() const override { return true; }

    std::unique_ptr<Impl> reshaped(const Problem& q, std::string& why_not) const override {
        std::unique_ptr<Impl> inner = inner_->reshaped(q, why_not);
        return inner ? as_bf16_layer(std::move(inner)) : nullptr;
    }

    std::vector<KernelCode> kernel_code() const override {
        auto* jit = dynamic_cast<const JitCodeSource*>(inner_.get());
        return jit ? jit->kernel_code() : std::vector<KernelCode>{};
    }

  private:
    std::shared_ptr<const Impl> inner_;
    std::optional<ScratchClaim> claim_;
};

}  // namespace

std::unique_ptr<Impl> as_bf16_layer(std::unique_ptr<Impl> impl) {
    if (impl->handles_bf16()) return impl;
    return std::make_unique<Bf16Impl>(std::move(impl));
}

void to_bf16(const float* in, uint16_t* out, int64_t n, int threads, WaitPolicy wait) {
    split(n, threads, wait, [&](int64_t b, int64_t e) { float_to_bf16(in + b, out + b, e - b); });
}

void from_bf16(const uint16_t* in, float* out, int64_t n, int threads, WaitPolicy wait) {
    split(n, threads, wait, [&](int64_t b, int64_t e) { bf16_to_float(in + b, out + b, e - b); });
}

}  // namespace tconv
