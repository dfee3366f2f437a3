// SPDX-License-Identifier: Apache-2.0
// The in-place depthwise kernel (channels_last, multiplier 1): lanes are channels, read straight
// from the user's pixels. A tile is ur consecutive m x every W phase, i.e. S_w * ur consecutive
// output pixels, stored in pixel order. Taps along D and H are run-time loops over the live
// input rows the driver passes (so the code does not depend on the input's extents); taps along
// W are unrolled with immediate offsets, and edge tiles leave out the taps and stores their
// bounds exclude (docs/ALGORITHM.md §4). One generator for AVX-512 and AVX2.
#include <algorithm>
#include <cassert>
#include <cstddef>

#include "emitters.hpp"
#include "isa_traits.hpp"
#include "tconv/gen/kernel.hpp"
#include "vector_math.hpp"

namespace tconv::gen {

namespace {

template <class T>
class DwRowGenerator : public Xbyak::CodeGenerator {
    using Vmm = typename T::Vmm;

  public:
    DwRowGenerator(const DwKernelDesc& d, size_t max_bytes)
        : Xbyak::CodeGenerator(max_bytes, Xbyak::DontSetProtectRWE),
          d_(d),
          math_(*this, d.activation, d.negative_slope, d.oc_tail) {}

    void generate() {
        push(rbx);
        push(r12);
        push(r13);
        load_args();
        if constexpr (T::opmask) {
            if (tail_masked()) {
                mov(eax, (1u << d_.oc_tail) - 1);
                kmovw(k1, eax);
            }
        }
        Xbyak::Label l_tile;
        L(l_tile);
        for (int a = 0; a < accumulators(); ++a) math_.vzero(Vmm(a));
        if (!T::opmask && tail_masked()) vmovups(vmm_mask(), math_.constant(Const::tail_mask));
        prefetch_outputs();
        if (any_tap()) accumulate_taps();
        epilogue();
        add(reg_x, int(d_.ur * pix_x() * 4));
        add(reg_y, int(phases() * d_.ur * d_.y_pix * 4));
        dec(reg_tiles);
        jnz(l_tile, T_NEAR);
        pop(r13);
        pop(r12);
        pop(rbx);
        vzeroupper();
        ret();
        math_.emit_constants();
    }

  private:
    const DwKernelDesc& d_;
    VectorMath<T> math_;
    const Xbyak::Reg64 reg_args = rdi;   // const DwRowArgs*
    const Xbyak::Reg64 reg_x = rsi;      // input: the tile's first m, first live D/H tap's row
    const Xbyak::Reg64 reg_w = rcx;      // weights of the first live D/H tap
    const Xbyak::Reg64 reg_y = r8;       // output: the tile's first pixel
    const Xbyak::Reg64 reg_bias = r9;
    const Xbyak::Reg64 reg_tiles = r11;
    const Xbyak::Reg64 reg_xh = rdx, reg_wh = r10, reg_ch = rax;  // H tap loop
    const Xbyak::Reg64 reg_xd = rbx, reg_wd = r12, reg_cd = r13;  // D tap loop

    int phases() const { return int(d_.w_phases.size()); }
    int64_t pix_x() const { return d_.x_stride[2]; }
    int accumulators() const { return phases() * d_.ur * d_.n_oc; }
    Vmm vmm_acc(int r, int j, int v) const { return Vmm((r * d_.ur + j) * d_.n_oc + v); }
    Vmm vmm_wei(int i) const {
        assert(accumulators() + 2 <= T::registers);
        return Vmm(accumulators() + (i & 1));
    }
    Vmm vmm_tmp(int i) const {
        assert(accumulators() + i < T::registers);
        return Vmm(accumulators() + i);
    }
    // A last vector of oc_tail < vlen channels: its input is loaded under a mask (k1, or the
    // AVX2 mask register), so no read passes the tensor's last pixel, and stored under it.
    bool tail_masked() const { return d_.oc_tail != T::vlen; }
    Vmm vmm_input() const { return Vmm(accumulators() + 2); }
    Vmm vmm_mask() const {
        assert(accumulators() + 4 <= T::registers);
        return Vmm(accumulators() + 3);
    }
    bool tap_live(int j, int64_t c) const { return j - c >= d_.x_lo && j - c <= d_.x_hi; }
    bool stored(int r, int j) const {
        const int64_t o = int64_t(phases()) * j + r;
        return o >= d_.o_lo && o <= d_.o_hi;
    }
    bool any_tap() const {
        for (const WPhaseTaps& t : d_.w_phases)
            if (t.count > 0) return true;
        return false;
    }
    int64_t w_taps() const {
        int64_t n = 0;
        for (const WPhaseTaps& t : d_.w_phases) n += t.count;
        return n;
    }

    void load_args() {
        mov(reg_x, ptr[reg_args + offsetof(DwRowArgs, k) + offsetof(KernelArgs, x)]);
        mov(reg_w, ptr[reg_args + offsetof(DwRowArgs, k) + offsetof(KernelArgs, w)]);
        mov(reg_y, ptr[reg_args + offsetof(DwRowArgs, k) + offsetof(KernelArgs, y)]);
        mov(reg_bias, ptr[reg_args + offsetof(DwRowArgs, k) + offsetof(KernelArgs, bias)]);
        mov(reg_tiles, ptr[reg_args + offsetof(DwRowArgs, k) + offsetof(KernelArgs, blocks)]);
    }

