// SPDX-License-Identifier: Apache-2.0
// The spatial-vectorised kernel (docs/ALGORITHM.md §4) for layers with few output channels:
// lanes hold consecutive phase outputs m of one row, one accumulator per (channel, W phase,
// vector of m); every W phase of the row in one kernel, so after the taps the phases are
// interleaved in registers (permutes under masks) into contiguous outputs. With AVX512_BF16 a
// lane holds two input channels' bf16 and vdpbf16ps sums both (SpatialKernelDesc::pairs).
#include <cassert>
#include <cstddef>
#include <map>
#include <stdexcept>
#include <vector>

#include "emitters.hpp"
#include "phase_interleave.hpp"
#include "vector_math.hpp"

namespace tconv::gen {

namespace {

template <class T>
class SvecGenerator : public Xbyak::CodeGenerator {
    using Vmm = typename T::Vmm;

  public:
    SvecGenerator(const SpatialKernelDesc& d, size_t max_bytes)
        : Xbyak::CodeGenerator(max_bytes, Xbyak::DontSetProtectRWE), d_(d), math_(*this, d.activation, d.negative_slope, 0) {}

    void generate() {
        if (d_.pairs && (T::isa != Isa::avx512 || d_.isa != Isa::avx512_bf16))
            throw std::runtime_error("bf16 pairs need Isa::avx512_bf16");
        push(reg_xnext);
        load_args();
        Xbyak::Label l_tile;
        L(l_tile);
        zero_accumulators();
        if (has_taps()) accumulate_taps();
        epilogue();
        add(reg_x, int(d_.ur * T::vlen * 4));
        add(reg_y, int(phases() * d_.ur * T::vlen * 4));
        dec(reg_blocks);
        jnz(l_tile, T_NEAR);
        pop(reg_xnext);
        vzeroupper();
        ret();
        math_.emit_constants();
        interleave_.emit_table();
    }

  private:
    const SpatialKernelDesc& d_;
    VectorMath<T> math_;
    PhaseInterleave<T> interleave_{*this, int(d_.w_phases.size()), 0};
    // General registers: caller-saved but for reg_xnext.
    const Xbyak::Reg64 reg_args = rdi;    // const KernelArgs*
    const Xbyak::Reg64 reg_x = rsi;       // input (channel 0) at the tile's first m
    const Xbyak::Reg64 reg_xi = rdx;      // input at the current channel
    const Xbyak::Reg64 reg_w = rcx;       // packed scalar weights at the current channel
    const Xbyak::Reg64 reg_y = r8;        // row buffer at the tile's first output
    const Xbyak::Reg64 reg_bias = r9;     // bias of the block's first channel
    const Xbyak::Reg64 reg_ic = r10;      // input channels left
    const Xbyak::Reg64 reg_blocks = r11;  // tiles left
    const Xbyak::Reg32 reg_mask = eax;    // epilogue: opmask bits
    // Bytes between input channels (KernelArgs::x_next) in a register, as cheap as the
    // immediate it replaces: callee-saved, pushed.
    const Xbyak::Reg64 reg_xnext = rbx;

    int phases() const { return int(d_.w_phases.size()); }
    int accumulators() const { return d_.n_oc * phases() * d_.ur; }
    bool has_taps() const {
        for (const WPhaseTaps& t : d_.w_phases)
            if (t.count > 0) return true;
        return false;
    }
    Vmm vmm_acc(int oc, int r, int j) const {
        assert(oc < d_.n_oc && r < phases() && j < d_.ur);
        return Vmm((oc * phases() + r) * d_.ur + j);
    }
    // Loop: the tile's input vectors, then the broadcast weight; epilogue: scratch.
    const WLaneRegisters<T> regs_{accumulators(), d_.ur};
    Vmm vmm_x(int j) const { return regs_.x(j); }
    Vmm vmm_wei() const { return regs_.wei(); }
    Vmm vmm_tmp(int i) const { return regs_.tmp(i); }

