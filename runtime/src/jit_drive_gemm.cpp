// SPDX-License-Identifier: Apache-2.0
// The column family's driver: per image, pass 1 runs the matrix product (every tile of pixels
// of every row block and group) into the column buffer the call's threads share; pass 2 adds
// the columns into the user's output rows (col2im), bias and activation by a JIT epilogue.
// Each band of output rows (W span) has one owner in pass 2 and each column tile one in pass 1,
// whatever the thread count.
#include <immintrin.h>

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
    // (contiguous adds, a tap's rows at once: accumulate_band) in the row's part of the
    // thread's buffer; then bias and activation over the whole band in one epilogue call, and
    // the rows go out residue by residue.
    bool col2im(const float* col, float* y, int t, int nt) const {
        const gen::Dim3 O = pl_.out;
        const bool cl = interleaved();
        const int64_t cb = channel_block();  // channels per item
        float* buf = thread_scratch().row.try_get(cb * pl_.band_floats);
        if (!buf) return false;
        const int64_t rows = O[0] * O[1], per = pl_.col2im_rows, bands = (rows + per - 1) / per;
        const int64_t spans = pl_.w_spans, cells = bands * spans;
        const int64_t blocks = (pl_.oc + cb - 1) / cb;
        // Channels-last rows interleave every channel in the same lines: a thread takes whole
        // bands and spans (channel block innermost), so two threads never write one line but
        // at a share's edge (channel-major shares made two threads 1.6-2x slower than one: 96
        // -> 4 at 174x185).
        const Share share(blocks * cells, t, nt);
        thread_local std::vector<WSegment> segs;  // the current span's, at most K_w
        thread_local std::vector<char> touched;   // per band row: any tap added to it
        for (int64_t item = share.begin; item < share.end; ++item) {
            const int64_t oc0 = (cl ? item % blocks : item / cells) * cb;
            const int64_t oc1 = std::min(pl_.oc, oc0 + cb);
            const int64_t cell = cl ? item / blocks : item % cells;
            const int64_t band = cell / spans, m0 = pl_.w_m0 + cell % spans * pl_.w_span_m;
            const int64_t m1 = std::min(pl_.w_m_end, m0 + pl_.w_span_m);
            const int64_t r0 = band * per, r1 = std::min(rows, r0 + per);
            const int64_t width = spans == 1 ? pl_.w_row : span_floats(m0, m1);
            const int64_t vectors = ((r1 - r0) * width + pl_.vlen - 1) / pl_.vlen;
            try {
                w_segments(m0, m1, segs);
                touched.assign(size_t(r1 - r0), 0);
            } catch (const std::bad_alloc&) {
                return false;  // as a scratch buffer that cannot be had
            }
            for (int64_t oc = oc0; oc < oc1; ++oc) {
                float* cbuf = buf + (oc - oc0) * pl_.band_floats;
                std::fill(cbuf, cbuf + vectors * pl_.vlen, 0.0f);
                accumulate_band(col, oc, r0, r1, width, segs, cbuf, touched.data());
                gen::KernelArgs a;  // bias and activation over the whole band
                a.x = nullptr;
                a.w = nullptr;
                a.bias = t_.bias + oc;
                a.y = cbuf;
                a.blocks = vectors;
                t_.kernels[size_t(pl_.epilogue)](&a);
            }
            if (cl) {
                for (int64_t r = r0, od = r0 / O[1], oh = r0 % O[1]; r < r1; ++r) {
                    store_pixels(buf + (r - r0) * width, oc0, oc1 - oc0, od, oh, m0, m1, y);
                    if (++oh == O[1]) oh = 0, ++od;
                }
                continue;
            }
            const Middle mid = middle(m0, m1);
            for (int64_t r = r0, od = r0 / O[1], oh = r0 % O[1]; r < r1; ++r) {
                // A whole row no tap reaches (strides over the kernel: up to 3/4 of the rows
                // of k2 s4) is one value, act(bias), as its buffer row says: a fill. Not in W
                // spans (a one-channel channels-last row): a span without taps says nothing
                // of the rest of its row.
                if (!touched[size_t(r - r0)] && spans == 1)
                    fill_row(buf[(r - r0) * width], oc0, od, oh, y);
                else
                    store_row(buf + (r - r0) * width, oc0, od, oh, m0, m1, mid, y);
                if (++oh == O[1]) oh = 0, ++od;
            }
        }
        return true;
    }

    // Channels-last outputs of several channels (one channel's are laid out as channels-first).
    bool interleaved() const { return pl_.layout == Layout::channels_last && pl_.oc > 1; }
    // Channels per item: 8 (a vector of them per pixel) where their bands fit 64 KiB, fewer
    // for bands of long rows, so the thread's buffer stays bounded.
    int64_t channel_block() const {
        if (!interleaved()) return 1;
        return std::clamp<int64_t>(int64_t(16384) / pl_.band_floats, 1, 8);
    }
    // Channels-last: the channels of an item, whose band rows lie band_floats apart in the
    // thread's buffer, go out together: each W residue's run is transposed into its pixels
    // (S_w pixels apart), a vector of channels at a time, where one store per output moved a
    // channels-last layer's outputs at a few per cycle.
    void store_pixels(const float* row, int64_t oc0, int64_t n, int64_t od, int64_t oh,
                      int64_t m0, int64_t m1, float* y) const {
        const gen::Dim3 O = pl_.out, S = pl_.stride, pb = pl_.pad_begin;
        float* yr = y + ((od * O[1] + oh) * O[2]) * pl_.oc + oc0;
        for (size_t r = 0; r < pl_.residues[2].size(); ++r) {
            const auto [lo, hi] = run_in(pl_.residues[2][r], m0, m1);
            if (hi <= lo) continue;
            transpose_avx2(row, pl_.band_floats, n, hi - lo,
                           yr + (S[2] * lo + int64_t(r) - pb[2]) * pl_.oc, S[2] * pl_.oc);
            row += hi - lo;
        }
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

    // Adds every live tap's column segments of channel oc into the band's output rows [r0, r1)
    // (D x H flattened, `width` floats each). Per (d, h) tap the rows it reaches are every
    // S_h-th row of its H residue, fed by consecutive input rows: one strided 2D add per W
    // segment covers them all (per row and segment, a call and its bookkeeping cost more than
    // the adds of short rows: 4 groups of 32 -> 3 k4 s2 at 8x9, 45 instructions an output).
    // Each output still sums its taps in (d, h, w) order, as one row at a time did. Marks the
    // band rows that took any add in `touched`.
    __attribute__((target("avx2"))) void accumulate_band(const float* col, int64_t oc,
                                                         int64_t r0, int64_t r1, int64_t width,
                                                         const std::vector<WSegment>& segs,
                                                         float* buf, char* touched) const {
        const gen::Dim3 I = pl_.in, K = pl_.kernel, O = pl_.out, S = pl_.stride;
        const gen::Dim3 pb = pl_.pad_begin;
        const int64_t taps = pl_.kernel_points();
        const int64_t g = oc / pl_.oc_g, ocl = oc % pl_.oc_g;
        const float* cg = col + (g * pl_.rows + ocl * taps) * pl_.col_pitch;
        for (int64_t od = r0 / O[1]; od * O[1] < r1; ++od) {
            const int64_t h0 = std::max<int64_t>(r0 - od * O[1], 0);
            const int64_t h1 = std::min<int64_t>(r1 - od * O[1], O[1]);
            const gen::GemmPlan::Residue& rd = pl_.residues[0][size_t((od + pb[0]) % S[0])];
            const int64_t md = (od + pb[0]) / S[0];
            float* plane = buf + (od * O[1] - r0) * width;
            for (int td = 0; td < rd.taps.count; ++td) {
                const int64_t id = md - (rd.taps.c0 + td * rd.taps.cstep);
                if (id < 0 || id >= I[0]) continue;
                const int64_t kd = rd.taps.k0 + td * rd.taps.kstep;
                // The band's first S_h rows, each the first of its H residue rh, with its m
                // and the rows of that residue in the band.
                int64_t rh = (h0 + pb[1]) % S[1], mh = (h0 + pb[1]) / S[1];
                for (int64_t first = h0; first < std::min(h1, h0 + S[1]);
                     ++first, rh = rh + 1 == S[1] ? 0 : rh + 1, mh += rh == 0) {
                    const int64_t rows = (h1 - first + S[1] - 1) / S[1];
                    const gen::GemmPlan::Residue& res = pl_.residues[1][size_t(rh)];
                    for (int th = 0; th < res.taps.count; ++th) {
                        // Row j reads input row mh + j - c: those inside [0, I_h).
                        const int64_t c = res.taps.c0 + th * res.taps.cstep;
                        const int64_t j0 = std::max<int64_t>(0, c - mh);
                        const int64_t j1 = std::min<int64_t>(rows, I[1] + c - mh);
                        if (j1 <= j0) continue;
                        const int64_t kh = res.taps.k0 + th * res.taps.kstep;
                        const float* ck = cg + (kd * K[1] + kh) * K[2] * pl_.col_pitch +
                                          (id * I[1] + mh + j0 - c) * I[2];
                        float* dst = plane + (first + j0 * S[1]) * width;
                        if (!segs.empty())
                            for (int64_t j = j0; j < j1; ++j)
                                touched[od * O[1] + first + j * S[1] - r0] = 1;
                        for (const WSegment& sg : segs)
                            add_rows(dst + sg.dst, S[1] * width, ck + sg.src, I[2], sg.len,
                                     j1 - j0);
                    }
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
        if (interleaved() || R < 2 || R > 4) return mid;
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

    // Channels-first output row (od, oh) of channel oc over W span [m0, m1), from the floats
    // accumulate_band laid out.
    void store_row(const float* row, int64_t oc, int64_t od, int64_t oh, int64_t m0, int64_t m1,
                   const Middle& mid, float* y) const {
        const gen::Dim3 O = pl_.out, S = pl_.stride, pb = pl_.pad_begin;
        float* yr = y + (oc * O[0] + od) * O[1] * O[2] + oh * O[2];
        const size_t R = pl_.residues[2].size();
        if (mid.b > mid.a) {
            const float* src[4];
            for (size_t r = 0; r < R; ++r) src[r] = row + mid.at[r] + mid.a;
            interleave_rows_avx2(src, int64_t(R), mid.b - mid.a, yr + S[2] * mid.a - pb[2]);
        }
        for (size_t r = 0; r < R; ++r) {
            const auto [lo, hi] = run_in(pl_.residues[2][r], m0, m1);
            if (hi <= lo) continue;
            float* yo = yr + S[2] * lo + int64_t(r) - pb[2];  // o of m = lo
            const int64_t step = S[2];
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

    // Channels-first output row (od, oh) of channel oc, every W output = v.
    __attribute__((target("avx2"))) void fill_row(float v, int64_t oc, int64_t od, int64_t oh,
                                                  float* y) const {
        const gen::Dim3 O = pl_.out;
        float* yr = y + ((oc * O[0] + od) * O[1] + oh) * O[2];
        const __m256 vv = _mm256_set1_ps(v);
        int64_t w = 0;
        for (; w + 8 <= O[2]; w += 8) _mm256_storeu_ps(yr + w, vv);
        for (; w < O[2]; ++w) yr[w] = v;
    }

    // dst[r * dst_step + i] += src[r * src_step + i] for r < rows, i < n: AVX2 where the
    // column family runs (its kernels need AVX2 or more).
    __attribute__((target("avx2"), always_inline)) static inline void add_rows(
        float* dst, int64_t dst_step, const float* src, int64_t src_step, int64_t n,
        int64_t rows) {
        for (int64_t r = 0; r < rows; ++r, dst += dst_step, src += src_step) {
            int64_t i = 0;
            for (; i + 8 <= n; i += 8)
                _mm256_storeu_ps(dst + i, _mm256_add_ps(_mm256_loadu_ps(dst + i),
                                                        _mm256_loadu_ps(src + i)));
            // The rest in 4-, 2- and 1-float pieces, no loop: rows of a few floats are common.
            if (i + 4 <= n) {
                _mm_storeu_ps(dst + i, _mm_add_ps(_mm_loadu_ps(dst + i), _mm_loadu_ps(src + i)));
                i += 4;
            }
            if (i + 2 <= n) {
                const __m128 a = _mm_castsi128_ps(_mm_loadl_epi64((const __m128i*)(dst + i)));
                const __m128 b = _mm_castsi128_ps(_mm_loadl_epi64((const __m128i*)(src + i)));
                _mm_storel_epi64((__m128i*)(dst + i), _mm_castps_si128(_mm_add_ps(a, b)));
                i += 2;
            }
            if (i < n) dst[i] += src[i];
        }
    }

    ScratchNeed scratch_need() const override {
        ScratchNeed need;
        need[ScratchKind::row] = pl_.band_floats * channel_block();
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
