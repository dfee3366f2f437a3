// SPDX-License-Identifier: Apache-2.0
// What the oneDNN peers share: the 2.x/3.x API differences, the user's activation layouts and
// the activation as a post-op. Included only when the build has oneDNN.
#pragma once

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

// oneDNN's resampling + convolution for resize_conv, convolution + the shuffle as a reorder for
// pixel_shuffle (onednn_upsample_peer.cpp).
PeerSetup create_onednn_upsampler(const PeerLayer& layer);

}  // namespace tconv::bench
