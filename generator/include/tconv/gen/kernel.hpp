// SPDX-License-Identifier: Apache-2.0
// A compiled kernel: machine code emitted for one descriptor, in read+execute memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "tconv/gen/plan.hpp"

namespace Xbyak {
class CodeGenerator;
}

namespace tconv::gen {

class Kernel {
  public:
    ~Kernel();
    Kernel(const Kernel&) = delete;
    Kernel& operator=(const Kernel&) = delete;

    KernelFn fn() const { return fn_; }
    void operator()(const KernelArgs& a) const { fn_(&a); }
    const std::string& name() const { return name_; }
    const AnyKernelDesc& desc() const { return desc_; }
    // The raw code, e.g. for dumping to a file and disassembling.
    const uint8_t* code() const;
    size_t code_size() const;

  private:
    friend std::unique_ptr<Kernel> generate(const AnyKernelDesc& d);
    Kernel(const AnyKernelDesc& d, std::unique_ptr<Xbyak::CodeGenerator> code);
    AnyKernelDesc desc_;
    std::string name_;
    std::unique_ptr<Xbyak::CodeGenerator> code_;
    KernelFn fn_ = nullptr;
};

// Emits the kernel `d` describes; the code is read+execute, never writable and executable at
// once. Throws std::runtime_error if emission fails (callers decline the layer then).
std::unique_ptr<Kernel> generate(const AnyKernelDesc& d);

}  // namespace tconv::gen
