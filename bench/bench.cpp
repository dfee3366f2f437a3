// SPDX-License-Identifier: Apache-2.0
// `tconv bench`: load the layers, measure the FMA peak, time every layer with tconv and its
// peers interleaved, then print the table.
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <new>
#include <random>

#include <fmt/format.h>

#include "bench.hpp"
#include "args.hpp"
#include "bench_args.hpp"
#include "bench_peak.hpp"
#include "bench_plot.hpp"
#include "bench_peer.hpp"
#include "bench_report.hpp"
#include "bench_timing.hpp"
#include "random_layers.hpp"
#include "tconv/onnx.hpp"
#include "tconv/tconv.hpp"

namespace tconv::bench {
namespace {

// A peer whose output differs from tconv's by more than this, relative to max |y|, is WRONG.
// bf16 layers: both outputs are rounded to bf16 (a step is 2^-8 to 2^-7 of a value).
constexpr double kAgreement = 1e-3, kAgreementBf16 = 2e-2;

struct BenchLayer {
    std::string config;
    Problem problem;
    std::vector<float> weights, bias;  // an ONNX model's own; empty: random ones
};

// n elements 64-byte aligned, as PyTorch's tensors and oneDNN's memory are (tconv streams
// a large channels-last output's stores only into aligned rows).
template <class T>
class AlignedBuffer {
  public:
    explicit AlignedBuffer(size_t n)
        : n_(n), p_(static_cast<T*>(::operator new[](std::max<size_t>(n, 1) * sizeof(T),
                                                      std::align_val_t(64)))) {}
    T* data() const { return p_.get(); }
    size_t size() const { return n_; }

  private:
    struct Free {
        void operator()(T* p) const { ::operator delete[](p, std::align_val_t(64)); }
    };
    size_t n_;
    std::unique_ptr<T, Free> p_;
};

// tconv's tensors are aligned copies, as an application's would be. A bf16 layer runs on
// bf16 buffers (execute_bf16): the conversions from and to the bench's floats stay untimed,
// as for a peer.
class TconvRunner : public Runner {
  public:
    TconvRunner(const Layer& layer, int threads)
        : layer_(layer), threads_(threads), bf16_(layer.problem().dtype == DType::bf16),
          x_(bf16_ ? 0 : size_t(layer.input_elems())), y_(size_t(layer.output_elems())),
          xb_(bf16_ ? size_t(layer.input_elems()) : 0), yb_(bf16_ ? y_.size() : 0) {}
    void set_input(const float* x) override {
        if (bf16_) float_to_bf16(x, xb_.data(), int64_t(xb_.size()));
        else std::copy(x, x + x_.size(), x_.data());
    }
    void run() override {
        if (bf16_) layer_.execute_bf16(xb_.data(), yb_.data(), threads_);
        else layer_.execute(x_.data(), y_.data(), threads_);
    }
    void get_output(float* y) override {
        if (bf16_) bf16_to_float(yb_.data(), y_.data(), int64_t(y_.size()));
        std::copy(y_.data(), y_.data() + y_.size(), y);
    }

