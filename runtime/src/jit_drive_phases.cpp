// SPDX-License-Identifier: Apache-2.0
// The driver of the phase-tiled families (channel, amx and depthwise): each stride phase's kernels
// over output rows x W chunks x channel blocks. The two families differ in their kernels and
// weights (each plan type says where a block's weights sit), not in this walk.
#include <algorithm>
#include <type_traits>
#include <utility>
#include <vector>

#include "jit_driver.hpp"
#include "jit_input.hpp"
#include "scratch.hpp"
#include "team.hpp"
#include "transpose.hpp"

namespace tconv {

namespace {

// Chunks of the input channels a block reduces in (ChannelPlan::ic_split; 1: one call).
int64_t ic_chunks(const gen::ChannelPlan& p) { return p.ic_split; }
template <class P>
int64_t ic_chunks(const P&) {
    return 1;
}
// Whether the output rows' transposes stream their lines (ChannelPlan::stream).
bool streams(const gen::ChannelPlan& p) { return p.stream; }
template <class P>
bool streams(const P&) {
    return false;
}

template <class FamilyPlan>
class PhaseDriver final : public JitDriver {
  public:
    PhaseDriver(const FamilyPlan& plan, const KernelTables& t) : pl_(plan), t_(t) {
        rows_ = pl_.row_order();
        list_calls();
        // The most calls a row chunk makes: per (r_d, r_h), every W phase's runs of tiles.
        for (int64_t rd = 0; rd < pl_.stride[0]; ++rd)
            for (int64_t rh = 0; rh < pl_.stride[1]; ++rh) {
                size_t calls = 0;
                for (int64_t rw = 0; rw < pl_.stride[2]; ++rw) {
                    const gen::PhasePlan& ph = pl_.phase(rd, rh, rw);
                    calls += ph.row_kernels.empty() ? 2 : ph.w_runs.size();
                }
                max_row_calls_ = std::max(max_row_calls_, calls);
            }
    }

