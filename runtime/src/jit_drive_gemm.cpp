// SPDX-License-Identifier: Apache-2.0
// The column family's driver: per image, pass 1 runs the matrix product (every tile of pixels
// of every row block and group) into the column buffer the call's threads share; pass 2 adds
// the columns into the user's output rows (col2im), bias and activation by a JIT epilogue.
// Each band of output rows (W span) has one owner in pass 2 and each column tile one in pass 1,
// whatever the thread count.
#include <algorithm>
#include <cstring>
#include <new>
#include <stdexcept>
#include <utility>
#include <vector>

#include "jit_driver.hpp"
#include "scratch.hpp"
#include "team.hpp"
#include "transpose.hpp"

namespace tconv {

namespace {

class GemmDriver final : public JitDriver {
  public:
    GemmDriver(const gen::GemmPlan& plan, const KernelTables& t) : pl_(plan), t_(t) {}

    bool reads_user_input() const override { return true; }
    int64_t passes() const override { return 2 * pl_.batch; }
    int64_t shared_floats() const override { return pl_.col_floats(); }

    bool compute(const float*, void*, const WorkPart&, int, int) const override {
        throw std::logic_error("the column family runs in passes (compute_pass)");
    }

    bool compute_pass(int64_t pass, const void* xv, float* col, void* yv, const WorkPart&,
                      int t, int nt) const override {
        // This family reads and stores floats (gen::PlanBase::io).
        const float* x = static_cast<const float*>(xv);
        float* y = static_cast<float*>(yv);
        const int64_t n = pass / 2;
        if (pass % 2 == 1)
            return col2im(col, y + n * pl_.oc * pl_.out[0] * pl_.out[1] * pl_.out[2], t, nt);
        return product(x + n * pl_.ic * pl_.pixels, col, t, nt);
    }

  private:
    // Items: (group, tile of pixels). A thread's run of tiles of one group goes block by block
    // of tiles (GemmPlan::tile_block: the block's sums stay in L2), each block chunk by chunk
    // of input channels (the rows of a chunk stay in the TLB and L1 while its tiles pass).
    bool product(const float* x, float* col, int t, int nt) const {
        const int64_t tiles = pl_.tiles + (pl_.tail_vectors > 0 ? 1 : 0);
        float* panel =
            pl_.panel_floats > 0 ? thread_scratch().plane.try_get(pl_.panel_floats) : nullptr;
        if (pl_.panel_floats > 0 && !panel) return false;
        const Share share(pl_.groups * tiles, t, nt);
        for (int64_t run = share.begin; run < share.end;) {
            const int64_t g = run / tiles, t0 = run % tiles;
            const int64_t t1 = std::min(tiles, t0 + (share.end - run));
            for (int64_t b0 = t0; b0 < t1; b0 += pl_.tile_block) {
                const int64_t b1 = std::min(t1, b0 + pl_.tile_block);
                for (int64_t k0 = 0; k0 < pl_.ic_g; k0 += pl_.k_chunk)
                    for (int64_t tile = b0; tile < b1; ++tile)
                        tile_chunk(x, col, panel, g, tile, k0);
            }
            run += t1 - t0;
        }
        return true;
    }

