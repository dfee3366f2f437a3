// SPDX-License-Identifier: Apache-2.0
// The seam between the dispatcher and the implementations (JIT per ISA, scalar reference).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "tconv/tconv.hpp"

namespace tconv {

class Impl {
  public:
    virtual ~Impl() = default;
    // x, y in the user's layout; threads >= 1, on the library's pool (thread_pool.hpp) with
    // this wait policy. Must be safe to call concurrently.
    virtual void execute(const float* x, float* y, int threads, WaitPolicy wait) const = 0;
    void execute(const float* x, float* y, int threads) const {
        execute(x, y, threads, WaitPolicy::bounded);
    }
    // bf16 bit patterns in and out: a bf16 layer's (bf16_impl.hpp); on an f32 layer an Error
    // (invalid_argument).
    virtual void execute_bf16(const uint16_t* x, uint16_t* y, int threads,
                              WaitPolicy wait) const;
    // The threads an execute asked for `requested` runs on (fewer on layers too small to
    // share; TCONV_VERBOSE's execute lines print it).
    virtual int threads_for(int requested) const { return requested; }
    // True when this implementation stores a bf16 layer's tensors itself; false: a bf16 layer
    // runs it between conversion passes (as_bf16_layer, bf16_impl.hpp).
    virtual bool handles_bf16() const { return false; }
    const Problem& problem() const { return problem_; }
    const CompileReport& report() const { return report_; }
    // The dispatcher adds why the implementations above this one declined.
    CompileReport& mutable_report() { return report_; }

    // ---- reshape (Layer::reshape) ----
    // The same layer at `q`'s batch and input size (validated), sharing this one's weights as
    // they are (never re-packed); nullptr with `why_not` when it cannot keep them.
    virtual std::unique_ptr<Impl> reshaped(const Problem& q, std::string& why_not) const = 0;

  protected:
    Problem problem_;
    CompileReport report_;
};

// A factory returns nullptr and sets `why_not` when it declines a layer. `options` carries the
// size limits and the threads compile may use.
using ImplFactory = std::unique_ptr<Impl> (*)(const Problem& p, const float* w, const float* b,
                                              const Options& options, std::string& why_not);

// The public reference_conv_transpose with the pool's wait policy chosen.
void reference_conv_transpose(const Problem& p, const float* x, const float* w, const float* b,
                              float* y, int threads, WaitPolicy wait);

std::unique_ptr<Impl> make_reference_impl(const Problem& p, const float* w, const float* b,
                                          const Options& options, std::string& why_not);
// bf16 layers on vdpbf16ps (the bf16 pair family); declines every other layer.
std::unique_ptr<Impl> make_jit_avx512_bf16_impl(const Problem& p, const float* w, const float* b,
                                                const Options& options, std::string& why_not);
// bf16 layers on AMX tiles (the amx family); declines every other layer.
std::unique_ptr<Impl> make_jit_amx_impl(const Problem& p, const float* w, const float* b,
                                        const Options& options, std::string& why_not);
std::unique_ptr<Impl> make_jit_avx512_impl(const Problem& p, const float* w, const float* b,
                                           const Options& options, std::string& why_not);
std::unique_ptr<Impl> make_jit_avx2_impl(const Problem& p, const float* w, const float* b,
                                         const Options& options, std::string& why_not);

}  // namespace tconv
