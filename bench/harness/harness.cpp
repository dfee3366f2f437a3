// SPDX-License-Identifier: Apache-2.0
// tconv_harness: an independent check of `tconv bench`'s timing. It shares no code with bench/:
// tconv runs through the public C API (tconv.h), oneDNN through the minimal code below (plain
// user layouts, as an application would call it), each timed in simple alternating blocks of
// back-to-back runs, no pausing of thread pools and no rests between contenders. It prints
// tconv ms, oneDNN ms and their ratio per layer and oneDNN variant (plain, any); with --against
// it also compares each ratio with the one `tconv bench --json` measured for the same variant and
// exits 1 when any pair differs by more than --tolerance.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iterator>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "tconv/config.hpp"
#include "tconv/tconv.h"

#ifdef HARNESS_HAVE_ONEDNN
#include <oneapi/dnnl/dnnl.hpp>
#endif

namespace {

using json = nlohmann::json;

struct Args {
    std::vector<std::string> configs;
    std::vector<std::string> layers;  // only these names; all when empty
    std::string layout;               // "" keeps each layer's own
    std::string against;              // a `tconv bench --json` file
    int threads = 1;
    double min_time = 0.3;
    double tolerance = 0.15;
};

[[noreturn]] void usage(const std::string& why) {
    std::fprintf(stderr,
                 "tconv_harness: %s\nusage: tconv_harness CONFIG... [--threads N] "
                 "[--layout channels_first|channels_last] [--layer NAME]... [--min-time S] "
                 "[--against BENCH.json] [--tolerance F]\n",
                 why.c_str());
    std::exit(2);
}

Args parse(int argc, char** argv) {
    Args a;
    for (int i = 1; i < argc; ++i) {
        const std::string s = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) usage(s + " needs a value");
            return argv[++i];
        };
        try {
            if (s == "--threads") a.threads = std::stoi(value());
            else if (s == "--layout") a.layout = value();
            else if (s == "--layer") a.layers.push_back(value());
            else if (s == "--min-time") a.min_time = std::stod(value());
            else if (s == "--against") a.against = value();
            else if (s == "--tolerance") a.tolerance = std::stod(value());
            else if (s.rfind("--", 0) == 0) usage("unknown option " + s);
            else a.configs.push_back(s);
        } catch (const std::logic_error&) {
            usage("bad number for " + s);
        }
    }
    if (a.configs.empty()) usage("no config given");
    if (a.threads < 1) usage("--threads must be >= 1");
    if (!a.layout.empty() && a.layout != "channels_first" && a.layout != "channels_last")
        usage("--layout must be channels_first or channels_last");
    return a;
}

std::string read_text(const std::string& path) {
    std::ifstream f(path);
    if (!f) throw std::runtime_error("cannot read " + path);
    return {std::istreambuf_iterator<char>(f), {}};
}

std::vector<float> random_floats(size_t n, std::mt19937& rng) {
    std::uniform_real_distribution<float> d(-1.f, 1.f);
    std::vector<float> v(n);
    for (float& f : v) f = d(rng);
    return v;
}

// Median seconds per run of `a` and `b`: blocks of back-to-back runs (each block >= 2 ms),
// alternating a, b, a, b ... until each has min_time of runs and at least 7 blocks.
std::pair<double, double> time_pair(const std::function<void()>& a,
                                    const std::function<void()>& b, double min_time) {
    using clock = std::chrono::steady_clock;
    auto block = [](const std::function<void()>& f, int n) {
        const auto t0 = clock::now();
        for (int i = 0; i < n; ++i) f();
        return std::chrono::duration<double>(clock::now() - t0).count();
    };
    auto size_block = [&](const std::function<void()>& f) {
        f();  // warm-up
        const double once = block(f, 1);
        return std::max(1, int(0.002 / std::max(once, 1e-7)));
    };
    const int na = size_block(a), nb = size_block(b);
    std::vector<double> sa, sb;
    double ta = 0, tb = 0;
    while (sa.size() < 7 || ta < min_time || tb < min_time) {
        const double da = block(a, na), db = block(b, nb);
        ta += da;
        tb += db;
        sa.push_back(da / na);
        sb.push_back(db / nb);
    }
    auto median = [](std::vector<double> v) {
        std::sort(v.begin(), v.end());
        const size_t m = v.size() / 2;
        return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
    };
    return {median(sa), median(sb)};
}

