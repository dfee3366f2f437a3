// `tconv bench` options, parsed by the CLI's shared parser into typed BenchArgs.
#include "args.hpp"
#include "bench_args.hpp"
#include "tconv/error.hpp"

namespace tconv::bench {

namespace {

const std::vector<cli::Flag> kFlags = {
    {"--threads", true, "N  threads for every contender"},
    {"--layout", true, "L  channels_first or channels_last for every layer"},
    {"--isa", true, "ISA  cap of tconv, oneDNN and the peak probe"},
    {"--min-time", true, "SECONDS  timed runs per contender and layer"},
    {"--layer", true, "NAME  only this layer", true},
    {"--no-peers", false, "time tconv alone"},
    {"--markdown", false, "print the table as Markdown"},
    {"--json", true, "FILE  also write every figure as JSON"},
};

}  // namespace

BenchArgs parse_bench_args(const std::vector<std::string>& argv) {
    const cli::Args a = cli::parse_args("bench", argv, kFlags);
    BenchArgs out;
    out.help = a.help;
    out.inputs = a.positional;
    out.threads = a.threads().value_or(0);
    out.json_path = a.value("--json").value_or("");
    out.markdown = a.has("--markdown");
    out.peers = !a.has("--no-peers");
    out.isa = a.isa();
    if (auto l = a.choice("--layout", {"channels_first", "channels_last"}))
        out.layout = *l == "channels_last" ? Layout::channels_last : Layout::channels_first;
    out.min_time = a.number("--min-time", 0, 3600).value_or(out.min_time);
    out.layers = a.all("--layer");
    if (out.inputs.empty() && !out.help)
        throw Error(ErrorKind::invalid_argument,
                    "bench: no config given: name one or more config files or directories "
                    "(see 'tconv bench --help')");
    return out;
}

}  // namespace tconv::bench
