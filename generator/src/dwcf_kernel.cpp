// SPDX-License-Identifier: Apache-2.0
// The channels-first depthwise kernel (docs/ALGORITHM.md §4, `dwcf`): one channel's output rows,
// lanes along W. A row is computed in tiles of S_w * ur vectors: per W phase ur vectors of
// consecutive m, one input vector load per (tap, vector) shared by every phase reading that
// offset, FMAs with the channel's scalar weights broadcast; then the phases are interleaved in
// registers and stored straight into the output row (the row's last vector in part).
// Every offset is an immediate: the code is specialised to the row's tail after its full tiles,
// to the row pitch (none in 1D) and to the rows of a group (one per H phase), and loops over
// tiles (their count comes at run time) and groups of rows. On AVX512_BF16, bf16 layers sum
// their W taps in pairs with vdpbf16ps from a plane of word pairs (DwPlaneKernelDesc::tap_pairs).
#include <algorithm>
#include <cassert>
#include <cstddef>
#include <map>
#include <vector>

#include "emitters.hpp"
#include "phase_interleave.hpp"
#include "vector_math.hpp"

namespace tconv::gen {

namespace {

template <class T>
class DwcfGenerator : public Xbyak::CodeGenerator {
    using Vmm = typename T::Vmm;

  public:
    DwcfGenerator(const DwPlaneKernelDesc& d, size_t max_bytes)
        : Xbyak::CodeGenerator(max_bytes, Xbyak::DontSetProtectRWE),
          d_(d),
          math_(*this, d.activation, d.negative_slope, tail_lanes()),
          interleave_(*this, phases(), d.w_rot),
          pair_interleave_(*this, phases() / 2, 0) {}

    void generate() {
        load_args();
        const int64_t rest = d_.rest;
        const int ur_rest = int((rest + phases() * T::vlen - 1) / (phases() * T::vlen));
        Xbyak::Label l_group;
        L(l_group);
        for (size_t s = 0; s < d_.rows.size(); ++s) {
            mov(reg_xt, reg_x);
            lea(reg_yt, ptr[reg_y + int(int64_t(s) * d_.y_row * out_bytes())]);
            // Full tiles: as many as the row width (a run-time argument, kept on the stack).
            Xbyak::Label l_tile, l_rest;
            mov(reg_cnt, ptr[rsp]);
            test(reg_cnt, reg_cnt);
            jz(l_rest, T_NEAR);
            L(l_tile);
            tile_body(d_.rows[s], d_.ur, int(d_.ur * phases()), false);
            add(reg_xt, int(d_.ur * T::vlen * 4));
            add(reg_yt, int(phases() * d_.ur * T::vlen * out_bytes()));
            dec(reg_cnt);
            jnz(l_tile, T_NEAR);
            L(l_rest);
            if (rest > 0)
                tile_body(d_.rows[s], ur_rest, int((rest + T::vlen - 1) / T::vlen),
                          rest % T::vlen != 0);
        }
        add(reg_x, int(d_.x_stride[1] * 4));
        add(reg_y, int(int64_t(d_.rows.size()) * d_.y_row * out_bytes()));
        dec(reg_groups);
        jnz(l_group, T_NEAR);
        add(rsp, 8);  // the full tiles' count
        vzeroupper();
        ret();
        math_.emit_constants();
        if (word_pairs()) {
            if (phases() > 2) pair_interleave_.emit_table();
        } else {
            interleave_.emit_table();
        }
    }

  private:
    const DwPlaneKernelDesc& d_;
    VectorMath<T> math_;
    PhaseInterleave<T> interleave_;
    PhaseInterleave<T> pair_interleave_;  // S_w / 2 vectors of word pairs (word_pairs())
    // General registers: caller-saved only, so no prologue saves anything.
    const Xbyak::Reg64 reg_args = rdi;    // const KernelArgs*, until the arguments are loaded
    const Xbyak::Reg32 reg_mask = edi;    // then: opmask bits of the interleave
    const Xbyak::Reg64 reg_x = rsi;       // input at the current group's row k, m = 0
    const Xbyak::Reg64 reg_w = rcx;       // the channel's packed weights of this D phase
    const Xbyak::Reg64 reg_y = r8;        // output at the current group's first row
    const Xbyak::Reg64 reg_bias = r9;     // the channel's bias
    const Xbyak::Reg64 reg_groups = r11;  // groups of rows left
    const Xbyak::Reg64 reg_xt = rdx;      // input at the current tile's first m
    const Xbyak::Reg64 reg_yt = r10;      // output at the current tile's first output
    const Xbyak::Reg64 reg_cnt = rax;     // full tiles left in the row

