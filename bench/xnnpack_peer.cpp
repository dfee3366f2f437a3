// SPDX-License-Identifier: Apache-2.0
// XNNPACK's deconvolution2d_nhwc_f32 on the same layer. XNNPACK computes in NHWC only, so it
// races channels_last layers only; 1D layers run as H = 1, 3D layers are not served, and only a
// min/max clamp can be fused (none, relu). Two API generations (TCONV_XNNPACK_API, told apart at
// configure time): 2022 sets an operator up in one call; 2024 splits it into reshape + setup and
// takes code and weights caches.
#include "bench_peer.hpp"

#ifdef TCONV_HAVE_XNNPACK

#include <chrono>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include <pthreadpool.h>
#include <xnnpack.h>

#include "tconv/error.hpp"

namespace tconv::bench {
namespace {

// One pthreadpool for the whole run, as an application keeps one: created at the first layer,
// never per layer or per batch. The thread count is the run's (--threads).
pthreadpool_t shared_pool(size_t threads) {
    struct Pool {
        pthreadpool_t pool = nullptr;
        ~Pool() { pthreadpool_destroy(pool); }
    };
    static Pool p;
    if (p.pool && pthreadpool_get_threads_count(p.pool) != threads) {
        pthreadpool_destroy(p.pool);  // only tests change the thread count within a process
        p.pool = nullptr;
    }
    if (!p.pool) p.pool = pthreadpool_create(threads);
    if (!p.pool) throw Error(ErrorKind::unsupported, "pthreadpool_create failed");
    return p.pool;
}

void no_op(void*, size_t) {}

// Hands every worker an empty task; `flags` says what it does after it: spin, awaiting the next
// task at once (0), or sleep on a futex (PTHREADPOOL_FLAG_YIELD_WORKERS).
void touch_workers(pthreadpool_t pool, uint32_t flags) {
    const size_t n = pthreadpool_get_threads_count(pool);
    if (n > 1) pthreadpool_parallelize_1d(pool, &no_op, nullptr, n, flags);
}

// The deconvolution in XNNPACK's own layout, NHWC (channels_last layers only), on the shared
// pool. The operator leaves its workers spinning after each run, XNNPACK's default and fastest
// for back-to-back runs; between batches pause() parks them on a futex, so that they take no
// core from the contender timed next, and resume() wakes them before the next batch.
class XnnpackRunner : public Runner {
  public:
    XnnpackRunner(const Problem& p, pthreadpool_t pool)
        : x_(size_t(p.input_elems())), y_(size_t(p.output_elems())), pool_(pool) {}
    ~XnnpackRunner() override {
        if (op_) xnn_delete_operator(op_);
    }

    void set_input(const float* x) override {
        std::memcpy(x_.data(), x, x_.size() * sizeof(float));
    }
    void run() override { check(xnn_run_operator(op_, pool_), "xnn_run_operator"); }
    void get_output(float* y) override {
        std::memcpy(y, y_.data(), y_.size() * sizeof(float));
    }
    void pause() override { touch_workers(pool_, PTHREADPOOL_FLAG_YIELD_WORKERS); }
    void resume() override { touch_workers(pool_, 0); }

    static void check(xnn_status status, const char* what) {
        if (status != xnn_status_success)
            throw Error(ErrorKind::unsupported,
                        std::string(what) + " failed (status " + std::to_string(int(status)) + ")");
    }

    std::vector<float> x_, y_;  // bound to the operator at setup: never resized
    xnn_operator_t op_ = nullptr;
    pthreadpool_t pool_;
};

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
    if (p.kind != LayerKind::transposed) return {{}, kTransposedOnly};
    // A channels_first comparison with XNNPACK would time transposes no XNNPACK user with NHWC
    // tensors pays, or compare tconv's full job with XNNPACK's partial one: either misleads.
    if (p.layout != Layout::channels_last) return {{}, kXnnpackNhwcOnly};
    if (p.dtype != DType::f32) return {{}, kF32Only};
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
        const pthreadpool_t pool = shared_pool(size_t(layer.threads));  // not this layer's setup
        const auto t0 = std::chrono::steady_clock::now();
        auto runner = std::make_unique<XnnpackRunner>(p, pool);
        const std::vector<float> weights = xnnpack_weights(p, layer.weights);
        const std::vector<float> zero_bias(size_t(p.out_channels), 0.f);
        const uint32_t pad_top = uint32_t(h(p.pad_begin, 0)), pad_right = uint32_t(w(p.pad_end)),
                       pad_bottom = uint32_t(h(p.pad_end, 0)), pad_left = uint32_t(w(p.pad_begin));
        XnnpackRunner::check(
            xnn_create_deconvolution2d_nhwc_f32(
                pad_top, pad_right, pad_bottom, pad_left, uint32_t(h(p.kernel, 1)),
                uint32_t(w(p.kernel)), uint32_t(h(p.stride, 1)), uint32_t(w(p.stride)),
                uint32_t(h(p.dilation, 1)), uint32_t(w(p.dilation)), uint32_t(p.groups),
                size_t(p.ic_per_group()), size_t(p.oc_per_group()), size_t(p.in_channels),
                size_t(p.out_channels), weights.data(),
                layer.bias ? layer.bias : zero_bias.data(), out_min, out_max, /*flags=*/0,
#if TCONV_XNNPACK_API >= 2024
                /*code_cache=*/nullptr, /*weights_cache=*/nullptr,
#endif
                &runner->op_),
            "xnn_create_deconvolution2d_nhwc_f32");
        const size_t batch = size_t(p.batch), in_h = size_t(h(p.input, 1)),
                     in_w = size_t(w(p.input));
        const uint32_t adj_h = uint32_t(h(p.output_padding, 0)),
                       adj_w = uint32_t(w(p.output_padding));
#if TCONV_XNNPACK_API >= 2024
        size_t out_h = 0, out_w = 0;
        XnnpackRunner::check(xnn_reshape_deconvolution2d_nhwc_f32(runner->op_, batch, in_h, in_w,
                                                                  adj_h, adj_w, &out_h, &out_w,
                                                                  pool),
                             "xnn_reshape_deconvolution2d_nhwc_f32");
        XnnpackRunner::check(
            xnn_setup_deconvolution2d_nhwc_f32(runner->op_, runner->x_.data(), runner->y_.data()),
            "xnn_setup_deconvolution2d_nhwc_f32");
#else
        XnnpackRunner::check(
            xnn_setup_deconvolution2d_nhwc_f32(runner->op_, batch, in_h, in_w, adj_h, adj_w,
                                               runner->x_.data(), runner->y_.data(), pool),
            "xnn_setup_deconvolution2d_nhwc_f32");
#endif
        PeerVariant v;
        v.variant = "nhwc";
        v.impl = "deconvolution2d_nhwc_f32";
        if (one_d) v.note = "ran NWC as H = 1";
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

std::string xnnpack_version() { return TCONV_XNNPACK_VERSION; }

}  // namespace tconv::bench

#else

namespace tconv::bench {
PeerSetup create_xnnpack(const PeerLayer&) { return {{}, kNotInThisBuild}; }
std::string xnnpack_version() { return kNotInThisBuild; }
}  // namespace tconv::bench

#endif
