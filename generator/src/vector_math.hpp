// SPDX-License-Identifier: Apache-2.0
// Epilogue math shared by every kernel: activations (relu, leaky_relu, sigmoid, tanh with a
// vectorised exp) and the constant table they read, emitted after a kernel's code.
#pragma once

#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <stdexcept>

#include "isa_traits.hpp"
#include "plan_util.hpp"
#include "tconv/gen/plan.hpp"
#include "tconv/gen/tanh_fit.hpp"

namespace tconv::gen {

// Constants, each stored as one full vector so any instruction can take it as a memory operand.
enum class Const {
    zero, one, two, abs_mask, sign_mask,
    exp_hi, exp_lo, log2e, ln2_hi, ln2_lo,
    exp_c6, exp_c5, exp_c4, exp_c3, exp_c2,
    exp_bias, exp_overflow,
    tanh_max, tanh_min, tanh_p1, tanh_p2, tanh_p3, tanh_p4, tanh_p5, tanh_p6,
    tanh_q1, tanh_q2, tanh_q3,
    slope, tail_mask,
    u32_one, bf16_round, nan_quiet, hi_words,
    count
};

template <class T>
class VectorMath {
    using Vmm = typename T::Vmm;

  public:
    // `oc_tail`: lanes of Const::tail_mask set (kernels that never store a tail pass 0).
    VectorMath(Xbyak::CodeGenerator& g, Activation activation, float negative_slope, int oc_tail)
        : g_(g), activation_(activation), negative_slope_(negative_slope), oc_tail_(oc_tail) {
        slots_.fill(-1);
    }

    // Vector registers activation() needs besides its operand (the planner budgets the same).
    static int activation_temps(Activation a) { return detail::activation_temps(a); }
    // The opmask activation() overwrites (AVX-512), 0 when none: k3 for the compares of relu,
    // leaky_relu and sigmoid.
    static int clobbered_opmask(Activation a) {
        if (!T::opmask || a == Activation::none || a == Activation::tanh) return 0;
        return 3;
    }

    // A constant's slot in the table is given at its first use: the table holds only the
    // constants the kernel reads (none for most), which keeps emission short.
    Xbyak::Address constant(Const c) {
        int& slot = slots_[size_t(c)];
        if (slot < 0) {
            slot = used_;
            order_[size_t(used_++)] = c;
        }
        return g_.ptr[g_.rip + label_ + slot * T::vlen * 4];
    }

    void vzero(const Vmm& v) {
        if constexpr (T::isa == Isa::avx512) g_.vpxord(v, v, v);
        else g_.vxorps(v, v, v);
    }

    // a = activation(a); clobbers tmp(0 .. activation_temps - 1).
    template <class TempFn>
    void activation(const Vmm& a, TempFn tmp) {
        switch (activation_) {
            case Activation::none: break;
            // As PyTorch: NaN stays NaN through every activation (vmaxps and vminps would
            // return their second operand instead), infinities map to their limits.
            case Activation::relu: {
                // a <= 0 (ordered: not NaN) -> +0.
                const Vmm t = tmp(0);
                if constexpr (T::opmask) {
                    g_.vcmpps(g_.k3, a, constant(Const::zero), kLeOq);
                    g_.vpxord(a | g_.k3, a, a);
                } else {
                    g_.vcmpps(t, a, constant(Const::zero), kLeOq);
                    g_.vandnps(a, t, a);
                }
                break;
            }
            case Activation::leaky_relu: {
                // a > 0 ? a : a * slope, for any slope; NaN (not > 0) -> NaN * slope = NaN.
                const Vmm t = tmp(0), m = tmp(1);
                g_.vmulps(t, a, constant(Const::slope));
                if constexpr (T::opmask) {
                    g_.vcmpps(g_.k3, a, constant(Const::zero), kNgtUq);
                    g_.vmovaps(a | g_.k3, t);
                } else {
                    g_.vcmpps(m, a, constant(Const::zero), kNgtUq);
                    g_.vblendvps(a, a, t, m);
                }
                break;
            }
            case Activation::sigmoid: {
                // 1 / (1 + e^-a); where e^-a overflows (-a > ln FLT_MAX, -inf included) the
                // result is 0, as 1 / (1 + inf) is.
                const Vmm t0 = tmp(0), t1 = tmp(1), t2 = tmp(2), over = tmp(3);
                bit_xor(t0, a, constant(Const::sign_mask));  // -a
                if constexpr (T::opmask) g_.vcmpps(g_.k3, t0, constant(Const::exp_overflow), kGtOq);
                else g_.vcmpps(over, t0, constant(Const::exp_overflow), kGtOq);
                exp(t0, t1, t2);
                g_.vaddps(t0, t0, constant(Const::one));
                g_.vmovups(t1, constant(Const::one));
                g_.vdivps(a, t1, t0);  // a division, not rcp: keeps 1e-5 relative accuracy
                if constexpr (T::opmask) g_.vpxord(a | g_.k3, a, a);
                else g_.vandnps(a, over, a);
                break;
            }
            case Activation::tanh: tanh(a, tmp(0), tmp(1), tmp(2), tmp(3)); break;
        }
    }