    // Items run in the order (oc group, image row, W chunk, oc block within the group) over
    // the slab's blocks [b0, b1): a group's weights stay in L2 while the rows stream past, and
    // consecutive items share a chunk's input. Threads take contiguous shares of the items,
    // balanced by their vectors of channels (see item_at).
    bool compute(const float* xbuf, void* y, const WorkPart& w, int t,
                 int nt) const override {
        const gen::Dim3 O = pl_.out;
        const int64_t n0 = w.n0, n1 = w.n1;
        const auto [b0, b1] = pl_.slab_oc_blocks(w.slab);
        const int64_t nb = b1 - b0, nc = pl_.w_chunks, g = pl_.oc_group;
        // Rows [row0, row1) of every image: all of them, or a band of one image's.
        const int64_t rows_chunks = (n1 - n0) * (w.row1 - w.row0) * nc, skip = w.row0 * nc;
        const int64_t work = rows_chunks * (vectors_before(b1) - vectors_before(b0));
        const Share share{item_at(work * t / nt, rows_chunks, b0, b1),
                          item_at(work * (t + 1) / nt, rows_chunks, b0, b1)};
        if (ic_chunks(pl_) > 1) return compute_split(xbuf, y, w, share, rows_chunks, skip);
        // channels_first: each output row is built channels-last here, then transposed.
        float* rowbuf = thread_scratch().row.try_get(row_floats());
        if (!rowbuf) return false;
        if (nt == 1 && !calls_.empty() && w.row0 == 0 && w.row1 == pl_.out_rows()) {
            // A small layer on one thread: its image's steps, listed at compile time.
            const int64_t x_next = pl_.input.block_stride() * int64_t(sizeof(float));
            const bool cf = pl_.layout == Layout::channels_first;
            for (int64_t n = n0; n < n1; ++n) {
                char* yn = static_cast<char*>(y) + n * out_image_bytes();
                for (const Call& k : calls_) {
                    if (k.kernel < 0)
                        transpose_rows(rowbuf + k.x, k.rows, k.cols, yn, k.y);
                    else
                        invoke(k, xbuf + (n - n0) * pl_.input.image_floats(),
                               cf ? reinterpret_cast<char*>(rowbuf) : yn, x_next);
                }
            }
            return true;
        }
        if (g >= nb) {  // one oc group: items stepped without divisions (depthwise items are short)
            Odometer<5> at({nb, nc, O[1], O[0], kUnbounded}, share.begin + skip * nb);
            if (nb == 1 || max_row_calls_ > kMaxRowCalls) {
                for (int64_t item = share.begin; item < share.end; ++item, at.next()) {
                    const int64_t n = n0 + at.digit[4];
                    run(xbuf + (n - n0) * pl_.input.image_floats(), pl_.input, {}, y, rowbuf,
                        b0 + at.digit[0], at.digit[1], row_at(at.digit[2]), at.digit[3], n);
                }
                return true;
            }
            RowCall rows[kMaxRowCalls];  // the current row chunk's calls
            int64_t count = 0;
            for (int64_t item = share.begin; item < share.end; ++item, at.next()) {
                const int64_t n = n0 + at.digit[4];
                if (item == share.begin || at.digit[0] == 0) {
                    count = 0;
                    row_calls(pl_.input, {}, at.digit[1], row_at(at.digit[2]), at.digit[3], n,
                              [&](const RowCall& r) { rows[count++] = r; });
                }
                run_block(rows, count, xbuf + (n - n0) * pl_.input.image_floats(), y, rowbuf,
                          b0 + at.digit[0], at.digit[1], row_at(at.digit[2]), at.digit[3], n);
            }
            return true;
        }
        for (int64_t item = share.begin; item < share.end; ++item) {
            const int64_t grp = item / (g * rows_chunks), local = item - grp * g * rows_chunks;
            const int64_t gsize = std::min(g, nb - grp * g);
            const int64_t rc = local / gsize + skip, row = rc / nc;
            const int64_t n = n0 + row / (O[1] * O[0]);
            run(xbuf + (n - n0) * pl_.input.image_floats(), pl_.input, {}, y, rowbuf,
                b0 + grp * g + local % gsize, rc % nc, row_at(row % O[1]), (row / O[1]) % O[0],
                n);
        }
        return true;
    }

    bool reads_user_input() const override { return pl_.chunk_copies || pl_.band_copies; }
    bool compute_pass(int64_t, const void* x, float*, void* y, const WorkPart& w, int t,
                      int nt) const override {
        return pl_.band_copies ? compute_bands(x, y, w, t, nt) : compute_chunks(x, y, w, t, nt);
    }

    ScratchNeed scratch_need() const override {
        ScratchNeed need = ScratchNeed::row(row_floats() * split_slots());
        if (pl_.chunk_copies) need[ScratchKind::plane] = pl_.chunk_input.image_floats();
        if (pl_.band_copies) need[ScratchKind::plane] = pl_.band_input.image_floats();
        return need;
    }

