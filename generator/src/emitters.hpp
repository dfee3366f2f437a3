// SPDX-License-Identifier: Apache-2.0
// The kernel emitters, one per kernel family, each instantiated for AVX-512 and AVX2. They
// return the code still writable; generate() makes it read+execute.
#pragma once

#include <memory>

#include "isa_traits.hpp"
#include "tconv/gen/plan.hpp"

namespace tconv::gen {

template <class T>
std::unique_ptr<Xbyak::CodeGenerator> emit_channel_vec(const ChannelKernelDesc& d);
template <class T>
std::unique_ptr<Xbyak::CodeGenerator> emit_spatial_vec(const SpatialKernelDesc& d);
template <class T>
std::unique_ptr<Xbyak::CodeGenerator> emit_depthwise(const DwKernelDesc& d);
template <class T>
std::unique_ptr<Xbyak::CodeGenerator> emit_depthwise_cf(const DwPlaneKernelDesc& d);
template <class T>
std::unique_ptr<Xbyak::CodeGenerator> emit_gemm(const GemmKernelDesc& d);
template <class T>
std::unique_ptr<Xbyak::CodeGenerator> emit_gemm_epilogue(const GemmEpilogueDesc& d);
// AMX tiles with an AVX-512 epilogue: one ISA, no template.
std::unique_ptr<Xbyak::CodeGenerator> emit_amx(const PairKernelDesc& d);
// The same descriptor on AVX512_BF16 vector registers (vdpbf16ps), where AMX is missing.
std::unique_ptr<Xbyak::CodeGenerator> emit_bf16_dot(const PairKernelDesc& d);

}  // namespace tconv::gen
