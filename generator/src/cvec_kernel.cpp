// SPDX-License-Identifier: Apache-2.0
// The channel-vectorised kernel (docs/ALGORITHM.md §4): a register tile of ur outputs along W x
// n_oc vectors of output channels for one stride phase; a run-time loop over input channels, the
// phase's taps unrolled with their input offsets as immediates (the next channel block's comes at
// run time); bias, activation and a masked channel-tail store in the epilogue. One generator for AVX-512 and AVX2.
#include <algorithm>
#include <cassert>
#include <cstddef>
#include <stdexcept>

#include "isa_traits.hpp"
#include "tconv/gen/kernel.hpp"
#include "emitters.hpp"
#include "vector_math.hpp"

namespace tconv::gen {

namespace {

template <class T>
class CvecGenerator : public Xbyak::CodeGenerator {
    using Vmm = typename T::Vmm;

  public:
    CvecGenerator(const ChannelKernelDesc& d, size_t max_bytes)
        : Xbyak::CodeGenerator(max_bytes, Xbyak::DontSetProtectRWE), d_(d), math_(*this, d.activation, d.negative_slope, d.oc_tail) {}

    void generate() {
        if (d_.ic_blocks > 1) push(reg_xnext);
        load_args();
        Xbyak::Label l_tile, l_done;
        // Partial sums without taps: nothing to add; the finishing call writes bias alone.
        const bool bias_only = d_.taps_total() == 0;
        if (d_.partial && bias_only) {
            test(byte[reg_args + offsetof(KernelArgs, sums)], 2);
            jz(l_done, T_NEAR);
        }
        L(l_tile);
        if (d_.partial && !bias_only)
            start_partial();
        else
            zero_accumulators();
        if (!bias_only) accumulate_taps();
        if (d_.partial && !bias_only)
            finish_partial();
        else
            finish();
        add(reg_x, int(d_.ur * d_.x_stride[2] * 4));
        add(reg_y, int(d_.ur * d_.y_pix * out_bytes()));
        dec(reg_blocks);
        jnz(l_tile, T_NEAR);
        L(l_done);
        if (d_.ic_blocks > 1) pop(reg_xnext);
        if (d_.stream) sfence();  // the streamed lines are visible before the call returns
        vzeroupper();
        ret();
        math_.emit_constants();
    }

  private:
    const ChannelKernelDesc& d_;
    VectorMath<T> math_;
    // General registers: caller-saved but for reg_xnext.
    const Xbyak::Reg64 reg_args = rdi;    // const KernelArgs*
    const Xbyak::Reg64 reg_x = rsi;       // input at the current tile's first output
    const Xbyak::Reg64 reg_xi = rdx;      // input at the current input channel
    const Xbyak::Reg64 reg_w = rcx;       // packed weights at the current input channel
    const Xbyak::Reg64 reg_y = r8;        // output of the current tile
    const Xbyak::Reg64 reg_bias = r9;     // packed bias of the oc block
    const Xbyak::Reg64 reg_ic = r10;      // input channels left in the block
    const Xbyak::Reg64 reg_blocks = r11;  // tiles left
    const Xbyak::Reg64 reg_icb = rax;     // input-channel blocks left
    // Bytes between input-channel blocks (KernelArgs::x_next), held in a register so that the
    // run-time stride costs what an immediate did: callee-saved, pushed when used.
    const Xbyak::Reg64 reg_xnext = rbx;

    int accumulators() const { return d_.ur * d_.n_oc; }
    Vmm vmm_acc(int j, int v) const {
        assert(j >= 0 && j < d_.ur && v >= 0 && v < d_.n_oc);
        return Vmm(j * d_.n_oc + v);
    }
    Vmm vmm_wei(int v) const {
        assert(v >= 0 && v < d_.n_oc && accumulators() + v < T::registers);
        return Vmm(accumulators() + v);
    }
    Vmm vmm_bcast() const {
        assert(!embedded_broadcast() && accumulators() + d_.n_oc < T::registers);
        return Vmm(accumulators() + d_.n_oc);
    }
    // Epilogue scratch (the weight and broadcast registers are free by then).
    Vmm vmm_tmp(int i) const {
        assert(i >= 0 && accumulators() + i < T::registers);
        return Vmm(accumulators() + i);
    }
    bool tail_masked() const { return d_.oc_tail != T::vlen; }
    int out_bytes() const { return d_.out == DType::bf16 ? 2 : 4; }

