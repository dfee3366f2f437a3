// SPDX-License-Identifier: Apache-2.0
// The JIT implementations: plan, emit and pack at compile; at execute, copy the input into the
// plan's zero-halo buffer (jit_input.hpp), then run the family's driver (jit_driver.hpp) over
// it, in parallel. Every output is written by exactly one kernel call, so results do not depend
// on the thread count.
#include "jit_impl.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <optional>

#include "bf16_impl.hpp"
#include "impl.hpp"
#include "jit_driver.hpp"
#include "jit_input.hpp"
#include "perf_map.hpp"
#include "scratch.hpp"
#include "thread_defaults.hpp"
#include "thread_pool.hpp"
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
void pack_weights(const gen::Plan& plan, const float* w, float* packed, int threads) {
    constexpr int64_t kFloatsPerThread = int64_t(1) << 19;
    const int64_t parts = gen::pack_weight_parts(plan);
    threads = int(std::clamp<int64_t>(plan.base().packed_weight_floats / kFloatsPerThread, 1,
                                      std::min<int64_t>(threads, parts)));
    if (threads == 1) return gen::pack_weights(plan, w, packed, 0, parts);
    global_pool().run(1, int(parts), threads, resolve_wait_policy({}), [&](int64_t, int part) {
        gen::pack_weights(plan, w, packed, part, part + 1);
    });
}

// The packed weights and bias of a layer, shared by its reshaped copies (Layer::reshape).
struct PackedTensors {
    FloatBuffer w, b;
};

// The kernels of a plan from the process-wide cache; false with `why_not` when the generator
// cannot emit one.
bool plan_kernels(const gen::Plan& plan, std::vector<std::shared_ptr<const gen::Kernel>>& out,
                  std::string& why_not) {
    try {
        for (const gen::AnyKernelDesc& d : plan.base().kernels) out.push_back(gen::cached_kernel(d));
    } catch (const std::runtime_error& e) {
        why_not = e.what();
        return false;
    }
    return true;
}

class JitImpl final : public Impl, public JitCodeSource {
  public:
    // `plan` is made for the user's problem or its lowered form (Plan::lowered), whose weights
    // w and bias b are then already rearranged; `kernels` are the plan's, in its order.
    // `threads` pack the weights.
    JitImpl(const Problem& user, gen::Plan plan,
            std::vector<std::shared_ptr<const gen::Kernel>> kernels, const float* w,
            const float* b, int threads)
        : plan_(std::move(plan)), kernels_(std::move(kernels)) {
        const gen::PlanBase& pl = plan_.base();
        const auto t0 = std::chrono::steady_clock::now();
        auto packed = std::make_shared<PackedTensors>();
        packed->w = aligned_floats(pl.packed_weight_floats);
        packed->b = aligned_floats(pl.packed_bias_floats);
        pack_weights(plan_, w, packed->w.get(), threads);
        gen::pack_bias(plan_, b, packed->b.get());
        packed_ = std::move(packed);
        report_.pack_us = std::chrono::duration<double, std::micro>(
                              std::chrono::steady_clock::now() - t0).count();
        report_.weight_packs = 1;
        init(user);
    }

    // Reshape: `plan` packs exactly as `from`'s (equal packing signatures): its weights serve.
    JitImpl(const Problem& user, gen::Plan plan,
            std::vector<std::shared_ptr<const gen::Kernel>> kernels, const JitImpl& from)
        : plan_(std::move(plan)), kernels_(std::move(kernels)), packed_(from.packed_) {
        report_.pack_us = from.report_.pack_us;
        report_.weight_packs = from.report_.weight_packs;
        report_.reshapes = from.report_.reshapes + 1;
        report_.declined = from.report_.declined;
        init(user);
    }

