// The JIT implementations: plan, emit and pack at compile; at execute, copy the input into a
// zero-halo channels-last buffer, then run each phase's kernels over output rows x channel
// blocks, in parallel. Every output is written by exactly one kernel call, so results do not
// depend on the thread count.
#include "jit_impl.hpp"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>

#include "impl.hpp"
#include "perf_map.hpp"
#include "scratch.hpp"
#include "team.hpp"
#include "transpose.hpp"
#include "tconv/gen/kernel.hpp"
#include "tconv/gen/kernel_cache.hpp"
#include "tconv/gen/lowering.hpp"
#include "tconv/gen/plan.hpp"

namespace tconv {

namespace {

uint64_t next_layer_id() {
    static std::atomic<uint64_t> next{1};
    return next++;
}

Error row_buffer_error(const Problem& p) {
    return Error(ErrorKind::out_of_memory,
                 p.name + ": out of memory: cannot allocate a thread's output row buffer");
}

// Packing streams megabytes through memory: given threads, large layers share it (at least ~2 MB
// each: waking a thread can cost as much as packing a small layer). Parts are handed out one at a
// time, so a thread that starts late or stalls on page faults holds up little. Each part writes
// its own floats: the bytes do not depend on the thread count.
void pack_weights(const Problem& p, const gen::Plan& plan, const float* w, float* packed,
                  int threads) {
    constexpr int64_t kFloatsPerThread = int64_t(1) << 19;
    const int64_t parts = gen::pack_weight_parts(p, plan);
    threads = int(std::clamp<int64_t>(plan.packed_weight_floats / kFloatsPerThread, 1,
                                      std::min<int64_t>(threads, parts)));
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1) if (threads > 1)
    for (int64_t part = 0; part < parts; ++part)
        gen::pack_weights(p, plan, w, packed, part, part + 1);
}

class JitImpl final : public Impl, public JitCodeSource {
  public:
    // `planned` is the problem the plan was made for: the user's own, or its pointwise form
    // (Plan::lowered), whose weights w and bias b are then already rearranged; `kernels`
    // are the plan's, in its order. `threads` pack the weights.
    JitImpl(const Problem& user, const Problem& planned, gen::Plan plan,
            std::vector<std::shared_ptr<const gen::Kernel>> kernels, const float* w,
            const float* b, int threads)
        : plan_(std::move(plan)), kernels_(std::move(kernels)) {
        problem_ = user;
        useful_threads_ = int(std::clamp(user.flops() / 0.5e6, 1.0, 1024.0));
        // The driver of the plan's family, chosen once: the channel and depthwise kernels share
        // one ABI and one walk over (row, W chunk, channel block); the spatial kernels fill rows.
        compute_ = plan_.shape == gen::KernelShape::spatial_vec ? &JitImpl::compute_spatial
                                                                : &JitImpl::compute;
        const Problem& p = planned;
        for (const auto& k : kernels_) perf_map_register(k->code(), k->code_size(), k->name());
        const auto t0 = std::chrono::steady_clock::now();
        packed_w_ = aligned_floats(plan_.packed_weight_floats);
        packed_b_ = aligned_floats(plan_.packed_bias_floats);
        pack_weights(p, plan_, w, packed_w_.get(), threads);
        gen::pack_bias(p, plan_, b, packed_b_.get());
        report_.pack_us = std::chrono::duration<double, std::micro>(
                              std::chrono::steady_clock::now() - t0).count();

        report_.implementation = std::string("jit_") + std::string(to_string(plan_.isa));
        for (const auto& k : kernels_) {
            report_.kernel_names.push_back(k->name());
            report_.code_bytes += k->code_size();
        }
        report_.plan_lines = plan_.lines;
        report_.packed_weight_bytes =
            uint64_t(plan_.packed_weight_floats + plan_.packed_bias_floats) * sizeof(float);
    }

    void set_compile_us(double us) { report_.compile_us = us; }

    std::vector<KernelCode> kernel_code() const override {
        std::vector<KernelCode> out;
        for (const auto& k : kernels_) out.push_back({k->name(), k->code(), k->code_size()});
        return out;
    }

