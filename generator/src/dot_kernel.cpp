// SPDX-License-Identifier: Apache-2.0
// The bf16 dot-product kernel (docs/ALGORITHM.md §4, "bf16 dot products"): the pair family's tile
// on AVX512_BF16 vector registers, for CPUs without AMX. A tile of `rows` outputs along W of one
// stride phase x nt vectors of 16 output channels, fp32 sums in zmm registers; each vdpbf16ps adds
// two input channels (a bf16 pair, broadcast as one dword) times 16 lanes of weight pairs, twice
// the multiply-adds of an fp32 FMA. Steps of step_pairs pairs are a run-time loop; within a step
// the pairs run unrolled (or in a run-time loop of a few when the taps are many), the phase's taps
// unrolled inside with their input offsets as displacements. The buffer and the packed weights are
// the AMX kernel's but for their order ([step][pair][tap][vector][16]: PairPlan::weight_lane).
#include <cassert>
#include <cstddef>
#include <stdexcept>
#include <string>

#include "emitters.hpp"
#include "tconv/gen/kernel.hpp"
#include "vector_math.hpp"

namespace tconv::gen {

namespace {

class DotGenerator : public Xbyak::CodeGenerator {
    using T = Avx512Traits;
    using Zmm = Xbyak::Zmm;

  public:
    DotGenerator(const PairKernelDesc& d, size_t max_bytes)
        : Xbyak::CodeGenerator(max_bytes, Xbyak::DontSetProtectRWE), d_(d),
          math_(*this, d.activation, d.negative_slope, d.oc_tail) {}

    void generate() {
        if (!dot_tile_fits(d_.rows, d_.nt, d_.activation) || d_.step_pairs < 1 ||
            d_.k_steps < 1)
            throw std::runtime_error("bf16 dot: a tile of " + std::to_string(d_.rows) +
                                     " outputs x " + std::to_string(d_.nt) +
                                     " vectors does not fit the registers");
        load_args();
        Xbyak::Label l_tile;
        L(l_tile);
        for (int j = 0; j < d_.rows; ++j)
            for (int v = 0; v < d_.nt; ++v) math_.vzero(acc(j, v));
        if (d_.taps_total() > 0) accumulate();
        epilogue();
        add(reg_x, int(d_.rows * d_.x_stride[2] * 4));
        add(reg_y, int(d_.rows * d_.y_pix * out_bytes()));
        dec(reg_blocks);
        jnz(l_tile, T_NEAR);
        vzeroupper();
        ret();
        math_.emit_constants();
    }

  private:
    const PairKernelDesc& d_;
    VectorMath<T> math_;
    const Xbyak::Reg64 reg_args = rdi;    // const KernelArgs*
    const Xbyak::Reg64 reg_x = rsi;       // input at the current tile's first output
    const Xbyak::Reg64 reg_xi = rdx;      // input at the current pair
    const Xbyak::Reg64 reg_w = rcx;       // packed weights at the current pair
    const Xbyak::Reg64 reg_y = r8;        // output of the current tile
    const Xbyak::Reg64 reg_bias = r9;     // packed bias of the oc block
    const Xbyak::Reg64 reg_k = r10;       // steps left
    const Xbyak::Reg64 reg_blocks = r11;  // tiles left
    const Xbyak::Reg64 reg_p = rax;       // pair iterations left in the step

    int accumulators() const { return d_.rows * d_.nt; }
    Zmm acc(int j, int v) const {
        assert(j >= 0 && j < d_.rows && v >= 0 && v < d_.nt);
        return Zmm(j * d_.nt + v);
    }
    Zmm wei(int v) const { return Zmm(accumulators() + v); }
    Zmm bcast() const { return Zmm(accumulators() + d_.nt); }
    Zmm tmp(int i) const {
        assert(accumulators() + i < T::registers);
        return Zmm(accumulators() + i);
    }
    int out_bytes() const { return d_.out == DType::bf16 ? 2 : 4; }
    // One weight vector: the pair comes as an embedded {1to16} broadcast of the dword.
    bool embedded() const { return d_.nt == 1; }

    void load_args() {
        mov(reg_x, ptr[reg_args + offsetof(KernelArgs, x)]);
        mov(reg_y, ptr[reg_args + offsetof(KernelArgs, y)]);
        mov(reg_bias, ptr[reg_args + offsetof(KernelArgs, bias)]);
        mov(reg_blocks, ptr[reg_args + offsetof(KernelArgs, blocks)]);
        if (d_.oc_tail != T::vlen) {
            mov(reg_k.cvt32(), (1u << d_.oc_tail) - 1);  // scratch until the tile loop
            kmovw(k1, reg_k.cvt32());
        }
    }