    // Reads reg_args; writes reg_x, reg_y, reg_bias, reg_blocks, the interleave's masks.
    void load_args() {
        mov(reg_x, ptr[reg_args + offsetof(KernelArgs, x)]);
        mov(reg_y, ptr[reg_args + offsetof(KernelArgs, y)]);
        mov(reg_bias, ptr[reg_args + offsetof(KernelArgs, bias)]);
        mov(reg_blocks, ptr[reg_args + offsetof(KernelArgs, blocks)]);
        mov(reg_xnext, ptr[reg_args + offsetof(KernelArgs, x_next)]);
        interleave_.load_masks(reg_mask);
    }

    void zero_accumulators() {
        for (int i = 0; i < accumulators(); ++i) math_.vzero(Vmm(i));
    }

    // The channel loop with every (W phase, tap) unrolled inside. Taps of different W phases
    // at the same input offset share one load of the input vectors. Clobbers reg_xi, reg_w,
    // reg_ic, the input and weight registers; updates the accumulators.
    void accumulate_taps() {
        mov(reg_w, ptr[reg_args + offsetof(KernelArgs, w)]);
        mov(reg_xi, reg_x);
        mov(reg_ic, d_.ic_blocks);
        Xbyak::Label l_ic;
        L(l_ic);
        // Packed order per channel: [r_w][td][th][tw][oc]; first scalar of each W phase.
        std::vector<int64_t> phase_base;
        int64_t scalars = 0;
        for (const WPhaseTaps& wp : d_.w_phases) {
            phase_base.push_back(scalars);
            scalars += int64_t(d_.taps[0]) * d_.taps[1] * wp.count * d_.n_oc;
        }
        for (int td = 0; td < d_.taps[0]; ++td)
            for (int th = 0; th < d_.taps[1]; ++th) {
                // (input offset c along W) -> the (phase, tap) pairs reading it.
                std::map<int64_t, std::vector<std::pair<int, int>>> readers;
                for (int r = 0; r < phases(); ++r) {
                    const WPhaseTaps& wp = d_.w_phases[size_t(r)];
                    for (int tw = 0; tw < wp.count; ++tw) readers[wp.c0 + tw * wp.cstep].push_back({r, tw});
                }
                const int64_t cd = d_.c0[0] + td * d_.cstep[0];
                const int64_t ch = d_.c0[1] + th * d_.cstep[1];
                for (const auto& [cw, list] : readers) {
                    const int64_t shift =
                        -(cd * d_.x_stride[0] + ch * d_.x_stride[1] + cw * d_.x_stride[2]);
                    for (int j = 0; j < d_.ur; ++j)
                        vmovups(vmm_x(j), ptr[reg_xi + int((shift + j * T::vlen) * 4)]);
                    for (const auto& [r, tw] : list) {
                        const int count = d_.w_phases[size_t(r)].count;
                        const int64_t tap = (int64_t(td) * d_.taps[1] + th) * count + tw;
                        fma_tap(r, phase_base[size_t(r)] + tap * d_.n_oc);
                    }
                }
            }
        add(reg_w, int(scalars * 4));
        add(reg_xi, reg_xnext);  // follows the input size
        dec(reg_ic);
        jnz(l_ic, T_NEAR);
    }