#ifdef HARNESS_HAVE_ONEDNN
// oneDNN's deconvolution, `plain`: in the user's layouts (activations NC<spatial> or
// N<spatial>C, weights in PyTorch's [g][i/g][o/g][k...] order described by strides), or `any`:
// in the formats oneDNN prefers, weights reordered once, activations reordered outside run().
class Onednn {
  public:
    Onednn(const tconv::Problem& p, const float* w, const float* b, bool any)
        : eng_(dnnl::engine::kind::cpu, 0), strm_(eng_) {
        using dnnl::memory;
        const auto f32 = memory::data_type::f32;
        const bool last = p.layout == tconv::Layout::channels_last;
        auto activations = [&](int64_t channels, const tconv::Dims& size) {
            memory::dims dims{p.batch, channels}, strides(size_t(2 + p.rank));
            for (int i = 0; i < p.rank; ++i) dims.push_back(size[size_t(i)]);
            // innermost first: channels_last puts C innermost, channels_first the last spatial
            int64_t step = 1;
            if (last) {
                strides[1] = step;
                step *= channels;
            }
            for (int i = p.rank - 1; i >= 0; --i) {
                strides[size_t(2 + i)] = step;
                step *= dims[size_t(2 + i)];
            }
            if (!last) {
                strides[1] = step;
                step *= channels;
            }
            strides[0] = step;
            return memory::desc(dims, f32, strides);
        };
        const memory::desc src = activations(p.in_channels, p.input);
        const memory::desc dst = activations(p.out_channels, p.output);
        // logical (g,) o, i, k...; physical g, i, o, k...
        const int64_t g = p.groups, ocg = p.out_channels / g, icg = p.in_channels / g;
        int64_t k = 1;
        memory::dims kdims, kstrides;
        for (int i = p.rank - 1; i >= 0; --i) {
            kdims.insert(kdims.begin(), p.kernel[size_t(i)]);
            kstrides.insert(kstrides.begin(), k);
            k *= p.kernel[size_t(i)];
        }
        memory::dims wdims{ocg, icg}, wstrides{k, ocg * k};
        if (g > 1) {
            wdims.insert(wdims.begin(), g);
            wstrides.insert(wstrides.begin(), icg * ocg * k);
        } else {
            wdims = {p.out_channels, p.in_channels};
        }
        wdims.insert(wdims.end(), kdims.begin(), kdims.end());
        wstrides.insert(wstrides.end(), kstrides.begin(), kstrides.end());
        const memory::desc wdesc(wdims, f32, wstrides);
        const memory::desc bdesc = b ? memory::desc({p.out_channels}, f32, memory::format_tag::a)
                                     : memory::desc();
        memory::dims strides, dilates, pad_l, pad_r;
        for (int i = 0; i < p.rank; ++i) {
            strides.push_back(p.stride[size_t(i)]);
            dilates.push_back(p.dilation[size_t(i)] - 1);
            pad_l.push_back(p.pad_begin[size_t(i)]);
            pad_r.push_back(p.pad_end[size_t(i)]);
        }
        auto chosen = [&](const memory::desc& d, const memory::dims& dims) {
            return any ? memory::desc(dims, f32, memory::format_tag::any) : d;
        };
        memory::dims src_dims{p.batch, p.in_channels}, dst_dims{p.batch, p.out_channels};
        for (int i = 0; i < p.rank; ++i) {
            src_dims.push_back(p.input[size_t(i)]);
            dst_dims.push_back(p.output[size_t(i)]);
        }
        dnnl::primitive_attr attr;
        attr.set_post_ops(post_ops(p));
        const auto fwd = dnnl::prop_kind::forward_inference;
        const auto alg = dnnl::algorithm::deconvolution_direct;
#if DNNL_VERSION_MAJOR >= 3
        const dnnl::deconvolution_forward::primitive_desc pd(
            eng_, fwd, alg, chosen(src, src_dims), chosen(wdesc, wdims), bdesc,
            chosen(dst, dst_dims), strides, dilates, pad_l, pad_r, attr);
#else
        const dnnl::deconvolution_forward::primitive_desc pd(
            {fwd, alg, chosen(src, src_dims), chosen(wdesc, wdims), bdesc, chosen(dst, dst_dims),
             strides, dilates, pad_l, pad_r},
            attr, eng_);
#endif
        impl_ = pd.impl_info_str();
        prim_ = dnnl::deconvolution_forward(pd);
        x_.resize(size_t(p.input_elems()));
        y_.resize(size_t(p.output_elems()));
        user_src_ = memory(src, eng_, x_.data());
        user_dst_ = memory(dst, eng_, y_.data());
        memory weights(pd.weights_desc(), eng_), user_weights(wdesc, eng_, const_cast<float*>(w));
        dnnl::reorder(user_weights, weights).execute(strm_, user_weights, weights);
        strm_.wait();
        args_ = {{DNNL_ARG_SRC, memory(pd.src_desc(), eng_)},
                 {DNNL_ARG_WEIGHTS, weights},
                 {DNNL_ARG_DST, memory(pd.dst_desc(), eng_)}};
        if (b) args_[DNNL_ARG_BIAS] = memory(bdesc, eng_, const_cast<float*>(b));
    }
    const std::string& impl() const { return impl_; }
    void set_input(const std::vector<float>& x) {  // untimed, as the bench's reorders are
        std::copy(x.begin(), x.end(), x_.begin());
        dnnl::reorder(user_src_, args_[DNNL_ARG_SRC]).execute(strm_, user_src_, args_[DNNL_ARG_SRC]);
        strm_.wait();
    }
    const std::vector<float>& output() {
        dnnl::reorder(args_[DNNL_ARG_DST], user_dst_).execute(strm_, args_[DNNL_ARG_DST], user_dst_);
        strm_.wait();
        return y_;
    }
    void run() {
        prim_.execute(strm_, args_);
        strm_.wait();
    }