    int phases() const { return int(d_.w_phases.size()); }
    int tail_lanes() const { return int(d_.rest % T::vlen); }
    int out_bytes() const { return d_.out == DType::bf16 ? 2 : 4; }
    // bf16 outputs of an even S_w: stored as dwords of two neighbouring outputs (word_pairs).
    bool word_pairs() const { return d_.out == DType::bf16 && phases() % 2 == 0; }
    // The interleave the epilogue runs (its opmasks are the ones set and lent, AVX-512).
    PhaseInterleave<T>& interleave() { return word_pairs() ? pair_interleave_ : interleave_; }
    Vmm vmm_acc(int r, int j) const {
        assert(r < phases() && j < d_.ur);
        return Vmm(r * d_.ur + j);
    }
    const WLaneRegisters<T> regs_{phases() * d_.ur, d_.ur};
    Vmm vmm_x(int j) const { return regs_.x(j); }
    Vmm vmm_wei() const { return regs_.wei(); }
    Vmm vmm_tmp(int i) const { return regs_.tmp(i); }

    // Reads reg_args; writes reg_x, reg_w, reg_y, reg_bias, reg_groups, (AVX-512) the row tail's
    // mask k1 and the interleave's masks; pushes the full tiles' count.
    void load_args() {
        mov(reg_x, ptr[reg_args + offsetof(KernelArgs, x)]);
        mov(reg_w, ptr[reg_args + offsetof(KernelArgs, w)]);
        mov(reg_y, ptr[reg_args + offsetof(KernelArgs, y)]);
        mov(reg_bias, ptr[reg_args + offsetof(KernelArgs, bias)]);
        mov(reg_groups, ptr[reg_args + offsetof(KernelArgs, blocks)]);
        push(qword[reg_args + offsetof(KernelArgs, w_tiles)]);  // reg_args is reused below
        if constexpr (T::opmask) {
            if (tail_lanes() != 0) {
                mov(eax, (1u << tail_lanes()) - 1);
                kmovw(k1, eax);
            }
        }
        interleave().load_masks(reg_mask);  // after k1: the interleave may take it over
    }

    // One tile of `ur` vectors of m per W phase of row `row`, storing its first `stores`
    // output vectors (the last under the row's tail mask when `masked`). Reads reg_xt, reg_yt,
    // reg_w, reg_bias; clobbers every vector register, reg_mask and (interleave) k2.
    void tile_body(const DwRowTaps& row, int ur, int stores, bool masked) {
        for (int r = 0; r < phases(); ++r)
            for (int j = 0; j < ur; ++j) math_.vzero(vmm_acc(r, j));
        if (d_.taps[0] > 0 && row.count > 0) accumulate(row, ur);
        epilogue(ur, stores, masked);
    }

    // Packed entries of a W phase's taps: one a tap, or (tap pairs) one a pair.
    int weight_taps(const WPhaseTaps& wp) const {
        return d_.tap_pairs ? (wp.count + 1) / 2 : wp.count;
    }

