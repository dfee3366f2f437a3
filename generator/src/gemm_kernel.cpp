// SPDX-License-Identifier: Apache-2.0
// The column family's matrix product (docs/ALGORITHM.md §4, `gemm`): mr rows of packed
// weights x ur vectors of input pixels, one accumulator per (row, vector), over the group's
// input channels. The input is read in place (channels-first rows are the product's right-hand
// matrix as they are), so nothing is copied; the weights are broadcast one scalar per row.
#include <cassert>
#include <cstddef>

#include "emitters.hpp"

namespace tconv::gen {

namespace {

template <class T>
class GemmGenerator : public Xbyak::CodeGenerator {
    using Vmm = typename T::Vmm;

  public:
    GemmGenerator(const GemmKernelDesc& d, size_t max_bytes)
        : Xbyak::CodeGenerator(max_bytes, Xbyak::DontSetProtectRWE), d_(d) {}

    void generate() {
        mov(reg_x, ptr[reg_args + offsetof(KernelArgs, x)]);
        mov(reg_w, ptr[reg_args + offsetof(KernelArgs, w)]);
        mov(reg_y, ptr[reg_args + offsetof(KernelArgs, y)]);
        mov(reg_k, ptr[reg_args + offsetof(KernelArgs, blocks)]);
        mov(reg_xnext, ptr[reg_args + offsetof(KernelArgs, x_next)]);
        mov(reg_ynext, ptr[reg_args + offsetof(KernelArgs, y_next)]);
        Xbyak::Label l_mask;
        if (partial()) {
            if constexpr (T::opmask) {
                mov(eax, (1u << d_.tail) - 1);
                kmovw(k1, eax);
            } else {
                vmovups(vmm_mask(), ptr[rip + l_mask]);
            }
        }
        for (int i = 0; i < d_.mr; ++i) {  // reg_y walks the rows; back to the first after
            for (int j = 0; j < d_.ur; ++j) {
                if (d_.accumulate) vmovups(acc(i, j), ptr[reg_y + j * T::vlen * 4]);
                else vxorps(acc(i, j), acc(i, j), acc(i, j));
            }
            if (d_.accumulate && i + 1 < d_.mr) add(reg_y, reg_ynext);
        }
        if (d_.accumulate && d_.mr > 1) {
            mov(rax, reg_ynext);
            imul(rax, rax, d_.mr - 1);
            sub(reg_y, rax);
        }
        // Two channels per iteration (the second reads its row one channel further through
        // reg_xnext as index), then an odd channel: the loop control and the pointer updates
        // cost the AVX2 tiles a tenth of their issue slots once per channel.
        Xbyak::Label l_pair, l_last, l_done;
        mov(rax, reg_k);
        and_(rax, 1);
        shr(reg_k, 1);
        jz(l_last, T_NEAR);
        mov(reg_x2, reg_xnext);
        add(reg_x2, reg_x2);
        L(l_pair);
        channel(false, 0);
        channel(true, d_.mr * 4);
        add(reg_x, reg_x2);
        add(reg_w, 2 * d_.mr * 4);
        dec(reg_k);
        jnz(l_pair, T_NEAR);
        L(l_last);
        test(rax, rax);
        jz(l_done, T_NEAR);
        channel(false, 0);
        L(l_done);
        // Whole vectors: the column buffer's rows are padded to whole tiles.
        for (int i = 0; i < d_.mr; ++i) {
            for (int j = 0; j < d_.ur; ++j) vmovups(ptr[reg_y + j * T::vlen * 4], acc(i, j));
            if (i + 1 < d_.mr) add(reg_y, reg_ynext);
        }
        vzeroupper();
        ret();
        if constexpr (!T::opmask) {
            if (partial()) {
                align(32);
                L(l_mask);
                for (int l = 0; l < T::vlen; ++l) dd(l < d_.tail ? 0xffffffffu : 0u);
            }
        }
    }