    // v's bits rounded so that their top half is v's bf16: to nearest, ties to even, a NaN
    // kept a quiet NaN, as float_to_bf16 (tconv/bf16.hpp); the low half is left over.
    // Clobbers t0 and t1 (AVX2) or t0 and k2 (AVX-512).
    void round_bf16(const Vmm& v, const Vmm& t0, const Vmm& t1) {
        if constexpr (T::isa == Isa::avx2) {
            g_.vpsrld(t0, v, 16);
            g_.vpand(t0, t0, constant(Const::u32_one));
            g_.vpaddd(t0, t0, constant(Const::bf16_round));
            g_.vpaddd(t0, t0, v);                   // bits + 0x7fff + (bit 16)
            g_.vcmpps(t1, v, v, kUnordQ);           // NaN lanes
            g_.vpor(v, v, constant(Const::nan_quiet));
            g_.vblendvps(v, t0, v, t1);
        } else {
            (void)t1;
            g_.vpsrld(t0, v, 16);
            g_.vpandd(t0, t0, constant(Const::u32_one));
            g_.vpaddd(t0, t0, constant(Const::bf16_round));
            g_.vcmpps(g_.k2, v, v, kOrdQ);          // lanes that are numbers
            g_.vpaddd(v | g_.k2, v, t0);
            g_.knotw(g_.k2, g_.k2);
            g_.vpord(v | g_.k2, v, constant(Const::nan_quiet));
        }
    }

    // Two vectors rounded by round_bf16 merged into dwords of two bf16, lo's in the low words
    // and hi's in the high ones, in lo.
    void merge_bf16_words(const Vmm& lo, const Vmm& hi) {
        g_.vpsrld(lo, lo, 16);
        if constexpr (T::isa == Isa::avx2)
            g_.vpblendw(lo, hi, lo, 0x55);  // even words from lo
        else
            g_.vpternlogd(lo, hi, constant(Const::hi_words), 0xf8);  // lo | (hi & hi_words)
    }

    // AVX2: the first n <= 16 words of v at dst, in pieces of 8, 4, 2 and 1. Clobbers v.
    void store_words(const Xbyak::RegExp& dst, const Vmm& v, int n) {
        static_assert(T::isa == Isa::avx2);
        if (n == 2 * T::vlen) return g_.vmovdqu(g_.ptr[dst], v);
        const Xbyak::Xmm x(v.getIdx());
        int at = 0;
        if (n >= 8) {
            g_.vmovdqu(g_.ptr[dst], x);
            if (n == 8) return;
            g_.vextracti128(x, v, 1);
            at = 16;
        }
        if (n & 4) g_.vmovq(g_.ptr[dst + at], x), g_.vpsrldq(x, x, 8), at += 8;
        if (n & 2) g_.vmovd(g_.ptr[dst + at], x), g_.vpsrldq(x, x, 4), at += 4;
        if (n & 1) g_.vpextrw(g_.ptr[dst + at], x, 0);
    }

    // The first `lanes` of acc narrowed to bf16 at dst: rounded to nearest, ties to even, a NaN
    // kept a quiet NaN, bit for bit as float_to_bf16 (tconv/bf16.hpp). Clobbers acc, t0, t1.
    void store_bf16(const Xbyak::RegExp& dst, const Vmm& acc, const Vmm& t0, const Vmm& t1,
                    int lanes) {
        if constexpr (T::isa == Isa::avx2) {
            round_bf16(acc, t0, t1);
            g_.vpsrld(acc, acc, 16);
            g_.vpackusdw(acc, acc, acc);              // words 0-3 | 4-7 in each 128-bit half
            g_.vpermq(acc, acc, 0x08);                // both halves' low quadwords
            store_words(dst, acc, lanes);
        } else {  // AVX-512: the NaN lanes under k2, the narrowing store under k1 for a tail
            round_bf16(acc, t0, t1);
            g_.vpsrld(acc, acc, 16);
            if (lanes == T::vlen) g_.vpmovdw(g_.ptr[dst], acc);
            else g_.vpmovdw(g_.ptr[dst] | g_.k1, acc);
        }
    }