  private:
    static dnnl::post_ops post_ops(const tconv::Problem& p) {
        dnnl::post_ops ops;
        auto add = [&](dnnl::algorithm alg, float alpha) {
#if DNNL_VERSION_MAJOR >= 3
            ops.append_eltwise(alg, alpha, 0.f);
#else
            ops.append_eltwise(1.f, alg, alpha, 0.f);
#endif
        };
        using A = dnnl::algorithm;
        if (p.activation == tconv::Activation::relu) add(A::eltwise_relu, 0.f);
        if (p.activation == tconv::Activation::leaky_relu) add(A::eltwise_relu, p.negative_slope);
        if (p.activation == tconv::Activation::sigmoid) add(A::eltwise_logistic, 0.f);
        if (p.activation == tconv::Activation::tanh) add(A::eltwise_tanh, 0.f);
        return ops;
    }

    dnnl::engine eng_;
    dnnl::stream strm_;
    dnnl::deconvolution_forward prim_;
    std::unordered_map<int, dnnl::memory> args_;
    dnnl::memory user_src_, user_dst_;  // over x_ and y_
    std::vector<float> x_, y_;
    std::string impl_;
};
#endif

void check(tconv_status s, const char* what) {
    if (s != TCONV_OK)
        throw std::runtime_error(std::string(what) + ": " + tconv_last_error());
}

// One oneDNN variant against tconv on one layer: the median times, or why it was not timed.
struct Measured {
    std::string variant, impl, skipped;
    double tconv_ms = 0, onednn_ms = 0;
    double max_rel_diff = 0;  // oneDNN's output vs tconv's, relative to max |y|
};

std::vector<Measured> measure(const std::string& config_text, const tconv::Problem& p,
                              const Args& args) {
    std::mt19937 rng(12345);
    const std::vector<float> x = random_floats(size_t(p.input_elems()), rng);
    const std::vector<float> w = random_floats(size_t(p.weight_elems()), rng);
    const std::vector<float> b = random_floats(size_t(p.bias_elems()), rng);
    const float* bias = p.bias ? b.data() : nullptr;

    tconv_options options{};
    options.layer_name = p.name.c_str();
    options.threads = args.threads;
    tconv_layer* layer = nullptr;
    check(tconv_layer_create_ex(config_text.c_str(), &options, w.data(), bias, &layer),
          "tconv_layer_create_ex");
    std::vector<float> y(size_t(p.output_elems()));
    auto run_tconv = [&] {
        check(tconv_layer_execute_threads(layer, x.data(), y.data(), args.threads),
              "tconv_layer_execute_threads");
    };
    std::vector<Measured> out;
    try {
        run_tconv();
#ifdef HARNESS_HAVE_ONEDNN
        for (const bool any : {false, true}) {
            Measured m;
            m.variant = any ? "any" : "plain";
            std::optional<Onednn> dnn;
            if (p.kind != tconv::LayerKind::transposed) {
                m.skipped = "transposed convolutions only";  // its oneDNN is a deconvolution
            } else {
                try {
                    dnn.emplace(p, w.data(), bias, any);
                    m.impl = dnn->impl();
                } catch (const dnnl::error&) {
                    m.skipped = "refused";
                }
            }
            // oneDNN's reference code can take seconds on a large layer (and the bench skips it
            // when the other variant has real code)
            if (dnn && m.impl.find("ref:") != std::string::npos) m.skipped = "reference code";
            if (m.skipped.empty()) {
                dnn->set_input(x);
                dnn->run();
                const std::vector<float>& z = dnn->output();
                double diff = 0, scale = 0;
                for (size_t i = 0; i < y.size(); ++i) {
                    diff = std::max(diff, double(std::abs(y[i] - z[i])));
                    scale = std::max(scale, double(std::abs(y[i])));
                }
                m.max_rel_diff = scale > 0 ? diff / scale : diff;
                const auto [t, d] = time_pair(run_tconv, [&] { dnn->run(); }, args.min_time);
                m.tconv_ms = t * 1e3;
                m.onednn_ms = d * 1e3;
            }
            out.push_back(m);
        }
#else
        Measured m;
        m.skipped = "no oneDNN in this build";
        m.tconv_ms = time_pair(run_tconv, run_tconv, args.min_time / 2).first * 1e3;
        out.push_back(m);
#endif
    } catch (...) {
        tconv_layer_destroy(layer);
        throw;
    }
    tconv_layer_destroy(layer);
    return out;
}

