// SPDX-License-Identifier: Apache-2.0
// The depthwise kernel: each lane is its own channel, so there is no reduction over input
// channels; a tile of ur outputs along W of one stride phase x n_oc vectors of channels (a
// pixel's channels are adjacent in the input buffer and the output, so a tile reads and writes
// whole lines). Per tap and vector one weight vector is loaded and every output of the tile
// takes one FMA whose input operand is read from memory at an immediate offset
// (docs/ALGORITHM.md §4). Grouped layers repeat that per input channel of a group, over the
// input buffer's blocks. One generator for AVX-512 and AVX2.
#include <cassert>
#include <cstddef>
#include <stdexcept>

#include "emitters.hpp"
#include "isa_traits.hpp"
#include "tconv/gen/kernel.hpp"
#include "vector_math.hpp"

namespace tconv::gen {

namespace {

template <class T>
class DwGenerator : public Xbyak::CodeGenerator {
    using Vmm = typename T::Vmm;

  public:
    DwGenerator(const DwKernelDesc& d, size_t max_bytes)
        : Xbyak::CodeGenerator(max_bytes, Xbyak::DontSetProtectRWE), d_(d), math_(*this, d.activation, d.negative_slope, d.oc_tail) {}

    void generate() {
        load_args();
        Xbyak::Label l_tile, l_permutation;
        if (permuted()) vmovups(vmm_permutation(), ptr[rip + l_permutation]);
        L(l_tile);
        zero_accumulators();
        if (d_.ic_steps > 1) {
            // The reduction over the input blocks: x and w walk forward and come back.
            Xbyak::Label l_step;
            mov(reg_steps, d_.ic_steps);
            mov(reg_x_block, d_.x_block * 4);
            L(l_step);
            accumulate_taps();
            add(reg_x, reg_x_block);
            add(reg_w, int(step_weight_bytes()));
            dec(reg_steps);
            jnz(l_step, T_NEAR);
            mov(reg_x_block, d_.x_block * 4 * d_.ic_steps);
            sub(reg_x, reg_x_block);
            sub(reg_w, int(step_weight_bytes() * d_.ic_steps));
        } else {
            accumulate_taps();
        }
        epilogue();
        add(reg_x, int(d_.ur * d_.x_stride[2] * 4));
        add(reg_y, int(d_.ur * d_.y_pix * out_bytes()));
        dec(reg_blocks);
        jnz(l_tile, T_NEAR);
        vzeroupper();
        ret();
        math_.emit_constants();
        if (permuted()) {
            // Output lane n (channel n of the vector) is computed in lane (n % M) * G + n / M,
            // with M outputs per group and G = lane_groups.
            align(64);
            L(l_permutation);
            const int G = d_.lane_groups, M = T::vlen / G;
            for (int n = 0; n < T::vlen; ++n) dd(uint32_t(n % M * G + n / M));
        }
    }

  private:
    const DwKernelDesc& d_;
    VectorMath<T> math_;
    // General registers: caller-saved only, so no prologue saves anything.
    const Xbyak::Reg64 reg_args = rdi;    // const KernelArgs*
    const Xbyak::Reg64 reg_x = rsi;       // input at the current tile's first output
    const Xbyak::Reg64 reg_w = rcx;       // packed weights of the phase: [tap][vlen]
    const Xbyak::Reg64 reg_y = r8;        // output of the current tile
    const Xbyak::Reg64 reg_bias = r9;     // packed bias of the channel vector
    const Xbyak::Reg64 reg_blocks = r11;  // tiles left
    const Xbyak::Reg64 reg_tmp = rax;     // scratch before the tile loop
    const Xbyak::Reg64 reg_steps = r10;   // input blocks left (grouped layers)
    const Xbyak::Reg64 reg_x_block = rdx; // bytes between input blocks

    int accumulators() const { return d_.ur * d_.n_oc; }
    Vmm vmm_acc(int j, int v) const {
        assert(j >= 0 && j < d_.ur && v >= 0 && v < d_.n_oc);
        return Vmm(j * d_.n_oc + v);
    }
    // Two weight registers used in turn, so a weight load does not wait for the FMAs of the
    // previous one to issue.
    Vmm vmm_wei(int i) const {
        assert(accumulators() + 2 <= T::registers);
        return Vmm(accumulators() + (i & 1));
    }
    // Broadcast inputs: two registers used in turn; the permutation index after the
    // epilogue's temporaries (depthwise_tile_fits).
    Vmm vmm_input(int i) const {
        assert(accumulators() + 4 <= T::registers);
        return Vmm(accumulators() + 2 + (i & 1));
    }
    Vmm vmm_permutation() const { return Vmm(T::registers - 1); }
    bool broadcast() const { return d_.lane_groups > 0; }
    // Lanes in (output of the group, group) order, unless a vector holds one group.
    bool permuted() const { return broadcast() && d_.lane_groups > 1 && d_.lane_groups < T::vlen; }
    // Floats between the input of consecutive channel vectors of a pixel.
    int x_vector() const { return broadcast() ? d_.lane_groups : T::vlen; }
    // lane_groups floats from addr into every lane_groups lanes of v.
    void load_broadcast(const Vmm& v, const Xbyak::Address& addr) {
        switch (d_.lane_groups) {
            case 1: vbroadcastss(v, addr); break;
            case 2: vbroadcastsd(v, addr); break;
            case 4:
                if constexpr (T::vlen == 16) vbroadcastf32x4(v, addr);
                else vbroadcastf128(v, addr);
                break;
            case 8:
                if constexpr (T::vlen == 16) vbroadcastf64x4(v, addr);
                else vmovups(v, addr);
                break;
            default: vmovups(v, addr);
        }
    }
    // Epilogue scratch (the weight registers are free by then).
    Vmm vmm_tmp(int i) const {
        assert(i >= 0 && accumulators() + i < T::registers);
        return Vmm(accumulators() + i);
    }
    int64_t step_weight_bytes() const { return int64_t(d_.taps_total()) * d_.n_oc * T::vlen * 4; }
    bool tail_masked() const { return d_.oc_tail != T::vlen; }
    int out_bytes() const { return d_.out == DType::bf16 ? 2 : 4; }