    // Reads reg_args; writes reg_x, reg_y, reg_bias, reg_blocks and (AVX-512 tail) k1.
    void load_args() {
        mov(reg_x, ptr[reg_args + offsetof(KernelArgs, x)]);
        mov(reg_y, ptr[reg_args + offsetof(KernelArgs, y)]);
        mov(reg_bias, ptr[reg_args + offsetof(KernelArgs, bias)]);
        mov(reg_blocks, ptr[reg_args + offsetof(KernelArgs, blocks)]);
        if (d_.ic_blocks > 1) mov(reg_xnext, ptr[reg_args + offsetof(KernelArgs, x_next)]);
        if constexpr (T::opmask) {
            if (tail_masked()) {  // reg_icb is free until the tile loop: scratch here
                mov(reg_icb.cvt32(), (1u << d_.oc_tail) - 1);
                kmovw(k1, reg_icb.cvt32());
            }
        }
    }

    // Writes every accumulator.
    void zero_accumulators() {
        for (int j = 0; j < d_.ur; ++j)
            for (int v = 0; v < d_.n_oc; ++v) math_.vzero(vmm_acc(j, v));
    }

    // Partial sums (KernelArgs::sums bit 0): the tile's sums so far from y, else zeros.
    // Clobbers vmm_tmp(0) (AVX2 tail mask) and the flags.
    void start_partial() {
        Xbyak::Label l_zero, l_go;
        test(byte[reg_args + offsetof(KernelArgs, sums)], 1);
        jz(l_zero, T_NEAR);
        if constexpr (!T::opmask)
            if (tail_masked()) vmovups(vmm_tmp(0), math_.constant(Const::tail_mask));
        for (int j = 0; j < d_.ur; ++j)
            for (int v = 0; v < d_.n_oc; ++v) {
                const auto at = ptr[reg_y + int((j * d_.y_pix + v * T::vlen) * 4)];
                if (!tail_masked() || v != d_.n_oc - 1) {
                    vmovups(vmm_acc(j, v), at);
                } else if constexpr (T::opmask) {
                    vmovups(vmm_acc(j, v) | k1 | T_z, at);
                } else {
                    vmaskmovps(vmm_acc(j, v), vmm_tmp(0), at);
                }
            }
        jmp(l_go, T_NEAR);
        L(l_zero);
        zero_accumulators();
        L(l_go);
    }

    // Partial sums (bit 1): finished by the epilogue, else stored as fp32 sums.
    void finish_partial() {
        Xbyak::Label l_raw, l_end;
        test(byte[reg_args + offsetof(KernelArgs, sums)], 2);
        jz(l_raw, T_NEAR);
        finish();
        jmp(l_end, T_NEAR);
        L(l_raw);
        for (int j = 0; j < d_.ur; ++j)
            for (int v = 0; v < d_.n_oc; ++v) {
                const bool masked = tail_masked() && v == d_.n_oc - 1;
                math_.store(DType::f32, reg_y, int((j * d_.y_pix + v * T::vlen) * 4),
                            vmm_acc(j, v), masked ? d_.oc_tail : T::vlen, vmm_tmp(0), vmm_tmp(1),
                            vmm_tmp(0));
            }
        L(l_end);
    }

