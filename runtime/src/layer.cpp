// SPDX-License-Identifier: Apache-2.0
// Layer: the dispatcher walks the implementation list, best first; the first that accepts the
// layer serves it, and every one above it says why it declined.
#include <array>
#include <chrono>

#include "bf16_impl.hpp"
#include "impl.hpp"
#include "jit_impl.hpp"
#include "upsample_impl.hpp"
#include "verbose.hpp"

namespace tconv {

namespace {

struct ImplEntry {
    Isa isa;
    const char* name;
    ImplFactory make;
    bool bf16_only = false;  // not a candidate for f32 layers (and not listed as declining)
};

constexpr std::array<ImplEntry, 5> kImplementations{{
    {Isa::amx, "jit_avx512_amx", make_jit_amx_impl, true},
    {Isa::avx512_bf16, "jit_avx512_bf16", make_jit_avx512_bf16_impl, true},
    {Isa::avx512, "jit_avx512", make_jit_avx512_impl},
    {Isa::avx2, "jit_avx2", make_jit_avx2_impl},
    {Isa::scalar, "reference", make_reference_impl},
}};

void check_pointers(const Problem& p, const float* weights, const float* bias) {
    if (!weights)
        throw Error(ErrorKind::invalid_argument, p.name + ": weights must not be null");
    if (p.bias && !bias)
        throw Error(ErrorKind::invalid_argument,
                    p.name + ": the layer has \"bias\": true but no bias was given (expected " +
                        shape_string(bias_shape(p)) + ")");
    if (!p.bias && bias)
        throw Error(ErrorKind::invalid_argument,
                    p.name + ": a bias was given but the layer has \"bias\": false");
}

void check_threads(const Problem& p, int threads) {
    if (threads < 1 || threads > 1024)  // the pool would try to start them all
        throw Error(ErrorKind::invalid_argument,
                    p.name + ": thread count must be from 1 to 1024, got " + std::to_string(threads));
}

// Runs an execute, timed and logged when TCONV_VERBOSE asks for a line per execute (fp32 and
// bf16 calls alike).
template <class Run>
void logged_execute(const Problem& p, const Impl& impl, int threads, const Run& run) {
    if (!verbose()) return run();
    const auto t0 = std::chrono::steady_clock::now();
    run();
    verbose_execute(p, impl.report(), impl.threads_for(threads),
                    std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                        .count());
}

}  // namespace

// ---- threads: the defaults are resolved once, at compile ----
Layer::Layer(std::shared_ptr<const Impl> impl, Options options)
    : impl_(std::move(impl)), options_(options) {
    if (options_.threads <= 0) options_.threads = default_threads();
    options_.wait = resolve_wait_policy(options_);
}
// ---- end threads ----

Layer Layer::compile(const Problem& problem, const float* weights, const float* bias,
                     const Options& options) {
    validate_problem(problem, options.limits);
    check_pointers(problem, weights, bias);
    if (options.compile_threads < 0 || options.compile_threads > 1024)
        throw Error(ErrorKind::invalid_argument,
                    problem.name + ": compile_threads must be from 0 (the default thread count) "
                                   "to 1024, got " + std::to_string(options.compile_threads));
    if (problem.kind != LayerKind::transposed)  // lowered onto a transposed convolution
        return Layer(make_upsample_impl(problem, weights, bias, options), options);
    const Isa cap = resolve_max_isa(options);
    // A bf16 layer's weights are rounded once, here: every implementation computes with them.
    std::vector<float> rounded;
    if (problem.dtype == DType::bf16) {
        rounded = bf16_weights(problem, weights);
        weights = rounded.data();
    }
    std::vector<std::string> declined;
    for (const ImplEntry& e : kImplementations) {
        if (e.bf16_only && problem.dtype != DType::bf16) continue;
        if (e.isa > cap) {
            declined.push_back(std::string(e.name) + ": above the ISA cap (" +
                               std::string(to_string(cap)) + ")");
            continue;
        }
        std::string why_not;
        auto t0 = std::chrono::steady_clock::now();
        std::unique_ptr<Impl> impl = e.make(problem, weights, bias, options, why_not);
        if (!impl) {
            declined.push_back(std::string(e.name) + ": " + why_not);
            continue;
        }
        CompileReport& r = impl->mutable_report();
        if (r.compile_us == 0)
            r.compile_us =
                std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0)
                    .count();
        r.declined = std::move(declined);
        if (problem.dtype == DType::bf16) impl = as_bf16_layer(std::move(impl));
        if (verbose()) verbose_compile(problem, r, r.compile_us * 1e-3);
        return Layer(std::shared_ptr<const Impl>(std::move(impl)), options);
    }
    throw Error(ErrorKind::internal, problem.name + ": no implementation accepted the layer");
}

