// SPDX-License-Identifier: Apache-2.0
// oneDNN's deconvolution (forward_inference) on the same layer: once in the user's plain layouts
// and once with `any` formats (oneDNN picks blocked layouts, brgemm ones included; the activation
// reorders are left out of the timing, weights are reordered once at creation). oneDNN 2.x and
// 3.x are both spoken: 3.0 dropped the operation descriptors and the post-op scale.
#include "bench_peer.hpp"

#ifdef TCONV_HAVE_ONEDNN

#include <chrono>

#include <fmt/format.h>

#include "onednn_common.hpp"

namespace tconv::bench {
namespace {

// oneDNN's deconvolution weights are logically (g,) o, i, k...; PyTorch stores
// [g][i/g][o/g][k...], so the user's buffer is described by explicit strides, no copy.
memory::desc user_weights_desc(const Problem& p, memory::data_type type = memory::data_type::f32) {
    const int64_t ks = p.kernel_spatial(), ocg = p.oc_per_group(), icg = p.ic_per_group();
    memory::dims dims, strides;
    if (p.groups > 1) {
        dims = {p.groups, ocg, icg};
        strides = {icg * ocg * ks, ks, ocg * ks};
    } else {
        dims = {p.out_channels, p.in_channels};
        strides = {ks, p.out_channels * ks};
    }
    int64_t inner = ks;
    for (int i = 0; i < p.rank; ++i) {
        dims.push_back(p.kernel[i]);
        inner /= p.kernel[i];
        strides.push_back(inner);
    }
    return memory::desc(dims, type, strides);
}

}  // namespace

PeerSetup create_onednn(const PeerLayer& layer) {
    const Problem& p = layer.problem;
    if (p.kind != LayerKind::transposed) return create_onednn_upsampler(layer);
    const auto f32 = memory::data_type::f32;
    PeerSetup out;
    try {
        const dnnl::engine eng(dnnl::engine::kind::cpu, 0);
        const memory::desc src_user(activation_dims(p, p.in_channels, p.input), f32,
                                    activation_tag(p));
        const memory::desc dst_user(activation_dims(p, p.out_channels, p.output), f32,
                                    activation_tag(p));
        const memory::desc w_user = user_weights_desc(p);
        memory user_weights(w_user, eng, const_cast<float*>(layer.weights));
        const memory::dims strides = spatial(p, p.stride);
        const memory::dims dilates = spatial(p, p.dilation, -1);  // oneDNN counts gaps: D - 1
        const memory::dims pad_l = spatial(p, p.pad_begin), pad_r = spatial(p, p.pad_end);
        const dnnl::primitive_attr attr = activation_attr(p);
        // bf16 layers: bf16 source, weights and destination (the runner's reorders convert
        // the user's floats, untimed), fp32 bias.
        const auto act = p.dtype == DType::bf16 ? memory::data_type::bf16 : f32;
        const memory::desc src_plain(dims_of(src_user), act, activation_tag(p));
        const memory::desc dst_plain(dims_of(dst_user), act, activation_tag(p));
        const memory::desc w_plain = user_weights_desc(p, act);

        auto try_variant = [&](const std::string& name, const memory::desc& src,
                               const memory::desc& w, const memory::desc& dst) {
            const auto t0 = std::chrono::steady_clock::now();
            const memory::desc bias =
                p.bias ? (name == "plain" ? memory::desc({p.out_channels}, f32, Tag::a)
                                          : memory::desc({p.out_channels}, f32, Tag::any))
                       : memory::desc();
            const auto pd = weighted_pd<dnnl::deconvolution_forward>(
                eng, dnnl::algorithm::deconvolution_direct, src, w, bias, dst, strides, dilates,
                pad_l, pad_r, attr);
            PeerVariant v;
            v.variant = name;
            v.impl = pd.impl_info_str();
            auto runner = std::make_unique<ChainRunner>(eng, src_user, dst_user);
            Args args = runner->weight_args(pd, user_weights, layer.bias);
            runner->src = memory(pd.src_desc(), eng);  // set_input: a plain copy when formats match
            runner->dst = memory(pd.dst_desc(), eng);
            args[DNNL_ARG_SRC] = runner->src;
            args[DNNL_ARG_DST] = runner->dst;
            runner->steps.push_back({dnnl::deconvolution_forward(pd), args});
            v.runner = std::move(runner);
            v.create_ms =
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                    .count();
            // `any` formats that land on the plain ones would just time the same code twice.
            if (name == "any" && pd.src_desc() == src_plain && pd.dst_desc() == dst_plain &&
                pd.weights_desc() == w_plain && !out.variants.empty())
                return;
            out.variants.push_back(std::move(v));
        };

        try {
            try_variant("plain", src_plain, w_plain, dst_plain);
        } catch (const dnnl::error&) {
            // no implementation for plain layouts: the `any` variant may still have one
        }
        const memory::desc src_any(dims_of(src_user), act, Tag::any);
        const memory::desc dst_any(dims_of(dst_user), act, Tag::any);
        const memory::desc w_any(dims_of(w_user), act, Tag::any);
        try_variant("any", src_any, w_any, dst_any);
        drop_reference_variant(out);
    } catch (const dnnl::error& e) {
        if (out.variants.empty()) out.unavailable = std::string("oneDNN refused: ") + e.what();
    }
    return out;
}

std::string onednn_version() {
    const dnnl_version_t* v = dnnl_version();
    return fmt::format("oneDNN {}.{}.{}", v->major, v->minor, v->patch);
}

std::string cap_onednn_isa(Isa isa) {
    // oneDNN has no scalar mode; SSE4.1 is its floor. Each cap maps onto oneDNN's own: AMX,
    // AVX512_BF16 (avx512_core_bf16), AVX-512 without bf16 instructions (avx512_core), AVX2.
#if DNNL_VERSION_MAJOR >= 3
    const dnnl::cpu_isa all_isas = dnnl::cpu_isa::isa_default;  // 3.x's "no cap"
#else
    const dnnl::cpu_isa all_isas = dnnl::cpu_isa::all;
#endif
    const dnnl::cpu_isa cap = isa == Isa::amx           ? all_isas
                              : isa == Isa::avx512_bf16 ? dnnl::cpu_isa::avx512_core_bf16
                              : isa == Isa::avx512      ? dnnl::cpu_isa::avx512_core
                              : isa == Isa::avx2        ? dnnl::cpu_isa::avx2
                                                        : dnnl::cpu_isa::sse41;
    const char* name = isa == Isa::amx           ? "avx512_amx (no cap)"
                       : isa == Isa::avx512_bf16 ? "avx512_core_bf16"
                       : isa == Isa::avx512      ? "avx512_core"
                       : isa == Isa::avx2        ? "avx2"
                                                 : "sse41";
    if (dnnl::set_max_cpu_isa(cap) != dnnl::status::success)
        return "oneDNN could not be capped (already initialised)";
    return std::string("oneDNN capped at ") + name;
}

}  // namespace tconv::bench

#else

namespace tconv::bench {
PeerSetup create_onednn(const PeerLayer&) { return {{}, kNotInThisBuild}; }
std::string onednn_version() { return kNotInThisBuild; }
std::string cap_onednn_isa(Isa) { return ""; }
}  // namespace tconv::bench

#endif
