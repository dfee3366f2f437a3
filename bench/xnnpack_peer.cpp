// XNNPACK's deconvolution2d_nhwc_f32 on the same layer. XNNPACK computes in NHWC only: 1D layers
// run as H = 1, 3D layers are not served, and only a min/max clamp can be fused (none, relu).
#include "bench_peer.hpp"

#ifdef TCONV_HAVE_XNNPACK

#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include <pthreadpool.h>
#include <xnnpack.h>

#include "tconv/error.hpp"

namespace tconv::bench {
namespace {

// [N][C][S] <-> [N][S][C] with the spatial dims flattened into S.
void to_channels_last(const float* src, float* dst, int64_t n, int64_t c, int64_t s) {
    for (int64_t b = 0; b < n; ++b)
        for (int64_t ch = 0; ch < c; ++ch)
            for (int64_t i = 0; i < s; ++i) dst[(b * s + i) * c + ch] = src[(b * c + ch) * s + i];
}
void to_channels_first(const float* src, float* dst, int64_t n, int64_t c, int64_t s) {
    for (int64_t b = 0; b < n; ++b)
        for (int64_t ch = 0; ch < c; ++ch)
            for (int64_t i = 0; i < s; ++i) dst[(b * c + ch) * s + i] = src[(b * s + i) * c + ch];
}

class XnnpackRunner : public Runner {
  public:
    explicit XnnpackRunner(const Problem& p) : p_(p), x_(size_t(p.input_elems())),
                                               y_(size_t(p.output_elems())) {}
    ~XnnpackRunner() override {
        if (op_) xnn_delete_operator(op_);
        if (pool_) pthreadpool_destroy(pool_);
    }

    void set_input(const float* x) override {
        if (p_.layout == Layout::channels_last)
            std::memcpy(x_.data(), x, x_.size() * sizeof(float));
        else
            to_channels_last(x, x_.data(), p_.batch, p_.in_channels, p_.input_spatial());
    }
    void run() override { check(xnn_run_operator(op_, pool_), "xnn_run_operator"); }
    // pthreadpool's workers spin between runs even when asked to yield, taking a core from the
    // next contender on a small machine: the pool exists only while XNNPACK is being timed.
    void pause() override {
        if (pool_) pthreadpool_destroy(pool_);
        pool_ = nullptr;
    }
    void resume() override {
        if (!pool_) pool_ = pthreadpool_create(threads_);
    }
    void get_output(float* y) override {
        if (p_.layout == Layout::channels_last)
            std::memcpy(y, y_.data(), y_.size() * sizeof(float));
        else
            to_channels_first(y_.data(), y, p_.batch, p_.out_channels, p_.output_spatial());
    }

    static void check(xnn_status status, const char* what) {
        if (status != xnn_status_success)
            throw Error(ErrorKind::unsupported,
                        std::string(what) + " failed (status " + std::to_string(int(status)) + ")");
    }

