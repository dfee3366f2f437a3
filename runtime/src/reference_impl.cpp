// SPDX-License-Identifier: Apache-2.0
// The scalar reference as the implementation of last resort: it accepts every valid layer.
#include <memory>
#include <vector>

#include "impl.hpp"

namespace tconv {

namespace {

// The user's weights and bias, shared by the reshaped copies of a layer.
struct Tensors {
    std::vector<float> weights, bias;
};

class ReferenceImpl final : public Impl {
  public:
    ReferenceImpl(const Problem& p, std::shared_ptr<const Tensors> t) : t_(std::move(t)) {
        problem_ = p;
        report_.implementation = "reference";
        report_.plan_lines.push_back("scalar gather loops from the definition, double accumulation");
        report_.packed_weight_bytes = (t_->weights.size() + t_->bias.size()) * sizeof(float);
        report_.weight_packs = 1;
    }

    void execute(const float* x, float* y, int threads, WaitPolicy wait) const override {
        reference_conv_transpose(problem_, x, t_->weights.data(),
                                 t_->bias.empty() ? nullptr : t_->bias.data(), y, threads, wait);
    }

    std::unique_ptr<Impl> reshaped(const Problem& q, std::string& /*why_not*/) const override {
        auto r = std::make_unique<ReferenceImpl>(q, t_);
        r->report_.declined = report_.declined;
        r->report_.reshapes = report_.reshapes + 1;
        return r;
    }

  private:
    std::shared_ptr<const Tensors> t_;
};

}  // namespace

// Its copies of weights and bias are the user's tensors, already checked against the limits.
std::unique_ptr<Impl> make_reference_impl(const Problem& p, const float* w, const float* b,
                                          const Options& /*options*/,
                                          std::string& /*why_not*/) {
    auto t = std::make_shared<Tensors>();
    t->weights.assign(w, w + p.weight_elems());
    if (b) t->bias.assign(b, b + p.bias_elems());
    return std::make_unique<ReferenceImpl>(p, std::move(t));
}

}  // namespace tconv