    // Every row block of one tile over the chunk of input channels from k0: the first reads
    // the tile's inputs from memory (and prefetches the next tile's), the others from cache.
    // channels_last: the tile's pixels x the chunk's channels are first transposed into the
    // thread's panel, whose rows the kernel then reads tile_px floats apart; channels-first
    // planes that share L1 sets (GemmPlan::panel_floats) are copied there too.
    void tile_chunk(const float* x, float* col, float* panel, int64_t g, int64_t tile,
                    int64_t k0) const {
        const int64_t tile_px = int64_t(pl_.ur) * pl_.vlen;
        const int64_t kn = std::min(pl_.k_chunk, pl_.ic_g - k0);
        const int64_t px = std::min(tile_px, pl_.pixels - tile * tile_px);
        if (pl_.layout == Layout::channels_last) {
            transpose_avx2(x + tile * tile_px * pl_.ic + g * pl_.ic_g + k0, pl_.ic, px, kn, panel,
                           tile_px);
        } else if (panel) {  // channels-first rows that share L1 sets
            const float* src = x + (g * pl_.ic_g + k0) * pl_.pixels + tile * tile_px;
            const bool ahead = (tile + 8) * tile_px < pl_.pixels;  // as the kernel
            for (int64_t c = 0; c < kn; ++c, src += pl_.pixels) {
                std::memcpy(panel + c * tile_px, src, size_t(px) * sizeof(float));
                if (ahead) __builtin_prefetch(src + 8 * tile_px);
            }
        }
        for (const gen::GemmPlan::RowBlock& rb : pl_.row_blocks) {
            gen::KernelArgs a;
            a.x = panel ? panel : x + (g * pl_.ic_g + k0) * pl_.pixels + tile * tile_px;
            a.w = t_.weights + pl_.weight_offset(g, rb) + k0 * rb.rows;
            a.bias = nullptr;
            a.y = col + (g * pl_.rows + rb.row0) * pl_.col_pitch + tile * tile_px;
            a.blocks = kn;
            a.x_next = (panel ? tile_px : pl_.pixels) * int64_t(sizeof(float));
            a.y_next = pl_.col_pitch * int64_t(sizeof(float));
            t_.kernels[size_t(rb.kernel[tile < pl_.tiles ? 0 : 1][k0 > 0 ? 1 : 0])](&a);
        }
    }

    // Items: bands of col2im_rows output rows (D x H flattened) of one channel, over W span
    // [m, m_end) of the phase indices (GemmPlan::w_spans). Per row and W residue r, the run of
    // its outputs m inside the span takes every live (d, h, w) tap's column segment
    // (contiguous adds) in the row's part of the thread's buffer; then bias and activation over
    // the whole band in one epilogue call, and the rows go out residue by residue.
    bool col2im(const float* col, float* y, int t, int nt) const {
        const gen::Dim3 O = pl_.out;
        float* buf = thread_scratch().row.try_get(pl_.band_floats);
        if (!buf) return false;
        const int64_t rows = O[0] * O[1], per = pl_.col2im_rows, bands = (rows + per - 1) / per;
        const int64_t spans = pl_.w_spans, cells = bands * spans;
        // Channels-last rows interleave every channel in the same lines: a thread takes whole
        // bands and spans (channel innermost), so two threads never write one line but at a
        // share's edge (channel-major shares made two threads 1.6-2x slower than one: 96 -> 4
        // at 174x185).
        const bool cl = pl_.layout == Layout::channels_last;
        const Share share(pl_.oc * cells, t, nt);
        thread_local std::vector<WSegment> segs;  // the current span's, at most K_w
        for (int64_t item = share.begin; item < share.end; ++item) {
            const int64_t oc = cl ? item % pl_.oc : item / cells;
            const int64_t cell = cl ? item / pl_.oc : item % cells;
            const int64_t band = cell / spans, m0 = pl_.w_m0 + cell % spans * pl_.w_span_m;
            const int64_t m1 = std::min(pl_.w_m_end, m0 + pl_.w_span_m);
            const int64_t r0 = band * per, r1 = std::min(rows, r0 + per);
            const int64_t width = spans == 1 ? pl_.w_row : span_floats(m0, m1);
            const int64_t vectors = ((r1 - r0) * width + pl_.vlen - 1) / pl_.vlen;
            std::fill(buf, buf + vectors * pl_.vlen, 0.0f);
            try {
                w_segments(m0, m1, segs);
            } catch (const std::bad_alloc&) {
                return false;  // as a scratch buffer that cannot be had
            }
            RowAt at(pl_, r0);
            for (int64_t r = r0; r < r1; ++r, at.next(pl_))
                accumulate_row(col, oc, at, segs, buf + (r - r0) * width);
            gen::KernelArgs a;  // bias and activation over the whole band
            a.x = nullptr;
            a.w = nullptr;
            a.bias = t_.bias + oc;
            a.y = buf;
            a.blocks = vectors;
            t_.kernels[size_t(pl_.epilogue)](&a);
            const Middle mid = middle(m0, m1);
            RowAt out(pl_, r0);
            for (int64_t r = r0; r < r1; ++r, out.next(pl_))
                store_row(buf + (r - r0) * width, oc, out.o[0], out.o[1], m0, m1, mid, y);
        }
        return true;
    }