  private:
    // One input channel: its row's ur vectors (`next`: the row after reg_x's), the rows' mr
    // weights at reg_w + w_off, mr x ur FMAs.
    void channel(bool next, int w_off) {
        for (int j = 0; j < d_.ur; ++j) load_x(j, next);
        // The channel's pixels 8 tiles ahead: the rows are pixels*4 bytes apart, more streams
        // than the hardware prefetchers follow (1D 512 -> 1 over 4000 pixels, 1 thread: 30
        // GFLOP/s without, 50 one tile ahead, 60-90 eight tiles ahead; the driver runs the
        // tiles of a chunk of channels in order). One prefetch per 64 bytes of the tile: the
        // tiles follow each other, so every line of the row is touched. A prefetch past the
        // tensor does not fault.
        if (!partial()) {
            const int tile_bytes = d_.ur * T::vlen * 4;
            for (int b = 0; b < tile_bytes; b += 64) prefetcht0(x_at(next, 8 * tile_bytes + b));
        }
        for (int i = 0; i < d_.mr; ++i) {
            const int w = w_off + i * 4;
            if constexpr (T::isa == Isa::avx512) {
                if (d_.ur == 1) {  // the broadcast rides in the FMA: no weight register
                    vfmadd231ps(acc(i, 0), vmm_x(0), ptr_b[reg_w + w]);
                    continue;
                }
            }
            vbroadcastss(vmm_wei(), ptr[reg_w + w]);
            for (int j = 0; j < d_.ur; ++j) vfmadd231ps(acc(i, j), vmm_x(j), vmm_wei());
        }
    }
    Xbyak::Address x_at(bool next, int offset) const {
        return next ? ptr[reg_x + reg_xnext + offset] : ptr[reg_x + offset];
    }

    const GemmKernelDesc& d_;
    // Caller-saved general registers only.
    const Xbyak::Reg64 reg_args = rdi;   // const KernelArgs*
    const Xbyak::Reg64 reg_x = rsi;      // input row of the current channel, the tile's pixel
    const Xbyak::Reg64 reg_w = rcx;      // packed weights: [channel][mr]
    const Xbyak::Reg64 reg_y = r8;       // column buffer at the tile's first row and pixel
    const Xbyak::Reg64 reg_k = r10;      // input channels left
    const Xbyak::Reg64 reg_xnext = r11;  // bytes between input channels
    const Xbyak::Reg64 reg_ynext = rdx;  // bytes between column rows
    const Xbyak::Reg64 reg_x2 = r9;      // bytes between two input channels

    bool partial() const { return d_.tail < T::vlen; }
    Vmm acc(int i, int j) const {
        assert(i < d_.mr && j < d_.ur);
        return Vmm(i * d_.ur + j);
    }
    Vmm vmm_x(int j) const { return Vmm(d_.mr * d_.ur + j); }
    Vmm vmm_wei() const { return Vmm(d_.mr * d_.ur + d_.ur); }
    Vmm vmm_mask() const { return Vmm(d_.mr * d_.ur + d_.ur + 1); }

    // The last vector of a tail tile reads only its lanes: past them may lie the end of the
    // user's tensor. Masked-off lanes load as zeros.
    void load_x(int j, bool next) {
        const auto src = x_at(next, j * T::vlen * 4);
        if (j + 1 < d_.ur || !partial()) {
            vmovups(vmm_x(j), src);
        } else if constexpr (T::opmask) {
            vmovups(vmm_x(j) | k1 | T_z, src);
        } else {
            vmaskmovps(vmm_x(j), vmm_mask(), src);
        }
    }
};

size_t code_bound(const GemmKernelDesc& d) {
    const size_t instructions =
        3 * size_t(2 * d.ur + d.mr * (d.ur + 1)) + size_t(d.mr * (d.ur + 2)) + 64;
    return instructions * 12 + 4096;
}

}  // namespace

template <class T>
std::unique_ptr<Xbyak::CodeGenerator> emit_gemm(const GemmKernelDesc& d) {
    auto g = std::make_unique<GemmGenerator<T>>(d, code_bound(d));
    g->generate();
    return g;
}

template std::unique_ptr<Xbyak::CodeGenerator> emit_gemm<Avx512Traits>(const GemmKernelDesc&);
template std::unique_ptr<Xbyak::CodeGenerator> emit_gemm<Avx2Traits>(const GemmKernelDesc&);

}  // namespace tconv::gen