    // Reads reg_args; writes reg_x, reg_w, reg_y, reg_bias, reg_blocks and (AVX-512 tail) k1.
    void load_args() {
        mov(reg_x, ptr[reg_args + offsetof(KernelArgs, x)]);
        mov(reg_w, ptr[reg_args + offsetof(KernelArgs, w)]);
        mov(reg_y, ptr[reg_args + offsetof(KernelArgs, y)]);
        mov(reg_bias, ptr[reg_args + offsetof(KernelArgs, bias)]);
        mov(reg_blocks, ptr[reg_args + offsetof(KernelArgs, blocks)]);
        if constexpr (T::opmask) {
            if (tail_masked()) {
                mov(reg_tmp.cvt32(), (1u << d_.oc_tail) - 1);
                kmovw(k1, reg_tmp.cvt32());
            }
        }
    }

    // Writes every accumulator.
    void zero_accumulators() {
        for (int j = 0; j < d_.ur; ++j)
            for (int v = 0; v < d_.n_oc; ++v) math_.vzero(vmm_acc(j, v));
    }

    // Every tap and vector, unrolled: one weight load from reg_w ([tap][n_oc * vlen]), then ur
    // FMAs reading the input at reg_x shifted back by the tap's offset. Reads reg_x, reg_w;
    // clobbers the weight registers.
    void accumulate_taps() {
        int tap = 0;
        for (int td = 0; td < d_.taps[0]; ++td)
            for (int th = 0; th < d_.taps[1]; ++th)
                for (int tw = 0; tw < d_.taps[2]; ++tw, ++tap) {
                    const int64_t cd = d_.c0[0] + td * d_.cstep[0];
                    const int64_t ch = d_.c0[1] + th * d_.cstep[1];
                    const int64_t cw = d_.c0[2] + tw * d_.cstep[2];
                    const int64_t shift =
                        -(cd * d_.x_stride[0] + ch * d_.x_stride[1] + cw * d_.x_stride[2]);
                    for (int v = 0; v < d_.n_oc; ++v) {
                        const Vmm w = vmm_wei(tap * d_.n_oc + v);
                        vmovups(w, ptr[reg_w + (tap * d_.n_oc + v) * T::vlen * 4]);
                        for (int j = 0; j < d_.ur; ++j) {
                            const auto x = ptr[reg_x + int((shift + j * d_.x_stride[2] +
                                                            v * x_vector()) * 4)];
                            if (!broadcast()) {
                                vfmadd231ps(vmm_acc(j, v), w, x);
                                continue;
                            }
                            const Vmm in = vmm_input(j);
                            load_broadcast(in, x);
                            vfmadd231ps(vmm_acc(j, v), w, in);
                        }
                    }
                }
    }

    // Bias, activation and the store of the tile. Reads reg_bias, reg_y; clobbers the temps.
    void epilogue() {
        const int act_temps = VectorMath<T>::activation_temps(d_.activation);
        for (int j = 0; j < d_.ur; ++j)
            for (int v = 0; v < d_.n_oc; ++v) {
                const Vmm acc = vmm_acc(j, v);
                if (permuted()) vpermps(acc, vmm_permutation(), acc);  // into channel order
                if (d_.bias) vaddps(acc, acc, ptr[reg_bias + v * T::vlen * 4]);
                math_.activation(acc, [this](int i) { return vmm_tmp(i); });
                const int at = int((j * d_.y_pix + v * T::vlen) * out_bytes());
                const bool masked = tail_masked() && v == d_.n_oc - 1;
                math_.store(d_.out, reg_y, at, acc, masked ? d_.oc_tail : T::vlen, vmm_tmp(0),
                            vmm_tmp(1), vmm_tmp(act_temps));
            }
    }
};

size_t code_bound(const DwKernelDesc& d) {
    const size_t instructions =
        size_t(d.taps_total() * d.n_oc) * size_t(1 + 2 * d.ur) + size_t(d.ur * d.n_oc) * 64 + 64;
    return instructions * 12 + size_t(Const::count) * 64 + 4096 + 128;
}

}  // namespace

// The in-place variant (dw_row_kernel.cpp).
template <class T>
std::unique_ptr<Xbyak::CodeGenerator> emit_depthwise_rows(const DwKernelDesc& d);

template <class T>
std::unique_ptr<Xbyak::CodeGenerator> emit_depthwise(const DwKernelDesc& d) {
    if (d.in_place) return emit_depthwise_rows<T>(d);
    auto g = std::make_unique<DwGenerator<T>>(d, code_bound(d));
    g->generate();
    return g;
}

template std::unique_ptr<Xbyak::CodeGenerator> emit_depthwise<Avx512Traits>(const DwKernelDesc&);
template std::unique_ptr<Xbyak::CodeGenerator> emit_depthwise<Avx2Traits>(const DwKernelDesc&);

}  // namespace tconv::gen