    // W residue rw's outputs inside span [m0, m1): m in [lo, hi) (empty when hi <= lo).
    static std::pair<int64_t, int64_t> run_in(const gen::GemmPlan::Residue& rw, int64_t m0,
                                              int64_t m1) {
        return {std::max(rw.m_lo, m0), std::min(rw.m_lo + rw.m_count, m1)};
    }
    int64_t span_floats(int64_t m0, int64_t m1) const {
        int64_t n = 0;
        for (const gen::GemmPlan::Residue& rw : pl_.residues[2]) {
            const auto [lo, hi] = run_in(rw, m0, m1);
            n += std::max<int64_t>(0, hi - lo);
        }
        return n;
    }

    // An output row's (D, H) and each one's residue and phase index m = (o + pb) / S, stepped
    // row by row without divisions (a band of short rows paid more for them than for its adds).
    struct RowAt {
        int64_t o[2], res[2], m[2];
        RowAt(const gen::GemmPlan& pl, int64_t row) {
            o[0] = row / pl.out[1];
            o[1] = row % pl.out[1];
            for (int d = 0; d < 2; ++d) {
                res[d] = (o[d] + pl.pad_begin[d]) % pl.stride[d];
                m[d] = (o[d] + pl.pad_begin[d]) / pl.stride[d];
            }
        }
        void next(const gen::GemmPlan& pl) {
            if (++o[1] == pl.out[1]) {
                *this = RowAt(pl, (o[0] + 1) * pl.out[1]);
                return;
            }
            if (++res[1] == pl.stride[1]) res[1] = 0, ++m[1];
        }
    };

    // A W tap's run inside a span: `len` column floats from `src` (past the (d, h) tap's
    // column rows) added to the row buffer from `dst`. The same for every row of a span.
    struct WSegment {
        int64_t dst, src, len;
    };

    // The W segments of span [m0, m1): each W residue's outputs in the span, residue after
    // residue in the row buffer, and each of its taps' run of inputs inside [0, I).
    void w_segments(int64_t m0, int64_t m1, std::vector<WSegment>& segs) const {
        segs.clear();
        int64_t seg = 0;
        for (const gen::GemmPlan::Residue& rw : pl_.residues[2]) {
            const auto [lo, hi] = run_in(rw, m0, m1);
            if (hi <= lo) continue;
            for (int tw = 0; tw < rw.taps.count; ++tw) {
                // m reads input i = m - c: the m of the run inside [0, I)
                const int64_t c = rw.taps.c0 + tw * rw.taps.cstep;
                const int64_t kw = rw.taps.k0 + tw * rw.taps.kstep;
                const int64_t a = std::max(lo, c), b = std::min(hi, pl_.in[2] + c);
                if (b > a) segs.push_back({seg + (a - lo), kw * pl_.col_pitch + (a - c), b - a});
            }
            seg += hi - lo;
        }
    }

    // Adds every live tap's column segments of channel oc into output row `at`: per live
    // (d, h) tap, the span's W segments.
    void accumulate_row(const float* col, int64_t oc, const RowAt& at,
                        const std::vector<WSegment>& segs, float* row) const {
        const gen::Dim3 I = pl_.in, K = pl_.kernel;
        const int64_t taps = pl_.kernel_points();
        const int64_t g = oc / pl_.oc_g, ocl = oc % pl_.oc_g;
        const gen::GemmPlan::Residue& rd = pl_.residues[0][size_t(at.res[0])];
        const gen::GemmPlan::Residue& rh = pl_.residues[1][size_t(at.res[1])];
        const int64_t md = at.m[0], mh = at.m[1];
        const float* cg = col + (g * pl_.rows + ocl * taps) * pl_.col_pitch;
        for (int td = 0; td < rd.taps.count; ++td) {
            const int64_t id = md - (rd.taps.c0 + td * rd.taps.cstep);
            if (id < 0 || id >= I[0]) continue;
            const int64_t kd = rd.taps.k0 + td * rd.taps.kstep;
            for (int th = 0; th < rh.taps.count; ++th) {
                const int64_t ih = mh - (rh.taps.c0 + th * rh.taps.cstep);
                if (ih < 0 || ih >= I[1]) continue;
                const int64_t kh = rh.taps.k0 + th * rh.taps.kstep;
                const float* ck =
                    cg + (kd * K[1] + kh) * K[2] * pl_.col_pitch + (id * I[1] + ih) * I[2];
                for (const WSegment& s : segs) {
                    float* dst = row + s.dst;
                    const float* src = ck + s.src;
                    if (s.len >= 8) add_row(dst, src, s.len);
                    else  // short runs inline: a call costs more than their adds
                        for (int64_t i = 0; i < s.len; ++i) dst[i] += src[i];
                }
            }
        }
    }