  private:
    // One kernel call of an item: its kernel, input (floats into the image's buffer), output
    // (bytes into the output, or into the row buffer for channels_first), packed weights and
    // bias (floats), tiles and partial-sum flags (KernelArgs::sums). kernel -1: a
    // channels-first item's transpose of `rows` outputs x `cols` channels from row-buffer
    // float x into the output at element y.
    struct Call {
        int kernel = 0;
        int64_t x = 0, y = 0, w = 0, bias = 0, blocks = 0, sums = 0;
        int64_t rows = 0, cols = 0;
    };
    // The steps of one image, for small layers whose items run in image order (one oc group,
    // no input-channel chunks, bands or slabs): a tiny layer's call then costs its kernels
    // and a loop, not each item's index arithmetic (benchdnn's 8 -> 8 on 1-wide rows).
    std::vector<Call> calls_;
    // The output rows in the order items visit them (PhasedPlan::row_order).
    std::vector<int64_t> rows_;
    int64_t row_at(int64_t i) const { return rows_[size_t(i)]; }
    static constexpr size_t kListedCalls = 256;
    // Row chunks of at most kMaxRowCalls calls keep them for their blocks (run_block).
    static constexpr size_t kMaxRowCalls = 64;
    size_t max_row_calls_ = 0;
    void list_calls() {
        if (ic_chunks(pl_) > 1 || pl_.band_copies || pl_.chunk_copies || pl_.group_slab > 0 ||
            pl_.oc_group < pl_.oc_blocks)
            return;
        const gen::Dim3 O = pl_.out;
        for (int64_t od = 0; od < O[0]; ++od)
            for (int64_t oh : rows_)
                for (int64_t c = 0; c < pl_.w_chunks; ++c)
                    for (int64_t ocb = 0; ocb < pl_.oc_blocks; ++ocb) {
                        kernel_calls(pl_.input, {}, ocb, c, oh, od, 0, 0,
                                     [&](const Call& k) { calls_.push_back(k); });
                        if (pl_.layout == Layout::channels_first) {
                            const auto [src, rows, dst] = row_transpose(ocb, c, oh, od, 0);
                            Call t;
                            t.kernel = -1;
                            t.x = src;
                            t.y = dst;
                            t.rows = rows;
                            t.cols = pl_.blocks[size_t(ocb)].valid;
                            calls_.push_back(t);
                        }
                        if (calls_.size() > kListedCalls) {
                            calls_.clear();
                            return;
                        }
                    }
    }
    int64_t out_image_bytes() const {
        return pl_.out[0] * pl_.out[1] * pl_.out[2] * pl_.oc *
               (pl_.io == DType::bf16 ? 2 : int64_t(sizeof(float)));
    }
    void invoke(const Call& k, const float* image, char* ybase, int64_t x_next) const {
        gen::KernelArgs a;
        a.x = image + k.x;
        a.y = ybase + k.y;
        a.w = t_.weights + k.w;
        a.bias = t_.bias + k.bias;
        a.blocks = k.blocks;
        a.sums = k.sums;
        a.x_next = x_next;  // cvec: the next ic block
        t_.kernels[size_t(k.kernel)](&a);
    }

    // Input-channel chunks (ChannelPlan::ic_split): the thread's items of each oc group run
    // chunk after chunk, so that the chunk's weights serve every row from L2. Each item keeps
    // one owner through the chunks (the same share of every chunk), so its sums need no
    // barrier. channels_first: each item's row outputs wait in their own slot of the thread's
    // row buffers until the last chunk finishes and transposes them.
    bool compute_split(const float* xbuf, void* y, const WorkPart& w, Share share,
                       int64_t rows_chunks, int64_t skip) const {
        const gen::Dim3 O = pl_.out;
        const auto [b0, b1] = pl_.slab_oc_blocks(w.slab);
        const int64_t nb = b1 - b0, nc = pl_.w_chunks, g = std::min(pl_.oc_group, nb);
        float* slots = thread_scratch().row.try_get(row_floats() * split_slots());
        if (!slots) return false;
        const int64_t per_group = g * rows_chunks;
        for (int64_t grp = share.begin / per_group; grp * per_group < share.end; ++grp) {
            const int64_t gsize = std::min(g, nb - grp * g);
            const int64_t lo = std::max(share.begin, grp * per_group);
            const int64_t hi = std::min(share.end, grp * per_group + gsize * rows_chunks);
            for (int64_t k = 0; k < ic_chunks(pl_); ++k)
                for (int64_t item = lo; item < hi; ++item) {
                    const int64_t local = item - grp * per_group;
                    const int64_t rc = local / gsize + skip, row = rc / nc;
                    const int64_t n = w.n0 + row / (O[1] * O[0]);
                    float* slot = slots + (item - lo) * row_floats();
                    run(xbuf + (n - w.n0) * pl_.input.image_floats(), pl_.input, {}, y, slot,
                        b0 + grp * g + local % gsize, rc % nc, row_at(row % O[1]),
                        (row / O[1]) % O[0], n, k);
                }
        }
        return true;
    }
    // Items of one oc group a thread may own, each a row buffer when split (channels_first).
    int64_t split_slots() const {
        if (ic_chunks(pl_) == 1 || pl_.layout != Layout::channels_first) return 1;
        return std::min(pl_.oc_group, pl_.oc_blocks) * pl_.batch_group * pl_.out_rows() *
               pl_.w_chunks;
    }