    // Pairs unrolled per run-time iteration: all of a step's, unless the taps times the pairs
    // would make the loop body longer than the L1 instruction cache holds comfortably.
    int unroll() const {
        const int sp = d_.step_pairs, taps = d_.taps_total();
        if (taps * sp <= kMaxUnrolledPairTaps) return sp;
        int u = 1;
        for (int c = 1; c <= sp; ++c)
            if (sp % c == 0 && taps * c <= kMaxUnrolledPairTaps) u = c;
        return u;
    }
    static constexpr int kMaxUnrolledPairTaps = 64;

    // The steps (run-time loop), their pairs (unrolled, or a loop of unrolled runs), every
    // tap unrolled inside: per (pair, tap) nt weight loads, then per output one broadcast of
    // the pair it reads and nt dot products.
    void accumulate() {
        // The packed weights hold every tap of the phase (w_taps); this kernel runs a box of
        // them (tiny maps leave out the taps that read only the zero halo).
        const int sp = d_.step_pairs, u_n = unroll(), taps = d_.w_taps_total();
        const bool looped = u_n < sp;
        mov(reg_w, ptr[reg_args + offsetof(KernelArgs, w)]);
        mov(reg_xi, reg_x);
        mov(reg_k, d_.k_steps);
        Xbyak::Label l_k, l_p;
        L(l_k);
        if (looped) mov(reg_p, sp / u_n);
        L(l_p);
        for (int u = 0; u < u_n; ++u) {
            for (int td = d_.tap0[0]; td < d_.tap0[0] + d_.taps[0]; ++td)
                for (int th = d_.tap0[1]; th < d_.tap0[1] + d_.taps[1]; ++th)
                    for (int tw = d_.tap0[2]; tw < d_.tap0[2] + d_.taps[2]; ++tw) {
                        const int tap = (td * d_.w_taps[1] + th) * d_.w_taps[2] + tw;
                        // i = m - c per dim: the tap reads the tile's input shifted back by c.
                        const int64_t shift =
                            -((d_.c0[0] + td * d_.cstep[0]) * d_.x_stride[0] +
                              (d_.c0[1] + th * d_.cstep[1]) * d_.x_stride[1] +
                              (d_.c0[2] + tw * d_.cstep[2]) * d_.x_stride[2]) + u;
                        pair_tap((int64_t(u) * taps + tap) * d_.nt, shift);
                    }
        }
        // The weights are packed in this order ([step][pair][tap][vector]): one pass.
        add(reg_w, int(int64_t(u_n) * taps * d_.nt * 64));
        add(reg_xi, u_n * 4);
        if (looped) {
            dec(reg_p);
            jnz(l_p, T_NEAR);
        }
        dec(reg_k);
        jnz(l_k, T_NEAR);
    }

    // One (pair, tap): weight vector v of it at (w_at + v) * 64 bytes from reg_w, the tile's
    // pairs `shift` lanes from reg_xi.
    void pair_tap(int64_t w_at, int64_t shift) {
        for (int v = 0; v < d_.nt; ++v)
            vmovups(wei(v), ptr[reg_w + int((w_at + v) * 64)]);
        for (int j = 0; j < d_.rows; ++j) {
            const int off = int((shift + j * d_.x_stride[2]) * 4);
            if (embedded()) {
                vdpbf16ps(acc(j, 0), wei(0), ptr_b[reg_xi + off]);
                continue;
            }
            vpbroadcastd(bcast(), ptr[reg_xi + off]);
            for (int v = 0; v < d_.nt; ++v) vdpbf16ps(acc(j, v), wei(v), bcast());
        }
    }

    // Bias, activation and the stores of the tile's outputs m, y_pix elements apart.
    void epilogue() {
        const int act_temps = VectorMath<T>::activation_temps(d_.activation);
        auto tmp_fn = [this](int i) { return tmp(i); };
        for (int j = 0; j < d_.rows; ++j)
            for (int v = 0; v < d_.nt; ++v) {
                const Zmm a = acc(j, v);
                if (d_.bias) vaddps(a, a, ptr[reg_bias + v * 64]);
                math_.activation(a, tmp_fn);
                const int at = int((j * d_.y_pix + v * T::vlen) * out_bytes());
                const int lanes = v == d_.nt - 1 ? d_.oc_tail : T::vlen;
                math_.store(d_.out, reg_y, at, a, lanes, tmp(0), tmp(1), tmp(act_temps));
            }
    }
};

size_t code_bound(const PairKernelDesc& d) {
    const size_t per_pair_tap = size_t(d.nt + d.rows * (1 + d.nt));
    const size_t body = size_t(d.taps_total()) * size_t(d.step_pairs) * per_pair_tap;
    const size_t epilogue = size_t(d.rows * d.nt) * 80 + 64;
    return (body + 64) * 12 + epilogue * 8 + size_t(Const::count) * 64 + 4096;
}

}  // namespace

std::unique_ptr<Xbyak::CodeGenerator> emit_bf16_dot(const PairKernelDesc& d) {
    auto g = std::make_unique<DotGenerator>(d, code_bound(d));
    g->generate();
    return g;
}

}  // namespace tconv::gen