    std::unique_ptr<Impl> reshaped(const Problem& q, std::string& why_not) const override {
        const auto t0 = std::chrono::steady_clock::now();
        gen::Plan plan;
        if (!gen::plan(q, plan_.base().isa, plan, why_not, gen::packing_overrides(plan_)))
            return nullptr;
        if (gen::packing_signature(plan) != gen::packing_signature(plan_)) {
            why_not = plan.lowered || plan_.lowered
                          ? "the layer was compiled as a matrix product over single input pixels "
                            "(or becomes one): its weights are packed differently"
                          : "the new size needs another packing of the weights";
            return nullptr;
        }
        std::vector<std::shared_ptr<const gen::Kernel>> kernels;
        if (!plan_kernels(plan, kernels, why_not)) return nullptr;
        auto r = std::make_unique<JitImpl>(q, std::move(plan), std::move(kernels), *this);
        r->report_.compile_us =
            std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0)
                .count();
        if (q.dtype == DType::bf16) return as_bf16_layer(std::move(r));
        return r;
    }

  private:
    // What both constructors share: the driver and the report of the plan.
    void init(const Problem& user) {
        problem_ = user;
        useful_threads_ = useful_threads(user.flops(), 0);
        const gen::PlanBase& pl = plan_.base();
        for (const auto& k : kernels_) perf_map_register(k->code(), k->code_size(), k->name());
        // The driver of the plan's family, chosen once.
        for (const auto& k : kernels_) tables_.kernels.push_back(k->fn());
        tables_.weights = packed_->w.get();
        tables_.bias = packed_->b.get();
        driver_ = std::visit([&](const auto& fp) { return make_driver(fp, tables_); }, plan_.family);
        // --- scratch release (cache branch): the layer's scratch need, held while it lives.
        ScratchNeed need = driver_->scratch_need();
        const int64_t copied = pl.input.in_place ? 0 : pl.batch_group * pl.input.image_floats();
        need[ScratchKind::input] =
            driver_->reads_user_input() ? driver_->shared_floats() : copied;
        if (plan_.lowered) around_ = gen::pixel_transpose(user);
        need[ScratchKind::layout] = around_.input_floats() + around_.output_floats();
        if (handles_bf16())  // execute()'s float tensors as the layer stores them
            need[ScratchKind::bf16] = (user.input_elems() + user.output_elems() + 1) / 2;
        scratch_claim_.emplace(need);
        // --- end scratch release

        report_.implementation = std::string("jit_") + std::string(to_string(pl.isa));
        for (const auto& k : kernels_) {
            report_.kernel_names.push_back(k->name());
            report_.code_bytes += k->code_size();
        }
        report_.plan_lines = pl.lines;
        if (handles_bf16() && pl.isa < Isa::avx512_bf16)  // the pair plans describe their own
            report_.plan_lines.push_back(
                "bf16 storage: the input widened to fp32 in its copy, fp32 compute, the output "
                "rounded to bf16 (RNE) as it is stored: by the AVX2 kernels (channels_last "
                "channel and depthwise kernels, channels_first depthwise planes) or by the "
                "copies and transposes of the row buffers");
        report_.packed_weight_bytes =
            uint64_t(pl.packed_weight_floats + pl.packed_bias_floats) * sizeof(float);
    }

  public:
    void set_compile_us(double us) { report_.compile_us = us; }

    std::vector<KernelCode> kernel_code() const override {
        std::vector<KernelCode> out;
        for (const auto& k : kernels_) out.push_back({k->name(), k->code(), k->code_size()});
        return out;
    }

    bool handles_bf16() const override { return plan_.base().io == DType::bf16; }

    // Floats in and out of a layer storing bf16: converted around the run, the input rounded
    // as the layer stores it.
    void execute(const float* x, float* y, int threads, WaitPolicy wait) const override {
        if (handles_bf16()) {
            const int64_t ni = problem_.input_elems(), no = problem_.output_elems();
            auto* xs = reinterpret_cast<uint16_t*>(thread_scratch().bf16.get((ni + no + 1) / 2));
            uint16_t* ys = xs + ni;
            to_bf16(x, xs, ni, threads, wait);
            run(xs, ys, threads, wait);
            return from_bf16(ys, y, no, threads, wait);
        }
        if (!around_.pixels) return run(x, y, threads, wait);
        // A channels-first product over several pixels: transpose in, run, transpose out.
        const gen::PixelTranspose& t = around_;
        float* xt = thread_scratch().layout.get(t.input_floats() + t.output_floats());
        float* yt = xt + t.input_floats();
        const int64_t P = t.pixels, IC = t.in_channels, OC = t.out_channels, K = t.kernel;
        for (int64_t n = 0; n < t.images; ++n)
            transpose_avx2(x + n * IC * P, P, IC, P, xt + n * P * IC, IC);
        run(xt, yt, threads, wait);
        for (int64_t n = 0; n < t.images; ++n)  // [P][OC][K] -> [OC][P][K]
            transpose_items(yt + n * P * OC * K, P, OC, K, y + n * OC * P * K);
    }

    void execute_bf16(const uint16_t* x, uint16_t* y, int threads,
                      WaitPolicy wait) const override {
        if (!handles_bf16()) return Impl::execute_bf16(x, y, threads, wait);
        run(x, y, threads, wait);
    }

  private:
    int threads_for(int requested) const override {
        return std::min(requested, useful_threads_.load(std::memory_order_relaxed));
    }

    // Runs on threads_for(threads) threads. While that is fewer than asked for, the first
    // kTimedCalls such calls are timed, and the last of them sets useful_threads_.
    void run(const void* x, void* y, int threads, WaitPolicy wait) const {
        const int useful = threads_for(threads);
        if (useful == threads || timed_calls_.load(std::memory_order_relaxed) <= 0)
            return run_on(x, y, useful, wait);
        const auto t0 = std::chrono::steady_clock::now();
        run_on(x, y, useful, wait);
        const int64_t ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                               std::chrono::steady_clock::now() - t0)
                               .count() *
                           useful;  // the time one thread would take, as the shares are even
        int64_t fastest = fastest_ns_.load(std::memory_order_relaxed);
        while (ns < fastest && !fastest_ns_.compare_exchange_weak(fastest, ns)) {
        }
        if (timed_calls_.fetch_sub(1) != 1) return;  // the last timed call decides
        const int64_t timed = std::min(ns, fastest_ns_.load());
        useful_threads_.store(useful_threads(problem_.flops(), timed), std::memory_order_relaxed);
    }

    // x and y as the plan stores them (gen::PlanBase::io).
    void run_on(const void* x, void* y, int threads, WaitPolicy wait) const {
        const gen::PlanBase& pl = plan_.base();
        // The work is cut into `shares` items per phase, each claimed by whichever thread
        // comes first (thread_pool.hpp); the cut, not the thread that runs a share, fixes
        // who writes each output, so the bits do not depend on the thread count.
        const int shares = threads;
        std::atomic<bool> out_of_memory{false};
        if (driver_->reads_user_input()) {  // no copy: the driver's passes
            const WorkPart all = WorkPart::whole(pl, 0, pl.batch, 0);
            float* shared = nullptr;
            if (const int64_t n = driver_->shared_floats(); n > 0) {
                ThreadScratch& buf = thread_scratch().input;
                shared = buf.get(n);
                buf.halo_owner = 0;  // no layer's zero halo survives in it
            }
            global_pool().run(driver_->passes(), shares, threads, wait, [&](int64_t pass, int s) {
                if (!driver_->compute_pass(pass, x, shared, y, all, s, shares))
                    out_of_memory = true;
            });
            if (out_of_memory) throw row_buffer_error(problem_);
            return;
        }
        const int64_t img = pl.input.image_floats();
        if (pl.input.in_place) {  // the kernels read x where it lies: nothing to copy
            global_pool().run(WorkPart::count(pl, false), shares, threads, wait,
                              [&](int64_t part, int s) {
                                  const WorkPart w = WorkPart::at(pl, part, false);
                                  const float* xs = static_cast<const float*>(x) + w.n0 * img;
                                  if (!driver_->compute(xs, y, w, s, shares)) out_of_memory = true;
                              });
            if (out_of_memory) throw row_buffer_error(problem_);
            return;
        }
        ThreadScratch& input = thread_scratch().input;
        float* xbuf = input.get(pl.batch_group * img);
        const bool halo_ready = input.halo_owner == id_;
        // Per part of the work (group of images, slab of groups, band of rows: WorkPart) two
        // phases: copy its input into the calling thread's buffer, then compute from it. A
        // phase starts once the previous one's shares are all done. Bands only pay on one
        // thread: with more, a band's rows are copied and read on different cores, and each
        // band's two phases wait for every thread (U-Net 128 -> 64 at 196x196 on two threads:
        // 33-39 ms whole, 49-59 ms in 66 bands).
        const bool banded = shares == 1;
        const int64_t parts = WorkPart::count(pl, banded);
        global_pool().run(2 * parts, shares, threads, wait, [&](int64_t phase, int s) {
            const WorkPart w = WorkPart::at(pl, phase / 2, banded);
            if (phase % 2 == 0) copy_input(pl, x, xbuf, w, s, shares, halo_ready);
            else if (!driver_->compute(xbuf, y, w, s, shares)) out_of_memory = true;
        });
        input.halo_owner = id_;
        if (out_of_memory) throw row_buffer_error(problem_);
    }

    const uint64_t id_ = next_layer_id();  // names this layer's halo in a thread's scratch
    // Waking a thread costs microseconds: each gets at least ~5 us of work, so tiny layers run
    // on the calling thread alone (useful_threads, thread_defaults.hpp). Every output has one
    // owner whatever the count, so the result does not change. Layers whose FLOPs allow fewer
    // threads than a call asks for are timed on their first kTimedCalls such calls; the
    // fastest sets the count from then on.
    static constexpr int kTimedCalls = 4;
    mutable std::atomic<int> useful_threads_{1};
    mutable std::atomic<int> timed_calls_{kTimedCalls};
    mutable std::atomic<int64_t> fastest_ns_{INT64_MAX};
    gen::Plan plan_;
    std::vector<std::shared_ptr<const gen::Kernel>> kernels_;  // shared through the cache
    std::shared_ptr<const PackedTensors> packed_;  // shared with reshaped copies
    KernelTables tables_;
    std::unique_ptr<JitDriver> driver_;  // refers to plan_ and tables_
    std::optional<ScratchClaim> scratch_claim_;  // what execute() asks of a thread's scratch
    gen::PixelTranspose around_;  // transposes around a lowered channels-first layer
};

}  // namespace