void Layer::execute(const float* x, float* y) const {
    execute(x, y, options_.threads);
}

void Layer::execute(const float* x, float* y, int threads) const {
    const Problem& p = impl_->problem();
    if (!x || !y)
        throw Error(ErrorKind::invalid_argument,
                    p.name + ": execute needs non-null input and output pointers");
    check_threads(p, threads);
    logged_execute(p, *impl_, threads, [&] { impl_->execute(x, y, threads, *options_.wait); });
}

// ---- bf16 ----
void Layer::execute_bf16(const uint16_t* x, uint16_t* y) const {
    execute_bf16(x, y, options_.threads);
}

void Layer::execute_bf16(const uint16_t* x, uint16_t* y, int threads) const {
    const Problem& p = impl_->problem();
    if (!x || !y)
        throw Error(ErrorKind::invalid_argument,
                    p.name + ": execute_bf16 needs non-null input and output pointers");
    check_threads(p, threads);
    logged_execute(p, *impl_, threads, [&] { impl_->execute_bf16(x, y, threads, *options_.wait); });
}
// ---- end bf16

const Problem& Layer::problem() const { return impl_->problem(); }
const CompileReport& Layer::report() const { return impl_->report(); }

// ---- reshape ----
void Layer::reshape(int64_t batch, Span<const int64_t> input_size) {
    const Problem& p = problem();
    auto bad = [&p](const std::string& why) {
        return Error(ErrorKind::invalid_argument, p.name + ": reshape: " + why);
    };
    if (int64_t(input_size.size()) != p.rank)
        throw bad("the input size has " + std::to_string(input_size.size()) +
                  " dims, the layer has rank " + std::to_string(p.rank));
    if (batch < 1) throw bad("batch=" + std::to_string(batch) + " must be >= 1");
    Problem q = p;
    q.batch = batch;
    for (int i = 0; i < p.rank; ++i) {
        const size_t d = size_t(i);
        if (input_size[d] < 1)
            throw bad("input_size[" + std::to_string(i) + "]=" + std::to_string(input_size[d]) +
                      " must be >= 1");
        q.input[d] = input_size[d];
        q.output[d] = output_extent(q.input[d], q.kernel[d], q.stride[d], q.dilation[d],
                                    q.pad_begin[d], q.pad_end[d], q.output_padding[d]);
        if (q.output[d] < 1)
            throw bad("input_size[" + std::to_string(i) + "]=" + std::to_string(input_size[d]) +
                      " gives an output size of " + std::to_string(q.output[d]) +
                      " along dim " + std::to_string(i) + ", must be >= 1");
    }
    try {
        validate_problem(q, options_.limits);
    } catch (const Error& e) {
        throw Error(e.kind() == ErrorKind::invalid_config ? ErrorKind::invalid_argument : e.kind(),
                    "reshape: " + std::string(e.what()));
    }
    const auto t0 = std::chrono::steady_clock::now();
    std::string why_not;
    std::unique_ptr<Impl> next = impl_->reshaped(q, why_not);
    if (!next)
        throw Error(ErrorKind::unsupported, p.name + ": reshape to input " +
                                                shape_string(input_shape(q)) + ": " + why_not);
    if (verbose())
        verbose_compile(q, next->report(),
                        std::chrono::duration<double, std::milli>(
                            std::chrono::steady_clock::now() - t0).count());
    impl_ = std::shared_ptr<const Impl>(std::move(next));  // only now: a failure changes nothing
}

std::vector<Layer::KernelBinary> Layer::kernel_binaries() const {
    std::vector<KernelBinary> out;
    if (auto* jit = dynamic_cast<const JitCodeSource*>(impl_.get()))
        for (const KernelCode& k : jit->kernel_code())
            out.push_back({k.name, std::vector<uint8_t>(k.code, k.code + k.size)});
    return out;
}

}  // namespace tconv