    // channels_first: one W chunk's outputs (the buffer is reused by every chunk, so it stays in
    // cache however long the row: a 1D layer's row is the whole sequence).
    int64_t row_floats() const {
        return pl_.layout == Layout::channels_first
                   ? (pl_.w_chunk > 0 ? std::min(pl_.out[2], pl_.stride[2] * pl_.w_chunk)
                                      : pl_.out[2]) *
                         pl_.row_pitch
                   : 1;
    }
    const FamilyPlan& pl_;
    const KernelTables& t_;

    // The calling thread's row buffer and a window buffer of `floats` for per-chunk or
    // per-band copies (nullptr when out of memory). The window holds no layer's zero halo.
    std::pair<float*, float*> window_buffers(int64_t floats) const {
        float* rowbuf = thread_scratch().row.try_get(row_floats());
        ThreadScratch& scratch = thread_scratch().plane;
        float* buf = scratch.try_get(floats);
        scratch.halo_owner = 0;
        return {rowbuf, buf};
    }

    // Per-chunk copies (one-row images, x the user's input): items (image, W chunk) in equal
    // shares, each chunk's columns copied into the thread's buffer, then every oc block run
    // over it. A chunk's outputs have one owner whatever nt is.
    bool compute_chunks(const void* x, void* y, const WorkPart& w, int t, int nt) const {
        const auto [rowbuf, buf] = window_buffers(pl_.chunk_input.image_floats());
        if (!rowbuf || !buf) return false;
        const int64_t nc = pl_.w_chunks;
        const Share share((w.n1 - w.n0) * nc, t, nt);
        for (int64_t item = share.begin; item < share.end; ++item) {
            const int64_t n = w.n0 + item / nc, c = item % nc;
            const auto [c0, c1] = pl_.chunk_columns[size_t(c)];
            copy_input_columns(pl_, pl_.chunk_input, x, n, c0, c1, buf);
            for (int64_t ocb = 0; ocb < pl_.oc_blocks; ++ocb)
                run(buf, pl_.chunk_input, {0, 0, c0}, y, rowbuf, ocb, c, 0, 0, n);
        }
        return true;
    }

    // Per-band copies (x the user's input): items (image, band) in equal shares, each band's
    // input window copied into the thread's buffer, then the band's rows x W chunks x oc
    // blocks run over it. A band is output rows of a 2D image, or output planes of a 3D one
    // (PhasedPlan::band_axis). A band's outputs have one owner whatever nt is.
    bool compute_bands(const void* x, void* y, const WorkPart& w, int t, int nt) const {
        const auto [rowbuf, buf] = window_buffers(pl_.band_input.image_floats());
        if (!rowbuf || !buf) return false;
        const int64_t nb = int64_t(pl_.band_windows.size()), per = pl_.band_rows;
        const size_t axis = size_t(pl_.band_axis);
        const Share share((w.n1 - w.n0) * nb, t, nt);
        for (int64_t item = share.begin; item < share.end; ++item) {
            const int64_t n = w.n0 + item / nb, b = item % nb;
            const auto [p0, p1] = pl_.band_windows[size_t(b)];
            copy_input_window(pl_, pl_.band_input, x, n, int(axis), p0, p1, buf);
            gen::Dim3 at{0, 0, 0};
            at[axis] = p0;
            const int64_t o0 = b * per, o1 = std::min(pl_.out[axis], o0 + per);
            for (int64_t od = 0; od < pl_.out[0]; ++od) {
                if (axis == 0 && (od < o0 || od >= o1)) continue;
                for (int64_t oh = axis == 1 ? o0 : 0; oh < (axis == 1 ? o1 : pl_.out[1]); ++oh)
                    for (int64_t c = 0; c < pl_.w_chunks; ++c)
                        for (int64_t ocb = 0; ocb < pl_.oc_blocks; ++ocb)
                            run(buf, pl_.band_input, at, y, rowbuf, ocb, c, oh, od, n);
            }
        }
        return true;
    }