    void execute(const float* x, float* y, int threads) const override {
        threads = std::min(threads, useful_threads_);
        if (plan_.shape == gen::KernelShape::depthwise_cf) {  // no shared input buffer
            std::atomic<bool> out_of_memory{false};
            on_team(threads, [&](int t, int nt) {
                if (!compute_planes(x, y, t, nt)) out_of_memory = true;
            });
            if (out_of_memory) throw row_buffer_error(problem_);
            return;
        }
        const int64_t img = plan_.input_image_floats();
        ThreadScratch& input = thread_scratch().input;
        float* xbuf = input.get(plan_.batch_group * img);
        const bool halo_ready = input.halo_owner == id_;
        std::atomic<bool> out_of_memory{false};
        // One team for the whole call: per group of images, every thread copies its share of
        // the input, waits for the others, then computes its share of the outputs.
        on_team(threads, [&](int t, int nt) {
            for (int64_t n0 = 0; n0 < plan_.batch; n0 += plan_.batch_group) {
                const int64_t n1 = std::min(plan_.batch, n0 + plan_.batch_group);
                copy_input(x, xbuf, n0, n1, t, nt, halo_ready);
                if (nt > 1) {
#pragma omp barrier
                }
                const bool ok = (this->*compute_)(xbuf, y, n0, n1, t, nt);
                if (!ok) out_of_memory = true;
                if (nt > 1 && n1 < plan_.batch) {  // the next copy overwrites this input
#pragma omp barrier
                }
            }
        });
        input.halo_owner = id_;
        if (out_of_memory) throw row_buffer_error(problem_);
    }

  private:
    const uint64_t id_ = next_layer_id();  // names this layer's halo in a thread's scratch
    // Waking a thread costs microseconds: each gets at least ~5 us of work, so tiny layers run
    // on the calling thread alone. Every output has one owner whatever the count, so the
    // result does not change.
    int useful_threads_ = 1;
    using Driver = bool (JitImpl::*)(const float*, float*, int64_t, int64_t, int, int) const;
    Driver compute_ = nullptr;
    gen::Plan plan_;
    std::vector<std::shared_ptr<const gen::Kernel>> kernels_;  // shared through the cache
    FloatBuffer packed_w_, packed_b_;

    // Thread t's share of images [n0, n1) of the user's input into the zero-halo,
    // channel-blocked buffer (Plan::input_offset; ic_block 1: channels-first), one padded row of
    // one block per item (blocks give 1D layers, a single row, work to split). With
    // `halo_ready` the buffer already holds this layer's zeros: only the interior is copied.
    void copy_input(const float* x, float* xbuf, int64_t n0, int64_t n1, int t, int nt,
                    bool halo_ready) const {
        const gen::Dim3 I = plan_.in, P = plan_.padded, H = plan_.halo_lo;
        const int64_t IC = plan_.ic, B = plan_.ic_block, NB = int64_t(plan_.in_blocks.size());
        const int64_t row_len = P[2] * B, img = plan_.input_image_floats();
        const int64_t plane = I[0] * I[1] * I[2];
        const bool cl = plan_.layout == Layout::channels_last;
        // Channels-last input into one-channel blocks (the spatial kernels' channels-first
        // buffer) is a transpose of whole rows: one item per row.
        if (cl && B == 1) return copy_rows_to_channels_first(x, xbuf, n0, n1, t, nt, halo_ready);
        const Share share((n1 - n0) * P[0] * P[1] * NB, t, nt);
        Odometer<4> at({NB, P[1], P[0], kUnbounded}, share.begin);  // block, row, plane, image
        for (int64_t item = share.begin; item < share.end; ++item, at.next()) {
            const int64_t blk = at.digit[0], n = n0 + at.digit[3];
            const int64_t id = at.digit[2] - H[0], ih = at.digit[1] - H[1];
            float* dst =
                xbuf + (n - n0) * img + plan_.input_offset(blk, at.digit[2], at.digit[1], 0);
            const bool inside = id >= 0 && id < I[0] && ih >= 0 && ih < I[1];
            if (!halo_ready) {
                if (!inside) {
                    std::memset(dst, 0, size_t(row_len) * sizeof(float));
                    continue;
                }
                std::memset(dst, 0, size_t(H[2] * B) * sizeof(float));
                std::memset(dst + (H[2] + I[2]) * B, 0,
                            size_t((P[2] - H[2] - I[2]) * B) * sizeof(float));
            }
            if (!inside) continue;
            float* in = dst + H[2] * B;
            const gen::InBlock& ib = plan_.in_blocks[size_t(blk)];
            const int64_t c0 = ib.first, nc = ib.lanes;
            if (ib.expand > 1) {
                copy_expanded(x, n, id, ih, ib, in);
            } else if (cl) {
                const float* src = x + (((n * I[0] + id) * I[1] + ih) * I[2]) * IC + c0;
                copy_rows_avx2(src, IC, I[2], nc, in, B, B);
            } else {
                const float* src = x + (n * IC + c0) * plane + (id * I[1] + ih) * I[2];
                if (B == 1)  // one-channel blocks (the spatial kernels): a plain row copy
                    std::memcpy(in, src, size_t(I[2]) * sizeof(float));
                else
                    transpose_avx2(src, plane, nc, I[2], in, B);
                if (!halo_ready)
                    for (int64_t c = nc; c < B; ++c)
                        for (int64_t w = 0; w < I[2]; ++w) in[w * B + c] = 0.0f;
            }
        }
    }

