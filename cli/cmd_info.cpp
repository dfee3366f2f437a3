// SPDX-License-Identifier: Apache-2.0
// tconv info [CONFIG...]: the CPU, its ISA features and tconv's choice; with configs, which
// implementation serves each layer and why the ones above it declined.
#include <fmt/core.h>

#include <cstdlib>
#include <vector>

#include "args.hpp"
#include "commands.hpp"
#include "tconv/tconv.hpp"

namespace tconv::cli {

static const std::vector<Flag> kFlags = {
    {"--isa", true,
     "ISA  cap the implementation choice: avx512_amx, avx512_bf16, avx512, avx2 or scalar"},
};

int cmd_info(const Argv& argv) {
    Args args = parse_args("info", argv, kFlags);
    if (args.help) {
        fmt::print("usage: tconv info [CONFIG-or-DIR...] [--isa ISA]\n\n"
                   "Prints the CPU model, the ISA features tconv detects, the thread count and the\n"
                   "ISA it will use (capped by --isa or TCONV_MAX_ISA). With configs, also which\n"
                   "implementation serves each layer and why the ones above it declined.\n\n{}",
                   flags_help(kFlags));
        return 0;
    }
    // Configs are read and validated first: a bad file is an error alone, not after the report.
    std::vector<Config> configs;
    for (const std::string& file : config_files(args.positional)) configs.push_back(load_config(file));

    const CpuInfo& cpu = cpu_info();
    auto yes = [](bool b) { return b ? "yes" : "no"; };
    fmt::print("cpu:          {}\n", cpu.model);
    fmt::print("avx2:         {}\nfma:          {}\n", yes(cpu.avx2), yes(cpu.fma));
    fmt::print("avx512f:      {}\navx512bw:     {}\navx512vl:     {}\n", yes(cpu.avx512f),
               yes(cpu.avx512bw), yes(cpu.avx512vl));
    fmt::print("avx512_bf16:  {}\namx:          {}\n", yes(cpu.avx512_bf16), yes(cpu.amx));
    fmt::print("amx-bf16:     {}\n", cpu.amx_bf16 ? "yes (tiles granted: bf16 layers run on them)"
                                    : cpu.amx        ? "no (not granted by the OS, or no AMX-BF16)"
                                                     : "no");
    fmt::print("l2 per core:  {}\n",
               cpu.l2_bytes > 0 ? fmt::format("{} KiB (kernels planned for {} KiB)",
                                              cpu.l2_bytes >> 10,
                                              cpu.plan_l2_bytes >> 10)
                                : std::string("not reported (kernels planned for 1 MiB)"));
    fmt::print("threads:      {} (CPUs of this process; default per call: {}, wait policy: {})\n",
               cpu.threads, default_threads(), to_string(resolve_wait_policy({})));
    Options options;
    options.max_isa = args.isa();
    const char* env = std::getenv("TCONV_MAX_ISA");
    fmt::print("best isa:     {}\n", to_string(cpu.best_isa()));
    fmt::print("isa in use:   {}{}\n", to_string(resolve_max_isa(options)),
               options.max_isa ? " (--isa)" : (env && *env ? " (TCONV_MAX_ISA)" : ""));

    for (const Config& config : configs) {
        for (const Problem& p : config.layers) {
            std::vector<float> w(static_cast<size_t>(p.weight_elems())), b(static_cast<size_t>(p.bias_elems()));
            Layer layer = Layer::compile(p, w.data(), p.bias ? b.data() : nullptr, options);
            fmt::print("\n{}: served by {}\n", p.name, layer.report().implementation);
            for (const auto& d : layer.report().declined) fmt::print("  declined {}\n", d);
        }
    }
    return 0;
}

}  // namespace tconv::cli
