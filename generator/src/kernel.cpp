// SPDX-License-Identifier: Apache-2.0
// generate(): emit the kernel a descriptor describes, then flip its pages to read+execute.
#include "tconv/gen/kernel.hpp"

#include <stdexcept>

#include "emitters.hpp"

namespace tconv::gen {

namespace {

template <class T>
std::unique_ptr<Xbyak::CodeGenerator> emit_family(const ChannelKernelDesc& d) {
    return emit_channel_vec<T>(d);
}

template <class T>
std::unique_ptr<Xbyak::CodeGenerator> emit_family(const SpatialKernelDesc& d) {
    return emit_spatial_vec<T>(d);
}

template <class T>
std::unique_ptr<Xbyak::CodeGenerator> emit_family(const DwKernelDesc& d) {
    return emit_depthwise<T>(d);
}

template <class T>
std::unique_ptr<Xbyak::CodeGenerator> emit_family(const DwPlaneKernelDesc& d) {
    return emit_depthwise_cf<T>(d);
}

template <class T>
std::unique_ptr<Xbyak::CodeGenerator> emit_family(const GemmKernelDesc& d) {
    return emit_gemm<T>(d);
}

template <class T>
std::unique_ptr<Xbyak::CodeGenerator> emit_family(const GemmEpilogueDesc& d) {
    return emit_gemm_epilogue<T>(d);
}

template <class T>
std::unique_ptr<Xbyak::CodeGenerator> emit_family(const PairKernelDesc& d) {
    return d.isa == Isa::amx ? emit_amx(d) : emit_bf16_dot(d);
}

template <class T>
std::unique_ptr<Xbyak::CodeGenerator> emit(const AnyKernelDesc& d) {
    auto g = std::visit([](const auto& x) { return emit_family<T>(x); }, d);
    // W^X: the buffer was never executable while writable; now it becomes read+execute.
    g->setProtectModeRE();
    return g;
}

}  // namespace

Kernel::Kernel(const AnyKernelDesc& d, std::unique_ptr<Xbyak::CodeGenerator> code)
    : desc_(d), name_(kernel_name(d)), code_(std::move(code)) {
    fn_ = code_->getCode<KernelFn>();
}

Kernel::~Kernel() = default;

const uint8_t* Kernel::code() const { return code_->getCode(); }
size_t Kernel::code_size() const { return code_->getSize(); }

std::unique_ptr<Kernel> generate(const AnyKernelDesc& d) {
    std::unique_ptr<Xbyak::CodeGenerator> code;
    const Isa isa = std::visit([](const auto& x) { return x.isa; }, d);
    try {
        if (isa == Isa::avx512 || isa == Isa::avx512_bf16 || isa == Isa::amx)
            code = emit<Avx512Traits>(d);
        else if (isa == Isa::avx2)
            code = emit<Avx2Traits>(d);
        else
            throw std::runtime_error("no code generator for ISA " + std::string(to_string(isa)));
    } catch (const Xbyak::Error& e) {
        throw std::runtime_error(kernel_name(d) + ": code generation failed: " + e.what());
    }
    return std::unique_ptr<Kernel>(new Kernel(d, std::move(code)));
}

}  // namespace tconv::gen
