// SPDX-License-Identifier: Apache-2.0
// Layer::compile and execute on sized buffers: each size checked, then the pointer versions.
#include <string>

#include "tconv/tconv.hpp"

namespace tconv {

namespace {

// `buffer`'s data after checking its size: exactly `want` floats, or at least `want` when
// `at_least`. An error names the layer, the call, the argument and both sizes.
template <class T>
T* checked(Span<T> buffer, int64_t want, bool at_least, const Problem& p, const char* call,
           const char* what) {
    const size_t need = size_t(want);
    if (buffer.size() == need || (at_least && buffer.size() > need)) return buffer.data();
    throw Error(ErrorKind::invalid_argument,
                p.name + ": " + call + ": " + what + " has " + std::to_string(buffer.size()) +
                    " floats but the layer needs " + (at_least ? "at least " : "") +
                    std::to_string(need));
}

}  // namespace

Layer Layer::compile(const Problem& problem, Span<const float> weights, Span<const float> bias,
                     const Options& options) {
    validate_problem(problem, options.limits);  // sizes below come from a valid problem
    const float* w = checked(weights, problem.weight_elems(), false, problem, "compile", "weights");
    // An empty bias is none: compile then says whether the layer needs one.
    const float* b = bias.empty()   ? nullptr
                     : !problem.bias ? bias.data()
                                     : checked(bias, problem.bias_elems(), false, problem,
                                               "compile", "bias");
    return compile(problem, w, b, options);
}

void Layer::execute(Span<const float> x, Span<float> y) const {
    const Problem& p = problem();
    execute(checked(x, input_elems(), true, p, "execute", "input"),
            checked(y, output_elems(), true, p, "execute", "output"));
}

void Layer::execute(Span<const float> x, Span<float> y, int threads) const {
    const Problem& p = problem();
    execute(checked(x, input_elems(), true, p, "execute", "input"),
            checked(y, output_elems(), true, p, "execute", "output"), threads);
}

}  // namespace tconv