    // A vector of outputs at base + at, as `out` says: floats (a last vector of `lanes` < vlen
    // under AVX-512's k1, or in AVX2 pieces) or bf16. Clobbers acc, and t0 and t1 (bf16) or
    // tmp (an AVX2 tail of floats).
    void store(DType out, const Xbyak::Reg64& base, int at, const Vmm& acc, int lanes,
               const Vmm& t0, const Vmm& t1, const Vmm& tmp) {
        if (out == DType::bf16) return store_bf16(base + at, acc, t0, t1, lanes);
        const auto dst = g_.ptr[base + at];
        if (lanes == T::vlen) {
            g_.vmovups(dst, acc);
        } else if constexpr (T::opmask) {
            g_.vmovups(dst | g_.k1, acc);
        } else {
            store_lanes(base + at, acc, lanes, tmp);
        }
    }

    // AVX2: the first `lanes` < 8 floats of acc at dst in pieces of 4, 2 and 1 (at most five
    // instructions): vmaskmovps to memory costs about 11 cycles on Zen 3, seven plain stores'
    // worth, once per pixel of a channels-last output with a channel tail. Clobbers acc, tmp.
    void store_lanes(const Xbyak::RegExp& dst, const Vmm& acc, int lanes, const Vmm& tmp) {
        static_assert(T::isa == Isa::avx2);
        Xbyak::Xmm x(acc.getIdx());
        int at = 0;
        if (lanes & 4) {
            g_.vmovups(g_.ptr[dst], x);
            at += 16;
            if (lanes & 3) {
                g_.vextractf128(Xbyak::Xmm(tmp.getIdx()), acc, 1);
                x = Xbyak::Xmm(tmp.getIdx());
            }
        }
        if (lanes & 2) {
            g_.vmovlps(g_.ptr[dst + at], x);
            at += 8;
            if (lanes & 1) g_.vmovhlps(x, x, x);
        }
        if (lanes & 1) g_.vmovss(g_.ptr[dst + at], x);
    }

    // The table of the constants used, after the kernel's code.
    void emit_constants() {
        if (used_ == 0) return;
        g_.align(64);
        g_.L(label_);
        auto put = [this](uint32_t bits) {
            for (int i = 0; i < T::vlen; ++i) g_.dd(bits);
        };
        auto putf = [&put](float f) { put(std::bit_cast<uint32_t>(f)); };
        for (int i = 0; i < used_; ++i) {
            switch (order_[size_t(i)]) {
                case Const::zero: putf(0.0f); break;
                case Const::one: putf(1.0f); break;
                case Const::two: putf(2.0f); break;
                case Const::abs_mask: put(0x7fffffffu); break;
                case Const::sign_mask: put(0x80000000u); break;
                case Const::exp_hi: putf(88.0f); break;     // 2^n stays finite: n <= 127
                case Const::exp_lo: putf(-87.3f); break;    // and normal: n >= -126
                case Const::log2e: putf(1.44269504f); break;
                case Const::ln2_hi: putf(0.693359375f); break;  // exact in 9 bits: n*ln2_hi exact
                case Const::ln2_lo: putf(-2.12194440e-4f); break;
                case Const::exp_c6: putf(1.0f / 720); break;  // Taylor: |r| <= ln2/2, err < 2e-7
                case Const::exp_c5: putf(1.0f / 120); break;
                case Const::exp_c4: putf(1.0f / 24); break;
                case Const::exp_c3: putf(1.0f / 6); break;
                case Const::exp_c2: putf(0.5f); break;
                case Const::exp_bias: put(127u); break;
                case Const::exp_overflow: putf(88.7228394f); break;  // ln(FLT_MAX)
                case Const::tanh_max: putf(kTanhClamp); break;
                case Const::tanh_min: putf(-kTanhClamp); break;
                case Const::tanh_p1: putf(kTanhP[1]); break;
                case Const::tanh_p2: putf(kTanhP[2]); break;
                case Const::tanh_p3: putf(kTanhP[3]); break;
                case Const::tanh_p4: putf(kTanhP[4]); break;
                case Const::tanh_p5: putf(kTanhP[5]); break;
                case Const::tanh_p6: putf(kTanhP[6]); break;
                case Const::tanh_q1: putf(kTanhQ[1]); break;
                case Const::tanh_q2: putf(kTanhQ[2]); break;
                case Const::tanh_q3: putf(kTanhQ[3]); break;
                case Const::slope: putf(negative_slope_); break;
                case Const::tail_mask:
                    for (int i = 0; i < T::vlen; ++i) g_.dd(i < oc_tail_ ? 0xffffffffu : 0u);
                    break;
                case Const::u32_one: put(1u); break;
                case Const::bf16_round: put(0x7fffu); break;
                case Const::nan_quiet: put(0x00400000u); break;
                case Const::hi_words: put(0xffff0000u); break;
                case Const::count: break;
            }
        }
    }

