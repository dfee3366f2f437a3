// SPDX-License-Identifier: Apache-2.0
// The AMX channel kernel (docs/ALGORITHM.md §4, `amx`): bf16 layers on tile registers. A tile of
// up to 32 outputs along W of one stride phase (one or two A tiles of 16 rows: the outputs'
// input pixels, 32 bf16 channels each) x nt B tiles of 16 output channels (16 channel pairs
// each, packed pair-interleaved); tdpbf16ps sums each pair in fp32 into the C tiles. The
// reduction over 32-channel steps is a run-time loop, the phase's taps are unrolled inside it
// with their input offsets as displacements. The C tiles go through a stack buffer into the
// AVX-512 epilogue: bias, activation, and bf16 (or fp32 row-buffer) stores.
#include <cassert>
#include <cstddef>
#include <cstring>
#include <stdexcept>

#include "emitters.hpp"
#include "tconv/gen/kernel.hpp"
#include "vector_math.hpp"

namespace tconv::gen {

namespace {

class AmxGenerator : public Xbyak::CodeGenerator {
    using T = Avx512Traits;
    using Zmm = Xbyak::Zmm;

  public:
    AmxGenerator(const PairKernelDesc& d, size_t max_bytes)
        : Xbyak::CodeGenerator(max_bytes, Xbyak::DontSetProtectRWE), d_(d),
          math_(*this, d.activation, d.negative_slope, d.oc_tail) {}

    void generate() {
        if (d_.rows < 1 || d_.rows > 32 || d_.nt < 1 || a_tiles() * d_.nt > 4 ||
            a_tiles() + std::min(d_.nt, 2) + a_tiles() * d_.nt > 8)
            throw std::runtime_error("amx: a tile of " + std::to_string(d_.rows) + " rows x " +
                                     std::to_string(d_.nt) + " vectors does not fit the tiles");
        if (d_.step_pairs != 16 || d_.tap0 != std::array<int, 3>{0, 0, 0} ||
            (d_.taps_total() > 0 && d_.w_taps != d_.taps))
            throw std::runtime_error("amx: steps of 16 pairs and every tap of the phase only");
        push(rbx);
        push(rbp);
        mov(rbp, rsp);
        sub(rsp, int(c_buffer_bytes()));
        and_(rsp, -64);
        Xbyak::Label l_config;
        ldtilecfg(ptr[rip + l_config]);
        load_args();
        Xbyak::Label l_tile;
        L(l_tile);
        for (int a = 0; a < a_tiles(); ++a)
            for (int b = 0; b < d_.nt; ++b) tilezero(c_tile(a, b));
        if (d_.taps_total() > 0) accumulate();
        epilogue();
        add(reg_x, int(d_.rows * d_.x_stride[2] * 4));
        add(reg_y, int(d_.rows * d_.y_pix * out_bytes()));
        dec(reg_blocks);
        jnz(l_tile, T_NEAR);
        tilerelease();
        mov(rsp, rbp);
        pop(rbp);
        pop(rbx);
        vzeroupper();
        ret();
        emit_config(l_config);
        math_.emit_constants();
    }

  private:
    const PairKernelDesc& d_;
    VectorMath<T> math_;
    const Xbyak::Reg64 reg_args = rdi;    // const KernelArgs*
    const Xbyak::Reg64 reg_x = rsi;       // input at the current tile's first output
    const Xbyak::Reg64 reg_xi = rdx;      // input at the current 32-channel step
    const Xbyak::Reg64 reg_w = rcx;       // packed weights at the current step
    const Xbyak::Reg64 reg_y = r8;        // output of the current tile
    const Xbyak::Reg64 reg_bias = r9;     // packed bias of the oc block
    const Xbyak::Reg64 reg_k = r10;       // steps left
    const Xbyak::Reg64 reg_blocks = r11;  // tiles left
    const Xbyak::Reg64 reg_pix = rax;     // bytes between input pixels: the A tiles' row stride
    const Xbyak::Reg64 reg_64 = rbx;      // 64: the B tiles' and the C buffer's row stride

    int a_tiles() const { return (d_.rows + 15) / 16; }
    int a_rows(int a) const { return std::min(16, d_.rows - 16 * a); }
    // Tiles: C (a, b) at a * nt + b, then the A tiles, then the B tiles used in turn.
    Xbyak::Tmm c_tile(int a, int b) const { return Xbyak::Tmm(a * d_.nt + b); }
    int a_first() const { return a_tiles() * d_.nt; }
    Xbyak::Tmm a_tile(int a) const { return Xbyak::Tmm(a_first() + a); }
    int b_first() const { return a_first() + a_tiles(); }
    int b_count() const { return std::min(8 - b_first(), d_.nt); }
    Xbyak::Tmm b_tile(int i) const { return Xbyak::Tmm(b_first() + i % b_count()); }
    int out_bytes() const { return d_.out == DType::bf16 ? 2 : 4; }
    // The C tiles stored as [row][nt * 16] floats.
    size_t c_buffer_bytes() const { return size_t(32 * d_.nt * 64 + 64); }

