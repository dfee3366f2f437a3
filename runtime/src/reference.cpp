// SPDX-License-Identifier: Apache-2.0
// The oracle: the gather form of the definition, y[o] = b + sum x[i] * w[k] over i*S - pb + k*D = o,
// accumulated in double. Deliberately plain; speed only matters enough to verify real layers.
#include <cmath>
#include <utility>
#include <vector>

#include "impl.hpp"
#include "tconv/bf16.hpp"
#include "tconv/reference.hpp"
#include "thread_pool.hpp"
#include "upsample_lowering.hpp"

namespace tconv {

double apply_activation(const Problem& p, double v) {
    switch (p.activation) {
        case Activation::none: return v;
        case Activation::relu: return std::isnan(v) ? v : v > 0 ? v : 0.0;  // NaN stays NaN
        case Activation::leaky_relu: return v > 0 ? v : v * double(p.negative_slope);
        case Activation::sigmoid: return 1.0 / (1.0 + std::exp(-v));
        case Activation::tanh: return std::tanh(v);
    }
    return v;
}

namespace {

// The problem as 3 spatial dims (D, H, W); a lower rank gets leading dims of size 1.
struct Geometry3 {
    int64_t in[3], out[3], k[3], s[3], d[3], pb[3];
};

Geometry3 to_3d(const Problem& p) {
    Geometry3 g{};
    for (int j = 0; j < 3; ++j) {
        int i = j - (3 - p.rank);  // index into the problem's arrays, < 0 for a padded dim
        g.in[j] = i < 0 ? 1 : p.input[i];
        g.out[j] = i < 0 ? 1 : p.output[i];
        g.k[j] = i < 0 ? 1 : p.kernel[i];
        g.s[j] = i < 0 ? 1 : p.stride[i];
        g.d[j] = i < 0 ? 1 : p.dilation[i];
        g.pb[j] = i < 0 ? 0 : p.pad_begin[i];
    }
    return g;
}

// For one dim and each output coordinate o: the (tap k, input i) pairs with i*S - pb + k*D = o.
using Contributions = std::vector<std::vector<std::pair<int64_t, int64_t>>>;

Contributions contributions(int64_t out, int64_t in, int64_t k, int64_t s, int64_t d, int64_t pb) {
    Contributions c(static_cast<size_t>(out));
    for (int64_t o = 0; o < out; ++o)
        for (int64_t kk = 0; kk < k; ++kk) {
            int64_t t = o + pb - kk * d;
            if (t < 0 || t % s != 0) continue;  // t >= 0 first: % of a negative is implementation-sign
            int64_t i = t / s;
            if (i < in) c[size_t(o)].emplace_back(kk, i);
        }
    return c;
}

}  // namespace

void reference_conv_transpose(const Problem& p, const float* x, const float* w, const float* b,
                              float* y, int threads) {
    reference_conv_transpose(p, x, w, b, y, threads > 0 ? threads : default_threads(),
                             resolve_wait_policy({}));
}

void reference_conv_transpose(const Problem& p, const float* x, const float* w, const float* b,
                              float* y, int threads, WaitPolicy wait) {
    if (p.kind != LayerKind::transposed)  // computed as written: up-sample, conv, shuffle
        return reference_upsample(upsample_problem(p), x, w, b, y);
    const Geometry3 g = to_3d(p);
    Contributions cd[3];
    for (int j = 0; j < 3; ++j) cd[j] = contributions(g.out[j], g.in[j], g.k[j], g.s[j], g.d[j], g.pb[j]);

    const int64_t IC = p.in_channels, OC = p.out_channels;
    const int64_t icg = p.ic_per_group(), ocg = p.oc_per_group();
    const int64_t in_sp = g.in[0] * g.in[1] * g.in[2];
    const int64_t out_sp = g.out[0] * g.out[1] * g.out[2];
    const int64_t k_sp = g.k[0] * g.k[1] * g.k[2];
    const bool cl = p.layout == Layout::channels_last;

    // bf16 mode: the input and weights as the layer stores them (rounded to bf16), the sum in
    // double as always, the output rounded to bf16.
    const bool bf16 = p.dtype == DType::bf16;
    auto stored = [bf16](float v) { return bf16 ? round_to_bf16(v) : v; };
    // Copies with the input channel innermost, so each (output, tap) term sum over channels reads
    // two contiguous rows: x as [N][spatial][IC], w as [OC][tap][IC/G].
    std::vector<float> xt(static_cast<size_t>(p.input_elems()));
    for (int64_t n = 0; n < p.batch; ++n)
        for (int64_t c = 0; c < IC; ++c)
            for (int64_t sp = 0; sp < in_sp; ++sp)
                xt[size_t((n * in_sp + sp) * IC + c)] =
                    stored(x[cl ? (n * in_sp + sp) * IC + c : (n * IC + c) * in_sp + sp]);
    std::vector<float> wt(static_cast<size_t>(p.weight_elems()));
    for (int64_t ic = 0; ic < IC; ++ic)
        for (int64_t ocl = 0; ocl < ocg; ++ocl)
            for (int64_t k = 0; k < k_sp; ++k) {
                const int64_t oc = (ic / icg) * ocg + ocl;
                wt[size_t((oc * k_sp + k) * icg + ic % icg)] =
                    stored(w[(ic * ocg + ocl) * k_sp + k]);
            }

    // One item per (image, output channel), claimed one at a time. Items past int range (a
    // batch of millions) are grouped per image.
    const bool per_channel = p.batch * OC < (int64_t(1) << 30);
    global_pool().run(1, int(per_channel ? p.batch * OC : p.batch), threads, wait,
                      [&](int64_t, int item) {
        const int64_t n = per_channel ? item / OC : item;
        const int64_t oc0 = per_channel ? item % OC : 0, oc1 = per_channel ? oc0 + 1 : OC;
        for (int64_t oc = oc0; oc < oc1; ++oc) {
            const float* x_group = xt.data() + n * in_sp * IC + (oc / ocg) * icg;
            for (int64_t od = 0; od < g.out[0]; ++od)
                for (int64_t oh = 0; oh < g.out[1]; ++oh)
                    for (int64_t ow = 0; ow < g.out[2]; ++ow) {
                        // Four partial sums: a fixed order, so results stay reproducible, and
                        // four times the speed of one dependent chain.
                        double acc[4] = {b ? double(b[oc]) : 0.0, 0.0, 0.0, 0.0};
                        for (auto [kd, id] : cd[0][size_t(od)])
                            for (auto [kh, ih] : cd[1][size_t(oh)])
                                for (auto [kw, iw] : cd[2][size_t(ow)]) {
                                    const int64_t isp = (id * g.in[1] + ih) * g.in[2] + iw;
                                    const int64_t ksp = (kd * g.k[1] + kh) * g.k[2] + kw;
                                    const float* xr = x_group + isp * IC;
                                    const float* wr = wt.data() + (oc * k_sp + ksp) * icg;
                                    for (int64_t c = 0; c < icg; ++c)
                                        acc[c & 3] += double(xr[c]) * double(wr[c]);
                                }
                        const int64_t osp = (od * g.out[1] + oh) * g.out[2] + ow;
                        const double sum = (acc[0] + acc[1]) + (acc[2] + acc[3]);
                        y[cl ? (n * out_sp + osp) * OC + oc : (n * OC + oc) * out_sp + osp] =
                            stored(float(apply_activation(p, sum)));
                    }
        }
    });
}

std::vector<float> reference_magnitudes(const Problem& p, const float* x, const float* w,
                                        const float* b, int threads) {
    auto abs_copy = [](const float* v, int64_t n) {
        std::vector<float> a(static_cast<size_t>(n));
        for (int64_t i = 0; i < n; ++i) a[size_t(i)] = std::fabs(v[i]);
        return a;
    };
    Problem abs_p = p;
    abs_p.activation = Activation::none;
    std::vector<float> ax = abs_copy(x, p.input_elems()), aw = abs_copy(w, p.weight_elems());
    std::vector<float> ab = b ? abs_copy(b, p.bias_elems()) : std::vector<float>{};
    std::vector<float> mag(static_cast<size_t>(p.output_elems()));
    reference_conv_transpose(abs_p, ax.data(), aw.data(), b ? ab.data() : nullptr, mag.data(),
                             threads);
    return mag;
}

Deviation deviation(const float* got, const float* want, const float* magnitudes, int64_t n) {
    Deviation d;
    for (int64_t i = 0; i < n; ++i) {
        double err = std::fabs(double(got[i]) - double(want[i]));
        double scale = double(magnitudes[i]) + std::fabs(double(want[i]));
        double rel = scale > 0 ? err / scale : (err > 0 ? INFINITY : 0.0);
        if (std::isnan(err)) rel = err = INFINITY;  // NaN never passes
        if (err > d.max_abs) d.max_abs = err;
        if (d.worst < 0 || rel > d.max_rel) {
            d.max_rel = rel;
            d.worst = i;
            d.got = got[i];
            d.want = want[i];
        }
    }
    return d;
}

int64_t first_outside_bf16_bound(const float* got, const float* want, const float* magnitudes,
                                 int64_t n, double tol) {
    for (int64_t i = 0; i < n; ++i) {
        const double err = std::fabs(double(got[i]) - double(want[i]));
        if (!(err <= std::ldexp(std::fabs(double(want[i])), -8) + tol * double(magnitudes[i])))
            return i;
    }
    return -1;
}

Deviation deviation_from_reference(const Problem& p, const float* x, const float* w,
                                   const float* b, const float* got, const float* want) {
    std::vector<float> own_want;
    if (!want) {
        own_want.resize(static_cast<size_t>(p.output_elems()));
        reference_conv_transpose(p, x, w, b, own_want.data());
        want = own_want.data();
    }
    std::vector<float> mag = reference_magnitudes(p, x, w, b);
    return deviation(got, want, mag.data(), p.output_elems());
}

}  // namespace tconv