    // The input-channel loops (blocks, then channels in a block) with every tap unrolled
    // inside. Reads reg_x, reg_args; clobbers reg_xi, reg_w, reg_ic, reg_icb, the weight and
    // broadcast registers; updates the accumulators.
    void accumulate_taps() {
        mov(reg_w, ptr[reg_args + offsetof(KernelArgs, w)]);
        mov(reg_xi, reg_x);
        mov(reg_icb, d_.ic_blocks);
        Xbyak::Label l_icb, l_ic;
        L(l_icb);
        const bool looped = d_.ic_unroll < d_.ic_block;
        if (looped) mov(reg_ic, d_.ic_block / d_.ic_unroll);
        L(l_ic);
        for (int u = 0; u < d_.ic_unroll; ++u) {
            for (int td = d_.tap0[0]; td < d_.tap0[0] + d_.taps[0]; ++td)
                for (int th = d_.tap0[1]; th < d_.tap0[1] + d_.taps[1]; ++th) {
                    if (d_.shared_bcast) {
                        fma_w_taps(u, td, th);
                        continue;
                    }
                    for (int tw = d_.tap0[2]; tw < d_.tap0[2] + d_.taps[2]; ++tw) {
                        // i = m - c per dim: the tap reads the tile's input shifted back by c.
                        const int64_t cd = d_.c0[0] + td * d_.cstep[0];
                        const int64_t ch = d_.c0[1] + th * d_.cstep[1];
                        const int64_t cw = d_.c0[2] + tw * d_.cstep[2];
                        const int64_t shift =
                            -(cd * d_.x_stride[0] + ch * d_.x_stride[1] + cw * d_.x_stride[2]);
                        // The packed weights hold every tap of the phase.
                        const int tap = (td * d_.w_taps[1] + th) * d_.w_taps[2] + tw;
                        fma_tap(u * d_.w_taps_total() + tap, shift + u);
                    }
                }
        }
        const int64_t w_step = d_.ic_unroll * d_.w_taps_total() * d_.n_oc * T::vlen * 4;
        add(reg_w, int(w_step));
        if (looped) {
            add(reg_xi, int(d_.ic_unroll * 4));
            dec(reg_ic);
            jnz(l_ic, T_NEAR);
        }
        // The next block: its stride follows the input's extents, so it comes at run time.
        if (d_.ic_blocks > 1) {
            if (looped) sub(reg_xi, int(d_.ic_block * 4));
            add(reg_xi, reg_xnext);
        }
        dec(reg_icb);
        jnz(l_icb, T_NEAR);
    }

    // With one weight vector, AVX-512 FMAs take the input as an embedded {1to16} broadcast:
    // no broadcast register, and no shuffle uop where vbroadcastss costs one (AMD Zen 4).
    bool embedded_broadcast() const { return T::isa == Isa::avx512 && d_.n_oc == 1; }

    // One (input channel, tap): n_oc weight loads (weight vector `wv` from reg_w), ur
    // broadcasts (input `shift` floats from reg_xi), ur*n_oc FMAs.
    void fma_tap(int64_t wv, int64_t shift) {
        for (int v = 0; v < d_.n_oc; ++v) {
            const int at = int((wv * d_.n_oc + v) * T::vlen * 4);
            if (d_.w_prefetch > 0 && at % 64 == 0) prefetcht0(ptr[reg_w + at + d_.w_prefetch]);
            vmovups(vmm_wei(v), ptr[reg_w + at]);
        }
        for (int j = 0; j < d_.ur; ++j) {
            const int64_t off = (shift + j * d_.x_stride[2]) * 4;
            if (embedded_broadcast()) {
                vfmadd231ps(vmm_acc(j, 0), vmm_wei(0), ptr_b[reg_xi + int(off)]);
                continue;
            }
            vbroadcastss(vmm_bcast(), ptr[reg_xi + int(off)]);
            for (int v = 0; v < d_.n_oc; ++v) vfmadd231ps(vmm_acc(j, v), vmm_wei(v), vmm_bcast());
        }
    }

    // The epilogue; streamed (non-temporal) when the descriptor asks and this tile's y is
    // 64-byte aligned. y_pix keeps whole lines, so the test holds for every vector of the tile.
    void finish() {
        if (!d_.stream) return epilogue(false);
        Xbyak::Label l_plain, l_end;
        test(reg_y.cvt8(), 63);
        jnz(l_plain, T_NEAR);
        epilogue(true);
        jmp(l_end, T_NEAR);
        L(l_plain);
        epilogue(false);
        L(l_end);
    }