    // A kernel call of a row chunk without its oc block: the block adds its input block and
    // lane to x, its first channel to y (channels-last), and picks its kernel, weights and bias.
    struct RowCall {
        const gen::PhasePlan* ph = nullptr;
        int kernel[2] = {0, 0};  // [full block, last block]
        int64_t x = 0, y = 0, blocks = 0;
    };

    // The kernel calls of W chunk c of output row (n, od, oh), reading input laid out as L from
    // padded position `at`, to f(RowCall): every W phase's runs of tiles.
    template <class F>
    void row_calls(const gen::InputLayout& L, const gen::Dim3& at, int64_t c, int64_t oh,
                   int64_t od, int64_t n, F f) const {
        const gen::Dim3 O = pl_.out, H = L.halo_lo, S = pl_.stride, pb = pl_.pad_begin;
        const int64_t OC = pl_.oc, chunk = pl_.w_chunk;
        const bool cf = pl_.layout == Layout::channels_first;
        const int64_t rd = (od + pb[0]) % S[0], md = (od + pb[0]) / S[0];
        const int64_t rh = (oh + pb[1]) % S[1], mh = (oh + pb[1]) / S[1];
        const int64_t start = c * chunk;
        const int64_t out_bytes = cf || pl_.io != DType::bf16 ? 4 : 2;
        const int64_t yrow = cf ? 0 : (((n * O[0] + od) * O[1] + oh) * O[2]) * OC * out_bytes;
        const int64_t pix = (cf ? pl_.row_pitch : OC) * out_bytes;  // bytes
        // The chunk's outputs are columns [S_w * start, S_w * (start + chunk)); the row buffer
        // holds them from its start.
        const int64_t ow_base = cf ? S[2] * start : 0;
        for (int64_t rw = 0; rw < S[2]; ++rw) {
            const gen::PhasePlan& ph = pl_.phase(rd, rh, rw);
            if (ph.m_count[2] <= start) continue;
            const int64_t mw = ph.m_lo[2] + start;
            RowCall k;
            k.ph = &ph;
            const int64_t x = ph.has_taps() ? L.offset(0, md + H[0] - at[0], mh + H[1] - at[1],
                                                       mw + H[2] - at[2])
                                            : 0;
            const int64_t yw = yrow + (S[2] * mw + rw - pb[2] - ow_base) * pix;
            ph.for_each_call(md, mh, start, std::min(chunk, ph.m_count[2] - start), pl_.ur,
                             [&](const int (&kernel)[2], int64_t m, int64_t tiles) {
                                 k.kernel[0] = kernel[0];
                                 k.kernel[1] = kernel[1];
                                 k.x = ph.has_taps() ? x + m * L.pixel_floats() : 0;
                                 k.y = yw + m * S[2] * pix;
                                 k.blocks = tiles;
                                 f(k);
                             });
        }
    }

    // Row call r for oc block ocb (input-channel chunk ic_chunk of ic_chunks(pl_)).
    Call block_call(const RowCall& r, const gen::InputLayout& L, int64_t ocb,
                    int64_t ic_chunk) const {
        const gen::OcBlock& blk = pl_.blocks[size_t(ocb)];
        Call k;
        k.kernel = r.kernel[blk.last];
        if (r.ph->has_taps()) {
            int64_t x_block = blk.x_block;
            if constexpr (std::is_same_v<FamilyPlan, gen::ChannelPlan>)
                x_block += ic_chunk * pl_.chunk_blocks();
            k.x = r.x + x_block * L.block_stride() + blk.x_lane;
        }
        const bool cf = pl_.layout == Layout::channels_first;
        k.y = r.y + (cf ? 0 : blk.oc0 * (pl_.io == DType::bf16 ? 2 : 4));
        if constexpr (std::is_same_v<FamilyPlan, gen::ChannelPlan>)
            k.w = pl_.weight_offset(*r.ph, ocb, ic_chunk);
        else
            k.w = pl_.weight_offset(*r.ph, ocb);
        k.bias = pl_.bias_offset(ocb);
        k.blocks = r.blocks;
        const int64_t chunks = ic_chunks(pl_);
        k.sums = (ic_chunk > 0 ? 1 : 0) | (ic_chunk == chunks - 1 ? 2 : 0);
        return k;
    }

