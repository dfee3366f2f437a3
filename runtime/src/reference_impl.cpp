// SPDX-License-Identifier: Apache-2.0
// The scalar reference as the implementation of last resort: it accepts every valid layer.
#include <vector>

#include "impl.hpp"

namespace tconv {

namespace {

class ReferenceImpl final : public Impl {
  public:
    ReferenceImpl(const Problem& p, const float* w, const float* b)
        : weights_(w, w + p.weight_elems()), bias_(b ? std::vector<float>(b, b + p.out_channels)
                                                     : std::vector<float>{}) {
        problem_ = p;
        report_.implementation = "reference";
        report_.plan_lines.push_back("scalar gather loops from the definition, double accumulation");
        report_.packed_weight_bytes = (weights_.size() + bias_.size()) * sizeof(float);
    }

    void execute(const float* x, float* y, int threads, WaitPolicy wait) const override {
        reference_conv_transpose(problem_, x, weights_.data(), bias_.empty() ? nullptr : bias_.data(),
                                 y, threads, wait);
    }

  private:
    std::vector<float> weights_, bias_;
};

}  // namespace

// Its copies of weights and bias are the user's tensors, already checked against the limits.
std::unique_ptr<Impl> make_reference_impl(const Problem& p, const float* w, const float* b,
                                          const Options& /*options*/,
                                          std::string& /*why_not*/) {
    return std::make_unique<ReferenceImpl>(p, w, b);
}

}  // namespace tconv
