// SPDX-License-Identifier: Apache-2.0
// The AVX2 part is compiled by function attribute only: the library targets any x86-64 and
// calls it on CPUs with AVX2 + FMA alone.
#include "upsample_filter.hpp"

#include <immintrin.h>

#include <algorithm>

#include "activation_rows.hpp"
#include "thread_pool.hpp"

namespace tconv {

namespace {

__attribute__((target("avx2,fma"))) int64_t combine_avx2(float* y, const float* const* src,
                                                         const float* coef, size_t terms,
                                                         int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 acc = _mm256_mul_ps(_mm256_set1_ps(coef[0]), _mm256_loadu_ps(src[0] + i));
        for (size_t e = 1; e < terms; ++e)
            acc = _mm256_fmadd_ps(_mm256_set1_ps(coef[e]), _mm256_loadu_ps(src[e] + i), acc);
        _mm256_storeu_ps(y + i, acc);
    }
    return i;
}

// y[i] = sum_e coef[e] * src[e][i] for i < n: one pass over y, whatever the terms.
void combine(float* y, const std::vector<const float*>& src, const std::vector<float>& coef,
             int64_t n) {
    static const bool vector = cpu_info().avx2 && cpu_info().fma;
    if (src.empty()) {
        std::fill(y, y + n, 0.0f);
        return;
    }
    int64_t i = vector ? combine_avx2(y, src.data(), coef.data(), src.size(), n) : 0;
    for (; i < n; ++i) {
        float acc = 0;
        for (size_t e = 0; e < src.size(); ++e) acc += coef[e] * src[e][i];
        y[i] = acc;
    }
}

}  // namespace

// Per output row: the rows of v its D and H taps name combined into one row of v's width
// (L_D * L_H terms), then the W taps over that row (L_W terms, shifted by whole pixels). Both
// steps are one pass each, so a row costs about L_D*L_H*(v's width / W) + L_W multiply-adds
// per value, against L_D*L_H*L_W for every term on its own.
void filter_output(const Problem& p, const OutputFilter& f, const float* v,
                   const std::array<int64_t, 3>& out, float* y, int threads, WaitPolicy wait) {
    const bool cl = p.layout == Layout::channels_last;
    const int64_t C = p.out_channels, W = out[2];
    const std::array<int64_t, 3>& ve = f.v_extent;
    // Floats per pixel along a row; a channels-first row is one channel's.
    const int64_t pix = cl ? C : 1;
    const int64_t v_rows = ve[0] * ve[1], y_rows = out[0] * out[1];
    const int64_t v_image = C * v_rows * ve[2], y_image = C * y_rows * W;
    const bool epilogue = !f.bias.empty() || p.activation != Activation::none;
    // Channels-last: the bias of a whole row, built once.
    std::vector<float> cl_bias;
    if (cl && epilogue) {
        cl_bias.assign(size_t(W * C), 0.0f);
        if (!f.bias.empty())
            for (int64_t q = 0; q < W; ++q)
                std::copy(f.bias.begin(), f.bias.end(), cl_bias.begin() + q * C);
    }
    // Output w reads row[w - e + shift] for e < L_W: all of them inside v for w in [lo, hi).
    const std::vector<float>& hw = f.h[2];
    const int64_t Lw = int64_t(hw.size()), sw = f.shift[2];
    const int64_t lo = std::clamp<int64_t>(Lw - 1 - sw, 0, W);
    const int64_t hi = std::clamp<int64_t>(ve[2] - sw, lo, W);
    // Items: channels-last rows (image, z, h); channels-first bands of up to 64 rows of one
    // channel (planes lie far apart, rows of one plane are contiguous).
    const int64_t band = 64, bands = (y_rows + band - 1) / band;
    const int64_t items = cl ? p.batch * y_rows : p.batch * C * bands;
    global_pool().run(1, int(items), threads, wait, [&](int64_t, int item) {
        int64_t n, ch = 0, r0, r1;
        if (cl) {
            n = item / y_rows, r0 = item % y_rows, r1 = r0 + 1;
        } else {
            n = item / (C * bands), ch = item / bands % C;
            r0 = item % bands * band, r1 = std::min(y_rows, r0 + band);
        }
        const float* vi = v + n * v_image + (cl ? 0 : ch * v_rows * ve[2]);
        float* yi = y + n * y_image + (cl ? 0 : ch * y_rows * W);
        std::vector<float> row_bias;
        if (!cl && epilogue)
            row_bias.assign(size_t(W), f.bias.empty() ? 0.0f : f.bias[size_t(ch)]);
        std::vector<float> t(size_t(ve[2] * pix));  // v's rows combined along D and H
        std::vector<const float*> src, wsrc(static_cast<size_t>(Lw));
        std::vector<float> coef;
        for (int64_t r = r0; r < r1; ++r) {
            const int64_t z = r / out[1], h = r % out[1];
            src.clear();
            coef.clear();
            for (size_t ez = 0; ez < f.h[0].size(); ++ez) {
                const int64_t vz = z - int64_t(ez) + f.shift[0];
                if (vz < 0 || vz >= ve[0]) continue;
                for (size_t eh = 0; eh < f.h[1].size(); ++eh) {
                    const int64_t vh = h - int64_t(eh) + f.shift[1];
                    if (vh < 0 || vh >= ve[1]) continue;
                    src.push_back(vi + (vz * ve[1] + vh) * ve[2] * pix);
                    coef.push_back(f.h[0][ez] * f.h[1][eh]);
                }
            }
            combine(t.data(), src, coef, ve[2] * pix);
            float* yr = yi + r * W * pix;
            for (int64_t e = 0; e < Lw; ++e) wsrc[size_t(e)] = t.data() + (lo - e + sw) * pix;
            if (hi > lo) combine(yr + lo * pix, wsrc, hw, (hi - lo) * pix);
            // The outputs some of whose W taps fall off v: those taps read zeros.
            auto edge = [&](int64_t q) {
                for (int64_t c = 0; c < pix; ++c) {
                    float acc = 0;
                    for (int64_t e = 0; e < Lw; ++e) {
                        const int64_t j = q - e + sw;
                        if (j >= 0 && j < ve[2]) acc += hw[size_t(e)] * t[size_t(j * pix + c)];
                    }
                    yr[q * pix + c] = acc;
                }
            };
            for (int64_t q = 0; q < lo; ++q) edge(q);
            for (int64_t q = hi; q < W; ++q) edge(q);
            if (epilogue)
                add_bias_activate(p, yr, cl ? cl_bias.data() : row_bias.data(), W * pix);
        }
    });
}

}  // namespace tconv
