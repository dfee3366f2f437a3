// SPDX-License-Identifier: Apache-2.0
// The JIT's per-family drivers: the loops around a family's kernels, chosen once per layer.
// A driver reads the zero-halo input buffer (jit_input.hpp) and writes the user's output.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "scratch.hpp"
#include "tconv/gen/kernel_desc.hpp"
#include "tconv/gen/plan.hpp"
#include "work_part.hpp"

namespace tconv {

// What a driver calls: the plan's kernels (in its order) and the packed weights and bias.
struct KernelTables {
    std::vector<gen::KernelFn> kernels;
    const float* weights = nullptr;
    const float* bias = nullptr;
};

class JitDriver {
  public:
    virtual ~JitDriver() = default;
    // Share t of nt (run by whichever pool thread claims it) computes its part of work part w
    // (its slab's oc blocks, its output rows of images [n0, n1); the buffer xbuf holds them
    // from n0 on) into the user's output y (floats, or bf16 where the plan's io says so).
    // Every output has one owner whatever nt is. False when a thread's row buffer could not
    // be allocated.
    virtual bool compute(const float* xbuf, void* y, const WorkPart& w, int t,
                         int nt) const = 0;
    // True for a driver that copies what it needs of the user's input itself: it is then
    // run through compute_pass with the user's input x and every image (n0 = 0, n1 = batch).
    virtual bool reads_user_input() const { return false; }
    // Drivers reading the user's input in several passes (the pool's phases: each starts when
    // the previous one is done) with a buffer of shared_floats() the call's threads share
    // between passes: compute_pass runs share t of nt of pass `pass`.
    virtual int64_t passes() const { return 1; }
    virtual int64_t shared_floats() const { return 0; }
    virtual bool compute_pass(int64_t /*pass*/, const void* x, float* /*shared*/, void* y,
                              const WorkPart& w, int t, int nt) const {
        return compute(static_cast<const float*>(x), y, w, t, nt);
    }
    // Floats of row and plane scratch compute() asks of each thread (the input buffer is the
    // implementation's): registered for the layer's life, so no thread keeps more.
    virtual ScratchNeed scratch_need() const { return {}; }
};

// Each family's driver (jit_drive_*.cpp); the plan and the tables must outlive it.
std::unique_ptr<JitDriver> make_driver(const gen::ChannelPlan& plan, const KernelTables& t);
std::unique_ptr<JitDriver> make_driver(const gen::DepthwisePlan& plan, const KernelTables& t);
std::unique_ptr<JitDriver> make_driver(const gen::SpatialPlan& plan, const KernelTables& t);
std::unique_ptr<JitDriver> make_driver(const gen::DepthwiseCfPlan& plan, const KernelTables& t);
std::unique_ptr<JitDriver> make_driver(const gen::GemmPlan& plan, const KernelTables& t);
std::unique_ptr<JitDriver> make_driver(const gen::PairPlan& plan, const KernelTables& t);
// The channel plan's driver when its rows are folded (jit_drive_fold.cpp).
std::unique_ptr<JitDriver> make_fold_driver(const gen::ChannelPlan& plan, const KernelTables& t);
// --- dw in place: the depthwise plan's driver when it reads the user's input (jit_drive_dw_rows.cpp)
std::unique_ptr<JitDriver> make_dw_row_driver(const gen::DepthwisePlan& plan, const KernelTables& t);

}  // namespace tconv
