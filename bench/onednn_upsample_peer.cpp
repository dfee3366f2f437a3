// SPDX-License-Identifier: Apache-2.0
// oneDNN on the two up-samplers that are not transposed convolutions, built from its primitives
// as a oneDNN user would: resize_conv as resampling (nearest or linear) then a stride-1
// convolution, pixel_shuffle as a convolution to C * r^2 channels then depth-to-space as a
// reorder between two 6D views. Both run as one timed chain; `plain` keeps the user's layouts
// throughout, `any` lets the convolution choose its formats (the resampling then writes the
// convolution's input format; pixel_shuffle's convolution output, when blocked, is reordered to
// the plain tensor, the only one the shuffle's strided view can read).
#include "bench_peer.hpp"

#ifdef TCONV_HAVE_ONEDNN

#include <chrono>
#include <optional>

#include "onednn_common.hpp"

namespace tconv::bench {
namespace {

dnnl::resampling_forward::primitive_desc resampling_pd(const dnnl::engine& eng,
                                                       dnnl::algorithm alg,
                                                       const memory::desc& src,
                                                       const memory::desc& dst) {
    const auto prop = dnnl::prop_kind::forward_inference;
#if DNNL_VERSION_MAJOR >= 3
    return {eng, prop, alg, src, dst};
#else
    return {dnnl::resampling_forward::desc(prop, alg, src, dst), eng};
#endif
}

// PyTorch's Conv weights [CC][IC/G][K...] are oneDNN's (g,) o, i, k... in plain order.
memory::desc conv_weights_desc(const Problem& p) {
    const int64_t cc = p.conv_channels();
    memory::dims dims = p.groups > 1 ? memory::dims{p.groups, cc / p.groups, p.ic_per_group()}
                                     : memory::dims{cc, p.in_channels};
    for (int64_t k : spatial(p, p.kernel)) dims.push_back(k);
    memory::dims strides(dims.size());
    int64_t inner = 1;
    for (size_t i = dims.size(); i-- > 0;) {
        strides[i] = inner;
        inner *= dims[i];
    }
    return memory::desc(dims, memory::data_type::f32, strides);
}

// The format tag of `d` among the user's and oneDNN's blocked activation formats, so that the
// resampling reads its input in the format it writes (its fast kernels need both alike).
std::optional<Tag> activation_format(const Problem& p, const memory::desc& d) {
    static const Tag blocked8[] = {Tag::nCw8c, Tag::nChw8c, Tag::nCdhw8c};
    static const Tag blocked16[] = {Tag::nCw16c, Tag::nChw16c, Tag::nCdhw16c};
    static const Tag first[] = {Tag::ncw, Tag::nchw, Tag::ncdhw};
    static const Tag last[] = {Tag::nwc, Tag::nhwc, Tag::ndhwc};
    const int r = p.rank - 1;
    for (Tag t : {first[r], last[r], blocked8[r], blocked16[r]})
        if (memory::desc(dims_of(d), memory::data_type::f32, t) == d) return t;
    return std::nullopt;
}

// pixel_shuffle's depth-to-space as strides: the logical dims (n, c, i, j, h, w) address the
// convolution's output channel c*r*r + i*r + j at (h, w), and the layer's output at
// (h*r + i, w*r + j), both in the user's layout.
memory::desc shuffle_view(const Problem& p, bool conv_side) {
    const int64_t r = p.upscale_factor, C = p.out_channels, H = p.output[0] / r,
                  W = p.output[1] / r;
    const memory::dims dims{p.batch, C, r, r, H, W};
    const bool last = p.layout == Layout::channels_last;
    memory::dims s;
    if (conv_side) {  // [N, C*r*r, H, W] or [N, H, W, C*r*r]
        const int64_t cc = C * r * r;
        s = last ? memory::dims{H * W * cc, r * r, r, 1, W * cc, cc}
                 : memory::dims{cc * H * W, r * r * H * W, r * H * W, H * W, W, 1};
    } else {  // [N, C, H*r, W*r] or [N, H*r, W*r, C]
        const int64_t OW = W * r, plane = H * r * OW;
        s = last ? memory::dims{plane * C, 1, OW * C, C, r * OW * C, r * C}
                 : memory::dims{C * plane, plane, OW, 1, r * OW, r};
    }
    return memory::desc(dims, memory::data_type::f32, s);
}

}  // namespace

PeerSetup create_onednn_upsampler(const PeerLayer& layer) {
    const Problem& p = layer.problem;
    if (p.dtype != DType::f32) return {{}, kF32Only};
    const bool resize = p.kind == LayerKind::resize_conv;
    const auto f32 = memory::data_type::f32;
    PeerSetup out;
    try {
        const dnnl::engine eng(dnnl::engine::kind::cpu, 0);
        const int64_t cc = p.conv_channels(), r = p.upscale_factor;
        Dims conv_in = p.input, conv_out = p.output;
        for (int i = 0; i < p.rank; ++i) {
            if (resize) conv_in[size_t(i)] *= p.scale[size_t(i)];
            else conv_out[size_t(i)] /= r;
        }
        const memory::desc src_user(activation_dims(p, p.in_channels, p.input), f32,
                                    activation_tag(p));
        const memory::desc dst_user(activation_dims(p, p.out_channels, p.output), f32,
                                    activation_tag(p));
        const memory::dims up_dims = activation_dims(p, p.in_channels, conv_in);
        const memory::dims conv_dst_dims = activation_dims(p, cc, conv_out);
        const memory::desc w_user = conv_weights_desc(p);
        memory user_weights(w_user, eng, const_cast<float*>(layer.weights));
        const memory::dims ones = spatial(p, Dims{1, 1, 1});
        const memory::dims dilates = spatial(p, p.dilation, -1);  // oneDNN counts gaps: D - 1
        const memory::dims pad_l = spatial(p, p.pad_begin), pad_r = spatial(p, p.pad_end);
        const dnnl::primitive_attr attr = activation_attr(p);
        const auto resample = p.mode == ResizeMode::nearest ? dnnl::algorithm::resampling_nearest
                                                            : dnnl::algorithm::resampling_linear;

        auto try_variant = [&](const std::string& name, bool any) {
            const auto t0 = std::chrono::steady_clock::now();
            const memory::desc conv_src(up_dims, f32, any ? Tag::any : activation_tag(p));
            const memory::desc conv_w = any ? memory::desc(dims_of(w_user), f32, Tag::any) : w_user;
            const memory::desc conv_dst(conv_dst_dims, f32, any ? Tag::any : activation_tag(p));
            const memory::desc bias =
                p.bias ? memory::desc({cc}, f32, any ? Tag::any : Tag::a) : memory::desc();
            const auto conv = weighted_pd<dnnl::convolution_forward>(
                eng, dnnl::algorithm::convolution_direct, conv_src, conv_w, bias, conv_dst, ones,
                dilates, pad_l, pad_r, attr);
            auto runner = std::make_unique<ChainRunner>(eng, src_user, dst_user);
            Args conv_args = runner->weight_args(conv, user_weights, layer.bias);
            PeerVariant v;
            v.variant = name;
            if (resize) {
                const std::optional<Tag> tag = activation_format(p, conv.src_desc());
                const memory::desc rs_src(dims_of(src_user), f32, tag ? *tag : activation_tag(p));
                const auto rs = resampling_pd(eng, resample, rs_src, conv.src_desc());
                runner->src = memory(rs_src, eng);
                memory up(conv.src_desc(), eng);
                runner->dst = memory(conv.dst_desc(), eng);
                runner->steps.push_back(
                    {dnnl::resampling_forward(rs), Args{{DNNL_ARG_SRC, runner->src}, {DNNL_ARG_DST, up}}});
                conv_args[DNNL_ARG_SRC] = up;
                conv_args[DNNL_ARG_DST] = runner->dst;
                runner->steps.push_back({dnnl::convolution_forward(conv), conv_args});
                v.impl = std::string(rs.impl_info_str()) + " + " + conv.impl_info_str();
            } else {
                runner->src = memory(conv.src_desc(), eng);
                memory conv_y(conv.dst_desc(), eng);
                runner->dst = memory(dst_user, eng);
                conv_args[DNNL_ARG_SRC] = runner->src;
                conv_args[DNNL_ARG_DST] = conv_y;
                runner->steps.push_back({dnnl::convolution_forward(conv), conv_args});
                // A blocked convolution output is first reordered to the plain tensor, the one
                // the shuffle's strided view can read (`any`: oneDNN 3.7 runs plain NCHW
                // convolutions on its reference code on some CPUs, ~1000x slower).
                const memory::desc conv_plain(conv_dst_dims, f32, activation_tag(p));
                std::string unblocked;
                if (conv.dst_desc() != conv_plain) {
                    memory plain(conv_plain, eng);
                    const dnnl::reorder::primitive_desc unblock(conv_y, plain);
                    runner->steps.push_back({dnnl::reorder(unblock),
                                             Args{{DNNL_ARG_FROM, conv_y}, {DNNL_ARG_TO, plain}}});
                    conv_y = plain;
                    unblocked = std::string(" + reorder:") + unblock.impl_info_str();
                }
                memory from(shuffle_view(p, true), eng, conv_y.get_data_handle());
                memory to(shuffle_view(p, false), eng, runner->dst.get_data_handle());
                const dnnl::reorder::primitive_desc shuffle(from, to);
                runner->steps.push_back(
                    {dnnl::reorder(shuffle), Args{{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}}});
                v.impl = std::string(conv.impl_info_str()) + unblocked + " + reorder:" +
                         shuffle.impl_info_str();
            }
            v.runner = std::move(runner);
            v.create_ms =
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                    .count();
            // `any` formats that land on the plain ones would just time the same code twice.
            const memory::desc src_plain(up_dims, f32, activation_tag(p));
            const memory::desc dst_plain(conv_dst_dims, f32, activation_tag(p));
            if (any && !out.variants.empty() && conv.src_desc() == src_plain &&
                conv.weights_desc() == w_user && conv.dst_desc() == dst_plain)
                return;
            out.variants.push_back(std::move(v));
        };
        try {
            try_variant("plain", false);
        } catch (const dnnl::error&) {
            // no implementation for plain layouts: the `any` variant may still have one
        }
        try_variant("any", true);
        drop_reference_variant(out);
    } catch (const dnnl::error& e) {
        if (out.variants.empty()) out.unavailable = std::string("oneDNN refused: ") + e.what();
    }
    return out;
}

}  // namespace tconv::bench

#endif
