// SPDX-License-Identifier: Apache-2.0
// The channel family's driver for folded rows (gen::ChannelPlan::fold): per image, D plane,
// H phase and oc block, each W phase's run of outputs (its rows laid end to end over the
// padded input's width) in whole tiles into a per-thread buffer [p][row_pitch], then the
// run's kept outputs scattered into the user's layout.
#include <algorithm>
#include <cstring>

#include "jit_driver.hpp"
#include "scratch.hpp"
#include "team.hpp"

namespace tconv {

namespace {

class FoldDriver final : public JitDriver {
  public:
    FoldDriver(const gen::ChannelPlan& plan, const KernelTables& t) : pl_(plan), t_(t) {
        for (const gen::PhasePlan& ph : pl_.phases) run_max_ = std::max(run_max_, pl_.fold_len(ph));
    }

    // Items in the order (oc block, H phase, output plane, image): consecutive items share a
    // block's weights for the phase, which then stay in L2 over the planes and images.
    bool compute(const float* xbuf, void* out, const WorkPart& w, int t, int nt) const override {
        float* y = static_cast<float*>(out);  // folded plans store floats (gen::PlanBase::io)
        const auto [b0, b1] = pl_.slab_oc_blocks(w.slab);
        const int64_t images = w.n1 - w.n0, planes = pl_.out[0], SH = pl_.stride[1];
        const Share share(images * planes * SH * (b1 - b0), t, nt);
        float* buf = thread_scratch().row.try_get(row_floats());
        if (!buf) return false;
        for (int64_t item = share.begin; item < share.end; ++item) {
            const int64_t n = w.n0 + item % images, od = item / images % planes;
            const int64_t rh = item / (images * planes) % SH;
            run(xbuf, y, buf, w.n0, b0 + item / (images * planes * SH), rh, od, n);
        }
        return true;
    }

    ScratchNeed scratch_need() const override { return ScratchNeed::row(row_floats()); }

  private:
    int64_t row_floats() const { return std::max<int64_t>(1, run_max_ * pl_.row_pitch); }
    const gen::ChannelPlan& pl_;
    const KernelTables& t_;
    int64_t run_max_ = 0;

    void run(const float* xbuf, float* y, float* buf, int64_t n0, int64_t ocb, int64_t rh,
             int64_t od, int64_t n) const {
        const gen::InputLayout& L = pl_.input;
        const gen::Dim3 H = L.halo_lo, S = pl_.stride, pb = pl_.pad_begin;
        const int64_t rd = (od + pb[0]) % S[0], md = (od + pb[0]) / S[0];
        const int64_t pitch = pl_.row_pitch, Wp = L.padded[2], ur = pl_.ur;
        const gen::OcBlock& blk = pl_.blocks[size_t(ocb)];
        for (int64_t rw = 0; rw < S[2]; ++rw) {
            const gen::PhasePlan& ph = pl_.phase(rd, rh, rw);
            const int64_t len = pl_.fold_len(ph);
            if (len == 0) continue;
            gen::KernelArgs a;
            const float* x = ph.has_taps() ? xbuf + (n - n0) * L.image_floats() +
                                                 L.offset(blk.x_block, md + H[0],
                                                          ph.m_lo[1] + H[1], ph.m_lo[2] + H[2]) +
                                                 blk.x_lane
                                           : xbuf;
            a.w = t_.weights + pl_.weight_offset(ph, ocb);
            a.bias = t_.bias + pl_.bias_offset(ocb);
            a.x_next = L.block_stride() * int64_t(sizeof(float));
            const int64_t full = len / ur;
            for (int tail = 0; tail < 2; ++tail) {
                const int64_t tiles = tail ? (len % ur != 0 ? 1 : 0) : full;
                if (tiles == 0) continue;
                const int64_t p0 = tail ? full * ur : 0;
                a.x = ph.has_taps() ? x + p0 * L.pixel_floats() : x;
                a.y = buf + p0 * pitch;
                a.blocks = tiles;
                t_.kernels[size_t(ph.kernel[tail][blk.last])](&a);
            }
            scatter(buf, y, ph, blk, n, od, rh, rw, Wp);
        }
    }

    // The run's outputs at mw < the phase's W count into the user's layout.
    void scatter(const float* buf, float* y, const gen::PhasePlan& ph, const gen::OcBlock& blk,
                 int64_t n, int64_t od, int64_t rh, int64_t rw, int64_t Wp) const {
        const gen::Dim3 O = pl_.out, S = pl_.stride, pb = pl_.pad_begin;
        const int64_t OC = pl_.oc, plane = O[0] * O[1] * O[2], valid = blk.valid;
        for (int64_t mh = 0; mh < ph.m_count[1]; ++mh) {
            const int64_t oh = S[1] * (ph.m_lo[1] + mh) + rh - pb[1];
            for (int64_t mw = 0; mw < ph.m_count[2]; ++mw) {
                const int64_t ow = S[2] * (ph.m_lo[2] + mw) + rw - pb[2];
                const float* src = buf + (mh * Wp + mw) * pl_.row_pitch;
                const int64_t pix = (od * O[1] + oh) * O[2] + ow;
                if (pl_.layout == Layout::channels_last) {
                    std::memcpy(y + (n * plane + pix) * OC + blk.oc0, src,
                                size_t(valid) * sizeof(float));
                } else {
                    float* dst = y + (n * OC + blk.oc0) * plane + pix;
                    for (int64_t c = 0; c < valid; ++c) dst[c * plane] = src[c];
                }
            }
        }
    }
};

}  // namespace

std::unique_ptr<JitDriver> make_fold_driver(const gen::ChannelPlan& plan, const KernelTables& t) {
    return std::make_unique<FoldDriver>(plan, t);
}

}  // namespace tconv