    // Live D taps x live H taps (run-time counts and steps), each running every W tap of every
    // phase, unrolled. Clobbers the loop registers and the weight registers.
    void accumulate_taps() {
        Xbyak::Label l_d, l_h, l_done;
        mov(reg_cd, ptr[reg_args + offsetof(DwRowArgs, taps_d)]);
        test(reg_cd, reg_cd);
        jz(l_done, T_NEAR);
        mov(reg_xd, reg_x);
        mov(reg_wd, reg_w);
        L(l_d);
        mov(reg_xh, reg_xd);
        mov(reg_wh, reg_wd);
        mov(reg_ch, ptr[reg_args + offsetof(DwRowArgs, taps_h)]);
        L(l_h);
        w_taps_body();
        add(reg_xh, ptr[reg_args + offsetof(DwRowArgs, x_step_h)]);
        add(reg_wh, int(w_taps() * d_.n_oc * T::vlen * 4));
        dec(reg_ch);
        jnz(l_h, T_NEAR);
        add(reg_xd, ptr[reg_args + offsetof(DwRowArgs, x_step_d)]);
        add(reg_wd, ptr[reg_args + offsetof(DwRowArgs, w_step_d)]);
        dec(reg_cd);
        jnz(l_d, T_NEAR);
        L(l_done);
    }

    // Weights of one (D, H) tap: [r_w][tw][n_oc * vlen]; per weight vector one load, then an
    // FMA per live output m of its phase, its input read at an immediate offset.
    void w_taps_body() {
        int wi = 0, loads = 0;
        for (int r = 0; r < phases(); ++r) {
            const WPhaseTaps& t = d_.w_phases[size_t(r)];
            for (int tw = 0; tw < t.count; ++tw, ++wi) {
                const int64_t c = t.c0 + tw * t.cstep;
                bool live = false;
                for (int j = 0; j < d_.ur; ++j) live = live || (tap_live(j, c) && stored(r, j));
                if (!live) continue;
                for (int v = 0; v < d_.n_oc; ++v) {
                    const Vmm w = vmm_wei(loads++);
                    vmovups(w, ptr[reg_wh + int((wi * d_.n_oc + v) * T::vlen * 4)]);
                    for (int j = 0; j < d_.ur; ++j) {
                        if (!tap_live(j, c) || !stored(r, j)) continue;
                        const auto src =
                            ptr[reg_xh + int(((j - c) * pix_x() + v * T::vlen) * 4)];
                        if (!tail_masked() || v < d_.n_oc - 1) {
                            vfmadd231ps(vmm_acc(r, j, v), w, src);
                            continue;
                        }
                        if constexpr (T::opmask)
                            vmovups(vmm_input() | k1 | T_z, src);
                        else
                            vmaskmovps(vmm_input(), vmm_mask(), src);
                        vfmadd231ps(vmm_acc(r, j, v), w, vmm_input());
                    }
                }
            }
        }
    }

    // The lines of the tile's pixels (every vector) whole tiles y_prefetch bytes ahead, for
    // writing. Past the row's end they are the next rows' lines, or none: prefetches never fault.
    void prefetch_outputs() {
        if (d_.y_prefetch <= 0) return;
        const int64_t tile = int64_t(phases()) * d_.ur * d_.y_pix * 4;
        const int64_t ahead = std::max<int64_t>(1, d_.y_prefetch / tile) * tile;
        const int lines = (d_.n_oc * T::vlen * 4 + 63) / 64;
        for (int o = 0; o < phases() * d_.ur; ++o)
            for (int l = 0; l < lines; ++l)
                prefetchw(ptr[reg_y + int(ahead + o * d_.y_pix * 4 + l * 64)]);
    }

    // Bias, activation and the stores, pixel after pixel. Clobbers the temps.
    void epilogue() {
        for (int j = 0; j < d_.ur; ++j)
            for (int r = 0; r < phases(); ++r) {
                if (!stored(r, j)) continue;
                for (int v = 0; v < d_.n_oc; ++v) {
                    const Vmm acc = vmm_acc(r, j, v);
                    if (d_.bias) vaddps(acc, acc, ptr[reg_bias + v * T::vlen * 4]);
                    math_.activation(acc, [this](int i) { return vmm_tmp(i); });
                    const auto dst =
                        ptr[reg_y + int(((phases() * j + r) * d_.y_pix + v * T::vlen) * 4)];
                    if (!tail_masked() || v < d_.n_oc - 1) {
                        vmovups(dst, acc);
                    } else if constexpr (T::opmask) {
                        vmovups(dst | k1, acc);
                    } else {
                        const int tmp = VectorMath<T>::activation_temps(d_.activation);
                        math_.store_lanes(reg_y + int(((phases() * j + r) * d_.y_pix +
                                                       v * T::vlen) * 4),
                                          acc, d_.oc_tail, vmm_tmp(tmp));
                    }
                }
            }
    }
};

size_t code_bound(const DwKernelDesc& d) {
    size_t w_taps = 0;
    for (const WPhaseTaps& t : d.w_phases) w_taps += size_t(t.count);
    const size_t instructions = w_taps * size_t(d.n_oc) * size_t(1 + d.ur) +
                                d.w_phases.size() * size_t(d.ur * d.n_oc) * 48 + 96 +
                                d.w_phases.size() * size_t(d.ur * (d.n_oc + 1));  // prefetches
    return instructions * 12 + size_t(Const::count) * 64 + 4096;
}

}  // namespace

template <class T>
std::unique_ptr<Xbyak::CodeGenerator> emit_depthwise_rows(const DwKernelDesc& d) {
    auto g = std::make_unique<DwRowGenerator<T>>(d, code_bound(d));
    g->generate();
    return g;
}

template std::unique_ptr<Xbyak::CodeGenerator> emit_depthwise_rows<Avx512Traits>(
    const DwKernelDesc&);
template std::unique_ptr<Xbyak::CodeGenerator> emit_depthwise_rows<Avx2Traits>(
    const DwKernelDesc&);

}  // namespace tconv::gen
