// SPDX-License-Identifier: Apache-2.0
// tconv verify: every implementation this machine can run, on random data, against the reference.
#include <fmt/core.h>

#include <random>
#include <set>

#include "args.hpp"
#include "commands.hpp"
#include "model_files.hpp"
#include "tconv/tconv.hpp"

namespace tconv::cli {

static const std::vector<Flag> kFlags = {
    {"--layer", true, "NAME  verify only this layer"},
    {"--tolerance", true, "T  largest relative error accepted (default 1e-5)"},
    {"--seed", true, "S  seed of the random data (default 1)"},
    {"--threads", true, "N  threads (default: TCONV_NUM_THREADS, else all cores)"},
    {"--layout", true, "L  verify every layer as channels_first or channels_last"},
    {"--input-shape", true, "NAME=1x100x1x1  an ONNX model input's shape (repeatable)", true},
    {"--dtype", true, "T  verify every transposed convolution as f32 or bf16"},
};

static std::vector<float> random_values(int64_t n, std::mt19937_64& gen) {
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    std::vector<float> v(static_cast<size_t>(n));
    for (auto& x : v) x = dist(gen);
    return v;
}

int cmd_verify(const Argv& argv) {
    Args args = parse_args("verify", argv, kFlags);
    if (args.help) {
        fmt::print("usage: tconv verify CONFIG-or-DIR-or-MODEL.onnx... [--layer NAME] [--layout L] [--dtype T] [--tolerance T] [--seed S]\n\n"
                   "Runs every implementation available on this CPU (AVX-512 JIT, AVX2 JIT) on random\n"
                   "data and compares it with the scalar reference. The relative error of an element\n"
                   "is |got - want| / (sum of |x*w| over its terms + |bias| + |want|). A bf16 layer\n"
                   "passes when |got - want| <= 2^-8 * |want| + tolerance * (sum of |x*w| + |bias|),\n"
                   "want being the reference on the bf16-rounded input and weights before its output\n"
                   "rounding. Exit code 1 when any layer exceeds the tolerance. An ONNX model's layers\n"
                   "run with the model's own weights and bias (and random inputs).\n\n{}",
                   flags_help(kFlags));
        return 0;
    }
    if (args.positional.empty())
        throw Error(ErrorKind::invalid_argument, "verify: expected at least one CONFIG (see 'tconv verify --help')");
    const double tolerance = args.number("--tolerance", 0, 1).value_or(1e-5);
    const double seed = args.number("--seed", 0, 1e15).value_or(1);
    const int threads = args.threads().value_or(cpu_info().threads);
    const std::string only = args.value("--layer").value_or("");
    const std::optional<Layout> layout = args.layout();
    const std::optional<DType> dtype = args.dtype();

    std::vector<Isa> isas;
    for (Isa i : {Isa::amx, Isa::avx512_bf16, Isa::avx512, Isa::avx2, Isa::scalar})
        if (i <= resolve_max_isa({})) isas.push_back(i);

    // Every config is read and validated before the table starts: a bad file is an error alone.
    std::vector<FileLayers> work = load_file_layers(args.positional, only, onnx_options(args));
    for (auto& file : work)
        for (FileLayer& fl : file.layers) {
            if (layout) fl.problem.layout = *layout;
            if (dtype) override_dtype(fl.problem, *dtype);
        }

    int mismatches = 0, checked = 0;
    fmt::print("{:<24} {:<15} {:<56} {:>11} {:>11}  {}\n", "layer", "impl", "kernel", "max abs",
               "max rel", "result");
    for (const auto& file : work) {
        for (const FileLayer& fl : file.layers) {
            const Problem& p = fl.problem;
            std::mt19937_64 gen{static_cast<uint64_t>(seed)};
            auto x = random_values(p.input_elems(), gen);
            auto w = fl.weights.empty() ? random_values(p.weight_elems(), gen) : fl.weights;
            auto b = fl.weights.empty() ? random_values(p.bias_elems(), gen) : fl.bias;
            const float* bias = p.bias ? b.data() : nullptr;
            std::vector<float> want(static_cast<size_t>(p.output_elems())), got(want.size());
            // bf16: the reference on the stored (rounded) input and weights, unrounded output.
            const bool bf16 = p.dtype == DType::bf16;
            Problem exact = p;
            exact.dtype = DType::f32;
            std::vector<float> xr = x, wr = w;
            if (bf16) {
                round_to_bf16(x.data(), xr.data(), int64_t(x.size()));
                round_to_bf16(w.data(), wr.data(), int64_t(w.size()));
            }
            reference_conv_transpose(exact, xr.data(), wr.data(), bias, want.data(), threads);
            const std::vector<float> mag =
                reference_magnitudes(exact, xr.data(), wr.data(), bias, threads);

            std::set<std::string> seen;
            for (Isa isa : isas) {
                Options o;
                o.max_isa = isa;
                Layer layer = Layer::compile(p, w.data(), bias, o);
                const CompileReport& r = layer.report();
                // The reference checked against itself says nothing: it is listed only when it
                // serves the layer because every JIT declined.
                if (r.implementation == "reference" && !seen.empty()) continue;
                if (!seen.insert(r.implementation).second) continue;
                for (const auto& d : r.declined)
                    if (d.rfind("jit_" + std::string(to_string(isa)) + ":", 0) == 0)
                        fmt::print("{:<24} {}\n", p.name, "declined " + d);
                layer.execute(x.data(), got.data(), threads);
                Deviation dev = deviation(got.data(), want.data(), mag.data(), p.output_elems());
                const int64_t outside = bf16 ? first_outside_bf16_bound(got.data(), want.data(),
                                                                        mag.data(), p.output_elems(),
                                                                        tolerance)
                                             : -1;
                if (outside >= 0) {
                    dev.worst = outside;
                    dev.got = got[size_t(outside)];
                    dev.want = want[size_t(outside)];
                }
                bool ok = bf16 ? outside < 0 : dev.max_rel <= tolerance;
                mismatches += !ok;
                ++checked;
                std::string kernel = r.kernel_names.empty() ? "-" : r.kernel_names[0];
                if (r.kernel_names.size() > 1) kernel += fmt::format(" (+{})", r.kernel_names.size() - 1);
                fmt::print("{:<24} {:<15} {:<56} {:>11.3e} {:>11.3e}  {}\n", p.name,
                           r.implementation, kernel, dev.max_abs, dev.max_rel,
                           ok ? "ok" : fmt::format("MISMATCH at {} (got {}, want {})", dev.worst, dev.got, dev.want));
            }
        }
    }
    fmt::print("{} checked, {} mismatched (tolerance {:g})\n", checked, mismatches, tolerance);
    return mismatches ? 1 : 0;
}

}  // namespace tconv::cli
