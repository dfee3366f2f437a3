// XNNPACK's deconvolution2d_nhwc_f32 on the same layer. XNNPACK computes in NHWC only: a
// channels_first layer is transposed in and out within the timed run, 1D layers run as H = 1,
// 3D layers are not served, and only a min/max clamp can be fused (none, relu). Two API
// generations (TCONV_XNNPACK_API, told apart at configure time): 2022 sets an operator up in one
// call; 2024 splits it into reshape + setup, takes code and weights caches, and has a transpose
// operator of its own.
#include "bench_peer.hpp"

#ifdef TCONV_HAVE_XNNPACK

#include <xmmintrin.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include <pthreadpool.h>
#include <xnnpack.h>

#include "tconv/error.hpp"

namespace tconv::bench {
namespace {

#if TCONV_XNNPACK_API < 2024
// The 2022 XNNPACK has no transpose operator; its channel shuffle can express one
// but splits work only across the batch, so one thread at batch 1. The layout conversion is
// therefore a cache-blocked transpose of 4x4 SSE blocks, parallelised on XNNPACK's own thread
// pool as its operators are: what an XNNPACK user with NCHW tensors would write at best.
struct TransposeJob {
    const float* src;  // [batch][rows][cols]
    float* dst;        // [batch][cols][rows]
    size_t rows, cols;
};

constexpr size_t kTransposeTile = 32;  // 32 x 32 floats: 4 KiB read + 4 KiB written per tile

void transpose_tile(void* context, size_t b, size_t r0, size_t c0, size_t nr, size_t nc) {
    const TransposeJob* job = static_cast<const TransposeJob*>(context);
    const size_t rows = job->rows, cols = job->cols;
    const float* src = job->src + b * rows * cols;
    float* dst = job->dst + b * rows * cols;
    size_t r = 0;
    for (; r + 4 <= nr; r += 4) {
        const float* s = src + (r0 + r) * cols + c0;
        size_t c = 0;
        for (; c + 4 <= nc; c += 4) {
            __m128 a = _mm_loadu_ps(s + c), b1 = _mm_loadu_ps(s + cols + c),
                   b2 = _mm_loadu_ps(s + 2 * cols + c), b3 = _mm_loadu_ps(s + 3 * cols + c);
            _MM_TRANSPOSE4_PS(a, b1, b2, b3);
            float* d = dst + (c0 + c) * rows + r0 + r;
            _mm_storeu_ps(d, a);
            _mm_storeu_ps(d + rows, b1);
            _mm_storeu_ps(d + 2 * rows, b2);
            _mm_storeu_ps(d + 3 * rows, b3);
        }
        for (; c < nc; ++c)
            for (size_t i = 0; i < 4; ++i) dst[(c0 + c) * rows + r0 + r + i] = s[i * cols + c];
    }
    for (; r < nr; ++r)
        for (size_t c = 0; c < nc; ++c)
            dst[(c0 + c) * rows + r0 + r] = src[(r0 + r) * cols + c0 + c];
}

void transpose(pthreadpool_t pool, const float* src, float* dst, int64_t batch, int64_t rows,
               int64_t cols, uint32_t flags) {
    TransposeJob job{src, dst, size_t(rows), size_t(cols)};
    pthreadpool_parallelize_3d_tile_2d(pool, &transpose_tile, &job, size_t(batch), size_t(rows),
                                       size_t(cols), kTransposeTile, kTransposeTile, flags);
}
#endif

// In channels_first, run() takes the user's NCHW input and returns NCHW output like the other
// contenders: NCHW -> NHWC, the deconvolution, NHWC -> NCHW, all timed. channels_last is
// XNNPACK's own layout and runs the deconvolution alone.
class XnnpackRunner : public Runner {
  public:
    explicit XnnpackRunner(const Problem& p)
        : p_(p), convert_(p.layout == Layout::channels_first), x_(size_t(p.input_elems())),
          y_(size_t(p.output_elems())), user_x_(convert_ ? x_.size() : 0),
          user_y_(convert_ ? y_.size() : 0) {}
    ~XnnpackRunner() override {
        for (xnn_operator_t op : {op_, to_nhwc_, to_nchw_})
            if (op) xnn_delete_operator(op);
        if (pool_) pthreadpool_destroy(pool_);
    }

    void set_input(const float* x) override {
        std::memcpy((convert_ ? user_x_ : x_).data(), x, x_.size() * sizeof(float));
    }
    void run() override {
        if (!convert_) return run_deconvolution();
        // The workers stay awake into the deconvolution; the last step yields them, as the
        // deconvolution itself does when it runs alone.
#if TCONV_XNNPACK_API >= 2024
        check(xnn_run_operator(to_nhwc_, pool_), "xnn_run_operator (transpose)");
        run_deconvolution();
        check(xnn_run_operator(to_nchw_, pool_), "xnn_run_operator (transpose)");
#else
        transpose(pool_, user_x_.data(), x_.data(), p_.batch, p_.in_channels,
                  p_.input_spatial(), 0);
        run_deconvolution();
        transpose(pool_, y_.data(), user_y_.data(), p_.batch, p_.output_spatial(),
                  p_.out_channels, PTHREADPOOL_FLAG_YIELD_WORKERS);
#endif
    }
    std::function<void()> deconv_only() override {
        if (!convert_) return {};
        return [this] { run_deconvolution(); };
    }
    void get_output(float* y) override {
        std::memcpy(y, (convert_ ? user_y_ : y_).data(), y_.size() * sizeof(float));
    }
    // pthreadpool's workers spin between runs even when asked to yield, taking a core from the
    // next contender on a small machine: the pool exists only while XNNPACK is being timed.
    void pause() override {
        if (pool_) pthreadpool_destroy(pool_);
        pool_ = nullptr;
    }
    void resume() override {
        if (!pool_) pool_ = pthreadpool_create(threads_);
    }

