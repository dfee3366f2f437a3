// Weight and bias packing: into the order the kernels stream them, once per layer.
#include <algorithm>

#include "plan_util.hpp"

namespace tconv::gen {

using detail::canonical;
using detail::tap_axis;

namespace {

// spatial_vec: per (r_d, r_h) and oc block, [ic][r_w][tap (d, h, w)][oc] scalars.
void pack_spatial(const Problem& p, const Plan& pl, const float* w, float* packed) {
    const int64_t K = p.kernel_spatial();
    const Dim3 k3 = canonical(p, p.kernel, 1), d3 = canonical(p, p.dilation, 1);
    for (int64_t rd = 0; rd < pl.stride[0]; ++rd)
        for (int64_t rh = 0; rh < pl.stride[1]; ++rh) {
            const RowPhasePlan& rp = pl.row_phases[size_t(rd * pl.stride[1] + rh)];
            if (rp.taps == 0) continue;
            const TapAxis ad = tap_axis(k3[0], pl.stride[0], d3[0], rd);
            const TapAxis ah = tap_axis(k3[1], pl.stride[1], d3[1], rh);
            for (int64_t b = 0; b < pl.oc_blocks; ++b) {
                const int64_t n = b == pl.oc_blocks - 1 ? pl.n_oc_last : pl.n_oc, oc0 = b * pl.n_oc;
                float* dst = packed + rp.w_offset + b * pl.ic * rp.taps * pl.n_oc;
                for (int64_t ic = 0; ic < pl.ic; ++ic)
                    for (int64_t rw = 0; rw < pl.stride[2]; ++rw) {
                        const TapAxis aw = tap_axis(k3[2], pl.stride[2], d3[2], rw);
                        for (int td = 0; td < ad.count; ++td)
                            for (int th = 0; th < ah.count; ++th)
                                for (int tw = 0; tw < aw.count; ++tw) {
                                    const int64_t kd = ad.k0 + td * ad.kstep, kh = ah.k0 + th * ah.kstep,
                                                  kw = aw.k0 + tw * aw.kstep;
                                    for (int64_t j = 0; j < n; ++j)
                                        *dst++ = w[(ic * pl.oc + oc0 + j) * K +
                                                   (kd * k3[1] + kh) * k3[2] + kw];
                                }
                    }
            }
        }
}

}  // namespace

void pack_weights(const Problem& p, const Plan& pl, const float* w, float* packed) {
    if (pl.shape == KernelShape::spatial_vec) return pack_spatial(p, pl, w, packed);
    const int64_t VL = pl.vlen, icp = pl.ic_blocks * pl.ic_block, K = p.kernel_spatial();
    const Dim3 k3 = canonical(p, p.kernel, 1);
    std::fill(packed, packed + pl.packed_weight_floats, 0.0f);  // padded channels stay zero
    // Input channel outermost: its [OC][K] slab of the source stays in cache while every
    // phase, oc block and tap takes its part.
    for (int64_t ic = 0; ic < pl.ic; ++ic) {
        const float* src = w + ic * pl.oc * K;
        for (const PhasePlan& ph : pl.phases) {
            if (!ph.has_taps()) continue;
            const int64_t taps = ph.taps_total();
            for (int64_t b = 0; b < pl.oc_blocks; ++b) {
                const int64_t nv = (b == pl.oc_blocks - 1) ? pl.n_oc_last : pl.n_oc;
                const int64_t oc0 = b * pl.n_oc * VL, ocn = std::min(nv * VL, pl.oc - oc0);
                float* dst = packed + ph.w_offset + b * icp * taps * pl.n_oc * VL + ic * taps * nv * VL;
                int64_t t = 0;
                for (int td = 0; td < ph.taps[0].count; ++td)
                    for (int th = 0; th < ph.taps[1].count; ++th)
                        for (int tw = 0; tw < ph.taps[2].count; ++tw, ++t) {
                            const int64_t kd = ph.taps[0].k0 + td * ph.taps[0].kstep;
                            const int64_t kh = ph.taps[1].k0 + th * ph.taps[1].kstep;
                            const int64_t kw = ph.taps[2].k0 + tw * ph.taps[2].kstep;
                            const float* s = src + oc0 * K + (kd * k3[1] + kh) * k3[2] + kw;
                            float* v = dst + t * nv * VL;
                            for (int64_t j = 0; j < ocn; ++j) v[j] = s[j * K];
                        }
            }
        }
    }
}

void pack_bias(const Problem& p, const Plan& pl, const float* b, float* packed) {
    std::fill(packed, packed + pl.packed_bias_floats, 0.0f);
    if (p.bias && b) std::copy(b, b + pl.oc, packed);
}

}  // namespace tconv::gen