std::unique_ptr<Impl> make_jit_impl(Isa isa, const Problem& p, const float* w, const float* b,
                                    const Options& options, std::string& why_not,
                                    const gen::PlanOverrides& overrides) {
    const auto t0 = std::chrono::steady_clock::now();
    // Detection also asks the OS for the tile state, without which the first tile
    // instruction faults.
    if (isa == Isa::amx && !cpu_info().amx_bf16) {
        why_not = "no AMX-BF16 tiles on this CPU, or the OS did not grant them";
        return nullptr;
    }
    if (isa == Isa::avx512_bf16 && cpu_info().best_isa() < Isa::avx512_bf16) {
        why_not = "no AVX512_BF16 on this CPU";
        return nullptr;
    }
    gen::Plan plan;
    gen::PlanOverrides ov = overrides;  // the blocking fits this CPU's L2 unless told another
    if (ov.l2_bytes == 0) ov.l2_bytes = cpu_info().plan_l2_bytes;
    if (!gen::plan(p, isa, plan, why_not, ov)) return nullptr;
    // Packing pads channels to whole vectors: check the packed size against the tensor limit
    // before allocating it (the reference then serves the layer with the unpadded weights).
    const uint64_t packed_bytes =
        uint64_t(plan.base().packed_weight_floats + plan.base().packed_bias_floats) *
        sizeof(float);
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
    if (!plan_kernels(plan, kernels, why_not)) return nullptr;
    const int threads = options.compile_threads > 0 ? options.compile_threads : default_threads();
    auto impl = std::make_unique<JitImpl>(p, std::move(plan), std::move(kernels), w, b, threads);
    impl->set_compile_us(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
    return impl;
}

std::unique_ptr<Impl> make_jit_amx_impl(const Problem& p, const float* w, const float* b,
                                        const Options& options, std::string& why_not) {
    return make_jit_impl(Isa::amx, p, w, b, options, why_not);
}

std::unique_ptr<Impl> make_jit_avx512_bf16_impl(const Problem& p, const float* w, const float* b,
                                                const Options& options, std::string& why_not) {
    return make_jit_impl(Isa::avx512_bf16, p, w, b, options, why_not);
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