    // The kernel calls of one item (as run() below), to f(Call).
    template <class F>
    void kernel_calls(const gen::InputLayout& L, const gen::Dim3& at, int64_t ocb, int64_t c,
                      int64_t oh, int64_t od, int64_t n, int64_t ic_chunk, F f) const {
        row_calls(L, at, c, oh, od, n,
                  [&](const RowCall& r) { f(block_call(r, L, ocb, ic_chunk)); });
    }

    // One item: oc block ocb of W chunk c of output row (n, od, oh), reading image n's input
    // laid out as L, whose first element is padded input position `at` (D, H, W). Channels-last
    // kernels store into y as the plan stores the output (io); channels-first rows are built in
    // floats, then transposed into y (narrowed there for bf16). With input-channel chunks,
    // the item's part for chunk `ic_chunk`: the last finishes the sums and transposes them.
    void run(const float* image, const gen::InputLayout& L, const gen::Dim3& at, void* y,
             float* rowbuf, int64_t ocb, int64_t c, int64_t oh, int64_t od, int64_t n,
             int64_t ic_chunk = 0) const {
        const bool cf = pl_.layout == Layout::channels_first;
        char* ybase = cf ? reinterpret_cast<char*>(rowbuf) : static_cast<char*>(y);
        const int64_t x_next = L.block_stride() * int64_t(sizeof(float));
        kernel_calls(L, at, ocb, c, oh, od, n, ic_chunk,
                     [&](const Call& k) { invoke(k, image, ybase, x_next); });
        if (ic_chunk == ic_chunks(pl_) - 1) finish_item(y, rowbuf, ocb, c, oh, od, n);
    }

    // run() for one oc block of the row chunk whose calls `rows` holds (row_calls over the
    // plan's input buffer): consecutive items of one row differ in their block alone, so a
    // layer of many small blocks (16 -> 192 in 24 one-vector blocks) pays the row's phases
    // and runs once, not once per block.
    void run_block(const RowCall* rows, int64_t count, const float* image, void* y,
                   float* rowbuf, int64_t ocb, int64_t c, int64_t oh, int64_t od,
                   int64_t n) const {
        const bool cf = pl_.layout == Layout::channels_first;
        char* ybase = cf ? reinterpret_cast<char*>(rowbuf) : static_cast<char*>(y);
        const int64_t x_next = pl_.input.block_stride() * int64_t(sizeof(float));
        for (int64_t i = 0; i < count; ++i)
            invoke(block_call(rows[i], pl_.input, ocb, 0), image, ybase, x_next);
        finish_item(y, rowbuf, ocb, c, oh, od, n);
    }

    // A finished item's outputs: channels-first, its W chunk's rows transposed from the row
    // buffer into y.
    void finish_item(void* y, float* rowbuf, int64_t ocb, int64_t c, int64_t oh, int64_t od,
                     int64_t n) const {
        if (pl_.layout != Layout::channels_first) return;
        const auto [src, rows, dst] = row_transpose(ocb, c, oh, od, n);
        transpose_rows(rowbuf + src, rows, pl_.blocks[size_t(ocb)].valid, static_cast<char*>(y),
                       dst);
    }

