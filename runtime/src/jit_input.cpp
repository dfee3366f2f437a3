// SPDX-License-Identifier: Apache-2.0
// Input copies into the zero-halo buffer: one padded row of one block per item (blocks give 1D
// layers, a single row, work to split), transposed, repeated or copied as the layouts differ.
#include "jit_input.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

#include "tconv/bf16.hpp"
#include "team.hpp"
#include "transpose.hpp"

namespace tconv {

namespace {

// Zeros the `lanes` floats of pixels [p0, p1) of a row whose pixels are `pitch` floats apart
// (one block's lanes of an interleaved buffer, or whole pixels of a block-major one).
void zero_pixels(float* row, int64_t p0, int64_t p1, int64_t lanes, int64_t pitch) {
    if (p1 <= p0) return;
    if (pitch == lanes) {
        std::memset(row + p0 * pitch, 0, size_t((p1 - p0) * lanes) * sizeof(float));
        return;
    }
    for (int64_t p = p0; p < p1; ++p)
        std::memset(row + p * pitch, 0, size_t(lanes) * sizeof(float));
}

inline float as_float(float v) { return v; }
inline float as_float(uint16_t v) { return bf16_to_float(v); }

// One input row of block `ib` whose lanes repeat channels or take one channel of each group
// (the depthwise family): lane l of pixel w holds channel first + (l / expand) * step; padding
// lanes are zero. Per pixel the block's distinct channels are gathered (one value per group) and then
// repeated into the lanes by permutes: the buffer is `expand` times the gathered values.
template <class Src>
void copy_expanded(const gen::PlanBase& pl, const Src* x, int64_t n, int64_t id, int64_t ih,
                   const gen::InBlock& ib, float* in) {
    const gen::Dim3 I = pl.in;
    const int64_t IC = pl.ic, B = pl.input.lanes, plane = I[0] * I[1] * I[2];
    const int64_t row = (id * I[1] + ih) * I[2], E = ib.expand;
    const int64_t values = (ib.lanes + E - 1) / E;
    const bool cl = pl.layout == Layout::channels_last;
    if (E == 1) {  // one channel of each group, channels-first (copy_group_lanes: channels-last)
        transpose_avx2(x + (n * IC + ib.first) * plane + row, ib.step * plane, values, I[2], in, B);
        for (int64_t w = 0; w < I[2]; ++w) std::fill(in + w * B + values, in + (w + 1) * B, 0.0f);
        return;
    }
    // Gathered values per pixel, then zeros up to what the permutes read.
    const int64_t pitch = (B + E - 1) / E + 8;
    constexpr int64_t kPixels = 64;  // gathered pixels expanded at once
    thread_local std::vector<float> gathered;
    if (int64_t(gathered.size()) < pitch * kPixels) gathered.resize(size_t(pitch * kPixels));
    for (int64_t w0 = 0; w0 < I[2]; w0 += kPixels) {
        const int64_t count = std::min(kPixels, I[2] - w0);
        for (int64_t w = 0; w < count; ++w) {
            float* dst = gathered.data() + w * pitch;
            if (cl) {
                const Src* px = x + (n * plane + row + w0 + w) * IC + ib.first;
                for (int64_t g = 0; g < values; ++g) dst[g] = as_float(px[g * ib.step]);
            } else {
                const Src* px = x + (n * IC + ib.first) * plane + row + w0 + w;
                const int64_t step = ib.step * plane;
                for (int64_t g = 0; g < values; ++g) dst[g] = as_float(px[g * step]);
            }
            std::fill(dst + values, dst + pitch, 0.0f);
        }
        expand_lanes_avx2(gathered.data(), pitch, E, B, in + w0 * B, B, count);
    }
}

// Channels-last input into the depthwise family's blocks of one lane per group (lane g of block
// j holds channel g * icg + j: InBlock step icg, no repeats): a row's pixels are a (pixels x
// groups) x icg matrix, transposed into the icg blocks at once, one row per item. Gathering
// each block's lanes from every pixel read each pixel's channels icg times, a quarter of a
// 32 x 4 layer's time.
template <class Src>
void copy_group_lanes(const gen::PlanBase& pl, const Src* x, float* xbuf, const WorkPart& w,
                      int t, int nt, bool halo_ready) {
    const gen::InputLayout& L = pl.input;
    const gen::Dim3 I = pl.in, P = L.padded, H = L.halo_lo;
    const int64_t B = L.lanes, icg = int64_t(L.blocks.size()), G = L.blocks[0].lanes;
    const int64_t IC = pl.ic, img = L.image_floats(), block = L.block_floats();
    const int64_t rows = w.in_row1 - w.in_row0;
    const Share share((w.n1 - w.n0) * rows, t, nt);
    for (int64_t item = share.begin; item < share.end; ++item) {
        const int64_t n = w.n0 + item / rows, prow = w.in_row0 + item % rows;
        const int64_t pd = prow / P[1], ph = prow % P[1], id = pd - H[0], ih = ph - H[1];
        float* row = xbuf + (n - w.n0) * img + L.offset(0, pd, ph, 0);
        const bool inside = id >= 0 && id < I[0] && ih >= 0 && ih < I[1];
        for (int64_t j = 0; j < icg && !halo_ready; ++j) {
            float* dst = row + j * block;
            if (!inside) {
                std::memset(dst, 0, size_t(P[2] * B) * sizeof(float));
                continue;
            }
            std::memset(dst, 0, size_t(H[2] * B) * sizeof(float));
            std::memset(dst + (H[2] + I[2]) * B, 0, size_t((P[2] - H[2] - I[2]) * B) * sizeof(float));
            for (int64_t v = 0; v < I[2] && B > G; ++v)  // padding lanes, never written below
                std::fill(dst + (H[2] + v) * B + G, dst + (H[2] + v + 1) * B, 0.0f);
        }
        if (!inside) continue;
        const Src* src = x + ((n * I[0] + id) * I[1] + ih) * I[2] * IC;
        if (B == G) {  // the blocks' pixels are back to back: the whole row in one transpose
            transpose_avx2(src, icg, I[2] * G, icg, row + H[2] * B, block);
            continue;
        }
        for (int64_t v = 0; v < I[2]; ++v)
            transpose_avx2(src + v * IC, icg, G, icg, row + (H[2] + v) * B, block);
    }
}

// Channels-last input into one-lane blocks (the spatial kernels' channels-first buffer) is a
// transpose of whole rows: one item per row.
template <class Src>
void copy_rows_to_channels_first(const gen::PlanBase& pl, const Src* x, float* xbuf,
                                 int64_t n0, int64_t n1, int t, int nt, bool halo_ready) {
    const gen::InputLayout& L = pl.input;
    const gen::Dim3 I = pl.in, P = L.padded, H = L.halo_lo;
    const int64_t IC = pl.ic, row_len = P[2], chan = L.block_floats();
    const Share share((n1 - n0) * P[0] * P[1], t, nt);
    for (int64_t row = share.begin; row < share.end; ++row) {
        const int64_t n = n0 + row / (P[0] * P[1]), prow = row % (P[0] * P[1]);
        const int64_t id = prow / P[1] - H[0], ih = prow % P[1] - H[1];
        float* first = xbuf + (n - n0) * L.image_floats() + L.offset(0, prow / P[1], prow % P[1], 0);
        const bool inside = id >= 0 && id < I[0] && ih >= 0 && ih < I[1];
        for (int64_t c = 0; c < IC && !halo_ready; ++c) {
            float* dst = first + c * chan;
            if (!inside) {
                std::memset(dst, 0, size_t(row_len) * sizeof(float));
                continue;
            }
            std::memset(dst, 0, size_t(H[2]) * sizeof(float));
            std::memset(dst + H[2] + I[2], 0, size_t(P[2] - H[2] - I[2]) * sizeof(float));
        }
        if (inside)
            transpose_avx2(x + (((n * I[0] + id) * I[1] + ih) * I[2]) * IC, IC, I[2], IC,
                           first + H[2], chan);
    }
}

// Channels-first input into one-lane blocks (the spatial kernels' buffer): each row a plain
// copy. One item per (image, channel), its rows in an inner loop: per-row items cost more
// bookkeeping than their copies on small maps (64 channels of 14x14: more instructions than
// the layer's kernels).
template <class Src>
void copy_planes(const gen::PlanBase& pl, const Src* x, float* xbuf, const WorkPart& w, int t,
                 int nt, bool halo_ready) {
    const gen::InputLayout& L = pl.input;
    const gen::Dim3 I = pl.in, P = L.padded, H = L.halo_lo;
    const auto [b0, b1] = pl.slab_input_blocks(w.slab);
    const int64_t NB = b1 - b0, plane = I[0] * I[1] * I[2], img = L.image_floats();
    const size_t lo = size_t(H[2]) * sizeof(float), row = size_t(I[2]) * sizeof(float),
                 hi = size_t(P[2] - H[2] - I[2]) * sizeof(float);
    const Share share((w.n1 - w.n0) * NB, t, nt);
    for (int64_t item = share.begin; item < share.end; ++item) {
        const int64_t n = w.n0 + item / NB, blk = b0 + item % NB;
        const Src* src = x + (n * pl.ic + L.blocks[size_t(blk)].first) * plane;
        for (int64_t prow = w.in_row0; prow < w.in_row1; ++prow) {
            const int64_t pd = prow / P[1], ph = prow % P[1], id = pd - H[0], ih = ph - H[1];
            float* dst = xbuf + (n - w.n0) * img + L.offset(blk, pd, ph, 0);
            const bool inside = id >= 0 && id < I[0] && ih >= 0 && ih < I[1];
            if (!inside) {
                if (!halo_ready) std::memset(dst, 0, lo + row + hi);
                continue;
            }
            if (!halo_ready) {
                std::memset(dst, 0, lo);
                std::memset(reinterpret_cast<char*>(dst + H[2]) + row, 0, hi);
            }
            copy_row(src + (id * I[1] + ih) * I[2], dst + H[2], I[2]);
        }
    }
}

// Channels-last input whose one block holds all its channels, without a W halo, on one thread:
// the buffer's rows inside the input are the user's rows back to back, so each D plane's are
// one copy (a tiny layer's per-row copies cost 2.9 of its 5.3 thousand instructions a call).
template <class Src>
void copy_contiguous_rows(const gen::PlanBase& pl, const Src* x, float* xbuf,
                          const WorkPart& w, bool halo_ready) {
    const gen::InputLayout& L = pl.input;
    const gen::Dim3 I = pl.in, P = L.padded, H = L.halo_lo;
    const int64_t row = P[2] * L.lanes, img = L.image_floats();
    const int64_t b0 = pl.slab_input_blocks(w.slab)[0];
    for (int64_t n = w.n0; n < w.n1; ++n)
        for (int64_t prow = w.in_row0; prow < w.in_row1;) {
            const int64_t pd = prow / P[1], ph = prow % P[1], id = pd - H[0];
            const int64_t end = std::min(w.in_row1, (pd + 1) * P[1]), ph_end = ph + end - prow;
            float* dst = xbuf + (n - w.n0) * img + L.offset(b0, pd, ph, 0);
            prow = end;
            if (id < 0 || id >= I[0]) {
                if (!halo_ready) std::memset(dst, 0, size_t((ph_end - ph) * row) * sizeof(float));
                continue;
            }
            const int64_t lo = std::clamp(H[1], ph, ph_end);
            const int64_t hi = std::clamp(H[1] + I[1], lo, ph_end);
            if (!halo_ready) {
                std::memset(dst, 0, size_t((lo - ph) * row) * sizeof(float));
                std::memset(dst + (hi - ph) * row, 0, size_t((ph_end - hi) * row) * sizeof(float));
            }
            copy_row(x + ((n * I[0] + id) * I[1] + lo - H[1]) * row, dst + (lo - ph) * row,
                     (hi - lo) * row);
        }
}

// The spatial kernel's pair planes (InputLayout::bf16_pairs in one-lane blocks): each block's
// padded planes of 4-byte lanes holding its two channels' bf16. Channels-first: one item per
// (image, block), its two channel rows interleaved row by row (the rows of a band: copy_planes);
// channels-last: one item per row, its pixels' channel pairs transposed as 4-byte words (each
// group's channels pair up evenly, so a pixel's pairs are its aligned words).
void copy_pair_planes(const gen::PlanBase& pl, const uint16_t* x, float* xbuf,
                      const WorkPart& w, int t, int nt, bool halo_ready) {
    const gen::InputLayout& L = pl.input;
    const gen::Dim3 I = pl.in, P = L.padded, H = L.halo_lo;
    const int64_t IC = pl.ic, plane = I[0] * I[1] * I[2], img = L.image_floats();
    const size_t lo = size_t(H[2]) * 4, row = size_t(I[2]) * 4, hi = size_t(P[2] - H[2] - I[2]) * 4;
    auto fill = [&](float* dst, bool inside) {  // a padded row's halo, or all of it outside
        if (halo_ready) return;
        if (!inside) return void(std::memset(dst, 0, lo + row + hi));
        std::memset(dst, 0, lo);
        std::memset(reinterpret_cast<char*>(dst + H[2]) + row, 0, hi);
    };
    if (pl.layout == Layout::channels_last) {
        const int64_t NB = int64_t(L.blocks.size()), chan = L.block_floats();
        const Share share((w.n1 - w.n0) * P[0] * P[1], t, nt);
        for (int64_t item = share.begin; item < share.end; ++item) {
            const int64_t n = w.n0 + item / (P[0] * P[1]), prow = item % (P[0] * P[1]);
            const int64_t id = prow / P[1] - H[0], ih = prow % P[1] - H[1];
            float* first = xbuf + (n - w.n0) * img + L.offset(0, prow / P[1], prow % P[1], 0);
            const bool inside = id >= 0 && id < I[0] && ih >= 0 && ih < I[1];
            for (int64_t b = 0; b < NB; ++b) fill(first + b * chan, inside);
            if (inside)  // 4-byte words moved as they are: the float transpose only shuffles
                transpose_avx2(reinterpret_cast<const float*>(
                                   x + (((n * I[0] + id) * I[1] + ih) * I[2]) * IC),
                               IC / 2, I[2], NB, first + H[2], chan);
        }
        return;
    }
    const auto [b0, b1] = pl.slab_input_blocks(w.slab);
    const int64_t NB = b1 - b0;
    const Share share((w.n1 - w.n0) * NB, t, nt);
    for (int64_t item = share.begin; item < share.end; ++item) {
        const int64_t n = w.n0 + item / NB, blk = b0 + item % NB;
        const uint16_t* src = x + (n * IC + L.blocks[size_t(blk)].first) * plane;
        for (int64_t prow = w.in_row0; prow < w.in_row1; ++prow) {
            const int64_t pd = prow / P[1], ph = prow % P[1], id = pd - H[0], ih = ph - H[1];
            float* dst = xbuf + (n - w.n0) * img + L.offset(blk, pd, ph, 0);
            const bool inside = id >= 0 && id < I[0] && ih >= 0 && ih < I[1];
            fill(dst, inside);
            if (!inside) continue;
            const uint16_t* r = src + (id * I[1] + ih) * I[2];
            interleave_bf16_rows_avx512(r, r + plane, I[2],
                                        reinterpret_cast<uint32_t*>(dst + H[2]));
        }
    }
}

// The AMX kernels' buffer (InputLayout::bf16_pairs): each pixel's channels of a group as bf16,
// two to a lane, zero past the group's; channels-last pixels are copied as they are,
// channels-first rows interleaved pair by pair. Items are padded rows of one group, cut along
// W into pieces when there are fewer rows than threads (1D layers).
void copy_input_pairs(const gen::PlanBase& pl, const uint16_t* x, float* xbuf, const WorkPart& w,
                      int t, int nt, bool halo_ready) {
    const gen::InputLayout& L = pl.input;
    if (L.lanes == 1) return copy_pair_planes(pl, x, xbuf, w, t, nt, halo_ready);
    const gen::Dim3 I = pl.in, P = L.padded, H = L.halo_lo;
    const auto [b0, b1] = pl.slab_input_blocks(w.slab);
    const int64_t IC = pl.ic, C2 = 2 * L.lanes, NB = b1 - b0, img = L.image_floats();
    const int64_t plane = I[0] * I[1] * I[2];
    const bool cl = pl.layout == Layout::channels_last;
    constexpr int64_t kMinPiece = 256;
    const int64_t rows = w.in_row1 - w.in_row0, row_items = (w.n1 - w.n0) * rows * NB;
    const int64_t pieces =
        row_items == 0 || row_items >= nt
            ? 1
            : std::max<int64_t>(1, std::min((nt + row_items - 1) / row_items, I[2] / kMinPiece));
    const Share share(row_items * pieces, t, nt);
    Odometer<5> at({pieces, NB, P[1], P[0], kUnbounded}, share.begin + w.in_row0 * NB * pieces);
    for (int64_t item = share.begin; item < share.end; ++item, at.next()) {
        const int64_t piece = at.digit[0], blk = b0 + at.digit[1], n = w.n0 + at.digit[4];
        const int64_t id = at.digit[3] - H[0], ih = at.digit[2] - H[1];
        const int64_t w0 = I[2] * piece / pieces, w1 = I[2] * (piece + 1) / pieces;
        auto* dst = reinterpret_cast<uint16_t*>(xbuf + (n - w.n0) * img +
                                                L.offset(blk, at.digit[3], at.digit[2], 0));
        const bool inside = id >= 0 && id < I[0] && ih >= 0 && ih < I[1];
        if (!halo_ready && piece == 0) {
            if (!inside) {
                std::memset(dst, 0, size_t(P[2] * C2) * 2);
                continue;
            }
            std::memset(dst, 0, size_t(H[2] * C2) * 2);
            std::memset(dst + (H[2] + I[2]) * C2, 0, size_t((P[2] - H[2] - I[2]) * C2) * 2);
        }
        if (!inside) continue;
        const gen::InBlock& ib = L.blocks[size_t(blk)];
        const int64_t nc = ib.lanes;
        uint16_t* out = dst + (H[2] + w0) * C2;
        if (cl) {
            const uint16_t* src = x + (((n * I[0] + id) * I[1] + ih) * I[2] + w0) * IC + ib.first;
            if (nc == C2 && nc == IC) {
                std::memcpy(out, src, size_t((w1 - w0) * nc) * 2);
                continue;
            }
            for (int64_t v = 0; v < w1 - w0; ++v) {
                std::memcpy(out + v * C2, src + v * IC, size_t(nc) * 2);
                if (!halo_ready) std::memset(out + v * C2 + nc, 0, size_t(C2 - nc) * 2);
            }
            continue;
        }
        // Channel rows paired and transposed into the pixels' lanes in one pass (16 x 16
        // register tiles; the separate pairing and 4-byte transpose it replaced took 13% of
        // U-Net's 128 -> 64 at 196x196 in bf16, this 9%).
        const uint16_t* src = x + (n * IC + ib.first) * plane + (id * I[1] + ih) * I[2] + w0;
        const int64_t np = (nc + 1) / 2;
        auto* lanes = reinterpret_cast<uint32_t*>(out);
        pair_rows_avx512(src, plane, nc, w1 - w0, lanes, L.lanes);
        if (!halo_ready)
            for (int64_t v = 0; v < w1 - w0; ++v)
                std::memset(lanes + v * L.lanes + np, 0, size_t(L.lanes - np) * 4);
    }
}

template <class Src>
void copy_input(const gen::PlanBase& pl, const Src* x, float* xbuf, const WorkPart& w, int t,
                int nt, bool halo_ready) {
    const int64_t n0 = w.n0, n1 = w.n1;
    const gen::InputLayout& L = pl.input;
    const gen::Dim3 I = pl.in, P = L.padded, H = L.halo_lo;
    const auto [b0, b1] = pl.slab_input_blocks(w.slab);
    const int64_t IC = pl.ic, B = L.lanes, NB = b1 - b0, PF = L.pixel_floats();
    const int64_t img = L.image_floats();
    const int64_t plane = I[0] * I[1] * I[2];
    const bool cl = pl.layout == Layout::channels_last;
    if (cl && B == 1) return copy_rows_to_channels_first(pl, x, xbuf, n0, n1, t, nt, halo_ready);
    const bool expanded =
        std::any_of(L.blocks.begin() + b0, L.blocks.begin() + b1,
                    [](const gen::InBlock& ib) { return ib.expand > 1 || ib.step > 1; });
    if (B == 1 && !expanded) return copy_planes(pl, x, xbuf, w, t, nt, halo_ready);
    const gen::InBlock& first = L.blocks[size_t(b0)];
    if (cl && first.expand == 1 && first.step > 1 && first.step == NB)
        return copy_group_lanes(pl, x, xbuf, w, t, nt, halo_ready);
    if (cl && nt == 1 && NB == 1 && L.blocks[size_t(b0)].first == 0 &&
        L.blocks[size_t(b0)].lanes == IC && B == IC && P[2] == I[2] && !expanded)
        return copy_contiguous_rows(pl, x, xbuf, w, halo_ready);
    // Rows [in_row0, in_row1) of every image: all of them, or a band of one image's. When they
    // are fewer than the threads (a 1D layer has one row per image), each row is cut along W
    // into pieces of at least kMinPiece pixels, so that every thread copies: hifigan_v2's
    // 16 x 16384 input was copied by one thread while the other waited.
    constexpr int64_t kMinPiece = 512;
    const int64_t rows = w.in_row1 - w.in_row0, row_items = (n1 - n0) * rows * NB;
    const int64_t pieces =
        expanded || row_items == 0 || row_items >= nt
            ? 1
            : std::max<int64_t>(1, std::min((nt + row_items - 1) / row_items, I[2] / kMinPiece));
    const Share share(row_items * pieces, t, nt);
    Odometer<5> at({pieces, NB, P[1], P[0], kUnbounded}, share.begin + w.in_row0 * NB * pieces);
    for (int64_t item = share.begin; item < share.end; ++item, at.next()) {
        const int64_t piece = at.digit[0], blk = b0 + at.digit[1], n = n0 + at.digit[4];
        const int64_t id = at.digit[3] - H[0], ih = at.digit[2] - H[1];
        const int64_t w0 = I[2] * piece / pieces, w1 = I[2] * (piece + 1) / pieces;
        float* dst = xbuf + (n - n0) * img + L.offset(blk, at.digit[3], at.digit[2], 0);
        const bool inside = id >= 0 && id < I[0] && ih >= 0 && ih < I[1];
        if (!halo_ready && piece == 0) {  // the halo belongs to the row's first piece
            if (!inside) {
                zero_pixels(dst, 0, P[2], B, PF);
                continue;
            }
            zero_pixels(dst, 0, H[2], B, PF);
            zero_pixels(dst, H[2] + I[2], P[2], B, PF);
        }
        if (!inside) continue;
        float* in = dst + (H[2] + w0) * PF;
        const int64_t width = w1 - w0;
        const gen::InBlock& ib = L.blocks[size_t(blk)];
        const int64_t c0 = ib.first, nc = ib.lanes;
        if (ib.expand > 1 || ib.step > 1) {
            copy_expanded(pl, x, n, id, ih, ib, in);  // whole rows: pieces == 1
        } else if (cl) {
            const Src* src = x + (((n * I[0] + id) * I[1] + ih) * I[2] + w0) * IC + c0;
            copy_rows_avx2(src, IC, width, nc, in, PF, B);
        } else {
            const Src* src = x + (n * IC + c0) * plane + (id * I[1] + ih) * I[2] + w0;
            if (B == 1)  // one-lane blocks (the spatial kernels): a plain row copy
                copy_row(src, in, width);
            else
                transpose_avx2(src, plane, nc, width, in, PF);
            if (!halo_ready)
                for (int64_t c = nc; c < B; ++c)
                    for (int64_t v = 0; v < width; ++v) in[v * PF + c] = 0.0f;
        }
    }
}

template <class Src>
void copy_input_columns(const gen::PlanBase& pl, const gen::InputLayout& dst, const Src* x,
                        int64_t n, int64_t w0, int64_t w1, float* buf) {
    const gen::InputLayout& L = pl.input;
    const int64_t B = L.lanes, IC = pl.ic, I = pl.in[2], H = L.halo_lo[2];
    const int64_t PF = dst.pixel_floats();
    const int64_t i0 = std::clamp<int64_t>(w0 - H, 0, I), i1 = std::clamp<int64_t>(w1 - H, i0, I);
    const int64_t lo = std::clamp<int64_t>(H - w0, 0, w1 - w0);  // columns before the input
    const int64_t width = i1 - i0, hi = w1 - w0 - lo - width;        // in it, and after it
    for (size_t blk = 0; blk < L.blocks.size(); ++blk) {
        float* row = buf + dst.offset(int64_t(blk), 0, 0, 0);
        zero_pixels(row, 0, lo, B, PF);
        zero_pixels(row, lo + width, lo + width + hi, B, PF);
        if (width == 0) continue;
        const gen::InBlock& ib = L.blocks[blk];
        float* in = row + lo * PF;
        if (pl.layout == Layout::channels_last) {
            copy_rows_avx2(x + (n * I + i0) * IC + ib.first, IC, width, ib.lanes, in, PF, B);
            continue;
        }
        transpose_avx2(x + (n * IC + ib.first) * I + i0, I, ib.lanes, width, in, PF);
        for (int64_t c = ib.lanes; c < B; ++c)
            for (int64_t v = 0; v < width; ++v) in[v * PF + c] = 0.0f;
    }
}

template <class Src>
void copy_input_window(const gen::PlanBase& pl, const gen::InputLayout& dst, const Src* x,
                       int64_t n, int axis, int64_t p0, int64_t p1, float* buf) {
    const gen::InputLayout& L = pl.input;
    const gen::Dim3 I = pl.in, H = L.halo_lo;
    const int64_t B = L.lanes, IC = pl.ic, plane = I[0] * I[1] * I[2], PW = L.padded[2];
    const int64_t PF = dst.pixel_floats();
    const int64_t d0 = axis == 0 ? p0 : 0, d1 = axis == 0 ? p1 : L.padded[0];
    const int64_t h0 = axis == 1 ? p0 : 0, h1 = axis == 1 ? p1 : L.padded[1];
    for (size_t blk = 0; blk < L.blocks.size(); ++blk) {
        const gen::InBlock& ib = L.blocks[blk];
        for (int64_t pd = d0; pd < d1; ++pd)
            for (int64_t ph = h0; ph < h1; ++ph) {
                float* row = buf + dst.offset(int64_t(blk), pd - d0, ph - h0, 0);
                const int64_t id = pd - H[0], ih = ph - H[1];
                if (id < 0 || id >= I[0] || ih < 0 || ih >= I[1]) {
                    zero_pixels(row, 0, PW, B, PF);
                    continue;
                }
                zero_pixels(row, 0, H[2], B, PF);
                zero_pixels(row, H[2] + I[2], PW, B, PF);
                float* in = row + H[2] * PF;
                const int64_t pix = (id * I[1] + ih) * I[2];
                if (pl.layout == Layout::channels_last) {
                    copy_rows_avx2(x + (n * plane + pix) * IC + ib.first, IC, I[2], ib.lanes, in,
                                   PF, B);
                    continue;
                }
                transpose_avx2(x + (n * IC + ib.first) * plane + pix, plane, ib.lanes, I[2], in,
                               PF);
                for (int64_t c = ib.lanes; c < B; ++c)
                    for (int64_t v = 0; v < I[2]; ++v) in[v * PF + c] = 0.0f;
            }
    }
}

}  // namespace

void copy_input_window(const gen::PlanBase& pl, const gen::InputLayout& dst, const void* x,
                       int64_t n, int axis, int64_t p0, int64_t p1, float* buf) {
    if (pl.io == DType::bf16)
        return copy_input_window(pl, dst, static_cast<const uint16_t*>(x), n, axis, p0, p1, buf);
    copy_input_window(pl, dst, static_cast<const float*>(x), n, axis, p0, p1, buf);
}

// The user's input is read as the plan stores it: floats, or bf16 widened as it is copied.
void copy_input(const gen::PlanBase& pl, const void* x, float* xbuf, const WorkPart& w, int t,
                int nt, bool halo_ready) {
    if (pl.input.bf16_pairs)
        return copy_input_pairs(pl, static_cast<const uint16_t*>(x), xbuf, w, t, nt, halo_ready);
    if (pl.io == DType::bf16)
        return copy_input(pl, static_cast<const uint16_t*>(x), xbuf, w, t, nt, halo_ready);
    copy_input(pl, static_cast<const float*>(x), xbuf, w, t, nt, halo_ready);
}

void copy_input_columns(const gen::PlanBase& pl, const gen::InputLayout& dst, const void* x,
                        int64_t n, int64_t w0, int64_t w1, float* buf) {
    if (pl.io == DType::bf16)
        return copy_input_columns(pl, dst, static_cast<const uint16_t*>(x), n, w0, w1, buf);
    copy_input_columns(pl, dst, static_cast<const float*>(x), n, w0, w1, buf);
}

}  // namespace tconv