    // Packed order within the row's H phase: [r_w][td][th][tw] (tap pairs: [tw / 2]). Taps of
    // different W phases at the same input offset share one load of the input vectors; tap
    // pairs take the plane's word pairs as they are (vdpbf16ps with the pair's two weights),
    // an odd last tap the low words shifted into floats (an FMA): separate loads.
    void accumulate(const DwRowTaps& row, int ur) {
        std::vector<int64_t> phase_base;
        int64_t taps = row.w_offset;
        for (const WPhaseTaps& wp : d_.w_phases) {
            phase_base.push_back(taps);
            taps += int64_t(d_.taps[0]) * row.count * weight_taps(wp);
        }
        for (int td = 0; td < d_.taps[0]; ++td)
            for (int th = 0; th < row.count; ++th) {
                // (offset, a lone tap of a pair plane) -> (r, packed entry)
                std::map<std::pair<int64_t, bool>, std::vector<std::pair<int, int>>> readers;
                for (int r = 0; r < phases(); ++r) {
                    const WPhaseTaps& wp = d_.w_phases[size_t(r)];
                    const int step = d_.tap_pairs ? 2 : 1;
                    for (int tw = 0; tw < wp.count; tw += step) {
                        const bool lone = d_.tap_pairs && tw + 1 == wp.count;
                        readers[{wp.c0 + tw * wp.cstep, lone}].push_back({r, tw / step});
                    }
                }
                const int64_t cd = d_.c0[0] + td * d_.cstep[0];
                const int64_t ch = row.c0 + th * row.cstep;
                for (const auto& [key, list] : readers) {
                    const auto [cw, lone] = key;
                    const int64_t shift = -(cd * d_.x_stride[0] + ch * d_.x_stride[1] + cw);
                    for (int j = 0; j < ur; ++j) {
                        const auto x = ptr[reg_xt + int((shift + j * T::vlen) * 4)];
                        if (lone) vpslld(vmm_x(j), x, 16);  // the low words' bf16 as floats
                        else vmovups(vmm_x(j), x);
                    }
                    for (const auto& [r, e] : list) {
                        const int count = weight_taps(d_.w_phases[size_t(r)]);
                        const int64_t tap = (int64_t(td) * row.count + th) * count + e;
                        const auto w = reg_w + int((phase_base[size_t(r)] + tap) * 4);
                        if constexpr (T::isa == Isa::avx512) {
                            if (d_.tap_pairs && !lone) {
                                for (int j = 0; j < ur; ++j)
                                    vdpbf16ps(vmm_acc(r, j), vmm_x(j), ptr_b[w]);
                                continue;
                            }
                            if (ur == 1) {
                                vfmadd231ps(vmm_acc(r, 0), vmm_x(0), ptr_b[w]);
                                continue;
                            }
                        }
                        vbroadcastss(vmm_wei(), ptr[w]);
                        for (int j = 0; j < ur; ++j)
                            vfmadd231ps(vmm_acc(r, j), vmm_x(j), vmm_wei());
                    }
                }
            }
    }

    // Bias and activation in place, then output vector v = j * S_w + q of the tile from the
    // phases' accumulators j. Clobbers the temps, reg_mask, k2.
    void epilogue(int ur, int stores, bool masked) {
        if (d_.bias && T::isa == Isa::avx2) vbroadcastss(vmm_tmp(0), ptr[reg_bias]);
        for (int r = 0; r < phases(); ++r)
            for (int j = 0; j < ur; ++j) {
                const Vmm acc = vmm_acc(r, j);
                if (d_.bias) {
                    if constexpr (T::isa == Isa::avx512)
                        vaddps(acc, acc, ptr_b[reg_bias]);
                    else
                        vaddps(acc, acc, vmm_tmp(0));
                }
            }
        for (int r = 0; r < phases(); ++r)
            for (int j = 0; j < ur; ++j)
                math_.activation(vmm_acc(r, j), [this](int i) { return vmm_tmp(i); });
        if (const int k = VectorMath<T>::clobbered_opmask(d_.activation))
            interleave().reload(k, reg_mask);  // the fixed phase mask the activation took
        if (word_pairs()) return store_word_pairs(ur, stores, masked);
        const Vmm out = vmm_tmp(0), idx = vmm_tmp(1), part = vmm_tmp(2), spare = vmm_tmp(3);
        for (int v = 0; v < stores; ++v) {
            const int j = v / phases(), q = v % phases();
            Vmm src = vmm_acc(0, j);
            if (phases() > 1) {
                interleave_.emit(out, idx, part, reg_mask, q, [&](int r) { return vmm_acc(r, j); });
                src = out;
            }
            if (d_.out == DType::bf16) {  // idx and part are free after the interleave
                const int lanes = masked && v == stores - 1 ? tail_lanes() : T::vlen;
                if constexpr (T::opmask) {  // AVX-512: the tail under k1, NaN lanes in k2
                    if (lanes < T::vlen && interleave_.uses(1)) {
                        mov(reg_mask, (1u << lanes) - 1);
                        kmovw(k1, reg_mask);
                    }
                }
                math_.store_bf16(reg_yt + v * T::vlen * out_bytes(), src, idx, part, lanes);
                if constexpr (T::opmask) {
                    if (lanes < T::vlen) interleave_.reload(1, reg_mask);
                    interleave_.reload(2, reg_mask);
                }
                continue;
            }
            const auto dst = ptr[reg_yt + v * T::vlen * 4];
            if (!masked || v < stores - 1) {
                vmovups(dst, src);
            } else if constexpr (T::opmask) {
                if (interleave_.uses(1)) {  // the row's tail mask, k1 lent by the interleave
                    mov(reg_mask, (1u << tail_lanes()) - 1);
                    kmovw(k1, reg_mask);
                }
                vmovups(dst | k1, src);
                interleave_.reload(1, reg_mask);
            } else {
                math_.store_lanes(reg_yt + v * T::vlen * 4, src, tail_lanes(), spare);
            }
        }
    }