    Problem p_;
    std::vector<float> x_, y_;  // NHWC buffers bound to the operator at setup: never resized
    xnn_operator_t op_ = nullptr;
    pthreadpool_t pool_ = nullptr;
    size_t threads_ = 1;
};

// By default pthreadpool's workers spin for a long while after each run, taking cores from
// whichever contender the bench runs next; yielding them puts XNNPACK on the footing of a
// library sharing the machine (tconv and oneDNN use OpenMP, whose workers spin only briefly).
constexpr uint32_t kYieldWorkers = XNN_FLAG_YIELD_WORKERS;

// PyTorch [g][i/g][o/g][kh][kw] -> XNNPACK [g][o/g][kh][kw][i/g].
std::vector<float> xnnpack_weights(const Problem& p, const float* w) {
    const int64_t icg = p.ic_per_group(), ocg = p.oc_per_group(), ks = p.kernel_spatial();
    std::vector<float> out(size_t(p.weight_elems()));
    for (int64_t g = 0; g < p.groups; ++g)
        for (int64_t i = 0; i < icg; ++i)
            for (int64_t o = 0; o < ocg; ++o)
                for (int64_t k = 0; k < ks; ++k)
                    out[size_t(((g * ocg + o) * ks + k) * icg + i)] =
                        w[size_t(((g * icg + i) * ocg + o) * ks + k)];
    return out;
}

}  // namespace

PeerSetup create_xnnpack(const PeerLayer& layer) {
    const Problem& p = layer.problem;
    if (p.rank == 3) return {{}, "no 3D deconvolution in XNNPACK"};
    float out_min = -std::numeric_limits<float>::infinity();
    const float out_max = std::numeric_limits<float>::infinity();
    if (p.activation == Activation::relu)
        out_min = 0.f;
    else if (p.activation != Activation::none)
        return {{}, "cannot fuse " + std::string(to_string(p.activation)) + " (only min/max clamps)"};

    static const xnn_status init = xnn_initialize(nullptr);
    if (init != xnn_status_success)
        return {{}, "xnn_initialize failed (status " + std::to_string(int(init)) + ")"};

    // 1D runs as a 2D layer with H = 1; index h/w of the problem's arrays.
    const bool one_d = p.rank == 1;
    auto h = [&](const Dims& d, int64_t neutral) { return one_d ? neutral : d[0]; };
    auto w = [&](const Dims& d) { return one_d ? d[0] : d[1]; };

    PeerSetup out;
    try {
        const auto t0 = std::chrono::steady_clock::now();
        auto runner = std::make_unique<XnnpackRunner>(p);
        const std::vector<float> weights = xnnpack_weights(p, layer.weights);
        const std::vector<float> zero_bias(size_t(p.out_channels), 0.f);
        XnnpackRunner::check(
            xnn_create_deconvolution2d_nhwc_f32(
                uint32_t(h(p.pad_begin, 0)), uint32_t(w(p.pad_end)), uint32_t(h(p.pad_end, 0)),
                uint32_t(w(p.pad_begin)), uint32_t(h(p.kernel, 1)), uint32_t(w(p.kernel)),
                uint32_t(h(p.stride, 1)), uint32_t(w(p.stride)), uint32_t(h(p.dilation, 1)),
                uint32_t(w(p.dilation)), uint32_t(p.groups), size_t(p.ic_per_group()),
                size_t(p.oc_per_group()), size_t(p.in_channels), size_t(p.out_channels),
                weights.data(), layer.bias ? layer.bias : zero_bias.data(), out_min, out_max,
                kYieldWorkers, &runner->op_),
            "xnn_create_deconvolution2d_nhwc_f32");
        runner->threads_ = size_t(layer.threads);
        runner->pool_ = pthreadpool_create(runner->threads_);
        XnnpackRunner::check(
            xnn_setup_deconvolution2d_nhwc_f32(
                runner->op_, size_t(p.batch), size_t(h(p.input, 1)), size_t(w(p.input)),
                uint32_t(h(p.output_padding, 0)), uint32_t(w(p.output_padding)),
                runner->x_.data(), runner->y_.data(), runner->pool_),
            "xnn_setup_deconvolution2d_nhwc_f32");
        PeerVariant v;
        v.variant = "nhwc";
        v.impl = "deconvolution2d_nhwc_f32";
        if (p.layout == Layout::channels_first || one_d)
            v.note = std::string("ran NHWC") + (one_d ? " with H = 1" : "") +
                     (p.layout == Layout::channels_first ? "; layout conversion not timed" : "");
        v.create_ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                .count();
        v.runner = std::move(runner);
        out.variants.push_back(std::move(v));
    } catch (const Error& e) {
        out.unavailable = std::string("XNNPACK refused: ") + e.what();
    }
    return out;
}

}  // namespace tconv::bench

#else

namespace tconv::bench {
PeerSetup create_xnnpack(const PeerLayer&) { return {{}, "not in this build"}; }
}  // namespace tconv::bench

#endif
