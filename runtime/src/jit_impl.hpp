// SPDX-License-Identifier: Apache-2.0
// The JIT implementations' extra face: access to their machine code, e.g. for dumping it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "impl.hpp"
#include "tconv/gen/plan.hpp"

namespace tconv {

struct KernelCode {
    std::string name;
    const uint8_t* code = nullptr;
    size_t size = 0;
};

// Implemented by the JIT Impls: `dynamic_cast<const JitCodeSource*>(&impl)`.
class JitCodeSource {
  public:
    virtual ~JitCodeSource() = default;
    virtual std::vector<KernelCode> kernel_code() const = 0;
};

// The JIT factory behind make_jit_avx512_impl / make_jit_avx2_impl, with planner overrides
// (tests sweep tile shapes with it).
std::unique_ptr<Impl> make_jit_impl(Isa isa, const Problem& p, const float* w, const float* b,
                                    const Options& options, std::string& why_not,
                                    const gen::PlanOverrides& overrides = {});

}  // namespace tconv