    static void check(xnn_status status, const char* what) {
        if (status != xnn_status_success)
            throw Error(ErrorKind::unsupported,
                        std::string(what) + " failed (status " + std::to_string(int(status)) + ")");
    }
    void run_deconvolution() { check(xnn_run_operator(op_, pool_), "xnn_run_operator"); }

    Problem p_;
    bool convert_;                        // channels_first: transposes around the deconvolution
    std::vector<float> x_, y_;            // NHWC, bound to the operator at setup: never resized
    std::vector<float> user_x_, user_y_;  // NCHW, channels_first only
    xnn_operator_t op_ = nullptr;
    xnn_operator_t to_nhwc_ = nullptr, to_nchw_ = nullptr;  // 2024 API, channels_first only
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
        const uint32_t pad_top = uint32_t(h(p.pad_begin, 0)), pad_right = uint32_t(w(p.pad_end)),
                       pad_bottom = uint32_t(h(p.pad_end, 0)), pad_left = uint32_t(w(p.pad_begin));
        XnnpackRunner::check(
            xnn_create_deconvolution2d_nhwc_f32(
                pad_top, pad_right, pad_bottom, pad_left, uint32_t(h(p.kernel, 1)),
                uint32_t(w(p.kernel)), uint32_t(h(p.stride, 1)), uint32_t(w(p.stride)),
                uint32_t(h(p.dilation, 1)), uint32_t(w(p.dilation)), uint32_t(p.groups),
                size_t(p.ic_per_group()), size_t(p.oc_per_group()), size_t(p.in_channels),
                size_t(p.out_channels), weights.data(),
                layer.bias ? layer.bias : zero_bias.data(), out_min, out_max, kYieldWorkers,
#if TCONV_XNNPACK_API >= 2024
                /*code_cache=*/nullptr, /*weights_cache=*/nullptr,
#endif
                &runner->op_),
            "xnn_create_deconvolution2d_nhwc_f32");
        runner->threads_ = size_t(layer.threads);
        runner->pool_ = pthreadpool_create(runner->threads_);
        const size_t batch = size_t(p.batch), in_h = size_t(h(p.input, 1)),
                     in_w = size_t(w(p.input));
        const uint32_t adj_h = uint32_t(h(p.output_padding, 0)),
                       adj_w = uint32_t(w(p.output_padding));
#if TCONV_XNNPACK_API >= 2024
        size_t out_h = 0, out_w = 0;
        XnnpackRunner::check(
            xnn_reshape_deconvolution2d_nhwc_f32(runner->op_, batch, in_h, in_w, adj_h, adj_w,
                                                 &out_h, &out_w, runner->pool_),
            "xnn_reshape_deconvolution2d_nhwc_f32");
        XnnpackRunner::check(
            xnn_setup_deconvolution2d_nhwc_f32(runner->op_, runner->x_.data(), runner->y_.data()),
            "xnn_setup_deconvolution2d_nhwc_f32");
        if (p.layout == Layout::channels_first) {
            // [N][C][spatial] <-> [N][spatial][C] with XNNPACK's own transpose operator.
            auto transpose_op = [&](xnn_operator_t& op, const float* from, float* to,
                                    size_t rows, size_t cols, uint32_t flags) {
                const size_t shape[3] = {batch, rows, cols}, perm[3] = {0, 2, 1};
                XnnpackRunner::check(xnn_create_transpose_nd_x32(flags, &op),
                                     "xnn_create_transpose_nd_x32");
                XnnpackRunner::check(
                    xnn_reshape_transpose_nd_x32(op, 3, shape, perm, runner->pool_),
                    "xnn_reshape_transpose_nd_x32");
                XnnpackRunner::check(xnn_setup_transpose_nd_x32(op, from, to),
                                     "xnn_setup_transpose_nd_x32");
            };
            transpose_op(runner->to_nhwc_, runner->user_x_.data(), runner->x_.data(),
                         size_t(p.in_channels), size_t(p.input_spatial()), 0);
            transpose_op(runner->to_nchw_, runner->y_.data(), runner->user_y_.data(),
                         size_t(p.output_spatial()), size_t(p.out_channels), kYieldWorkers);
        }
#else
        XnnpackRunner::check(
            xnn_setup_deconvolution2d_nhwc_f32(runner->op_, batch, in_h, in_w, adj_h, adj_w,
                                               runner->x_.data(), runner->y_.data(),
                                               runner->pool_),
            "xnn_setup_deconvolution2d_nhwc_f32");
#endif
        PeerVariant v;
        v.variant = "nhwc";
        v.impl = "deconvolution2d_nhwc_f32";
        if (p.layout == Layout::channels_first)
            v.note = std::string(one_d ? "ran NWC as H = 1; its times include NCW <-> NWC"
                                       : "ran NHWC; its times include NCHW <-> NHWC") +
#if TCONV_XNNPACK_API >= 2024
                     " transposes (its transpose_nd_x32 operator)";
#else
                     " transposes, cache-blocked on its thread pool (this XNNPACK has no "
                     "transpose operator)";
#endif
        else if (one_d)
            v.note = "ran NWC as H = 1";
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
