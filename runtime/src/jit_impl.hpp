// The JIT implementations' extra face: access to their machine code, e.g. for dumping it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

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

}  // namespace tconv