    // The palette-1 tile configuration, after the code: C rows x 64 bytes, A rows x 64 bytes, B
    // 16 x 64 bytes (16 channel pairs x 16 channels).
    void emit_config(Xbyak::Label& l) {
        uint8_t cfg[64];
        std::memset(cfg, 0, sizeof cfg);
        cfg[0] = 1;
        auto set = [&cfg](int tile, int rows) {
            cfg[16 + 2 * tile] = 64;  // colsb, little-endian u16
            cfg[48 + tile] = uint8_t(rows);
        };
        for (int a = 0; a < a_tiles(); ++a) {
            for (int b = 0; b < d_.nt; ++b) set(c_tile(a, b).getIdx(), a_rows(a));
            set(a_tile(a).getIdx(), a_rows(a));
        }
        for (int i = 0; i < b_count(); ++i) set(b_first() + i, 16);
        align(64);
        L(l);
        for (uint8_t v : cfg) db(v);
    }

    void load_args() {
        mov(reg_x, ptr[reg_args + offsetof(KernelArgs, x)]);
        mov(reg_y, ptr[reg_args + offsetof(KernelArgs, y)]);
        mov(reg_bias, ptr[reg_args + offsetof(KernelArgs, bias)]);
        mov(reg_blocks, ptr[reg_args + offsetof(KernelArgs, blocks)]);
        mov(reg_pix, d_.x_stride[2] * 4);
        mov(reg_64, 64);
        if (d_.oc_tail != T::vlen) {
            mov(reg_k.cvt32(), (1u << d_.oc_tail) - 1);  // scratch until the tile loop
            kmovw(k1, reg_k.cvt32());
        }
    }

    // The 32-channel steps, every tap unrolled inside: per tap the A tiles at the tap's input
    // offset, then each B tile times every A tile.
    void accumulate() {
        mov(reg_w, ptr[reg_args + offsetof(KernelArgs, w)]);
        mov(reg_xi, reg_x);
        mov(reg_k, d_.k_steps);
        Xbyak::Label l_k;
        L(l_k);
        int b_used = 0;
        int tap = 0;
        for (int td = 0; td < d_.taps[0]; ++td)
            for (int th = 0; th < d_.taps[1]; ++th)
                for (int tw = 0; tw < d_.taps[2]; ++tw, ++tap) {
                    // i = m - c per dim: the tap reads the tile's input shifted back by c.
                    const int64_t shift = -((d_.c0[0] + td * d_.cstep[0]) * d_.x_stride[0] +
                                            (d_.c0[1] + th * d_.cstep[1]) * d_.x_stride[1] +
                                            (d_.c0[2] + tw * d_.cstep[2]) * d_.x_stride[2]) * 4;
                    // Each load just before its first product, the first A tile's row of
                    // products first: of every order of a 2x2 tile's four loads and four
                    // products, this ran fastest (10% over loading both A tiles first).
                    auto load_a = [&](int a) {
                        tileloadd(a_tile(a), ptr[reg_xi + reg_pix +
                                                 int(shift + a * 16 * d_.x_stride[2] * 4)]);
                    };
                    Xbyak::Tmm bt[4] = {tmm0, tmm0, tmm0, tmm0};
                    for (int b = 0; b < d_.nt; ++b) {
                        bt[b] = b_tile(b_used++);
                        tileloadd(bt[b], ptr[reg_w + reg_64 + (tap * d_.nt + b) * 1024]);
                        if (b == 0) load_a(0);
                        tdpbf16ps(c_tile(0, b), a_tile(0), bt[b]);
                    }
                    for (int a = 1; a < a_tiles(); ++a) {  // two A tiles: nt <= 2 B registers
                        load_a(a);
                        for (int b = 0; b < d_.nt; ++b) tdpbf16ps(c_tile(a, b), a_tile(a), bt[b]);
                    }
                }
        add(reg_xi, 64);
        add(reg_w, int(d_.taps_total() * d_.nt * 1024));
        dec(reg_k);
        jnz(l_k, T_NEAR);
    }

    // C through the stack buffer [row][nt * 16 floats]: bias, activation and the stores of
    // the tile's rows (outputs m), y_pix elements apart.
    void epilogue() {
        const int pitch = d_.nt * 64;
        mov(reg_xi, pitch);
        for (int a = 0; a < a_tiles(); ++a)
            for (int b = 0; b < d_.nt; ++b)
                tilestored(ptr[rsp + reg_xi + a * 16 * pitch + b * 64], c_tile(a, b));
        const Zmm acc(0);
        auto tmp = [](int i) { return Zmm(1 + i); };
        const int act_temps = VectorMath<T>::activation_temps(d_.activation);
        for (int r = 0; r < d_.rows; ++r)
            for (int b = 0; b < d_.nt; ++b) {
                vmovups(acc, ptr[rsp + r * pitch + b * 64]);
                if (d_.bias) vaddps(acc, acc, ptr[reg_bias + b * 64]);
                math_.activation(acc, tmp);
                const int at = int((r * d_.y_pix + b * T::vlen) * out_bytes());
                const int lanes = b == d_.nt - 1 ? d_.oc_tail : T::vlen;
                math_.store(d_.out, reg_y, at, acc, lanes, tmp(0), tmp(1), tmp(act_temps));
            }
    }
};

size_t code_bound(const PairKernelDesc& d) {
    const size_t per_tap = size_t(2 + 2 * d.nt + 2 * d.nt);
    const size_t epilogue = size_t(d.rows * d.nt) * 80 + 64;
    return (size_t(d.taps_total()) * per_tap + 64) * 12 + epilogue * 8 + size_t(Const::count) * 64 +
           4096;
}

}  // namespace

std::unique_ptr<Xbyak::CodeGenerator> emit_amx(const PairKernelDesc& d) {
    auto g = std::make_unique<AmxGenerator>(d, code_bound(d));
    g->generate();
    return g;
}

}  // namespace tconv::gen