    // One input row of block `ib` whose lanes repeat channels (depthwise with a multiplier):
    // lane l of pixel w holds channel (first + l) / expand; padding lanes are zero.
    void copy_expanded(const float* x, int64_t n, int64_t id, int64_t ih, const gen::InBlock& ib,
                       float* in) const {
        const gen::Dim3 I = plan_.in;
        const int64_t IC = plan_.ic, B = plan_.ic_block, plane = I[0] * I[1] * I[2];
        const int64_t row = (id * I[1] + ih) * I[2];
        const bool cl = plan_.layout == Layout::channels_last;
        for (int64_t w = 0; w < I[2]; ++w)
            for (int64_t l = 0; l < B; ++l) {
                const int64_t c = (ib.first + l) / ib.expand;
                in[w * B + l] = l >= ib.lanes ? 0.0f
                                : cl          ? x[(n * plane + row + w) * IC + c]
                                              : x[(n * IC + c) * plane + row + w];
            }
    }

    void copy_rows_to_channels_first(const float* x, float* xbuf, int64_t n0, int64_t n1, int t,
                                     int nt, bool halo_ready) const {
        const gen::Dim3 I = plan_.in, P = plan_.padded, H = plan_.halo_lo;
        const int64_t IC = plan_.ic, row_len = P[2], chan = plan_.input_block_floats();
        const Share share((n1 - n0) * P[0] * P[1], t, nt);
        for (int64_t row = share.begin; row < share.end; ++row) {
            const int64_t n = n0 + row / (P[0] * P[1]), prow = row % (P[0] * P[1]);
            const int64_t id = prow / P[1] - H[0], ih = prow % P[1] - H[1];
            float* first = xbuf + (n - n0) * plan_.input_image_floats() +
                           plan_.input_offset(0, prow / P[1], prow % P[1], 0);
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

    // depthwise_cf: thread t's share of the (image, output channel) items. A channel's input
    // is copied into the thread's own zero-halo plane (input block 0 of the plan's layout) once
    // for the output channels reading it; then per output plane od, one kernel call runs the
    // full groups of S_h rows and one the last, shorter group. The halo stays zero across
    // channels and calls: only the interior is ever written.
    bool compute_planes(const float* x, float* y, int t, int nt) const {
        const gen::Dim3 I = plan_.in, O = plan_.out, H = plan_.halo_lo, S = plan_.stride;
        const int64_t OC = plan_.oc, in_plane = I[0] * I[1] * I[2], out_plane = O[0] * O[1] * O[2];
        ThreadScratch& scratch = thread_scratch().plane;
        float* buf = scratch.try_get(plan_.input_block_floats());
        if (!buf) return false;
        if (scratch.halo_owner != id_) {
            std::memset(buf, 0, size_t(plan_.input_block_floats()) * sizeof(float));
            scratch.halo_owner = id_;
        }
        const Share share(plan_.batch * OC, t, nt);
        int64_t copied = -1;  // the (image, input channel) the plane holds
        for (int64_t item = share.begin; item < share.end; ++item) {
            const int64_t n = item / OC, c = item % OC;
            const gen::OcBlock& blk = plan_.blocks[size_t(c)];
            const int64_t src = n * plan_.ic + blk.x_block;
            if (src != copied) {
                for (int64_t id = 0; id < I[0]; ++id)
                    for (int64_t ih = 0; ih < I[1]; ++ih)
                        std::memcpy(buf + plan_.input_offset(0, id + H[0], ih + H[1], H[2]),
                                    x + src * in_plane + (id * I[1] + ih) * I[2],
                                    size_t(I[2]) * sizeof(float));
                copied = src;
            }
            for (int64_t od = 0; od < O[0]; ++od) {
                const int64_t rd = (od + plan_.pad_begin[0]) % S[0];
                const int64_t md = (od + plan_.pad_begin[0]) / S[0];
                const gen::PlanePhasePlan& pp = plan_.plane_phases[size_t(rd)];
                gen::KernelArgs a;
                a.x = pp.has_taps ? buf + plan_.input_offset(0, md + H[0], H[1], H[2]) : buf;
                a.w = packed_w_.get() + plan_.plane_weight_offset(c, rd);
                a.bias = packed_b_.get() + plan_.bias_offset(c);
                a.y = y + (n * OC + c) * out_plane + od * O[1] * O[2];
                if (pp.kernel[0] >= 0) {
                    a.blocks = plan_.row_groups;
                    (*kernels_[size_t(pp.kernel[0])])(a);
                }
                if (pp.kernel[1] >= 0) {  // the rows after the full groups
                    if (pp.has_taps)
                        a.x = buf + plan_.input_offset(0, md + H[0], H[1] + plan_.row_groups, H[2]);
                    a.y += plan_.row_groups * S[1] * O[2];
                    a.blocks = 1;
                    (*kernels_[size_t(pp.kernel[1])])(a);
                }
            }
        }
        return true;
    }

    // Shape B: per output row and oc block, one kernel call covers every W phase of the row into
    // a row buffer [oc][row_len]; its valid part is then copied to the user's layout.
    bool compute_spatial(const float* xbuf, float* y, int64_t n0, int64_t n1, int t, int nt) const {
        const gen::Dim3 O = plan_.out, H = plan_.halo_lo, S = plan_.stride, pb = plan_.pad_begin;
        const int64_t OC = plan_.oc, nb = plan_.oc_blocks, img = plan_.input_image_floats();
        const int64_t shift = pb[2] - S[2] * plan_.row_m0;  // row buffer index of o = 0
        const bool cf = plan_.layout == Layout::channels_first;
        const Share share((n1 - n0) * O[0] * O[1] * nb, t, nt);
        float* rowbuf = thread_scratch().row.try_get(plan_.n_oc * plan_.row_len);
        if (!rowbuf) return false;
        Odometer<4> at({nb, O[1], O[0], kUnbounded}, share.begin);  // block, row, plane, image
        for (int64_t item = share.begin; item < share.end; ++item, at.next()) {
            const int64_t ocb = at.digit[0], oh = at.digit[1], od = at.digit[2], n = n0 + at.digit[3];
            const int64_t rd = (od + pb[0]) % S[0], md = (od + pb[0]) / S[0];
            const int64_t rh = (oh + pb[1]) % S[1], mh = (oh + pb[1]) / S[1];
            const gen::RowPhasePlan& rp = plan_.row_phases[size_t(rd * S[1] + rh)];
            const gen::OcBlock& blk = plan_.blocks[size_t(ocb)];
            const int last = blk.last;
            const int64_t oc0 = blk.oc0, noc = blk.valid;
            gen::KernelArgs a;
            a.x = rp.taps > 0 ? xbuf + (n - n0) * img +
                                    plan_.input_offset(blk.x_block, md + H[0], mh + H[1],
                                                       plan_.row_m0 + H[2])
                              : xbuf;
            a.w = packed_w_.get() + plan_.row_weight_offset(rp, ocb);
            a.bias = packed_b_.get() + plan_.bias_offset(ocb);
            a.y = rowbuf;
            a.blocks = plan_.row_tiles;
            (*kernels_[size_t(rp.kernel[last])])(a);
            const int64_t plane = O[0] * O[1] * O[2], pix = (od * O[1] + oh) * O[2];
            if (cf) {
                for (int64_t c = 0; c < noc; ++c)
                    std::memcpy(y + (n * OC + oc0 + c) * plane + pix,
                                rowbuf + c * plan_.row_len + shift, size_t(O[2]) * sizeof(float));
            } else {
                transpose_avx2(rowbuf + shift, plan_.row_len, noc, O[2],
                               y + (n * plane + pix) * OC + oc0, OC);
            }
        }
        return true;
    }

    // Vectors of channels in the oc blocks before block b (b may be oc_blocks).
    int64_t vectors_before(int64_t b) const {
        return b < plan_.oc_blocks ? plan_.blocks[size_t(b)].vector0 : plan_.oc_vectors;
    }

    // The first shape-A item at or after `work` vectors of channel-block work, in compute()'s
    // order: a group's last block may hold fewer vectors (DCGAN 256->128 in blocks of 3, 3, 2),
    // so equal item counts would leave one thread up to a block's share behind.
    int64_t item_at(int64_t work, int64_t rows_chunks) const {
        const int64_t g = plan_.oc_group, nb = plan_.oc_blocks;
        int64_t start = 0;  // the oc group holding `work`: the last one at most
        while (start + g < nb && rows_chunks * vectors_before(start + g) <= work) start += g;
        const int64_t end = std::min(nb, start + g), gsize = end - start;
        const int64_t v0 = vectors_before(start), vectors = vectors_before(end) - v0;
        const int64_t rest = work - rows_chunks * v0;
        const int64_t rc = rest / vectors, within = rest - rc * vectors;
        // The first block of the row chunk starting at or after `within` (a whole item).
        int64_t j = 0;
        while (j < gsize && vectors_before(start + j) - v0 < within) ++j;
        return start * rows_chunks + std::min(rows_chunks * gsize, rc * gsize + j);
    }

    // Shape A over images [n0, n1). Items run in the order (oc group, image row, W chunk, oc
    // block within the group): a group's weights stay in L2 while the rows stream past, and
    // consecutive items share a chunk's input. Threads take contiguous shares of the items,
    // balanced by their vectors of channels (see item_at).
    bool compute(const float* xbuf, float* y, int64_t n0, int64_t n1, int t, int nt) const {
        const gen::Dim3 O = plan_.out, H = plan_.halo_lo, S = plan_.stride, pb = plan_.pad_begin;
        const int64_t OC = plan_.oc, nb = plan_.oc_blocks;
        const int64_t B = plan_.ic_block;
        const int64_t img = plan_.input_image_floats();
        const int64_t nc = plan_.w_chunks, chunk = plan_.w_chunk, g = plan_.oc_group;
        const int64_t rows_chunks = (n1 - n0) * O[0] * O[1] * nc;
        const bool cf = plan_.layout == Layout::channels_first;
        const int64_t work = rows_chunks * plan_.oc_vectors;
        const Share share{item_at(work * t / nt, rows_chunks),
                          item_at(work * (t + 1) / nt, rows_chunks)};
        // channels_first: each output row is built channels-last here, then transposed.
        float* rowbuf = thread_scratch().row.try_get(cf ? O[2] * plan_.row_pitch : 1);
        if (!rowbuf) return false;
        // One item: oc block ocb of W chunk c of output row (n, od, oh).
        auto run = [&](int64_t ocb, int64_t c, int64_t oh, int64_t od, int64_t n) {
            const int64_t rd = (od + pb[0]) % S[0], md = (od + pb[0]) / S[0];
            const int64_t rh = (oh + pb[1]) % S[1], mh = (oh + pb[1]) / S[1];
            const gen::OcBlock& blk = plan_.blocks[size_t(ocb)];
            const int last = blk.last;
            const int64_t oc0 = blk.oc0, start = c * chunk;
            float* yrow = cf ? rowbuf
                             : y + (((n * O[0] + od) * O[1] + oh) * O[2]) * OC + oc0;
            const int64_t pix = cf ? plan_.row_pitch : OC;
            for (int64_t rw = 0; rw < S[2]; ++rw) {
                const gen::PhasePlan& ph = plan_.phase(rd, rh, rw);
                if (ph.m_count[2] <= start) continue;
                const int64_t len = std::min(chunk, ph.m_count[2] - start);
                const int64_t full = len / plan_.ur;  // the tail only in the last chunk
                const int64_t mw = ph.m_lo[2] + start;
                gen::KernelArgs a;
                a.x = ph.has_taps() ? xbuf + (n - n0) * img +
                                          plan_.input_offset(blk.x_block, md + H[0], mh + H[1],
                                                             mw + H[2]) + blk.x_lane
                                    : xbuf;
                a.w = packed_w_.get() + plan_.weight_offset(ph, ocb);
                a.bias = packed_b_.get() + plan_.bias_offset(ocb);
                a.y = yrow + (S[2] * mw + rw - pb[2]) * pix;
                if (full > 0) {
                    a.blocks = full;
                    (*kernels_[size_t(ph.kernel[0][last])])(a);
                }
                if (len % plan_.ur != 0) {
                    const int64_t done = full * plan_.ur;
                    if (ph.has_taps()) a.x += done * B;
                    a.y += done * S[2] * pix;
                    a.blocks = 1;
                    (*kernels_[size_t(ph.kernel[1][last])])(a);
                }
            }
            if (cf) {  // this chunk's outputs: [S_w * start, S_w * (start + chunk))
                const int64_t plane = O[0] * O[1] * O[2];
                const int64_t valid = blk.valid;
                const int64_t ow0 = std::min(O[2], S[2] * start);
                const int64_t ow1 = std::min(O[2], S[2] * (start + chunk));
                float* dst = y + (n * OC + oc0) * plane + (od * O[1] + oh) * O[2] + ow0;
                transpose_avx2(rowbuf + ow0 * plan_.row_pitch, plan_.row_pitch, ow1 - ow0,
                               valid, dst, plane);
            }
        };
        if (g >= nb) {  // one oc group: items stepped without divisions (depthwise items are short)
            Odometer<5> at({nb, nc, O[1], O[0], kUnbounded}, share.begin);
            for (int64_t item = share.begin; item < share.end; ++item, at.next())
                run(at.digit[0], at.digit[1], at.digit[2], at.digit[3], n0 + at.digit[4]);
            return true;
        }
        for (int64_t item = share.begin; item < share.end; ++item) {
            const int64_t grp = item / (g * rows_chunks), local = item - grp * g * rows_chunks;
            const int64_t gsize = std::min(g, nb - grp * g);
            const int64_t rc = local / gsize, row = rc / nc;
            run(grp * g + local % gsize, rc % nc, row % O[1], (row / O[1]) % O[0],
                n0 + row / (O[1] * O[0]));
        }
        return true;
    }
};

}  // namespace

std::unique_ptr<Impl> make_jit_impl(Isa isa, const Problem& p, const float* w, const float* b,
                                    const Options& options, std::string& why_not,
                                    const gen::PlanOverrides& overrides) {
    const auto t0 = std::chrono::steady_clock::now();
    gen::Plan plan;
    if (!gen::plan(p, isa, plan, why_not, overrides)) return nullptr;
    const Problem planned = plan.lowered ? *plan.lowered : p;
    // Packing pads channels to whole vectors: check the packed size against the tensor limit
    // before allocating it (the reference then serves the layer with the unpadded weights).
    const uint64_t packed_bytes =
        uint64_t(plan.packed_weight_floats + plan.packed_bias_floats) * sizeof(float);
    if (packed_bytes > options.limits.max_tensor_bytes) {
        why_not = "packed weights would need " + std::to_string(packed_bytes) +
                  " bytes, over the tensor limit of " +
                  std::to_string(options.limits.max_tensor_bytes) + " bytes";
        return nullptr;
    }
    std::vector<float> qw, qb;
    if (plan.lowered) {
        gen::pointwise_tensors(p, w, b, qw, qb);
        if (!qw.empty()) w = qw.data();
        if (!qb.empty()) b = qb.data();
    }
    // A descriptor the generator cannot emit declines the layer: the next implementation
    // serves it.
    std::vector<std::shared_ptr<const gen::Kernel>> kernels;
    try {
        for (const gen::AnyKernelDesc& d : plan.kernels) kernels.push_back(gen::cached_kernel(d));
    } catch (const std::runtime_error& e) {
        why_not = e.what();
        return nullptr;
    }
    const int threads =
        options.compile_threads > 0 ? options.compile_threads : omp_get_max_threads();
    auto impl = std::make_unique<JitImpl>(p, planned, std::move(plan), std::move(kernels), w, b,
                                          threads);
    impl->set_compile_us(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
    return impl;
}

std::unique_ptr<Impl> make_jit_avx512_impl(const Problem& p, const float* w, const float* b,
                                           const Options& options, std::string& why_not) {
    return make_jit_impl(Isa::avx512, p, w, b, options, why_not);
}

std::unique_ptr<Impl> make_jit_avx2_impl(const Problem& p, const float* w, const float* b,
                                         const Options& options, std::string& why_not) {
    return make_jit_impl(Isa::avx2, p, w, b, options, why_not);
}

}  // namespace tconv
