// SPDX-License-Identifier: Apache-2.0
// `tconv bench` options, parsed by the CLI's shared parser into typed BenchArgs.
#include <cmath>

#include "args.hpp"
#include "bench_args.hpp"
#include "tconv/error.hpp"

namespace tconv::bench {

namespace {

const std::vector<cli::Flag> kFlags = {
    {"--threads", true, "N  threads for every contender"},
    {"--layout", true, "L  channels_first or channels_last for every layer"},
    {"--dtype", true, "T  f32 or bf16 for every transposed convolution"},
    {"--isa", true, "ISA  cap of tconv, oneDNN and the peak probe"},
    {"--min-time", true, "SECONDS  timed runs per contender and layer"},
    {"--layer", true, "NAME  only this layer", true},
    {"--input-shape", true, "NAME=1x100x1x1  an ONNX model input's shape (repeatable)", true},
    {"--random", true, "N  also N random valid layers"},
    {"--seed", true, "S  the draw of --random"},
    {"--no-peers", false, "time tconv alone"},
    {"--markdown", false, "print the table as Markdown"},
    {"--json", true, "FILE  also write every figure as JSON"},
    {"--plot", true, "FILE  also draw the run as a PNG chart"},
};

// A whole number within [lo, hi]; absent -> std::nullopt.
std::optional<uint64_t> whole_number(const cli::Args& a, const std::string& flag, double lo,
                                     double hi) {
    const std::optional<double> d = a.number(flag, lo, hi);
    if (d && *d != std::floor(*d))
        throw Error(ErrorKind::invalid_argument,
                    "bench: " + flag + " " + *a.value(flag) + ": must be a whole number");
    return d ? std::optional<uint64_t>(uint64_t(*d)) : std::nullopt;
}

}  // namespace

BenchArgs parse_bench_args(const std::vector<std::string>& argv) {
    const cli::Args a = cli::parse_args("bench", argv, kFlags);
    BenchArgs out;
    out.help = a.help;
    out.inputs = a.positional;
    out.threads = a.threads().value_or(0);
    out.json_path = a.value("--json").value_or("");
    out.plot_path = a.value("--plot").value_or("");
    out.markdown = a.has("--markdown");
    out.peers = !a.has("--no-peers");
    out.isa = a.isa();
    out.layout = a.layout();
    out.dtype = a.dtype();
    out.min_time = a.number("--min-time", 0, 3600).value_or(out.min_time);
    out.layers = a.all("--layer");
    out.input_shapes = a.input_shapes();
    out.random = int(whole_number(a, "--random", 1, 100000).value_or(0));
    if (a.has("--seed")) {
        if (!a.has("--random"))
            throw Error(ErrorKind::invalid_argument,
                        "bench: --seed chooses the draw of --random: give --random N too");
        out.seed = *whole_number(a, "--seed", 0, 9007199254740991.0);  // 2^53 - 1
    }
    if (out.inputs.empty() && out.random == 0 && !out.help)
        throw Error(ErrorKind::invalid_argument,
                    "bench: no config given: name one or more config files or directories, or "
                    "--random N (see 'tconv bench --help')");
    return out;
}

}  // namespace tconv::bench