    // FMAs of one tap of W phase r into its accumulators: the input vectors are loaded, the
    // n_oc weights start at scalar `scalar` of the channel. A weight used by several FMAs is
    // broadcast once into a register: as an embedded {1to16} operand every FMA would load it
    // again, and the unaligned input loads already keep the load ports busy. Pairs: each lane
    // and weight holds two channels' bf16, one vdpbf16ps sums both.
    void fma_tap(int r, int64_t scalar) {
        auto madd = [&](const Vmm& acc, const Vmm& x, const Xbyak::Operand& w) {
            if constexpr (T::isa == Isa::avx512) {
                if (d_.pairs) return vdpbf16ps(acc, x, w);
            }
            vfmadd231ps(acc, x, w);
        };
        for (int oc = 0; oc < d_.n_oc; ++oc) {
            const auto w = reg_w + int((scalar + oc) * 4);
            if constexpr (T::isa == Isa::avx512) {
                if (d_.ur == 1) {
                    madd(vmm_acc(oc, r, 0), vmm_x(0), ptr_b[w]);
                    continue;
                }
            }
            vbroadcastss(vmm_wei(), ptr[w]);  // a float or a pair of bf16: the same 4 bytes
            for (int j = 0; j < d_.ur; ++j) madd(vmm_acc(oc, r, j), vmm_x(j), vmm_wei());
        }
    }

    // Bias and activation in place, then per (channel, vector of m) the W phases interleaved
    // into phases() contiguous output vectors. Clobbers the temps, reg_xi, reg_mask, k2.
    void epilogue() {
        for (int oc = 0; oc < d_.n_oc; ++oc)
            for (int r = 0; r < phases(); ++r)
                for (int j = 0; j < d_.ur; ++j) {
                    const Vmm acc = vmm_acc(oc, r, j);
                    if (d_.bias) {
                        if constexpr (T::isa == Isa::avx512) {
                            vaddps(acc, acc, ptr_b[reg_bias + oc * 4]);
                        } else {
                            vbroadcastss(vmm_tmp(0), ptr[reg_bias + oc * 4]);
                            vaddps(acc, acc, vmm_tmp(0));
                        }
                    }
                    math_.activation(acc, [this](int i) { return vmm_tmp(i); });
                }
        if (const int k = VectorMath<T>::clobbered_opmask(d_.activation))
            interleave_.reload(k, reg_mask);  // the fixed phase mask the activation took
        const int S = phases();
        const Vmm out = vmm_tmp(0), idx = vmm_tmp(1), part = vmm_tmp(2);
        // The row buffer's channel stride follows the row length: from the arguments, stepped
        // in reg_xi (free in the epilogue).
        mov(reg_xi, reg_y);
        for (int oc = 0; oc < d_.n_oc; ++oc) {
            if (oc > 0) add(reg_xi, ptr[reg_args + offsetof(KernelArgs, y_next)]);
            for (int j = 0; j < d_.ur; ++j)
                for (int q = 0; q < S; ++q) {
                    interleave_.emit(out, idx, part, reg_mask, q,
                                     [&](int r) { return vmm_acc(oc, r, j); });
                    vmovups(ptr[reg_xi + int((j * S + q) * T::vlen * 4)], out);
                }
        }
    }
};

size_t code_bound(const SpatialKernelDesc& d) {
    size_t taps = 0;
    for (const WPhaseTaps& t : d.w_phases) taps += size_t(d.taps[0] * d.taps[1] * t.count);
    const size_t S = d.w_phases.size();
    const size_t per_tap = size_t(d.ur + d.n_oc * (d.ur + 1));
    const size_t epilogue = size_t(d.n_oc * d.ur) * S * (48 + 4 * S);
    const size_t instructions = taps * per_tap + epilogue + 64;
    return instructions * 12 + size_t(Const::count) * 64 + S * 64 + 4096;
}

}  // namespace

template <class T>
std::unique_ptr<Xbyak::CodeGenerator> emit_spatial_vec(const SpatialKernelDesc& d) {
    auto g = std::make_unique<SvecGenerator<T>>(d, code_bound(d));
    g->generate();
    return g;
}

template std::unique_ptr<Xbyak::CodeGenerator> emit_spatial_vec<Avx512Traits>(const SpatialKernelDesc&);
template std::unique_ptr<Xbyak::CodeGenerator> emit_spatial_vec<Avx2Traits>(const SpatialKernelDesc&);

}  // namespace tconv::gen