  private:
    Xbyak::CodeGenerator& g_;
    const Activation activation_;
    const float negative_slope_;
    const int oc_tail_;
    Xbyak::Label label_;
    std::array<int, size_t(Const::count)> slots_;  // table slot per constant; -1: unused
    std::array<Const, size_t(Const::count)> order_{};  // the constants used, by slot
    int used_ = 0;

    void bit_and(const Vmm& d, const Vmm& a, const Xbyak::Address& b) {
        if constexpr (T::isa == Isa::avx512) g_.vpandd(d, a, b);
        else g_.vandps(d, a, b);
    }
    void bit_or(const Vmm& d, const Vmm& a, const Vmm& b) {
        if constexpr (T::isa == Isa::avx512) g_.vpord(d, a, b);
        else g_.vorps(d, a, b);
    }
    void bit_xor(const Vmm& d, const Vmm& a, const Xbyak::Address& b) {
        if constexpr (T::isa == Isa::avx512) g_.vpxord(d, a, b);
        else g_.vxorps(d, a, b);
    }

    // vcmpps predicates: quiet (no exception on NaN); NGT_UQ is true for NaN.
    static constexpr uint8_t kLeOq = 0x12, kNgtUq = 0x1a, kGtOq = 0x1e, kUnordQ = 0x03,
                             kOrdQ = 0x07;

    // x = e^x: x = n ln2 + r, e^x = 2^n * p(r). Clobbers s1, s2. The clamps keep NaN (the
    // operand order makes vminps/vmaxps return x when it is NaN), so e^NaN = NaN.
    void exp(const Vmm& x, const Vmm& s1, const Vmm& s2) {
        g_.vmovups(s1, constant(Const::exp_hi));
        g_.vminps(x, s1, x);
        g_.vmovups(s1, constant(Const::exp_lo));
        g_.vmaxps(x, s1, x);
        g_.vmulps(s1, x, constant(Const::log2e));
        if constexpr (T::isa == Isa::avx512) g_.vrndscaleps(s1, s1, 0);  // nearest
        else g_.vroundps(s1, s1, 0);
        g_.vfnmadd231ps(x, s1, constant(Const::ln2_hi));
        g_.vfnmadd231ps(x, s1, constant(Const::ln2_lo));
        horner(s2, x, {Const::exp_c6, Const::exp_c5, Const::exp_c4, Const::exp_c3, Const::exp_c2,
                       Const::one, Const::one});
        g_.vcvtps2dq(s1, s1);
        g_.vpaddd(s1, s1, constant(Const::exp_bias));
        g_.vpslld(s1, s1, 23);
        g_.vmulps(x, s2, s1);
    }

    // a = tanh(a) = a P(a^2) / Q(a^2), a clamped to [-9, 9] (tconv/gen/tanh_fit.hpp). One
    // formula for every input: tiny and subnormal a give a exactly, -0 stays -0, the clamps
    // keep NaN (vminps and vmaxps return their second operand, a, when it is NaN) and send
    // +-inf to +-1. It runs half the instructions of 1 - 2 / (e^{2|a|} + 1) beside a
    // small-|a| polynomial, whose cost outgrew the products on layers with short reductions.
    // Clobbers t0, t1, t2.
    void tanh(const Vmm& a, const Vmm& t0, const Vmm& t1, const Vmm& t2, const Vmm&) {
        g_.vmovups(t0, constant(Const::tanh_max));
        g_.vminps(a, t0, a);
        g_.vmovups(t0, constant(Const::tanh_min));
        g_.vmaxps(a, t0, a);
        g_.vmulps(t1, a, a);
        horner(t2, t1, {Const::tanh_p6, Const::tanh_p5, Const::tanh_p4, Const::tanh_p3,
                        Const::tanh_p2, Const::tanh_p1, Const::one});
        g_.vmulps(t2, t2, a);
        horner(t0, t1, {Const::tanh_q3, Const::tanh_q2, Const::tanh_q1, Const::one});
        g_.vdivps(a, t2, t0);
    }

    // p = the polynomial with coefficients c (highest degree first) at x, by Horner's rule.
    void horner(const Vmm& p, const Vmm& x, std::initializer_list<Const> c) {
        auto it = c.begin();
        g_.vmovups(p, constant(*it));
        for (++it; it != c.end(); ++it) g_.vfmadd213ps(p, x, constant(*it));
    }
};

}  // namespace tconv::gen