    // Channels-first, S_w in 2-4: the m of a span that every W residue has, [a, b), go out as
    // dense pixels of S_w outputs interleaved by shuffles (element by element, S_w-strided
    // stores were most of a few-channel layer's col2im time); residue r's output m sits at
    // row[at[r] + m] of the span's row buffer. Empty (a == b) when under 8 m or otherwise.
    struct Middle {
        int64_t a = 0, b = 0, at[4] = {};
    };
    Middle middle(int64_t m0, int64_t m1) const {
        Middle mid;
        const size_t R = pl_.residues[2].size();
        if (pl_.layout == Layout::channels_last || R < 2 || R > 4) return mid;
        int64_t a = m0, b = m1, at = 0;
        for (size_t r = 0; r < R; ++r) {
            const auto [lo, hi] = run_in(pl_.residues[2][r], m0, m1);
            a = std::max(a, lo);
            b = std::min(b, hi);
            mid.at[r] = at - lo;
            at += std::max<int64_t>(0, hi - lo);
        }
        if (b - a >= 8) mid.a = a, mid.b = b;
        return mid;
    }

    // Output row (od, oh) of channel oc over W span [m0, m1), from the floats accumulate_row
    // laid out: channels-first [oc][D][H][W], channels-last [D][H][W][oc].
    void store_row(const float* row, int64_t oc, int64_t od, int64_t oh, int64_t m0, int64_t m1,
                   const Middle& mid, float* y) const {
        const gen::Dim3 O = pl_.out, S = pl_.stride, pb = pl_.pad_begin;
        const bool cl = pl_.layout == Layout::channels_last;
        const int64_t pitch = cl ? pl_.oc : 1;  // floats between outputs along W
        float* yr = cl ? y + ((od * O[1] + oh) * O[2]) * pl_.oc + oc
                       : y + (oc * O[0] + od) * O[1] * O[2] + oh * O[2];
        const size_t R = pl_.residues[2].size();
        if (mid.b > mid.a) {
            const float* src[4];
            for (size_t r = 0; r < R; ++r) src[r] = row + mid.at[r] + mid.a;
            interleave_rows_avx2(src, int64_t(R), mid.b - mid.a, yr + S[2] * mid.a - pb[2]);
        }
        for (size_t r = 0; r < R; ++r) {
            const auto [lo, hi] = run_in(pl_.residues[2][r], m0, m1);
            if (hi <= lo) continue;
            float* yo = yr + (S[2] * lo + int64_t(r) - pb[2]) * pitch;  // o of m = lo
            const int64_t step = S[2] * pitch;
            if (step == 1) {
                std::copy(row, row + (hi - lo), yo);
            } else if (mid.b == mid.a) {
                for (int64_t m = 0; m < hi - lo; ++m) yo[m * step] = row[m];
            } else {  // the m before and after the interleaved ones
                for (int64_t m = 0; m < mid.a - lo; ++m) yo[m * step] = row[m];
                for (int64_t m = mid.b - lo; m < hi - lo; ++m) yo[m * step] = row[m];
            }
            row += hi - lo;
        }
    }

    // dst[i] += src[i]: AVX2 where the column family runs (its kernels need AVX2 or more).
    __attribute__((target("avx2"))) static void add_row(float* dst, const float* src, int64_t n) {
        for (int64_t i = 0; i < n; ++i) dst[i] += src[i];
    }

    ScratchNeed scratch_need() const override {
        ScratchNeed need;
        need[ScratchKind::row] = pl_.band_floats;
        need[ScratchKind::plane] = pl_.panel_floats;
        return need;
    }

    const gen::GemmPlan& pl_;
    const KernelTables& t_;
};

}  // namespace

std::unique_ptr<JitDriver> make_driver(const gen::GemmPlan& plan, const KernelTables& t) {
    return std::make_unique<GemmDriver>(plan, t);
}

}  // namespace tconv
