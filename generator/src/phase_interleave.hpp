// SPDX-License-Identifier: Apache-2.0
// Interleaving the W phases of a tile into contiguous outputs (docs/ALGORITHM.md §4), shared by
// the kernels whose lanes run along W (`svec`, `dwcf`).
#pragma once

#include <cassert>
#include <cstdint>

#include "isa_traits.hpp"

namespace tconv::gen {

// The vector registers of a kernel whose lanes run along W: the accumulators first, then the
// loop's ur input vectors and one broadcast weight, or the epilogue's temporaries.
template <class T>
struct WLaneRegisters {
    using Vmm = typename T::Vmm;
    int accumulators = 0, ur = 1;

    Vmm x(int j) const {
        assert(j < ur && accumulators + j < T::registers);
        return Vmm(accumulators + j);
    }
    Vmm wei() const {
        assert(accumulators + ur < T::registers);
        return Vmm(accumulators + ur);
    }
    Vmm tmp(int i) const {
        assert(accumulators + i < T::registers);
        return Vmm(accumulators + i);
    }
};

// A tile's outputs o = q*vlen + l (vector q < S, lane l) come from S phase accumulators: o is
// in phase (o + rot) mod S, at lane floor(o / S) of that phase's accumulator (the tile starts
// at an output whose phase is rot; the accumulator of phase r starts at the tile's first output
// of that phase).
template <class T>
class PhaseInterleave {
    using Vmm = typename T::Vmm;

  public:
    PhaseInterleave(Xbyak::CodeGenerator& g, int phases, int rot)
        : g_(g), phases_(phases), rot_(rot) {}

    // AVX-512 with S dividing vlen: every vector q has the same lanes in each phase, so the
    // phases' masks are set once per call (k3..k7, then k1 and k2) instead of before every
    // permute, where the GPR-to-opmask move would take the permutes' port. A kernel that
    // borrows k1 or k2 (row tail, tanh) sets it again with reload().
    // One fixed mask per phase but the first, in k1..k7: at most 8 phases (S_w = 16 ran into
    // opmask registers that do not exist: SIGILL).
    bool fixed_masks() const {
        return T::opmask && phases_ > 1 && phases_ <= 8 && T::vlen % phases_ == 0;
    }
    bool uses(int k) const {
        for (int i = 0; fixed_masks() && i < phases_ - 1; ++i)
            if (fixed_mask(i).getIdx() == k) return true;
        return false;
    }

    // Sets the fixed masks (when fixed_masks()); clobbers tmp.
    void load_masks(const Xbyak::Reg32& tmp) {
        if (!fixed_masks()) return;
        for (int r = 0, i = 0; r < phases_; ++r) {
            if (r == phase(0)) continue;
            g_.mov(tmp, lanes_of(0, r));
            g_.kmovw(fixed_mask(i++), tmp);
        }
    }
    // Sets opmask k again after the caller borrowed it (when uses(k)); clobbers tmp.
    void reload(int k, const Xbyak::Reg32& tmp) {
        for (int r = 0, i = 0; r < phases_ && uses(k); ++r) {
            if (r == phase(0)) continue;
            if (fixed_mask(i++).getIdx() != k) continue;
            g_.mov(tmp, lanes_of(0, r));
            g_.kmovw(Xbyak::Opmask(k), tmp);
        }
    }

    // out = output vector q from acc(r), r < S. Clobbers idx, part (AVX2) and, AVX-512 without
    // fixed masks, k2 and mask_reg.
    template <class AccFn>
    void emit(const Vmm& out, const Vmm& idx, const Vmm& part, const Xbyak::Reg32& mask_reg,
              int q, AccFn acc) {
        const int first = phase(q * T::vlen);
        g_.vmovups(idx, g_.ptr[g_.rip + table_ + q * T::vlen * 4]);
        g_.vpermps(out, idx, acc(first));
        for (int r = 0, i = 0; r < phases_; ++r) {
            const uint32_t mask = lanes_of(q, r);
            if (r == first || !mask) continue;
            if constexpr (T::opmask) {
                if (fixed_masks()) {
                    g_.vpermps(out | fixed_mask(i++), idx, acc(r));
                    continue;
                }
                g_.mov(mask_reg, mask);
                g_.kmovw(Xbyak::Opmask(2), mask_reg);
                g_.vpermps(out | Xbyak::Opmask(2), idx, acc(r));
            } else {
                g_.vpermps(part, idx, acc(r));
                g_.vblendps(out, out, part, uint8_t(mask));
            }
        }
    }

    // The permute indices, after the code: per vector q, lane l reads lane (q*vlen + l) / S.
    void emit_table() {
        g_.align(64);
        g_.L(table_);
        for (int q = 0; q < phases_; ++q)
            for (int l = 0; l < T::vlen; ++l) g_.dd(uint32_t((q * T::vlen + l) / phases_));
    }

  private:
    Xbyak::CodeGenerator& g_;
    const int phases_, rot_;
    Xbyak::Label table_;

    int phase(int o) const { return (o + rot_) % phases_; }
    uint32_t lanes_of(int q, int r) const {
        uint32_t mask = 0;
        for (int l = 0; l < T::vlen; ++l)
            if (phase(q * T::vlen + l) == r) mask |= 1u << l;
        return mask;
    }
    // The i-th fixed mask, in the order of the phases after the first.
    static Xbyak::Opmask fixed_mask(int i) { return Xbyak::Opmask(i < 5 ? 3 + i : i - 4); }
};

}  // namespace tconv::gen
