// SPDX-License-Identifier: Apache-2.0
// Weight and bias packing: into the order the kernels stream them, once per layer.
#include <xmmintrin.h>

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "plan_util.hpp"

namespace tconv::gen {

using detail::tap_axis;

namespace {

// f rounded to bf16, to nearest even, a NaN kept quiet (as float_to_bf16).
uint16_t bf16_bits(float f) {
    uint32_t bits;
    std::memcpy(&bits, &f, sizeof bits);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return uint16_t((bits >> 16) | 0x40);  // quiet NaN
    bits += 0x7fffu + ((bits >> 16) & 1u);
    return uint16_t(bits >> 16);
}

// spatial_vec: per (r_d, r_h) and oc block, [ic step of its group][r_w][tap (d, h, w)][oc]
// scalars: a channel's weight, or (bf16 pairs) channels 2s and 2s + 1 rounded to bf16 in the
// low and high half, as vdpbf16ps pairs them with the input's lanes.
void pack_spatial(const SpatialPlan& pl, const float* w, float* packed) {
    const int64_t K = pl.kernel_points();
    const Dim3 k3 = pl.kernel, d3 = pl.dilation;
    for (int64_t rd = 0; rd < pl.stride[0]; ++rd)
        for (int64_t rh = 0; rh < pl.stride[1]; ++rh) {
            const RowPhasePlan& rp = pl.row_phases[size_t(rd * pl.stride[1] + rh)];
            if (rp.taps == 0) continue;
            const TapAxis ad = tap_axis(k3[0], pl.stride[0], d3[0], rd);
            const TapAxis ah = tap_axis(k3[1], pl.stride[1], d3[1], rh);
            for (size_t b = 0; b < pl.blocks.size(); ++b) {
                const OcBlock& blk = pl.blocks[b];
                const int64_t n = blk.valid, oc0 = blk.oc0 - blk.group * pl.oc_g;
                float* dst = packed + pl.weight_offset(rp, int64_t(b));
                const bool pairs = pl.input.bf16_pairs;
                for (int64_t step = 0; step < pl.ic_steps; ++step)
                    for (int64_t rw = 0; rw < pl.stride[2]; ++rw) {
                        const TapAxis aw = tap_axis(k3[2], pl.stride[2], d3[2], rw);
                        for (int td = 0; td < ad.count; ++td)
                            for (int th = 0; th < ah.count; ++th)
                                for (int tw = 0; tw < aw.count; ++tw) {
                                    const int64_t kd = ad.k0 + td * ad.kstep, kh = ah.k0 + th * ah.kstep,
                                                  kw = aw.k0 + tw * aw.kstep;
                                    const int64_t tap = (kd * k3[1] + kh) * k3[2] + kw;
                                    auto weight = [&](int64_t ic, int64_t j) {
                                        return w[((blk.group * pl.ic_g + ic) * pl.oc_g + oc0 + j) *
                                                     K + tap];
                                    };
                                    for (int64_t j = 0; j < n; ++j, ++dst) {
                                        if (!pairs) {
                                            *dst = weight(step, j);
                                            continue;
                                        }
                                        const uint32_t lane =
                                            bf16_bits(weight(2 * step, j)) |
                                            uint32_t(bf16_bits(weight(2 * step + 1, j))) << 16;
                                        std::memcpy(dst, &lane, sizeof lane);
                                    }
                                }
                    }
            }
        }
}

// gemm: per group and row block, [ic of the group][the block's rows]; row oc_l * taps + tap is
// PyTorch's w[ic][oc_l][tap].
void pack_gemm(const GemmPlan& pl, const float* w, float* packed) {
    const int64_t K = pl.kernel_points();
    for (int64_t g = 0; g < pl.groups; ++g)
        for (const GemmPlan::RowBlock& b : pl.row_blocks) {
            float* dst = packed + pl.weight_offset(g, b);
            for (int64_t ic = 0; ic < pl.ic_g; ++ic)
                for (int i = 0; i < b.rows; ++i) {
                    const int64_t row = b.row0 + i;
                    *dst++ = w[((g * pl.ic_g + ic) * pl.oc_g + row / K) * K + row % K];
                }
        }
}

// depthwise: per phase and block of channel vectors, [j][tap][vectors * vlen]; lane l of a
// block is output channel c = oc0 + l, which reads input channel j of its group (depthwise
// layers: j = 0, the only one, so its weights are PyTorch's [c][K] row); zero past the last
// channel.
// --- dw in place: per (r_d, r_h) and block, [td][th][r_w][tw][vectors * vlen]; tap pairs
// [td][th][r_w][tw / 2][vectors * vlen] lanes of two bf16 (taps tw and tw + 1, zero past the
// phase's last), channels in DepthwisePlan::pair_lane_channel order within each chunk ---
void pack_depthwise_in_place(const DepthwisePlan& pl, const float* w, float* packed) {
    const int64_t K = pl.kernel_points(), VL = pl.vlen;
    const Dim3 k3 = pl.kernel;
    for (int64_t rd = 0; rd < pl.stride[0]; ++rd)
        for (int64_t rh = 0; rh < pl.stride[1]; ++rh)
            for (int64_t b = 0; b < pl.oc_blocks; ++b) {
                float* dst = packed + pl.row_weight_offset(rd, rh, b);
                const TapAxis &ad = pl.phase(rd, rh, 0).taps[0], &ah = pl.phase(rd, rh, 0).taps[1];
                const OcBlock& blk = pl.blocks[size_t(b)];
                for (int td = 0; td < ad.count; ++td)
                    for (int th = 0; th < ah.count; ++th)
                        for (int64_t rw = 0; rw < pl.stride[2]; ++rw) {
                            const TapAxis& aw = pl.phase(rd, rh, rw).taps[2];
                            auto tap = [&](int tw) {
                                return ((ad.k0 + td * ad.kstep) * k3[1] + ah.k0 +
                                        th * ah.kstep) * k3[2] + aw.k0 + tw * aw.kstep;
                            };
                            for (int tw = 0; tw < aw.count && !pl.tap_pairs; ++tw)
                                for (int64_t l = 0; l < blk.vectors * VL; ++l)
                                    *dst++ = l < blk.valid ? w[(blk.oc0 + l) * K + tap(tw)] : 0.0f;
                            for (int tw = 0; tw < aw.count && pl.tap_pairs; tw += 2)
                                for (int64_t l = 0; l < blk.vectors * VL; ++l, ++dst) {
                                    const int64_t c = l / 32 * 32 + pl.pair_lane_channel(l % 32);
                                    auto bits = [&](int t) -> uint32_t {
                                        if (c >= blk.valid || t >= aw.count) return 0;
                                        return bf16_bits(w[(blk.oc0 + c) * K + tap(t)]);
                                    };
                                    const uint32_t lane = bits(tw) | bits(tw + 1) << 16;
                                    std::memcpy(dst, &lane, sizeof lane);
                                }
                        }
            }
}
// --- end dw in place ---

void pack_depthwise(const DepthwisePlan& pl, const float* w, float* packed) {
    if (pl.in_place) return pack_depthwise_in_place(pl, w, packed);
    const int64_t K = pl.kernel_points(), VL = pl.vlen, icg = pl.ic_g, ocg = pl.oc_g;
    const Dim3 k3 = pl.kernel;
    for (const PhasePlan& ph : pl.phases)
        for (int64_t b = 0; b < pl.oc_blocks; ++b) {
            float* dst = packed + pl.weight_offset(ph, b);
            const OcBlock& blk = pl.blocks[size_t(b)];
            for (int64_t j = 0; j < icg; ++j)
                for (int td = 0; td < ph.taps[0].count; ++td)
                    for (int th = 0; th < ph.taps[1].count; ++th)
                        for (int tw = 0; tw < ph.taps[2].count; ++tw) {
                            const int64_t kd = ph.taps[0].k0 + td * ph.taps[0].kstep;
                            const int64_t kh = ph.taps[1].k0 + th * ph.taps[1].kstep;
                            const int64_t kw = ph.taps[2].k0 + tw * ph.taps[2].kstep;
                            const int64_t k = (kd * k3[1] + kh) * k3[2] + kw;
                            // Output channel c = g * ocg + o reads input channel g * icg + j
                            // through PyTorch's w[g * icg + j][o][k].
                            for (int64_t l = 0; l < blk.vectors * VL; ++l) {
                                const int64_t c = blk.oc0 + l / VL * VL + pl.lane_channel(l % VL);
                                const int64_t g = c / ocg;
                                *dst++ = c < pl.oc ? w[((g * icg + j) * ocg + c % ocg) * K + k]
                                                   : 0.0f;
                            }
                        }
        }
}

// depthwise_cf: per output channel c, [r_d][r_h][r_w][td][th][tw] scalars (tap pairs: [tw / 2]
// lanes of two bf16, an odd last tap a float) (DepthwiseCfPlan::
// weight_offset); its only input channel is c / multiplier, so its weights are PyTorch's
// [c][K] row.
void pack_depthwise_cf(const DepthwiseCfPlan& pl, const float* w, float* packed) {
    const int64_t K = pl.kernel_points();
    const Dim3 k3 = pl.kernel, d3 = pl.dilation;
    for (int64_t c = 0; c < pl.oc; ++c) {
        float* dst = packed + pl.weight_offset(c, 0);
        for (int64_t rd = 0; rd < pl.stride[0]; ++rd) {
            const TapAxis ad = tap_axis(k3[0], pl.stride[0], d3[0], rd);
            for (int64_t rh = 0; rh < pl.stride[1]; ++rh) {
                const TapAxis ah = tap_axis(k3[1], pl.stride[1], d3[1], rh);
                for (int64_t rw = 0; rw < pl.stride[2]; ++rw) {
                    const TapAxis aw = tap_axis(k3[2], pl.stride[2], d3[2], rw);
                    for (int td = 0; td < ad.count; ++td)
                        for (int th = 0; th < ah.count; ++th) {
                            auto weight = [&](int tw) {
                                const int64_t kd = ad.k0 + td * ad.kstep,
                                              kh = ah.k0 + th * ah.kstep,
                                              kw = aw.k0 + tw * aw.kstep;
                                return w[c * K + (kd * k3[1] + kh) * k3[2] + kw];
                            };
                            for (int tw = 0; tw < aw.count && !pl.tap_pairs; ++tw)
                                *dst++ = weight(tw);
                            for (int tw = 0; tw < aw.count && pl.tap_pairs; tw += 2, ++dst) {
                                // A pair's two bf16 (tap tw low), or an odd last tap's float
                                // (its bf16 widened).
                                const uint32_t lane =
                                    tw + 1 < aw.count
                                        ? bf16_bits(weight(tw)) |
                                              uint32_t(bf16_bits(weight(tw + 1))) << 16
                                        : uint32_t(bf16_bits(weight(tw))) << 16;
                                std::memcpy(dst, &lane, sizeof lane);
                            }
                        }
                }
            }
        }
    }
}

// channel_vec: [phase][oc block][ic of its group (padded)][tap][vectors * vlen] (Plan::
// weight_offset). Every kernel position k is one
// tap of one phase, so packing a channel's [oc][K] slice of an oc block is a transpose into K
// destination rows. A part is one oc block and a run of input channels (~8K source floats:
// fine-grained enough to share among threads); each phase's destination is written
// sequentially, with no separate zero-fill pass.
constexpr int64_t kPartFloats = 8192;

int64_t ic_per_part(const ChannelPlan& pl) {
    return std::max<int64_t>(1, kPartFloats / (int64_t(pl.n_oc) * pl.vlen * pl.kernel_points()));
}

int64_t ic_parts(const ChannelPlan& pl) {
    const int64_t run = ic_per_part(pl);
    return (pl.w_rows + run - 1) / run;
}

// Where kernel position k goes in oc block b: row k of input channel ic starts at
// packed + first[k] + ic * step[k].
struct TapRows {
    std::vector<int64_t> first, step;
};

TapRows tap_rows(const ChannelPlan& pl, int64_t b, int64_t width) {
    const int64_t K = pl.kernel_points();
    const Dim3 k3 = pl.kernel;
    TapRows r{std::vector<int64_t>(size_t(K)), std::vector<int64_t>(size_t(K))};
    for (const PhasePlan& ph : pl.phases) {
        const int64_t taps = ph.taps_total();
        const int64_t block = pl.weight_offset(ph, b);
        int64_t t = 0;
        for (int td = 0; td < ph.taps[0].count; ++td)
            for (int th = 0; th < ph.taps[1].count; ++th)
                for (int tw = 0; tw < ph.taps[2].count; ++tw, ++t) {
                    const int64_t kd = ph.taps[0].k0 + td * ph.taps[0].kstep;
                    const int64_t kh = ph.taps[1].k0 + th * ph.taps[1].kstep;
                    const int64_t kw = ph.taps[2].k0 + tw * ph.taps[2].kstep;
                    const size_t k = size_t((kd * k3[1] + kh) * k3[2] + kw);
                    r.first[k] = block + t * width;
                    r.step[k] = taps * width;
                }
    }
    return r;
}

// rows[k][j] = src[j * K + k] for j < n, k < K: 4x4 SSE transposes, scalar at the edges.
void transpose_to_rows(const float* src, int64_t n, int64_t K, float* const* rows) {
    int64_t j = 0;
    for (; j + 4 <= n; j += 4) {
        const float* s = src + j * K;
        int64_t k = 0;
        for (; k + 4 <= K; k += 4) {
            __m128 r0 = _mm_loadu_ps(s + k), r1 = _mm_loadu_ps(s + K + k);
            __m128 r2 = _mm_loadu_ps(s + 2 * K + k), r3 = _mm_loadu_ps(s + 3 * K + k);
            _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
            _mm_storeu_ps(rows[k] + j, r0);
            _mm_storeu_ps(rows[k + 1] + j, r1);
            _mm_storeu_ps(rows[k + 2] + j, r2);
            _mm_storeu_ps(rows[k + 3] + j, r3);
        }
        for (; k < K; ++k)
            for (int64_t i = 0; i < 4; ++i) rows[k][j + i] = s[i * K + k];
    }
    for (; j < n; ++j)
        for (int64_t k = 0; k < K; ++k) rows[k][j] = src[j * K + k];
}

// Input channels [ic0, ic1) of its group for oc block b. Lanes past the group's last output
// channel and channels past the group's (the last ic block's padding) are zero. PyTorch's
// weights are [ic][oc of the group][K].
void pack_part(const ChannelPlan& pl, const float* w, float* packed, int64_t b, int64_t ic0,
               int64_t ic1) {
    const int64_t K = pl.kernel_points();
    const OcBlock& blk = pl.blocks[size_t(b)];
    const int64_t width = blk.vectors * pl.vlen;
    const int64_t oc0 = blk.oc0 - blk.group * pl.oc_g;  // within the group
    const TapRows tr = tap_rows(pl, b, width);
    std::vector<float*> rows(static_cast<size_t>(K));
    for (int64_t ic = ic0; ic < ic1; ++ic) {
        for (size_t k = 0; k < rows.size(); ++k) rows[k] = packed + tr.first[k] + ic * tr.step[k];
        const int64_t valid = ic < pl.ic_g ? blk.valid : 0;
        const int64_t src = (blk.group * pl.ic_g + ic) * pl.oc_g + oc0;
        if (valid > 0) transpose_to_rows(w + src * K, valid, K, rows.data());
        if (valid < width)
            for (float* row : rows) std::fill(row + valid, row + width, 0.0f);
    }
}

// bf16 pairs: per phase and oc block, per (step, tap, vector, pair) 16 lanes of two bf16 where
// PairPlan::weight_lane puts them: lane (pair j, channel n) holds input channels 2j and 2j + 1
// of the step (low half first) for output channel n, as tdpbf16ps reads a B tile and
// vdpbf16ps a vector. Channels past the group's
// (input or output) are zero. Weights are rounded to bf16, to nearest even.

void pack_pair_block(const PairPlan& pl, const float* w, float* packed, int64_t b) {
    const int64_t K = pl.kernel_points(), VL = pl.vlen, SP = pl.step_pairs;
    const int64_t steps = pl.k_pairs / SP;
    const Dim3 k3 = pl.kernel;
    const OcBlock& blk = pl.blocks[size_t(b)];
    const int64_t oc0 = blk.oc0 - blk.group * pl.oc_g;  // within the group
    for (const PhasePlan& ph : pl.phases) {
        const int64_t taps = ph.taps_total();
        if (taps == 0) continue;
        float* first = packed + pl.weight_offset(ph, b);
        for (int64_t s = 0; s < steps; ++s) {
            int64_t t = 0;
            for (int td = 0; td < ph.taps[0].count; ++td)
                for (int th = 0; th < ph.taps[1].count; ++th)
                    for (int tw = 0; tw < ph.taps[2].count; ++tw, ++t) {
                        const int64_t k = ((ph.taps[0].k0 + td * ph.taps[0].kstep) * k3[1] +
                                           ph.taps[1].k0 + th * ph.taps[1].kstep) * k3[2] +
                                          ph.taps[2].k0 + tw * ph.taps[2].kstep;
                        for (int64_t v = 0; v < blk.vectors; ++v)
                                for (int64_t j = 0; j < SP; ++j) {
                                    auto* dst = reinterpret_cast<uint16_t*>(
                                        first + pl.weight_lane(taps, blk.vectors, s, t, v, j));
                                    for (int64_t n = 0; n < VL; ++n)
                                        for (int64_t e = 0; e < 2; ++e) {
                                            const int64_t c = (s * SP + j) * 2 + e;
                                            const int64_t o = v * VL + n;
                                            *dst++ = c < pl.ic_g && o < blk.valid
                                                         ? bf16_bits(w[((blk.group * pl.ic_g + c) *
                                                                            pl.oc_g + oc0 + o) *
                                                                           K + k])
                                                         : uint16_t(0);
                                        }
                                }
                    }
        }
    }
}

}  // namespace

// The channel family packs in parts (one oc block x a run of input channels); the others are
// small enough to pack as one part.
int64_t pack_weight_parts(const Plan& plan) {
    if (const auto* amx = std::get_if<PairPlan>(&plan.family)) return amx->oc_blocks;
    const auto* pl = std::get_if<ChannelPlan>(&plan.family);
    return pl ? pl->oc_blocks * ic_parts(*pl) : 1;
}

void pack_weights(const Plan& plan, const float* w, float* packed, int64_t first_part,
                  int64_t end_part) {
    if (const auto* pl = std::get_if<SpatialPlan>(&plan.family)) {
        if (first_part == 0 && end_part > 0) pack_spatial(*pl, w, packed);
        return;
    }
    if (const auto* pl = std::get_if<DepthwisePlan>(&plan.family)) {
        if (first_part == 0 && end_part > 0) pack_depthwise(*pl, w, packed);
        return;
    }
    if (const auto* pl = std::get_if<DepthwiseCfPlan>(&plan.family)) {
        if (first_part == 0 && end_part > 0) pack_depthwise_cf(*pl, w, packed);
        return;
    }
    if (const auto* pl = std::get_if<GemmPlan>(&plan.family)) {
        if (first_part == 0 && end_part > 0) pack_gemm(*pl, w, packed);
        return;
    }
    if (const auto* pl = std::get_if<PairPlan>(&plan.family)) {  // a part per oc block
        for (int64_t b = first_part; b < end_part; ++b) pack_pair_block(*pl, w, packed, b);
        return;
    }
    const ChannelPlan& pl = std::get<ChannelPlan>(plan.family);
    const int64_t parts = ic_parts(pl), run = ic_per_part(pl);
    for (int64_t part = first_part; part < end_part; ++part) {
        const int64_t b = part / parts, ic0 = part % parts * run;
        const int64_t ic1 = std::min(pl.w_rows, ic0 + run);
        pack_part(pl, w, packed, b, ic0, ic1);
    }
}

void pack_weights(const Plan& plan, const float* w, float* packed) {
    pack_weights(plan, w, packed, 0, pack_weight_parts(plan));
}

std::vector<int64_t> packing_signature(const Plan& plan) {
    const PlanBase& pl = plan.base();
    std::vector<int64_t> s{int64_t(plan.family.index()), plan.lowered ? 1 : 0, pl.vlen,
                           pl.ic, pl.oc, pl.groups, pl.packed_weight_floats,
                           pl.packed_bias_floats};
    if (plan.lowered) s.insert(s.end(), {plan.lowered->in_channels, plan.lowered->out_channels});
    for (const OcBlock& b : pl.blocks)
        s.insert(s.end(), {b.group, b.oc0, b.valid, b.vector0, int64_t(b.vectors)});
    auto taps = [&s](const PhasePlan& ph) {
        s.push_back(ph.w_offset);
        for (const TapAxis& a : ph.taps) s.insert(s.end(), {int64_t(a.count), a.k0, a.kstep});
    };
    if (const auto* c = std::get_if<ChannelPlan>(&plan.family)) {
        s.insert(s.end(), {c->w_rows, c->ic_blocks, c->input.lanes});
        for (const PhasePlan& ph : c->phases) taps(ph);
    } else if (const auto* d = std::get_if<DepthwisePlan>(&plan.family)) {
        s.insert(s.end(), {d->lane_groups, int64_t(d->tap_pairs)});
        for (const PhasePlan& ph : d->phases) taps(ph);
    } else if (const auto* sp = std::get_if<SpatialPlan>(&plan.family)) {
        s.push_back(sp->ic_steps);
        for (const RowPhasePlan& rp : sp->row_phases) s.insert(s.end(), {rp.w_offset, rp.taps});
    } else if (const auto* cf = std::get_if<DepthwiseCfPlan>(&plan.family)) {
        s.insert(s.end(), {cf->channel_taps, int64_t(cf->tap_pairs)});
        for (const PlanePhasePlan& pp : cf->plane_phases) s.push_back(pp.w_offset);
    } else if (const auto* amx = std::get_if<PairPlan>(&plan.family)) {
        s.insert(s.end(), {amx->k_pairs, int64_t(amx->n_oc)});
        for (const PhasePlan& ph : amx->phases) taps(ph);
    } else if (const auto* gm = std::get_if<GemmPlan>(&plan.family)) {
        s.insert(s.end(), {gm->rows, gm->ic_g});
        for (const GemmPlan::RowBlock& b : gm->row_blocks) s.insert(s.end(), {b.row0, int64_t(b.rows)});
    }
    return s;
}

PlanOverrides packing_overrides(const Plan& plan) {
    PlanOverrides ov;
    ov.shape = int(plan.family.index()) + 1;
    ov.n_oc = plan.base().n_oc;
    ov.l2_bytes = plan.base().l2_bytes;
    if (!plan.lowered) ov.lower = -1;  // a size that would be a matrix product stays phased
    return ov;
}

void pack_bias(const Plan& plan, const float* b, float* packed) {
    std::visit(
        [&](const auto& pl) {
            std::fill(packed, packed + pl.packed_bias_floats, 0.0f);
            if (!pl.bias || !b) return;
            if constexpr (std::is_same_v<std::decay_t<decltype(pl)>, DepthwisePlan>) {
                if (pl.tap_pairs) {  // lanes in the kernel's order within each chunk
                    for (size_t i = 0; i < pl.blocks.size(); ++i) {
                        const OcBlock& blk = pl.blocks[i];
                        float* dst = packed + pl.bias_offset(int64_t(i));
                        for (int64_t l = 0; l < blk.vectors * pl.vlen; ++l) {
                            const int64_t c = l / 32 * 32 + pl.pair_lane_channel(l % 32);
                            dst[l] = c < blk.valid ? b[blk.oc0 + c] : 0.0f;
                        }
                    }
                    return;
                }
            }
            for (size_t i = 0; i < pl.blocks.size(); ++i)  // each block padded with zeros
                std::copy(b + pl.blocks[i].oc0, b + pl.blocks[i].oc0 + pl.blocks[i].valid,
                          packed + pl.bias_offset(int64_t(i)));
        },
        plan.family);
}

}  // namespace tconv::gen
