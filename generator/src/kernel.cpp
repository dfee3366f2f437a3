// generate(): emit the kernel a KernelDesc describes, then flip its pages to read+execute.
#include "tconv/gen/kernel.hpp"

#include <stdexcept>

#include "emitters.hpp"

namespace tconv::gen {

namespace {

template <class T>
std::unique_ptr<Xbyak::CodeGenerator> emit(const KernelDesc& d) {
    auto g = d.shape == KernelShape::spatial_vec ? emit_spatial_vec<T>(d) : emit_channel_vec<T>(d);
    // W^X: the buffer was never executable while writable; now it becomes read+execute.
    g->setProtectModeRE();
    return g;
}

}  // namespace

Kernel::Kernel(const KernelDesc& d, std::unique_ptr<Xbyak::CodeGenerator> code)
    : desc_(d), name_(kernel_name(d)), code_(std::move(code)) {
    fn_ = code_->getCode<KernelFn>();
}

Kernel::~Kernel() = default;

const uint8_t* Kernel::code() const { return code_->getCode(); }
size_t Kernel::code_size() const { return code_->getSize(); }

std::unique_ptr<Kernel> generate(const KernelDesc& d) {
    std::unique_ptr<Xbyak::CodeGenerator> code;
    try {
        if (d.isa == Isa::avx512)
            code = emit<Avx512Traits>(d);
        else if (d.isa == Isa::avx2)
            code = emit<Avx2Traits>(d);
        else
            throw std::runtime_error("no code generator for ISA " + std::string(to_string(d.isa)));
    } catch (const Xbyak::Error& e) {
        throw std::runtime_error(kernel_name(d) + ": code generation failed: " + e.what());
    }
    return std::unique_ptr<Kernel>(new Kernel(d, std::move(code)));
}

}  // namespace tconv::gen