    // A channels-first item's outputs: W chunk c's columns [S_w * start, S_w * (start +
    // chunk)) of row (n, od, oh), oc block ocb. Their first float in the row buffer, their
    // count, and the output element they go to.
    std::array<int64_t, 3> row_transpose(int64_t ocb, int64_t c, int64_t oh, int64_t od,
                                         int64_t n) const {
        const gen::Dim3 O = pl_.out;
        const int64_t S_w = pl_.stride[2], start = c * pl_.w_chunk;
        const int64_t plane = O[0] * O[1] * O[2];
        const int64_t ow0 = std::min(O[2], S_w * start);
        const int64_t ow1 = std::min(O[2], S_w * (start + pl_.w_chunk));
        const int64_t at = (n * pl_.oc + pl_.blocks[size_t(ocb)].oc0) * plane +
                           (od * O[1] + oh) * O[2] + ow0;
        return {(ow0 - S_w * start) * pl_.row_pitch, ow1 - ow0, at};
    }
    // Transposes `rows` outputs x `cols` channels from the row buffer into the planes of the
    // output y (bytes) from element `at` (narrowed there for bf16).
    void transpose_rows(const float* src, int64_t rows, int64_t cols, char* y,
                        int64_t at) const {
        const int64_t plane = pl_.out[0] * pl_.out[1] * pl_.out[2];
        if (pl_.io == DType::bf16) {
            uint16_t* dst = reinterpret_cast<uint16_t*>(y) + at;
            if (pl_.isa >= Isa::avx512)
                transpose_avx512(src, pl_.row_pitch, rows, cols, dst, plane);
            else
                transpose_avx2(src, pl_.row_pitch, rows, cols, dst, plane);
            return;
        }
        float* dst = reinterpret_cast<float*>(y) + at;
        if (pl_.isa >= Isa::avx512)
            transpose_avx512(src, pl_.row_pitch, rows, cols, dst, plane, streams(pl_));
        else
            transpose_avx2(src, pl_.row_pitch, rows, cols, dst, plane);
    }

    // Vectors of channels in the oc blocks before block b (b may be oc_blocks).
    int64_t vectors_before(int64_t b) const {
        return b < pl_.oc_blocks ? pl_.blocks[size_t(b)].vector0 : pl_.oc_vectors;
    }

    // The first item at or after `work` vectors of channel-block work of blocks [b0, b1), in
    // compute()'s order: a group's last block may hold fewer vectors (DCGAN 256->128 in blocks
    // of 3, 3, 2), so equal item counts would leave one thread up to a block's share behind.
    int64_t item_at(int64_t work, int64_t rows_chunks, int64_t b0, int64_t b1) const {
        const int64_t g = pl_.oc_group, first = vectors_before(b0);
        int64_t start = b0;  // the oc group holding `work`: the last one at most
        while (start + g < b1 && rows_chunks * (vectors_before(start + g) - first) <= work)
            start += g;
        const int64_t end = std::min(b1, start + g), gsize = end - start;
        const int64_t v0 = vectors_before(start), vectors = vectors_before(end) - v0;
        const int64_t rest = work - rows_chunks * (v0 - first);
        const int64_t rc = rest / vectors, within = rest - rc * vectors;
        // The first block of the row chunk starting at or after `within` (a whole item).
        int64_t j = 0;
        while (j < gsize && vectors_before(start + j) - v0 < within) ++j;
        return (start - b0) * rows_chunks + std::min(rows_chunks * gsize, rc * gsize + j);
    }
};

}  // namespace

std::unique_ptr<JitDriver> make_driver(const gen::ChannelPlan& plan, const KernelTables& t) {
    if (plan.fold) return make_fold_driver(plan, t);
    return std::make_unique<PhaseDriver<gen::ChannelPlan>>(plan, t);
}

std::unique_ptr<JitDriver> make_driver(const gen::PairPlan& plan, const KernelTables& t) {
    return std::make_unique<PhaseDriver<gen::PairPlan>>(plan, t);
}

std::unique_ptr<JitDriver> make_driver(const gen::DepthwisePlan& plan, const KernelTables& t) {
    if (plan.in_place) return make_dw_row_driver(plan, t);
    return std::make_unique<PhaseDriver<gen::DepthwisePlan>>(plan, t);
}

}  // namespace tconv