    // Every W tap of (channel u, taps td, th) with shared broadcasts (shared_bcast): the taps'
    // weights, then per input pixel q one broadcast and an FMA for each tap that reads it,
    // output j = q + c_w(tw). Pixels go from the last to the first, so that each accumulator
    // still takes its taps in order (the sums match the unshared kernel's bit for bit).
    void fma_w_taps(int u, int td, int th) {
        const int nt = d_.taps[2], tw0 = d_.tap0[2];
        for (int t = 0; t < nt; ++t) {
            const int tap = (td * d_.w_taps[1] + th) * d_.w_taps[2] + tw0 + t;
            for (int v = 0; v < d_.n_oc; ++v) {
                const int at = int(((u * d_.w_taps_total() + tap) * d_.n_oc + v) * T::vlen * 4);
                if (d_.w_prefetch > 0 && at % 64 == 0)
                    prefetcht0(ptr[reg_w + at + d_.w_prefetch]);
                vmovups(vmm_wtap(t, v), ptr[reg_w + at]);
            }
        }
        const int64_t cd = d_.c0[0] + td * d_.cstep[0], ch = d_.c0[1] + th * d_.cstep[1];
        const int64_t base = -(cd * d_.x_stride[0] + ch * d_.x_stride[1]) + u;
        auto cw = [&](int t) { return d_.c0[2] + int64_t(tw0 + t) * d_.cstep[2]; };
        const int64_t q_lo = -std::max(cw(0), cw(nt - 1));
        const int64_t q_hi = d_.ur - 1 - std::min(cw(0), cw(nt - 1));
        for (int64_t q = q_hi; q >= q_lo; --q) {
            bool used = false;
            for (int t = 0; t < nt; ++t) used = used || (q + cw(t) >= 0 && q + cw(t) < d_.ur);
            if (!used) continue;
            vbroadcastss(vmm_shared_bcast(), ptr[reg_xi + int((base + q * d_.x_stride[2]) * 4)]);
            for (int t = 0; t < nt; ++t) {
                const int64_t j = q + cw(t);
                if (j < 0 || j >= d_.ur) continue;
                for (int v = 0; v < d_.n_oc; ++v)
                    vfmadd231ps(vmm_acc(int(j), v), vmm_wtap(t, v), vmm_shared_bcast());
            }
        }
    }
    Vmm vmm_wtap(int t, int v) const {
        assert(accumulators() + t * d_.n_oc + v < T::registers);
        return Vmm(accumulators() + t * d_.n_oc + v);
    }
    Vmm vmm_shared_bcast() const {
        assert(accumulators() + d_.taps[2] * d_.n_oc < T::registers);
        return Vmm(accumulators() + d_.taps[2] * d_.n_oc);
    }

    // Bias, activation and the store of the tile. Reads reg_bias, reg_y; clobbers the temps.
    void epilogue(bool stream) {
        const int act_temps = VectorMath<T>::activation_temps(d_.activation);
        for (int j = 0; j < d_.ur; ++j)
            for (int v = 0; v < d_.n_oc; ++v) {
                const Vmm acc = vmm_acc(j, v);
                if (d_.bias) vaddps(acc, acc, ptr[reg_bias + v * T::vlen * 4]);
                math_.activation(acc, [this](int i) { return vmm_tmp(i); });
                const int at = int((j * d_.y_pix + v * T::vlen) * out_bytes());
                const bool masked = tail_masked() && v == d_.n_oc - 1;
                if (stream && !masked && d_.out == DType::f32) {
                    vmovntps(ptr[reg_y + at], acc);
                    continue;
                }
                math_.store(d_.out, reg_y, at, acc, masked ? d_.oc_tail : T::vlen, vmm_tmp(0),
                            vmm_tmp(1), vmm_tmp(act_temps));
            }
    }
};

size_t code_bound(const ChannelKernelDesc& d) {
    const size_t per_tap = size_t(2 * d.n_oc + d.ur * (1 + d.n_oc));
    // The epilogue, and with partial sums the sums' loads and plain stores.
    const size_t epilogue = size_t(d.ur * d.n_oc) * (d.partial ? 96 : 64) * (d.stream ? 2 : 1);
    const size_t instructions = size_t(d.ic_unroll * d.taps_total()) * per_tap + epilogue + 64;
    return instructions * 12 + size_t(Const::count) * 64 + 4096;
}

}  // namespace

template <class T>
std::unique_ptr<Xbyak::CodeGenerator> emit_channel_vec(const ChannelKernelDesc& d) {
    auto g = std::make_unique<CvecGenerator<T>>(d, code_bound(d));
    g->generate();
    return g;
}

template std::unique_ptr<Xbyak::CodeGenerator> emit_channel_vec<Avx512Traits>(const ChannelKernelDesc&);
template std::unique_ptr<Xbyak::CodeGenerator> emit_channel_vec<Avx2Traits>(const ChannelKernelDesc&);

}  // namespace tconv::gen