// The bench's tconv ms and oneDNN `variant` ms for `name` in `layout`, from its JSON.
std::optional<std::pair<double, double>> bench_times(const json& bench, const std::string& name,
                                                     const std::string& layout,
                                                     const std::string& variant) {
    for (const json& l : bench.at("layers")) {
        if (l.at("name") != name || l.at("layout") != layout) continue;
        for (const json& peer : l.at("peers")) {
            if (peer.at("peer") != "oneDNN") continue;
            for (const json& v : peer.at("variants"))
                if (v.at("variant") == variant && v.at("median_ms").is_number())
                    return std::pair{l.at("median_ms").get<double>(),
                                     v.at("median_ms").get<double>()};
        }
    }
    return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
    const Args args = parse(argc, argv);
    omp_set_num_threads(args.threads);  // oneDNN's OpenMP build follows this
    std::optional<json> bench;
    if (!args.against.empty()) bench = json::parse(read_text(args.against));

    std::printf("tconv_harness: %d thread%s, tconv %s via its C API", args.threads,
                args.threads == 1 ? "" : "s", tconv_version());
#ifdef HARNESS_HAVE_ONEDNN
    const dnnl_version_t* v = dnnl_version();
    std::printf(", oneDNN %d.%d.%d\n", v->major, v->minor, v->patch);
#else
    std::printf(", no oneDNN in this build\n");
#endif
    std::printf("%-24s %-2s %-5s %-22s %9s %9s %7s", "layer", "", "", "oneDNN impl", "tconv ms",
                "oneDNN ms", "ratio");
    if (bench) std::printf(" | %9s %9s %7s %7s", "tconv ms", "oneDNN ms", "ratio", "diff");
    std::printf("%s\n", bench ? "  (right: the bench's)" : "");

    int compared = 0, disagreeing = 0;
    double worst = 0;
    try {
        for (const std::string& file : tconv::config_files(args.configs)) {
            json config = json::parse(read_text(file));
            if (!args.layout.empty())
                for (json& l : config.at("layers")) l["layout"] = args.layout;
            const std::string text = config.dump();
            for (const tconv::Problem& p : tconv::parse_config(text, file).layers) {
                if (!args.layers.empty() &&
                    std::find(args.layers.begin(), args.layers.end(), p.name) == args.layers.end())
                    continue;
                const std::string layout(tconv::to_string(p.layout));
                for (const Measured& m : measure(text, p, args)) {
                    std::printf("%-24s %-2s %-5s %-22s", p.name.c_str(),
                                p.layout == tconv::Layout::channels_last ? "CL" : "CF",
                                m.variant.c_str(), m.impl.substr(0, 22).c_str());
                    if (!m.skipped.empty()) {
                        std::printf(" %9s %9s (%s)\n", "", "n/a", m.skipped.c_str());
                        continue;
                    }
                    const double ratio = m.onednn_ms / m.tconv_ms;
                    std::printf(" %9.4f %9.4f %6.2fx", m.tconv_ms, m.onednn_ms, ratio);
                    if (bench) {
                        if (const auto t = bench_times(*bench, p.name, layout, m.variant)) {
                            const double bench_ratio = t->second / t->first;
                            const double diff = ratio / bench_ratio - 1;
                            ++compared;
                            worst = std::max(worst, std::abs(diff));
                            const bool off = std::abs(diff) > args.tolerance;
                            disagreeing += off;
                            std::printf(" | %9.4f %9.4f %6.2fx %+6.1f%%%s", t->first, t->second,
                                        bench_ratio, 100 * diff, off ? "  DISAGREES" : "");
                        } else {
                            std::printf(" | %9s", "n/a");
                        }
                    }
                    if (m.max_rel_diff > 1e-3)
                        std::printf("  outputs differ by %.3g", m.max_rel_diff);
                    std::printf("\n");
                    std::fflush(stdout);
                }
            }
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "tconv_harness: %s\n", e.what());
        return 2;
    }
    if (bench) {
        std::printf("%d of %d layer ratios within %.0f%% of the bench's (largest difference "
                    "%.1f%%)\n",
                    compared - disagreeing, compared, 100 * args.tolerance, 100 * worst);
        return disagreeing || compared == 0 ? 1 : 0;
    }
    return 0;
}
