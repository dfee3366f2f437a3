// SPDX-License-Identifier: Apache-2.0
// What the oneDNN peers share: the 2.x/3.x API differences, the user's activation layouts and
// the activation as a post-op. Included only when the build has oneDNN.
#pragma once

#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "bench_peer.hpp"

namespace tconv::bench {

using dnnl::memory;
using Tag = memory::format_tag;

inline memory::dims dims_of(const memory::desc& d) {
#if DNNL_VERSION_MAJOR >= 3
    return d.get_dims();
#else
    return d.dims();
#endif
}

inline void append_eltwise(dnnl::post_ops& ops, dnnl::algorithm alg, float alpha) {
#if DNNL_VERSION_MAJOR >= 3
    ops.append_eltwise(alg, alpha, 0.f);
#else
    ops.append_eltwise(1.f, alg, alpha, 0.f);
#endif
}

inline memory::dims spatial(const Problem& p, const Dims& d, int64_t offset = 0) {
    memory::dims out;
    for (int i = 0; i < p.rank; ++i) out.push_back(d[i] + offset);
    return out;
}

inline memory::dims activation_dims(const Problem& p, int64_t channels, const Dims& sp) {
    memory::dims dims{p.batch, channels};
    for (int64_t s : spatial(p, sp)) dims.push_back(s);
    return dims;
}

inline Tag activation_tag(const Problem& p) {
    static const Tag first[] = {Tag::ncw, Tag::nchw, Tag::ncdhw};
    static const Tag last[] = {Tag::nwc, Tag::nhwc, Tag::ndhwc};
    return (p.layout == Layout::channels_first ? first : last)[p.rank - 1];
}

inline dnnl::primitive_attr activation_attr(const Problem& p) {
    using dnnl::algorithm;
    dnnl::post_ops ops;
    switch (p.activation) {
        case Activation::none: break;
        case Activation::relu: append_eltwise(ops, algorithm::eltwise_relu, 0.f); break;
        case Activation::leaky_relu:
            append_eltwise(ops, algorithm::eltwise_relu, p.negative_slope);
            break;
        case Activation::sigmoid: append_eltwise(ops, algorithm::eltwise_logistic, 0.f); break;
        case Activation::tanh: append_eltwise(ops, algorithm::eltwise_tanh, 0.f); break;
    }
    dnnl::primitive_attr attr;
    attr.set_post_ops(ops);
    return attr;
}

// A (de)convolution's primitive descriptor, forward_inference, direct: 3.0 dropped the operation
// descriptor both take in 2.x.
template <class Primitive>
typename Primitive::primitive_desc weighted_pd(const dnnl::engine& eng, dnnl::algorithm alg,
                                               const memory::desc& src, const memory::desc& w,
                                               const memory::desc& bias, const memory::desc& dst,
                                               const memory::dims& strides,
                                               const memory::dims& dilates,
                                               const memory::dims& pad_l,
                                               const memory::dims& pad_r,
                                               const dnnl::primitive_attr& attr) {
    const auto prop = dnnl::prop_kind::forward_inference;
#if DNNL_VERSION_MAJOR >= 3
    return {eng, prop, alg, src, w, bias, dst, strides, dilates, pad_l, pad_r, attr};
#else
    const typename Primitive::desc d(prop, alg, src, w, bias, dst, strides, dilates, pad_l,
                                     pad_r);
    return {d, attr, eng};
#endif
}

// oneDNN's reference code can take minutes on a large layer; when the other variant has an
// optimised implementation, timing the reference would tell nothing. (2.x names it "ref:any";
// 3.x wraps it, e.g. "conv:any+ref:any".)
inline void drop_reference_variant(PeerSetup& out) {
    auto is_ref = [](const PeerVariant& v) { return v.impl.find("ref:") != std::string::npos; };
    if (out.variants.size() == 2 && is_ref(out.variants[0]) != is_ref(out.variants[1]))
        out.variants.erase(out.variants.begin() + (is_ref(out.variants[0]) ? 0 : 1));
}

using Args = std::unordered_map<int, memory>;

// A chain of primitives run back to back; set_input and get_output reorder (untimed) between
// the user's layout and the chain's first input and last output.
class ChainRunner : public Runner {
  public:
    ChainRunner(const dnnl::engine& eng, const memory::desc& user_src,
                const memory::desc& user_dst)
        : eng_(eng), strm_(eng), user_src_(user_src), user_dst_(user_dst) {}

    memory src, dst;  // the chain's first input and last output
    std::vector<std::pair<dnnl::primitive, Args>> steps;

    // The arguments of a primitive with weights: the user's weights (and bias, when given)
    // reordered once into the formats `pd` chose.
    template <class Pd>
    Args weight_args(const Pd& pd, memory user_weights, const float* bias) {
        memory w(pd.weights_desc(), eng_);
        dnnl::reorder(user_weights, w).execute(strm_, user_weights, w);
        Args args{{DNNL_ARG_WEIGHTS, w}};
        if (bias) {
            const memory::desc bias_desc = pd.bias_desc();
            memory user(memory::desc(dims_of(bias_desc), memory::data_type::f32, Tag::a), eng_,
                        const_cast<float*>(bias));
            memory b(bias_desc, eng_);
            dnnl::reorder(user, b).execute(strm_, user, b);
            args[DNNL_ARG_BIAS] = b;
        }
        strm_.wait();
        return args;
    }

    void set_input(const float* x) override {
        memory user(user_src_, eng_, const_cast<float*>(x));
        dnnl::reorder(user, src).execute(strm_, user, src);
        strm_.wait();
    }
    void run() override {
        for (auto& [prim, args] : steps) prim.execute(strm_, args);
        strm_.wait();
    }
    void get_output(float* y) override {
        memory user(user_dst_, eng_, y);
        dnnl::reorder(dst, user).execute(strm_, dst, user);
        strm_.wait();
    }

  private:
    dnnl::engine eng_;
    dnnl::stream strm_;
    memory::desc user_src_, user_dst_;
};

// oneDNN's resampling + convolution for resize_conv, convolution + the shuffle as a reorder for
// pixel_shuffle (onednn_upsample_peer.cpp).
PeerSetup create_onednn_upsampler(const PeerLayer& layer);

}  // namespace tconv::bench
