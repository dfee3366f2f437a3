// SPDX-License-Identifier: Apache-2.0
// resize_conv and pixel_shuffle layers: lowered onto one transposed convolution
// (upsample_lowering.hpp), which the usual dispatcher compiles (JIT first, reference last).
// The nearest resize and the unbiased pixel shuffle run as that layer alone; a linear resize
// first copies the input (replicated borders, or up-sampled when the conv is padded); a
// biased pixel shuffle adds its per-phase bias and the activation in one pass after it.
#include <fmt/format.h>

#include <optional>

#include "impl.hpp"
#include "scratch.hpp"
#include "upsample_impl.hpp"
#include "upsample_lowering.hpp"

namespace tconv {

namespace {

class UpsampleImpl final : public Impl {
  public:
    UpsampleImpl(const Problem& p, Lowered lowered, Layer inner)
        : u_(upsample_problem(p)), lowered_(std::move(lowered)), inner_(std::move(inner)) {
        problem_ = p;
        report_ = inner_.report();
        const Problem& t = lowered_.transposed;
        report_.implementation = fmt::format("{} via {}", to_string(p.kind),
                                             inner_.report().implementation);
        std::vector<std::string> lines{fmt::format(
            "lowered to one transposed convolution: kernel {}, stride {}, pads {}/{}{}",
            fmt::join(t.kernel.begin(), t.kernel.begin() + t.rank, "x"),
            fmt::join(t.stride.begin(), t.stride.begin() + t.rank, "x"),
            fmt::join(t.pad_begin.begin(), t.pad_begin.begin() + t.rank, ","),
            fmt::join(t.pad_end.begin(), t.pad_end.begin() + t.rank, ","),
            lowered_.replicate_pad     ? "; input copied with replicated borders"
            : lowered_.upsampled_input ? "; input up-sampled into a buffer (padded linear)"
            : !lowered_.phase_bias.empty() ? "; per-phase bias and activation after it"
                                          : "")};
        for (auto& l : report_.plan_lines) lines.push_back(l);
        report_.plan_lines = std::move(lines);
        if (lowered_.replicate_pad || lowered_.upsampled_input) {
            ScratchNeed need;
            need[ScratchKind::upsample] = t.input_elems();
            if (lowered_.upsampled_input) need[ScratchKind::row] = upsample_row_floats(u_);
            claim_.emplace(need);
        }
    }

    void execute(const float* x, float* y, int threads, WaitPolicy wait) const override {
        const float* in = x;
        if (lowered_.replicate_pad || lowered_.upsampled_input) {
            // The calling thread's buffer, kept across calls: no page faults per call.
            float* copy = thread_scratch().upsample.get(lowered_.transposed.input_elems());
            if (lowered_.replicate_pad) replicate_pad_input(u_.conv, x, copy, threads, wait);
            else upsample_input(u_, x, copy, threads, wait);
            in = copy;
        }
        inner_.execute(in, y, threads);
        add_phase_bias(u_, lowered_, y, threads, wait);
    }

    std::unique_ptr<Impl> reshaped(const Problem&, std::string& why_not) const override {
        why_not = fmt::format("a {} layer keeps its lowering for one input size",
                              to_string(problem_.kind));
        return nullptr;
    }

  private:
    UpsampleProblem u_;
    Lowered lowered_;
    Layer inner_;
    std::optional<ScratchClaim> claim_;
};

}  // namespace

std::unique_ptr<Impl> make_upsample_impl(const Problem& p, const float* w, const float* b,
                                         const Options& options) {
    Lowered lowered = lower(upsample_problem(p), w, b);
    Problem t = lowered.transposed;
    t.name = p.name;
    lowered.transposed = t;
    Layer inner = Layer::compile(t, lowered.weights.data(),
                                 lowered.bias.empty() ? nullptr : lowered.bias.data(), options);
    return std::make_unique<UpsampleImpl>(p, std::move(lowered), std::move(inner));
}

}  // namespace tconv
