// SPDX-License-Identifier: Apache-2.0
// The AVX2 part is compiled by function attribute only: the library targets any x86-64 and
// calls it on CPUs with AVX2 + FMA alone.
#include "activation_rows.hpp"

#include <immintrin.h>

#include "tconv/gen/tanh_fit.hpp"
#include "tconv/reference.hpp"
#include "tconv/tconv.hpp"

namespace tconv {

namespace {

// e^x: x = n ln2 + r with |r| <= ln2/2, e^r by its Taylor series to r^6 (error < 2e-7), 2^n
// put into the exponent; x clamped so that 2^n stays a finite normal number, the constants
// first so that a NaN x stays NaN (max and min return their second operand then).
__attribute__((target("avx2,fma"))) inline __m256 exp8(__m256 x) {
    x = _mm256_min_ps(_mm256_set1_ps(88.0f), _mm256_max_ps(_mm256_set1_ps(-87.3f), x));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145752f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.42860677e-6f), r);
    __m256 p = _mm256_set1_ps(1.0f / 720);
    for (const float c : {1.0f / 120, 1.0f / 24, 1.0f / 6, 0.5f, 1.0f, 1.0f})
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(c));
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n),
                                                         _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

__attribute__((target("avx2,fma"))) inline __m256 activate8(__m256 v, Activation act,
                                                             float slope) {
    const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f);
    switch (act) {
        case Activation::none: return v;
        case Activation::relu:  // v < 0 ? 0 : v, so a NaN stays NaN
            return _mm256_blendv_ps(v, zero, _mm256_cmp_ps(v, zero, _CMP_LT_OQ));
        case Activation::leaky_relu:
            return _mm256_blendv_ps(v, _mm256_mul_ps(v, _mm256_set1_ps(slope)),
                                    _mm256_cmp_ps(v, zero, _CMP_LT_OQ));
        case Activation::sigmoid:
            return _mm256_div_ps(one, _mm256_add_ps(one, exp8(_mm256_sub_ps(zero, v))));
        case Activation::tanh: {
            // x P(x^2) / Q(x^2), x clamped to +-kTanhClamp (the kernels' fit): the clamps
            // keep NaN (min and max return their second operand, v, when it is NaN).
            const __m256 x = _mm256_max_ps(_mm256_set1_ps(-gen::kTanhClamp),
                                           _mm256_min_ps(_mm256_set1_ps(gen::kTanhClamp), v));
            const __m256 s = _mm256_mul_ps(x, x);
            __m256 p = _mm256_set1_ps(gen::kTanhP[6]);
            for (int k = 5; k >= 0; --k)
                p = _mm256_fmadd_ps(p, s, _mm256_set1_ps(gen::kTanhP[k]));
            __m256 q = _mm256_set1_ps(gen::kTanhQ[3]);
            for (int k = 2; k >= 0; --k)
                q = _mm256_fmadd_ps(q, s, _mm256_set1_ps(gen::kTanhQ[k]));
            return _mm256_div_ps(_mm256_mul_ps(x, p), q);
        }
    }
    return v;
}

__attribute__((target("avx2,fma"))) int64_t add_bias_activate_avx2(float* y, const float* b,
                                                                   int64_t n, Activation act,
                                                                   float slope) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_add_ps(_mm256_loadu_ps(y + i), _mm256_loadu_ps(b + i));
        _mm256_storeu_ps(y + i, activate8(v, act, slope));
    }
    return i;
}

}  // namespace

void add_bias_activate(const Problem& p, float* y, const float* b, int64_t n) {
    static const bool vector = cpu_info().avx2 && cpu_info().fma;
    int64_t i = vector ? add_bias_activate_avx2(y, b, n, p.activation, p.negative_slope) : 0;
    for (; i < n; ++i) y[i] = float(apply_activation(p, double(y[i]) + double(b[i])));
}

}  // namespace tconv
