// SPDX-License-Identifier: Apache-2.0
// tconv compile: plan and JIT-compile each layer; print what serves it and how.
#include <fmt/core.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>
#include <set>

#include "args.hpp"
#include "commands.hpp"
#include "model_files.hpp"
#include "tconv/tconv.hpp"

namespace tconv::cli {

static const std::vector<Flag> kFlags = {
    {"--isa", true, "ISA  cap the implementation: avx512_amx, avx512_bf16, avx512, avx2 or scalar"},
    {"--layer", true, "NAME  compile only this layer"},
    {"--dump", true, "DIR  write each kernel's raw code to DIR/NAME.bin (created if missing)"},
    {"--layout", true, "L  compile every layer as channels_first or channels_last"},
    {"--input-shape", true, "NAME=1x100x1x1  an ONNX model input's shape (repeatable)", true},
    {"--dtype", true, "T  compile every transposed convolution as f32 or bf16"},
};

// The closing line: what compiling every layer at startup costs, and how much of it is moving
// the weights (bound by memory and page faults) rather than planning and generating code.
static void print_summary(std::vector<double> compile_us, double pack_us) {
    if (compile_us.empty()) return;
    std::sort(compile_us.begin(), compile_us.end());
    const size_t n = compile_us.size();
    const double total = std::accumulate(compile_us.begin(), compile_us.end(), 0.0);
    const double median = (compile_us[(n - 1) / 2] + compile_us[n / 2]) / 2;
    fmt::print("compiled {} layer{}: total compile time {:.1f} us (plan + generate {:.1f} us, "
               "weight packing {:.1f} us), median {:.1f} us\n",
               n, n == 1 ? "" : "s", total, total - pack_us, pack_us, median);
}

// Raw code for `objdump -D -b binary -mi386:x86-64 FILE`; each file written whole or not at all,
// once per distinct kernel (`written`: the names already dumped by this run; a name is the
// kernel's identity, so a kernel shared by several layers is one file).
static void dump_kernels(const Layer& layer, const std::string& dir,
                         std::set<std::string>& written) {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec || !fs::is_directory(dir))
        throw Error(ErrorKind::io, "compile: --dump " + dir + ": cannot create the directory" +
                                       (ec ? ": " + ec.message() : ""));
    for (const auto& k : layer.kernel_binaries()) {
        const std::string path = (fs::path(dir) / (k.name + ".bin")).string();
        if (!written.insert(k.name).second) {
            fmt::print("  dumped: {} (shared with a layer above)\n", path);
            continue;
        }
        const std::string tmp = path + ".tmp";
        {
            std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
            out.write(reinterpret_cast<const char*>(k.code.data()), std::streamsize(k.code.size()));
            if (!out.flush()) {
                fs::remove(tmp, ec);
                throw Error(ErrorKind::io, "compile: cannot write " + path);
            }
        }
        fs::rename(tmp, path, ec);
        if (ec) {
            fs::remove(tmp, ec);
            throw Error(ErrorKind::io, "compile: cannot write " + path);
        }
        fmt::print("  dumped: {} ({} bytes)\n", path, k.code.size());
    }
}

int cmd_compile(const Argv& argv) {
    Args args = parse_args("compile", argv, kFlags);
    if (args.help) {
        fmt::print("usage: tconv compile CONFIG-or-DIR-or-MODEL.onnx... [--isa ISA] [--layer NAME] [--layout L] [--dtype T] [--dump DIR]\n\n"
                   "Plans and JIT-compiles each layer and prints the implementation, the kernels,\n"
                   "phases and taps, the register tile and blocking, code and packed-weight bytes\n"
                   "and the compile time; then the number of layers and their total and median\n"
                   "compile time. --dump writes each kernel's machine code so that\n"
                   "`objdump -D -b binary -mi386:x86-64 FILE` disassembles it. An ONNX model's\n"
                   "ConvTranspose layers compile with the model's own weights.\n\n{}",
                   flags_help(kFlags));
        return 0;
    }
    if (args.positional.empty())
        throw Error(ErrorKind::invalid_argument, "compile: expected at least one CONFIG (see 'tconv compile --help')");
    Options options;
    options.max_isa = args.isa();
    const std::string only = args.value("--layer").value_or("");
    const std::optional<Layout> layout = args.layout();
    const std::optional<DType> dtype = args.dtype();
    std::vector<double> compile_us;
    double pack_us = 0;
    std::set<std::string> dumped;
    for (FileLayers& file : load_file_layers(args.positional, only, onnx_options(args))) {
        for (FileLayer& fl : file.layers) {
            Problem& p = fl.problem;
            if (layout) p.layout = *layout;
            if (dtype) override_dtype(p, *dtype);
            // Configs carry no weights: random ones stand in (an ONNX model brings its own).
            if (fl.weights.empty()) {
                std::mt19937 gen(1);
                std::uniform_real_distribution<float> dist(-1, 1);
                fl.weights.resize(static_cast<size_t>(p.weight_elems()));
                fl.bias.resize(static_cast<size_t>(p.bias_elems()));
                for (auto& v : fl.weights) v = dist(gen);
                for (auto& v : fl.bias) v = dist(gen);
            }
            Layer layer = Layer::compile(p, fl.weights.data(), p.bias ? fl.bias.data() : nullptr,
                                         options);
            const CompileReport& r = layer.report();
            compile_us.push_back(r.compile_us);
            pack_us += r.pack_us;
            fmt::print("{}: {} -> {}, weights {}{}\n", p.name, shape_string(input_shape(p)),
                       shape_string(output_shape(p)), shape_string(weight_shape(p)),
                       p.dtype == DType::bf16 ? ", bf16" : "");
            for (const auto& f : fl.fused) fmt::print("  fusion: {}\n", f);
            fmt::print("  implementation: {}\n", r.implementation);
            for (const auto& d : r.declined) fmt::print("  declined: {}\n", d);
            for (const auto& k : r.kernel_names) fmt::print("  kernel: {}\n", k);
            for (const auto& l : r.plan_lines) fmt::print("  {}\n", l);
            fmt::print("  code bytes: {}, packed weight bytes: {}, compile time: {:.1f} us "
                       "(weight packing {:.1f} us)\n",
                       r.code_bytes, r.packed_weight_bytes, r.compile_us, r.pack_us);
            if (auto dir = args.value("--dump")) dump_kernels(layer, *dir, dumped);
            fmt::print("\n");
        }
    }
    print_summary(std::move(compile_us), pack_us);
    if (auto dir = args.value("--dump"))
        fmt::print("dumped {} distinct kernel{} to {}\n", dumped.size(),
                   dumped.size() == 1 ? "" : "s", *dir);
    return 0;
}

}  // namespace tconv::cli
