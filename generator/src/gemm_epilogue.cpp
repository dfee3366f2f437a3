// SPDX-License-Identifier: Apache-2.0
// The column family's epilogue (docs/ALGORITHM.md §4, `gemm`): bias and activation over a run
// of whole vectors in place, the col2im row of one output row before it is stored. The same
// vectorised math as every other kernel's epilogue, so sigmoid and tanh cost what they cost
// there.
#include <cstddef>

#include "emitters.hpp"
#include "vector_math.hpp"

namespace tconv::gen {

namespace {

template <class T>
class GemmEpilogueGenerator : public Xbyak::CodeGenerator {
    using Vmm = typename T::Vmm;

  public:
    GemmEpilogueGenerator(const GemmEpilogueDesc& d, size_t max_bytes)
        : Xbyak::CodeGenerator(max_bytes, Xbyak::DontSetProtectRWE),
          math_(*this, d.activation, d.negative_slope, 0) {}

    // KernelArgs: y the floats (whole vectors), blocks how many vectors, bias one float.
    void generate() {
        mov(reg_y, ptr[reg_args + offsetof(KernelArgs, y)]);
        mov(reg_n, ptr[reg_args + offsetof(KernelArgs, blocks)]);
        mov(reg_bias, ptr[reg_args + offsetof(KernelArgs, bias)]);
        vbroadcastss(vmm_bias, ptr[reg_bias]);
        Xbyak::Label l_loop, l_done;
        test(reg_n, reg_n);
        jz(l_done, T_NEAR);
        L(l_loop);
        vaddps(vmm_v, vmm_bias, ptr[reg_y]);
        math_.activation(vmm_v, [](int i) { return Vmm(2 + i); });
        vmovups(ptr[reg_y], vmm_v);
        add(reg_y, T::vlen * 4);
        dec(reg_n);
        jnz(l_loop, T_NEAR);
        L(l_done);
        vzeroupper();
        ret();
        math_.emit_constants();
    }

  private:
    VectorMath<T> math_;
    const Xbyak::Reg64 reg_args = rdi, reg_y = rsi, reg_n = rdx, reg_bias = rcx;
    const Vmm vmm_v{0}, vmm_bias{1};  // the activation's temporaries from 2 on
};

}  // namespace

template <class T>
std::unique_ptr<Xbyak::CodeGenerator> emit_gemm_epilogue(const GemmEpilogueDesc& d) {
    auto g = std::make_unique<GemmEpilogueGenerator<T>>(d, 4096 + size_t(Const::count) * 64);
    g->generate();
    return g;
}

template std::unique_ptr<Xbyak::CodeGenerator> emit_gemm_epilogue<Avx512Traits>(
    const GemmEpilogueDesc&);
template std::unique_ptr<Xbyak::CodeGenerator> emit_gemm_epilogue<Avx2Traits>(
    const GemmEpilogueDesc&);

}  // namespace tconv::gen
