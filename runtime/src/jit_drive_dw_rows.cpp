// SPDX-License-Identifier: Apache-2.0
// The in-place depthwise driver (channels_last, multiplier 1): threads take contiguous shares of
// the (image, output row, channel block) items; per item the live taps along D and H are those
// whose input rows exist, and the row's segments (edges, interior tiles) are one kernel call
// each, reading the user's input and writing the user's output directly.
#include <algorithm>
#include <cstdint>

#include "jit_driver.hpp"
#include "team.hpp"

namespace tconv {

namespace {

// The taps t in [lo, hi) of `a` whose input i = m - (c0 + t * cstep) lies in [0, extent).
void live_taps(const gen::TapAxis& a, int64_t m, int64_t extent, int64_t& lo, int64_t& hi) {
    lo = 0;
    hi = a.count;
    while (lo < hi && m - (a.c0 + lo * a.cstep) >= extent) ++lo;
    while (hi > lo && m - (a.c0 + (hi - 1) * a.cstep) < 0) --hi;
}

// A pointer `elems` elements of `bytes` away from p, computed as an address: an edge tile's
// base may lie before the tensor although it reads none of those elements.
template <class F>
F* shifted(F* p, int64_t elems, int64_t bytes) {
    return reinterpret_cast<F*>(reinterpret_cast<intptr_t>(p) + intptr_t(elems * bytes));
}

class DwRowDriver final : public JitDriver {
  public:
    DwRowDriver(const gen::DepthwisePlan& plan, const KernelTables& t) : pl_(plan), t_(t) {}

    bool reads_user_input() const override { return true; }

    bool compute(const float* x, void* out, const WorkPart& w, int t,
                 int nt) const override {
        // Floats, or bf16 where the plan's io says so (tap pairs): addressed in bytes.
        const char* xb = reinterpret_cast<const char*>(x);
        char* y = static_cast<char*>(out);
        const int64_t n0 = w.n0, n1 = w.n1;  // whole images: no slabs or bands
        const gen::Dim3 O = pl_.out;
        const int64_t nb = pl_.oc_blocks, np = pl_.pieces;
        const Share share((n1 - n0) * O[0] * O[1] * np * nb, t, nt);
        Odometer<5> at({nb, np, O[1], O[0], kUnbounded}, share.begin);
        for (int64_t item = share.begin; item < share.end; ++item, at.next())
            run(xb, y, at.digit[0], at.digit[1], at.digit[2], at.digit[3], n0 + at.digit[4]);
        return true;
    }

  private:
    const gen::DepthwisePlan& pl_;
    const KernelTables& t_;

    void run(const char* x, char* y, int64_t ocb, int64_t piece, int64_t oh, int64_t od,
             int64_t n) const {
        const gen::Dim3 I = pl_.in, O = pl_.out, S = pl_.stride, pb = pl_.pad_begin;
        const int64_t C = pl_.oc, e = pl_.io == DType::bf16 ? 2 : 4;  // bytes an element
        const int64_t rd = (od + pb[0]) % S[0], md = (od + pb[0]) / S[0];
        const int64_t rh = (oh + pb[1]) % S[1], mh = (oh + pb[1]) / S[1];
        const gen::PhasePlan& ph = pl_.phase(rd, rh, 0);
        const gen::TapAxis &ad = ph.taps[0], &ah = ph.taps[1];
        const gen::OcBlock& blk = pl_.blocks[size_t(ocb)];
        int64_t d0, d1, h0, h1;
        live_taps(ad, md, I[0], d0, d1);
        live_taps(ah, mh, I[1], h0, h1);
        const int64_t row_w = pl_.w_taps_row * blk.vectors * pl_.vlen;  // floats per H tap
        gen::DwRowArgs a;
        a.taps_d = d1 > d0 && h1 > h0 ? d1 - d0 : 0;
        a.taps_h = h1 - h0;
        a.x_step_d = -ad.cstep * I[1] * I[2] * C * e;
        a.x_step_h = -ah.cstep * I[2] * C * e;
        a.w_step_d = ah.count * row_w * 4;
        a.k.w = t_.weights + pl_.row_weight_offset(rd, rh, ocb) + (d0 * ah.count + h0) * row_w;
        a.k.bias = t_.bias + pl_.bias_offset(ocb);
        const int64_t id = md - (ad.c0 + d0 * ad.cstep), ih = mh - (ah.c0 + h0 * ah.cstep);
        const char* xrow =
            a.taps_d > 0 ? shifted(x, ((n * I[0] + id) * I[1] + ih) * I[2] * C + blk.oc0, e) : x;
        char* yrow = y + (((n * O[0] + od) * O[1] + oh) * O[2] * C + blk.oc0) * e;
        const int64_t inner = pl_.interior_segment, last = pl_.pieces - 1;
        for (int64_t i = 0; i < int64_t(pl_.row_segments.size()); ++i) {
            const gen::DepthwisePlan::RowSegment& s = pl_.row_segments[size_t(i)];
            int64_t m0 = s.m0, tiles = s.tiles;
            if (i == inner) {  // this piece's tiles
                m0 += piece * pl_.piece_tiles * pl_.ur;
                tiles = std::min(pl_.piece_tiles, s.tiles - piece * pl_.piece_tiles);
            } else if (inner >= 0 && piece != (i < inner ? 0 : last)) {
                continue;
            }
            a.k.x = reinterpret_cast<const float*>(shifted(xrow, m0 * C, e));
            a.k.y = shifted(yrow, (S[2] * m0 - pb[2]) * C, e);
            a.k.blocks = tiles;
            t_.kernels[size_t(s.kernel[blk.last])](&a.k);
        }
    }
};

}  // namespace

std::unique_ptr<JitDriver> make_dw_row_driver(const gen::DepthwisePlan& plan,
                                              const KernelTables& t) {
    return std::make_unique<DwRowDriver>(plan, t);
}

}  // namespace tconv
