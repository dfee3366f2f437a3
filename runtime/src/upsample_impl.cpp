// SPDX-License-Identifier: Apache-2.0
// resize_conv and pixel_shuffle layers: lowered onto one transposed convolution
// (upsample_lowering.hpp), which the usual dispatcher compiles (JIT first, reference last).
// The nearest resize and the unbiased pixel shuffle run as that layer alone; a linear resize
// first copies the input (replicated borders; up-sampled when the conv is padded and an
// up-sampled extent is shorter than the kernel's reach), and with a padded conv then
// recomputes its border slabs, each its own small layer; a biased pixel shuffle adds its
// per-phase bias and the activation in one pass after it. A factored resize's layer writes v
// into the calling thread's buffer, after the input copy, and filter_output() makes the
// output from it before any border slab.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <optional>
#include <string>

#include "impl.hpp"
#include "scratch.hpp"
#include "upsample_impl.hpp"
#include "upsample_lowering.hpp"

namespace tconv {

namespace {

std::array<int64_t, 3> extents3(const Problem& p) {
    std::array<int64_t, 3> e{1, 1, 1};
    for (int i = 0; i < p.rank; ++i) e[size_t(3 - p.rank + i)] = p.output[i];
    return e;
}

class UpsampleImpl final : public Impl {
  public:
    UpsampleImpl(const Problem& p, Lowered lowered, Layer inner, std::vector<Layer> borders)
        : u_(upsample_problem(p)),
          out3_(extents3(p)),
          lowered_(std::move(lowered)),
          inner_(std::move(inner)),
          borders_(std::move(borders)) {
        problem_ = p;
        report_ = inner_.report();
        const Problem& t = lowered_.transposed;
        report_.implementation = fmt::format("{} via {}", to_string(p.kind),
                                             inner_.report().implementation);
        std::string how;
        if (lowered_.replicate_pad) how = "; input copied with replicated borders";
        if (lowered_.upsampled_input) how = "; input up-sampled into a buffer (padded linear)";
        if (!lowered_.phase_bias.empty()) how = "; per-phase bias and activation after it";
        if (lowered_.factored)
            how += "; its output then up-sampled by the resize's filter, with bias and activation";
        std::vector<std::string> lines{fmt::format(
            "lowered to one transposed convolution: kernel {}, stride {}, pads {}/{}{}",
            fmt::join(t.kernel.begin(), t.kernel.begin() + t.rank, "x"),
            fmt::join(t.stride.begin(), t.stride.begin() + t.rank, "x"),
            fmt::join(t.pad_begin.begin(), t.pad_begin.begin() + t.rank, ","),
            fmt::join(t.pad_end.begin(), t.pad_end.begin() + t.rank, ","), how)};
        if (!borders_.empty())
            lines.push_back(fmt::format(
                "the conv's padding: {} border slabs recomputed after it from their own "
                "up-sampled input, each a stride-1 transposed convolution ({})",
                borders_.size(), borders_[0].report().implementation));
        for (auto& l : report_.plan_lines) lines.push_back(l);
        report_.plan_lines = std::move(lines);
        if (upsample_floats() > 0) {
            ScratchNeed need;
            need[ScratchKind::upsample] = upsample_floats();
            if (lowered_.upsampled_input || !borders_.empty())
                need[ScratchKind::row] = upsample_row_floats(u_);
            claim_.emplace(need);
        }
    }

    void execute(const float* x, float* y, int threads, WaitPolicy wait) const override {
        const float* in = x;
        // The calling thread's buffer, kept across calls: no page faults per call. It holds
        // the input copy and v (factored), then each border slab's input and output in turn.
        float* buf = nullptr;
        if (upsample_floats() > 0) {
            buf = thread_scratch().upsample.get(upsample_floats());
            if (lowered_.replicate_pad) replicate_pad_input(u_.conv, x, buf, threads, wait);
            else if (lowered_.upsampled_input) upsample_input(u_, x, buf, threads, wait);
            if (copy_floats() > 0) in = buf;
        }
        if (lowered_.factored) {
            float* v = buf + copy_floats();
            inner_.execute(in, v, threads);
            filter_output(u_.conv, lowered_.filter, v, out3_, y, threads, wait);
        } else {
            inner_.execute(in, y, threads);
        }
        for (size_t i = 0; i < borders_.size(); ++i) {
            const BorderSlab& slab = lowered_.borders[i];
            float* out = slab_output(slab, buf);
            borders_[i].execute(slab_input(u_, slab, x, buf, threads, wait), out, threads);
            paste_output(u_, slab, out, y);
        }
        add_phase_bias(u_, lowered_, y, threads, wait);
    }

    std::unique_ptr<Impl> reshaped(const Problem&, std::string& why_not) const override {
        why_not = fmt::format("a {} layer keeps its lowering for one input size",
                              to_string(problem_.kind));
        return nullptr;
    }

  private:
    // Floats of the calling thread's upsample scratch: the input copy and v, or a border
    // slab's input and output, whichever is largest (0: the layer needs none).
    int64_t upsample_floats() const {
        int64_t n = copy_floats() + (lowered_.factored ? lowered_.transposed.output_elems() : 0);
        for (const BorderSlab& s : lowered_.borders) n = std::max(n, slab_floats(s));
        return n;
    }
    // The input copy's floats (none where the kernel reads the user's input).
    int64_t copy_floats() const {
        return lowered_.replicate_pad || lowered_.upsampled_input
                   ? lowered_.transposed.input_elems()
                   : 0;
    }

    UpsampleProblem u_;
    std::array<int64_t, 3> out3_;  // the output's extents as 3 dims (factored)
    Lowered lowered_;
    Layer inner_;
    std::vector<Layer> borders_;  // one per lowered_.borders
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
    std::vector<Layer> borders;
    for (BorderSlab& slab : lowered.borders) {
        Problem& s = slab.conv.transposed;
        s.name = p.name + " (border slab)";
        borders.push_back(Layer::compile(s, slab.conv.weights.data(),
                                         slab.conv.bias.empty() ? nullptr : slab.conv.bias.data(),
                                         options));
    }
    return std::make_unique<UpsampleImpl>(p, std::move(lowered), std::move(inner),
                                          std::move(borders));
}

}  // namespace tconv