    // bf16, even S_w: outputs 2i and 2i + 1 of every S_w are phases rot + 2i and rot + 2i + 1
    // (mod S_w) at the same lane, so each pair's two accumulators are rounded in place and
    // merged into one vector of dwords (low word the first output). The S_w / 2 such vectors
    // interleave as dwords (none to interleave for S_w = 2), and every store writes 2 * vlen
    // outputs: no packs, and a quarter of the permutes of interleaving floats (S_w per output
    // vector) before narrowing them. Clobbers the temps, reg_mask, k1, k2.
    void store_word_pairs(int ur, int stores, bool masked) {
        const int S = phases(), words = (stores - 1) * T::vlen + (masked ? tail_lanes() : T::vlen);
        const Vmm out = vmm_tmp(0), idx = vmm_tmp(1), part = vmm_tmp(2);
        auto pair = [&](int i, int j) { return vmm_acc((2 * i + d_.w_rot) % S, j); };
        for (int j = 0; j < ur && j * S * T::vlen < words; ++j) {
            for (int i = 0; i < S / 2; ++i) {
                const Vmm lo = pair(i, j), hi = vmm_acc((2 * i + 1 + d_.w_rot) % S, j);
                math_.round_bf16(lo, idx, part);
                math_.round_bf16(hi, idx, part);
                math_.merge_bf16_words(lo, hi);
            }
            if constexpr (T::opmask) interleave().reload(2, reg_mask);  // taken by the rounding
            for (int q = 0; q < S / 2; ++q) {
                const int at = (j * S + 2 * q) * T::vlen;  // the store's first output
                if (at >= words) break;
                Vmm src = pair(0, j);
                if (S > 2) {
                    pair_interleave_.emit(out, idx, part, reg_mask, q,
                                          [&](int i) { return pair(i, j); });
                    src = out;
                }
                store_words(reg_yt + at * 2, src, std::min(2 * T::vlen, words - at));
            }
        }
    }

    // The first n <= 2 * vlen words of v at dst (AVX-512: a tail under k1, given back to the
    // interleave after). Clobbers v (AVX2), reg_mask, k1.
    void store_words(const Xbyak::RegExp& dst, const Vmm& v, int n) {
        if constexpr (T::opmask) {
            if (n == 2 * T::vlen) return vmovups(ptr[dst], v);
            mov(reg_mask, (1u << n) - 1);
            kmovd(k1, reg_mask);
            vmovdqu16(ptr[dst] | k1, v);
            interleave().reload(1, reg_mask);
        } else {
            math_.store_words(dst, v, n);
        }
    }
};

size_t code_bound(const DwPlaneKernelDesc& d) {
    size_t w_taps = 0;
    for (const WPhaseTaps& t : d.w_phases) w_taps += size_t(t.count);
    size_t h_taps = 0;
    for (const DwRowTaps& r : d.rows) h_taps += size_t(r.count);
    const size_t S = d.w_phases.size(), ur = size_t(d.ur);
    // Per row two tile bodies: loads + FMAs + broadcasts per tap, the epilogue's permutes.
    const size_t body = size_t(d.taps[0]) * (w_taps * (2 * ur + 1)) + S * ur * (52 + 4 * S);
    const size_t instructions = 2 * (h_taps * size_t(d.taps[0]) * w_taps * (2 * ur + 1) +
                                     d.rows.size() * body) + 64;
    return instructions * 12 + size_t(Const::count) * 64 + S * 64 + 4096;
}

}  // namespace

template <class T>
std::unique_ptr<Xbyak::CodeGenerator> emit_depthwise_cf(const DwPlaneKernelDesc& d) {
    auto g = std::make_unique<DwcfGenerator<T>>(d, code_bound(d));
    g->generate();
    return g;
}

template std::unique_ptr<Xbyak::CodeGenerator> emit_depthwise_cf<Avx512Traits>(
    const DwPlaneKernelDesc&);
template std::unique_ptr<Xbyak::CodeGenerator> emit_depthwise_cf<Avx2Traits>(
    const DwPlaneKernelDesc&);

}  // namespace tconv::gen
