// SPDX-License-Identifier: Apache-2.0
// The channels-first depthwise family's driver: threads take contiguous shares of the (image,
// output channel) items. A channel's input is copied into the thread's own zero-halo plane (the
// plan's input layout, block 0) once for the output channels reading it; then per output plane
// od, one kernel call runs the full groups of S_h rows and one the last, shorter group, straight
// into the user's output. The halo stays zero across channels and calls: only the interior is
// ever written.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <type_traits>

#include "jit_driver.hpp"
#include "scratch.hpp"
#include "team.hpp"
#include "transpose.hpp"

namespace tconv {

namespace {

class PlaneDriver final : public JitDriver {
  public:
    PlaneDriver(const gen::DepthwiseCfPlan& plan, const KernelTables& t) : pl_(plan), t_(t) {}

    bool reads_user_input() const override { return true; }

    bool compute(const float* x, void* y, const WorkPart& w, int t, int nt) const override {
        return run(x, static_cast<float*>(y), w, t, nt);
    }

    // The user's tensors as the plan stores them (gen::PlanBase::io).
    bool compute_pass(int64_t, const void* x, float*, void* y, const WorkPart& w, int t,
                      int nt) const override {
        if (pl_.io == DType::bf16)
            return run(static_cast<const uint16_t*>(x), static_cast<uint16_t*>(y), w, t, nt);
        return run(static_cast<const float*>(x), static_cast<float*>(y), w, t, nt);
    }

    ScratchNeed scratch_need() const override {
        ScratchNeed need;
        need[ScratchKind::plane] = pl_.input.block_floats();
        return need;
    }

  private:
    // Src and Out: float, or uint16_t (bf16: widened in the plane copy, rounded by the kernels).
    template <class Src, class Out>
    bool run(const Src* x, Out* y, const WorkPart& w, int t, int nt) const {
        const int64_t n0 = w.n0, n1 = w.n1;  // whole images: no slabs or bands
        const gen::InputLayout& L = pl_.input;
        const gen::Dim3 I = pl_.in, O = pl_.out, H = L.halo_lo, S = pl_.stride;
        const int64_t OC = pl_.oc, in_plane = I[0] * I[1] * I[2], out_plane = O[0] * O[1] * O[2];
        ThreadScratch& scratch = thread_scratch().plane;
        float* buf = scratch.try_get(L.block_floats());
        if (!buf) return false;
        if (scratch.halo_owner != id_) {
            std::memset(buf, 0, size_t(L.block_floats()) * sizeof(float));
            scratch.halo_owner = id_;
        }
        const Share share((n1 - n0) * OC, t, nt);
        int64_t copied = -1;  // the (image, input channel) the plane holds
        for (int64_t item = share.begin; item < share.end; ++item) {
            const int64_t n = n0 + item / OC, c = item % OC;
            const int64_t src = n * pl_.ic + pl_.blocks[size_t(c)].x_block;
            if (src != copied) {
                for (int64_t id = 0; id < I[0]; ++id)
                    for (int64_t ih = 0; ih < I[1]; ++ih) {
                        const Src* row = x + src * in_plane + (id * I[1] + ih) * I[2];
                        float* dst = buf + L.offset(0, id + H[0], ih + H[1], H[2]);
                        if constexpr (std::is_same_v<Src, uint16_t>) {
                            if (pl_.tap_pairs) {
                                pair_row(row, I[2], L.padded[2] - H[2], dst);
                                continue;
                            }
                        }
                        copy_row(row, dst, I[2]);
                    }
                copied = src;
            }
            for (int64_t od = 0; od < O[0]; ++od) {
                const int64_t rd = (od + pl_.pad_begin[0]) % S[0];
                const int64_t md = (od + pl_.pad_begin[0]) / S[0];
                const gen::PlanePhasePlan& pp = pl_.plane_phases[size_t(rd)];
                gen::KernelArgs a;
                a.x = pp.has_taps ? buf + L.offset(0, md + H[0], H[1], H[2]) : buf;
                a.w = t_.weights + pl_.weight_offset(c, rd);
                a.bias = t_.bias + pl_.bias_offset(c);
                Out* yp = y + (n * OC + c) * out_plane + od * O[1] * O[2];
                a.y = yp;
                a.w_tiles = pl_.w_tiles;
                if (pp.kernel[0] >= 0) {
                    a.blocks = pl_.row_groups;
                    t_.kernels[size_t(pp.kernel[0])](&a);
                }
                if (pp.kernel[1] >= 0) {  // the rows after the full groups
                    if (pp.has_taps) a.x = buf + L.offset(0, md + H[0], H[1] + pl_.row_groups, H[2]);
                    a.y = yp + pl_.row_groups * S[1] * O[2];
                    a.blocks = 1;
                    t_.kernels[size_t(pp.kernel[1])](&a);
                }
            }
        }
        return true;
    }

    // Tap pairs: element i of the padded row (from the input's first, up to `room` of them)
    // holds the bf16 pair (x[i], x[i - pair_shift]), zero outside the input; past the row's
    // last element + pair_shift both words are zero, as the halo already is.
    void pair_row(const uint16_t* row, int64_t width, int64_t room, float* dst) const {
        const int64_t shift = pl_.pair_shift, n = std::min(width + shift, room);
        auto* out = reinterpret_cast<uint32_t*>(dst);
        // Both words inside the row: one pass; the first and last `shift` elements by hand.
        if (width > shift)
            interleave_bf16_rows_avx512(row + shift, row, width - shift, out + shift);
        auto one = [&](int64_t i) {
            const uint32_t lo = i < width ? row[i] : 0, hi = i >= shift ? row[i - shift] : 0;
            out[i] = lo | hi << 16;
        };
        for (int64_t i = 0; i < std::min(shift, n); ++i) one(i);
        for (int64_t i = std::max(shift, width); i < n; ++i) one(i);
    }

    const gen::DepthwiseCfPlan& pl_;
    const KernelTables& t_;
    const uint64_t id_ = next_id();  // names this driver's zero halo in a thread's plane

    static uint64_t next_id() {
        static std::atomic<uint64_t> next{1};
        return next++;
    }
};

}  // namespace

std::unique_ptr<JitDriver> make_driver(const gen::DepthwiseCfPlan& plan, const KernelTables& t) {
    return std::make_unique<PlaneDriver>(plan, t);
}

}  // namespace tconv
