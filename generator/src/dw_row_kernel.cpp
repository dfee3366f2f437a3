// SPDX-License-Identifier: Apache-2.0
// The in-place depthwise kernel (channels_last, multiplier 1): lanes are channels, read straight
// from the user's pixels. A tile is ur consecutive m x every W phase, i.e. S_w * ur consecutive
// output pixels, stored in pixel order. Taps along D and H are run-time loops over the live
// input rows the driver passes (so the code does not depend on the input's extents); taps along
// W are unrolled with immediate offsets, and edge tiles leave out the taps and stores their
// bounds exclude (docs/ALGORITHM.md §4). One generator for AVX-512 and AVX2; on AVX512_BF16
// bf16 layers sum their W taps in pairs with vdpbf16ps (DwKernelDesc::tap_pairs).
#include <algorithm>
#include <cassert>
#include <cstddef>
#include <map>
#include <utility>
#include <vector>

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
            if (tail_masked() && pairs()) {  // the last chunk's words
                mov(eax, uint32_t((uint64_t(1) << d_.oc_tail) - 1));
                kmovd(k1, eax);
            } else if (tail_masked()) {
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
        if (pairs())
            epilogue_pairs();
        else
            epilogue();
        add(reg_x, int(d_.ur * pix_x() * in_bytes()));
        add(reg_y, int(phases() * d_.ur * d_.y_pix * out_bytes()));
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
    // A last vector of oc_tail < vlen channels (pairs: a last chunk of oc_tail < 32): its
    // input is loaded under a mask (k1, or the AVX2 mask register), so no read passes the
    // tensor's last pixel, and stored under it.
    bool tail_masked() const { return d_.oc_tail != (pairs() ? 2 : 1) * T::vlen; }
    bool pairs() const { return d_.tap_pairs; }
    int in_bytes() const { return pairs() ? 2 : 4; }
    int out_bytes() const { return d_.out == DType::bf16 ? 2 : 4; }
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
    // Weight vectors per n_oc vector of one (D, H) tap: its W taps (pairs: tap pairs).
    int64_t w_taps() const {
        int64_t n = 0;
        for (const WPhaseTaps& t : d_.w_phases) n += pairs() ? (t.count + 1) / 2 : t.count;
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
        if (pairs())
            w_pairs_body();
        else
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

    // --- tap pairs (vdpbf16ps) ---
    // Registers past the accumulators: two pixels' words, their interleaves, a zero vector.
    Vmm vmm_pix(int i) const { return Vmm(accumulators() + i); }
    Vmm vmm_lo() const { return Vmm(accumulators() + 2); }
    Vmm vmm_hi() const { return Vmm(accumulators() + 3); }
    Vmm vmm_zero() const {
        assert(accumulators() + 5 <= T::registers);
        return Vmm(accumulators() + 4);
    }
    // The live (phase, output, weight vector) uses of one interleave: the pixels (relative to
    // the tile's first m) whose words go low and high in each lane, kNone for zeros.
    static constexpr int64_t kNone = INT64_MIN;
    struct PairUse {
        int r, j, wi;
    };
    std::map<std::pair<int64_t, int64_t>, std::vector<PairUse>> pair_uses() const {
        std::map<std::pair<int64_t, int64_t>, std::vector<PairUse>> uses;
        int wi = 0;
        for (int r = 0; r < phases(); ++r) {
            const WPhaseTaps& t = d_.w_phases[size_t(r)];
            for (int tw = 0; tw < t.count; tw += 2, ++wi) {
                const int64_t c_lo = t.c0 + tw * t.cstep, c_hi = c_lo + t.cstep;
                for (int j = 0; j < d_.ur; ++j) {
                    if (!stored(r, j)) continue;
                    // An edge tile's pair with one tap outside the input takes zeros for it.
                    const bool lo = tap_live(j, c_lo);
                    const bool hi = tw + 1 < t.count && tap_live(j, c_hi);
                    if (!lo && !hi) continue;
                    uses[{lo ? j - c_lo : kNone, hi ? j - c_hi : kNone}].push_back({r, j, wi});
                }
            }
        }
        return uses;
    }

    // Weights of one (D, H) tap: [r_w][tap pair][n_oc * vlen] lanes of two bf16. Per chunk of
    // 32 channels, each distinct pair of pixels is interleaved once (vpunpcklwd/hwd: lanes
    // in DepthwisePlan::pair_lane_channel order), then one vdpbf16ps per use and half.
    void w_pairs_body() {
        if constexpr (T::opmask) {
            const auto uses = pair_uses();
            vpxord(vmm_zero(), vmm_zero(), vmm_zero());
            for (int u = 0; u < d_.n_oc / 2; ++u) {
                const bool masked = tail_masked() && u == d_.n_oc / 2 - 1;
                auto at = [&](int64_t q) {
                    return ptr[reg_xh + int((q * pix_x() + u * 2 * T::vlen) * 2)];
                };
                for (const auto& [pix, list] : uses) {
                    Vmm a = vmm_zero();
                    if (pix.first != kNone) {
                        a = vmm_pix(0);
                        if (masked) vmovdqu16(a | k1 | T_z, at(pix.first));
                        else vmovdqu16(a, at(pix.first));
                    }
                    if (pix.second == kNone || masked) {
                        Vmm b = vmm_zero();
                        if (pix.second != kNone) {
                            b = vmm_pix(1);
                            vmovdqu16(b | k1 | T_z, at(pix.second));
                        }
                        vpunpcklwd(vmm_lo(), a, b);
                        vpunpckhwd(vmm_hi(), a, b);
                    } else {
                        vpunpcklwd(vmm_lo(), a, at(pix.second));
                        vpunpckhwd(vmm_hi(), a, at(pix.second));
                    }
                    for (const PairUse& use : list) {
                        const int w = (use.wi * d_.n_oc + 2 * u) * T::vlen * 4;
                        vdpbf16ps(vmm_acc(use.r, use.j, 2 * u), vmm_lo(), ptr[reg_wh + w]);
                        vdpbf16ps(vmm_acc(use.r, use.j, 2 * u + 1), vmm_hi(),
                                  ptr[reg_wh + w + T::vlen * 4]);
                    }
                }
            }
        }
    }

    // Bias, activation and bf16 stores, two vectors (a chunk) at a time: the rounded halves
    // packed by vpackusdw, which undoes the interleave's lane order. Clobbers the temps.
    void epilogue_pairs() {
        if constexpr (T::opmask) {
            const int t0 = VectorMath<T>::activation_temps(d_.activation);
            for (int j = 0; j < d_.ur; ++j)
                for (int r = 0; r < phases(); ++r) {
                    if (!stored(r, j)) continue;
                    for (int u = 0; u < d_.n_oc / 2; ++u) {
                        const Vmm lo = vmm_acc(r, j, 2 * u), hi = vmm_acc(r, j, 2 * u + 1);
                        for (int v = 2 * u; v < 2 * u + 2; ++v) {
                            const Vmm acc = vmm_acc(r, j, v);
                            if (d_.bias) vaddps(acc, acc, ptr[reg_bias + v * T::vlen * 4]);
                            math_.activation(acc, [this](int i) { return vmm_tmp(i); });
                            math_.round_bf16(acc, vmm_tmp(t0), vmm_tmp(t0));
                            vpsrld(acc, acc, 16);
                        }
                        vpackusdw(lo, lo, hi);
                        const auto dst = ptr[reg_y + int(((phases() * j + r) * d_.y_pix +
                                                          u * 2 * T::vlen) * 2)];
                        if (tail_masked() && u == d_.n_oc / 2 - 1) vmovdqu16(dst | k1, lo);
                        else vmovdqu16(dst, lo);
                    }
                }
        }
    }
    // --- end tap pairs ---

    // The lines of the tile's pixels (every vector) whole tiles y_prefetch bytes ahead, for
    // writing. Past the row's end they are the next rows' lines, or none: prefetches never fault.
    void prefetch_outputs() {
        if (d_.y_prefetch <= 0) return;
        const int64_t tile = int64_t(phases()) * d_.ur * d_.y_pix * out_bytes();
        const int64_t ahead = std::max<int64_t>(1, d_.y_prefetch / tile) * tile;
        const int lines = (d_.n_oc * T::vlen * out_bytes() + 63) / 64;
        for (int o = 0; o < phases() * d_.ur; ++o)
            for (int l = 0; l < lines; ++l)
                prefetchw(ptr[reg_y + int(ahead + o * d_.y_pix * out_bytes() + l * 64)]);
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
    // Tap pairs: per chunk and live (tap pair, output) up to 4 interleave instructions and 2
    // vdpbf16ps, and the chunk's packing epilogue: within twice the bound above.
    return instructions * 12 * (d.tap_pairs ? 2 : 1) + size_t(Const::count) * 64 + 4096;
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