  private:
    const Layer& layer_;
    int threads_;
    bool bf16_;
    AlignedBuffer<float> x_, y_;
    AlignedBuffer<uint16_t> xb_, yb_;
};

std::vector<float> random_values(size_t n, std::mt19937_64& rng) {
    std::uniform_real_distribution<float> dist(-1.f, 1.f);
    std::vector<float> v(n);
    for (float& f : v) f = dist(rng);
    return v;
}

// max |got - want| / max |want| (absolute when want is all zeros).
double max_relative_error(const std::vector<float>& got, const std::vector<float>& want) {
    double diff = 0, scale = 0;
    for (size_t i = 0; i < want.size(); ++i) {
        const double d = std::abs(double(got[i]) - double(want[i]));
        diff = std::isnan(d) ? INFINITY : std::max(diff, d);
        scale = std::max(scale, std::abs(double(want[i])));
    }
    return scale > 0 ? diff / scale : diff;
}

// Sets `peer` up on the layer (into `setup`) and checks each variant's output on `x` against
// tconv's output `want`.
PeerResult prepare_peer(const Peer& peer, const PeerLayer& layer, const std::vector<float>& x,
                        const std::vector<float>& want, PeerSetup& setup) {
    PeerResult pr;
    pr.peer = peer.name;
    try {
        setup = peer.create(layer);
        if (setup.variants.empty()) {
            pr.reason = setup.unavailable;
            return pr;
        }
        std::vector<float> got(want.size());
        pr.status = PeerResult::Status::ok;
        for (PeerVariant& v : setup.variants) {
            v.runner->set_input(x.data());
            v.runner->run();
            v.runner->get_output(got.data());
            const double err = max_relative_error(got, want);
            pr.max_rel_error = std::max(pr.max_rel_error, err);
            if (err > (layer.problem.dtype == DType::bf16 ? kAgreementBf16 : kAgreement)) {
                pr.status = PeerResult::Status::wrong;
                pr.reason = fmt::format("max relative error {:.3g} ({} variant)", err, v.variant);
            }
            pr.variants.push_back({v.variant, v.impl, v.note, v.create_ms, 0, 0});
        }
    } catch (const std::exception& e) {  // a peer failing must not end the whole run
        pr.status = PeerResult::Status::unavailable;
        pr.reason = e.what();
        pr.variants.clear();
        setup.variants.clear();
    }
    return pr;
}

// The configs' layers, then the random draw's, each kept when --layer names it (or none is
// named), in the --layout when given.
std::vector<BenchLayer> load_layers(const BenchArgs& args) {
    std::vector<BenchLayer> out;
    std::vector<bool> matched(args.layers.size(), false);
    auto add = [&](const std::string& source, Problem p) {
        if (!args.layers.empty()) {
            auto it = std::find(args.layers.begin(), args.layers.end(), p.name);
            if (it == args.layers.end()) return;
            matched[size_t(it - args.layers.begin())] = true;
        }
        if (args.layout) p.layout = *args.layout;
        if (args.dtype) cli::override_dtype(p, *args.dtype);
        out.push_back({source, std::move(p), {}, {}});
    };
    for (const std::string& file : config_files(args.inputs)) {
        if (!is_onnx_path(file)) {
            for (Problem& p : load_config(file).layers) add(file, std::move(p));
            continue;
        }
        OnnxOptions onnx;
        onnx.input_shapes = args.input_shapes;
        for (OnnxLayer& l : load_onnx(file, onnx).layers) {
            const size_t before = out.size();
            add(file, std::move(l.problem));
            if (out.size() > before) {
                out.back().weights = std::move(l.weights);
                out.back().bias = std::move(l.bias);
            }
        }
    }
    const std::string drawn = "random (seed " + std::to_string(args.seed) + ")";
    for (Problem& p : random_layers(args.random, args.seed)) add(drawn, std::move(p));
    for (size_t i = 0; i < matched.size(); ++i)
        if (!matched[i])
            throw Error(ErrorKind::invalid_argument,
                        "bench: no layer named '" + args.layers[i] + "' in the given configs");
    return out;
}

LayerResult bench_layer(const BenchLayer& item, size_t index, const Options& options,
                        const BenchRun& run, const TimingPolicy& policy,
                        const std::vector<Peer>& peers) {
    const Problem& p = item.problem;
    std::mt19937_64 rng(0x7c0f + index);  // fixed per position: reruns see the same data
    const std::vector<float> x = random_values(size_t(p.input_elems()), rng);
    const bool own = !item.weights.empty();  // an ONNX model's weights
    const std::vector<float> w = own ? item.weights : random_values(size_t(p.weight_elems()), rng);
    const std::vector<float> b = own ? item.bias : random_values(size_t(p.bias_elems()), rng);
    const float* bias = p.bias ? b.data() : nullptr;

    const Layer layer = Layer::compile(p, w.data(), bias, options);
    LayerResult r;
    r.config = item.config;
    r.name = p.name;
    r.problem = p;
    r.implementation = layer.report().implementation;
    r.kernel_names = layer.report().kernel_names;
    r.compile_us = layer.report().compile_us;

    TconvRunner tconv_runner(layer, run.threads);
    std::vector<float> want(size_t(p.output_elems()));
    tconv_runner.set_input(x.data());
    tconv_runner.run();
    tconv_runner.get_output(want.data());

    // Contender 0 is tconv; then every correct peer variant, remembered by (peer, variant).
    struct Slot {
        size_t peer, variant;
    };
    std::vector<std::function<void()>> runs{[&] { tconv_runner.run(); }};
    std::vector<std::function<void(bool)>> idle{nullptr};
    std::vector<Slot> slots;
    std::vector<PeerSetup> setups;
    for (const Peer& peer : peers) {
        PeerSetup setup;
        PeerResult pr = prepare_peer(peer, {p, w.data(), bias, run.threads}, x, want, setup);
        if (pr.status == PeerResult::Status::ok) {
            for (size_t v = 0; v < setup.variants.size(); ++v) {
                Runner* runner = setup.variants[v].runner.get();
                runs.push_back([runner] { runner->run(); });
                idle.push_back(
                    [runner](bool paused) { paused ? runner->pause() : runner->resume(); });
                slots.push_back({r.peers.size(), v});
                runner->pause();  // nothing of it runs while the others are timed
            }
        }
        r.peers.push_back(std::move(pr));
        setups.push_back(std::move(setup));  // keeps the runners alive through the timing
    }

    const std::vector<std::vector<double>> samples = time_interleaved(runs, policy, idle);
    r.median_ms = median(samples[0]) * 1e3;
    r.repeats = int(samples[0].size());
    r.gflops = p.flops() / (r.median_ms * 1e-3) * 1e-9;
    const std::optional<double> peak =
        p.dtype == DType::bf16 && run.bf16_peak_gflops ? run.bf16_peak_gflops : run.peak_gflops;
    if (peak) r.percent_of_peak = 100.0 * r.gflops / *peak;
    for (size_t i = 0; i < slots.size(); ++i) {
        PeerResult& pr = r.peers[slots[i].peer];
        VariantResult& v = pr.variants[slots[i].variant];
        v.median_ms = median(samples[i + 1]) * 1e3;
        v.repeats = int(samples[i + 1].size());
        if (pr.best < 0 || v.median_ms < pr.variants[size_t(pr.best)].median_ms)
            pr.best = int(slots[i].variant);
    }
    return r;
}

}  // namespace

std::string bench_help() {
    return R"(usage: tconv bench CONFIG-or-DIR... [options]
       tconv bench --random N [--seed S] [CONFIG-or-DIR...] [options]

Times every layer of the given configs (a directory stands for its *.json files) with tconv
and, side by side, with oneDNN, XNNPACK and ONNX Runtime when this build has them (the
header names each peer's version). Each layer gets seeded
random weights and inputs (the layers of an ONNX model, MODEL.onnx, its own weights); the contenders run interleaved (A B A B ...) after a warm-up and
the median time is reported. Every peer's output is first checked against tconv's and marked
WRONG when it differs by more than 1e-3 relative to max |y|.

options:
  --threads N          threads for every contender (default: TCONV_NUM_THREADS, else
                       all cores)
  --layout L           run every layer as channels_first or channels_last
                       (default: each layer's own layout)
  --dtype T            run every transposed-convolution layer as f32 or bf16 (default:
                       each layer's own dtype; resize_conv and pixel_shuffle stay f32);
                       bf16 layers race oneDNN's bf16 deconvolution (bf16 source, weights
                       and destination, fp32 bias) and their % peak is against the bf16
                       peak (AMX's tdpbf16ps, else vdpbf16ps), probed beside the fp32 one
  --isa ISA            cap the ISA of tconv, oneDNN and the peak probe: avx512_amx,
                       avx512_bf16, avx512, avx2 or scalar (oneDNN's floor is SSE4.1;
                       XNNPACK is not capped)
  --min-time SECONDS   timed runs per contender and layer add up to at least this
                       (default 0.2), in at least 5 samples, each the mean of a batch
                       of runs lasting min-time / 5 (at most 50 ms; one run if longer)
  --layer NAME         only the layer(s) with this name (repeatable)
  --random N           also N random valid layers (ranks 1-3; dense, grouped and
                       depthwise; strides, dilations, asymmetric pads, output_padding;
                       both layouts; 1-300 MFLOP each), named random_<seed>_<i>
  --seed S             the draw of --random (default 1): the same S, the same layers
  --no-peers           time tconv alone
  --markdown           print the table as Markdown
  --json FILE          also write every figure to FILE as JSON
  --plot FILE          also draw the run as a PNG chart: GFLOP/s bars per layer for
                       tconv and each peer, the FMA peak as a line

columns: compile us = tconv's plan + generate + pack time; ms = median time of one run;
% peak = GFLOP/s against the measured FMA peak of the ISA cap and thread count; <peer> ms =
the peer's fastest variant (oneDNN: plain user layouts or `any` formats with reorders not
timed; XNNPACK: NHWC, so channels_last layers only; ONNX Runtime: a one-node model on its
default CPU provider, channels_first only); create ms = the peer's setup (primitive/operator/
session creation and weight packing); ratio = peer ms / tconv ms (> 1: tconv is faster);
best peer, vs best = the fastest peer that agreed with tconv, and tconv's ratio to it.

exit status: 0 when done, 1 when a peer disagreed with tconv, 2 on a usage or config error.
)";
}

int bench_command(const std::vector<std::string>& argv) {
    const BenchArgs args = parse_bench_args(argv);
    if (args.help) {
        std::fputs(bench_help().c_str(), stdout);
        return 0;
    }
    const std::vector<BenchLayer> layers = load_layers(args);
    for (const std::string& out : {args.json_path, args.plot_path}) {
        if (out.empty()) continue;  // fail before a long run, not after it
        const std::filesystem::path dir = std::filesystem::absolute(out).parent_path();
        if (!std::filesystem::is_directory(dir))
            throw Error(ErrorKind::io, "bench: cannot write '" + out + "': directory '" +
                                           dir.string() + "' does not exist");
    }

    BenchRun run;
    run.threads = args.threads > 0 ? args.threads : default_threads();
    omp_set_num_threads(run.threads);  // oneDNN's OpenMP build follows this
    Options options;
    options.max_isa = args.isa;
    options.threads = run.threads;
    run.isa = resolve_max_isa(options);  // an Error when the CPU lacks a requested ISA
    run.cpu_model = cpu_info().model;
    run.min_time = args.min_time;
    run.peak_gflops = measure_fma_peak(run.isa, run.threads);
    const bool any_bf16 = std::any_of(layers.begin(), layers.end(), [](const BenchLayer& l) {
        return l.problem.dtype == DType::bf16;
    });
    if (any_bf16) run.bf16_peak_gflops = measure_bf16_peak(run.isa, run.threads);
    // Peers this build lacks get no column, only a word in the header.
    std::vector<Peer> peers;
    if (args.peers) {
        for (const Peer& peer : all_peers()) {
            const std::string version = peer.version();
            if (version == kNotInThisBuild) {
                run.peer_versions.push_back(std::string(peer.name) + ": " + version);
                continue;
            }
            run.peer_versions.push_back(version);
            peers.push_back(peer);
            run.peer_names.push_back(peer.name);
        }
        if (args.isa) run.peer_isa = cap_onednn_isa(*args.isa);
    }

    TimingPolicy policy;
    policy.min_time = args.min_time;
    // A short --min-time still gets its min_repeats samples, in shorter batches.
    policy.batch_time = std::min(policy.batch_time, args.min_time / policy.min_repeats);
    const bool progress = ::isatty(STDERR_FILENO);
    for (size_t i = 0; i < layers.size(); ++i) {
        if (progress)
            fmt::print(stderr, "\r\033[K[{}/{}] {}", i + 1, layers.size(), layers[i].problem.name);
        run.layers.push_back(bench_layer(layers[i], i, options, run, policy, peers));
    }
    if (progress) fmt::print(stderr, "\r\033[K");

    const Summary summary = summarize(run);
    const std::string table =
        args.markdown ? format_markdown(run, summary) : format_text(run, summary);
    std::fputs(table.c_str(), stdout);
    std::fflush(stdout);
    if (!args.json_path.empty()) write_file_atomically(args.json_path, format_json(run, summary));
    if (!args.plot_path.empty()) write_plot(run, args.plot_path);
    return summary.wrong ? 1 : 0;
}

}  // namespace tconv::bench
