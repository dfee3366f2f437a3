// SPDX-License-Identifier: Apache-2.0
// The spatial family's driver: per output row and oc block, one kernel call covers every W
// phase of the row (or a span of its tiles) into a row buffer [oc][row_len]; its valid part is
// then copied to the user's layout. Channels-last items take a chunk of consecutive blocks,
// transposed at once.
#include <algorithm>

#include "jit_driver.hpp"
#include "scratch.hpp"
#include "team.hpp"
#include "transpose.hpp"

namespace tconv {

namespace {

class SpatialDriver final : public JitDriver {
  public:
    SpatialDriver(const gen::SpatialPlan& plan, const KernelTables& t) : pl_(plan), t_(t) {}

    bool compute(const float* xbuf, void* out, const WorkPart& w, int t,
                 int nt) const override {
        const int64_t n0 = w.n0, n1 = w.n1;  // whole images, or a band of one image's rows
        const gen::InputLayout& L = pl_.input;
        const gen::Dim3 O = pl_.out, H = L.halo_lo, S = pl_.stride, pb = pl_.pad_begin;
        const int64_t nb = pl_.oc_blocks, img = L.image_floats();
        const int64_t shift = pb[2] - S[2] * pl_.row_m0;  // row buffer index of o = 0
        const int64_t rows = (n1 - n0) * (w.row1 - w.row0), per = item_blocks(rows, nt);
        const int64_t chunks = (nb + per - 1) / per;
        const int64_t span = span_tiles(rows * chunks, nt);  // W tiles per item
        const int64_t spans = (pl_.row_tiles + span - 1) / span, tile = S[2] * pl_.ur * pl_.vlen;
        const Share share(rows * chunks * spans, t, nt);
        float* rowbuf = thread_scratch().row.try_get(row_floats());
        if (!rowbuf) return false;
        // span, chunk, row, plane, image; a band (one image) starts at its first row
        Odometer<5> at({spans, chunks, O[1], O[0], kUnbounded},
                       share.begin + w.row0 * chunks * spans);
        for (int64_t item = share.begin; item < share.end; ++item, at.next()) {
            const int64_t t0 = at.digit[0] * span, t1 = std::min(pl_.row_tiles, t0 + span);
            const int64_t b0 = at.digit[1] * per, b1 = std::min(nb, b0 + per);
            const int64_t oh = at.digit[2], od = at.digit[3], n = n0 + at.digit[4];
            const int64_t rd = (od + pb[0]) % S[0], md = (od + pb[0]) / S[0];
            const int64_t rh = (oh + pb[1]) % S[1], mh = (oh + pb[1]) / S[1];
            const gen::RowPhasePlan& rp = pl_.row_phases[size_t(rd * S[1] + rh)];
            const int64_t oc0 = pl_.blocks[size_t(b0)].oc0;
            for (int64_t ocb = b0; ocb < b1; ++ocb) {
                const gen::OcBlock& blk = pl_.blocks[size_t(ocb)];
                gen::KernelArgs a;
                // Tile t0 starts ur vectors of m per tile further along the row.
                const int64_t mw = pl_.row_m0 + t0 * pl_.ur * pl_.vlen + H[2];
                a.x = rp.taps > 0 ? xbuf + (n - n0) * img +
                                        L.offset(blk.x_block, md + H[0], mh + H[1], mw)
                                  : xbuf;
                a.w = t_.weights + pl_.weight_offset(rp, ocb);
                a.bias = t_.bias + pl_.bias_offset(ocb);
                a.y = rowbuf + (blk.oc0 - oc0) * pl_.row_len + t0 * tile;
                a.blocks = t1 - t0;
                a.x_next = L.block_stride() * int64_t(sizeof(float));  // the next input channel
                a.y_next = pl_.row_len * int64_t(sizeof(float));       // the next output channel
                t_.kernels[size_t(rp.kernel[blk.last])](&a);
            }
            const gen::OcBlock& last = pl_.blocks[size_t(b1 - 1)];
            const int64_t channels = last.oc0 + last.valid - oc0;
            // The span's outputs [o0, o1): row buffer index o + shift; the last span ends the row.
            const int64_t o0 = std::clamp(t0 * tile - shift, int64_t(0), O[2]);
            const int64_t o1 = t1 == pl_.row_tiles ? O[2] : std::clamp(t1 * tile - shift, o0, O[2]);
            const int64_t pix = (od * O[1] + oh) * O[2] + o0;
            const float* src = rowbuf + shift + o0;
            if (pl_.io == DType::bf16)
                store(src, static_cast<uint16_t*>(out), channels, o1 - o0, n, oc0, pix);
            else
                store(src, static_cast<float*>(out), channels, o1 - o0, n, oc0, pix);
        }
        return true;
    }

    ScratchNeed scratch_need() const override { return ScratchNeed::row(row_floats()); }

  private:
    // The row buffer's `channels` rows from src, `len` outputs each, into the output at image
    // n, channel oc0, pixel pix of the plane: copied (channels_first) or transposed
    // (channels_last), and rounded where the output is bf16.
    template <class Out>
    void store(const float* src, Out* y, int64_t channels, int64_t len, int64_t n, int64_t oc0,
               int64_t pix) const {
        const gen::Dim3 O = pl_.out;
        const int64_t OC = pl_.oc, plane = O[0] * O[1] * O[2];
        if (pl_.layout == Layout::channels_first) {
            for (int64_t c = 0; c < channels; ++c)
                copy_row(src + c * pl_.row_len, y + (n * OC + oc0 + c) * plane + pix, len);
        } else {
            transpose_avx2(src, pl_.row_len, channels, len, y + (n * plane + pix) * OC + oc0, OC);
        }
    }

    // Blocks per item: the plan's, fewer when rows alone would leave threads under 8 items
    // each (a 1D layer's one row), but at least 16 channels' worth for the transpose.
    int64_t item_blocks(int64_t rows, int nt) const {
        const int64_t per = pl_.item_blocks, want = 8 * int64_t(nt);
        if (per == 1 || rows * ((pl_.oc_blocks + per - 1) / per) >= want) return per;
        const int64_t min16 = (16 + pl_.n_oc - 1) / pl_.n_oc;
        const int64_t chunks = (want + rows - 1) / rows;
        return std::clamp<int64_t>((pl_.oc_blocks + chunks - 1) / chunks, std::min(per, min16), per);
    }
    // W tiles per item: the whole row, or spans of it when rows x block chunks leave threads
    // under 8 items each (a 1D layer's one row: HiFi-GAN's last 16 -> 8 up-sampler ran on one
    // thread). One thread keeps whole rows: one call per row, as planned.
    int64_t span_tiles(int64_t items, int nt) const {
        const int64_t want = 8 * int64_t(nt);
        if (nt == 1 || items >= want) return pl_.row_tiles;
        const int64_t spans = std::min(pl_.row_tiles, (want + items - 1) / items);
        return (pl_.row_tiles + spans - 1) / spans;
    }
    int64_t row_floats() const { return pl_.item_blocks * pl_.n_oc * pl_.row_len; }
    const gen::SpatialPlan& pl_;
    const KernelTables& t_;
};

}  // namespace

std::unique_ptr<JitDriver> make_driver(const gen::SpatialPlan& plan, const KernelTables& t) {
    return std::make_unique<SpatialDriver>(plan, t);
}

}  // namespace tconv
