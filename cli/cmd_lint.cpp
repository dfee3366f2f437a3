// SPDX-License-Identifier: Apache-2.0
// tconv lint: the overlap of each layer's kernel footprints (checkerboard artifacts), per dim and
// as a verdict, with the remedies and what the alternatives would cost.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <nlohmann/json.hpp>

#include "args.hpp"
#include "commands.hpp"
#include "lint_png.hpp"
#include "tconv/overlap.hpp"
#include "tconv/tconv.hpp"

namespace tconv::cli {

using Json = nlohmann::ordered_json;

static const std::vector<Flag> kFlags = {
    {"--layer", true, "NAME  lint only this layer"},
    {"--json", false, "print every figure as JSON instead of text"},
    {"--strict", false, "exit 1 when some layer's interior overlap is uneven"},
    {"--png", true, "FILE  draw the overlap map of the one selected layer as a PNG"},
};

namespace {

const char* dim_name(int rank, int d) {
    static const char* kNames[3][3] = {{"W"}, {"H", "W"}, {"D", "H", "W"}};
    return kNames[rank - 1][d];
}

// PyTorch's name of the linear up-sampling mode of this rank.
const char* linear_mode(int rank) {
    return rank == 1 ? "linear" : rank == 2 ? "bilinear" : "trilinear";
}

std::vector<int64_t> dims_of(const Problem& p, const Dims& d) {
    return std::vector<int64_t>(d.begin(), d.begin() + p.rank);
}

// The fields every alternative shares with the layer.
Json common_config(const Problem& p, const std::string& suffix, const char* kind) {
    Json j;
    j["name"] = p.name + suffix;
    j["kind"] = kind;
    j["batch"] = p.batch;
    j["in_channels"] = p.in_channels;
    j["out_channels"] = p.out_channels;
    j["input_size"] = dims_of(p, p.input);
    return j;
}

void finish_config(const Problem& p, Json& j) {
    if (p.groups != 1) j["groups"] = p.groups;
    j["bias"] = p.bias;
    if (p.activation != Activation::none) j["activation"] = std::string(to_string(p.activation));
}

Json resize_conv_config(const Problem& p, const ResizeConvAlternative& a) {
    Json j = common_config(p, "_resize_conv", "resize_conv");
    j["scale"] = dims_of(p, a.scale);
    j["mode"] = "nearest";
    j["kernel_size"] = dims_of(p, a.kernel);
    if (a.pad_begin == a.pad_end) {
        j["padding"] = dims_of(p, a.pad_begin);
    } else {
        std::vector<int64_t> pads = dims_of(p, a.pad_begin);
        for (int64_t e : dims_of(p, a.pad_end)) pads.push_back(e);
        j["pads"] = pads;
    }
    finish_config(p, j);
    return j;
}

Json pixel_shuffle_config(const Problem& p, const PixelShuffleAlternative& a) {
    Json j = common_config(p, "_pixel_shuffle", "pixel_shuffle");
    j["upscale_factor"] = a.upscale_factor;
    j["kernel_size"] = dims_of(p, a.kernel);
    j["padding"] = dims_of(p, a.padding);
    finish_config(p, j);
    return j;
}

Json layer_json(const std::string& file, const Problem& p, const Overlap& o) {
    Json j;
    j["file"] = file;
    j["name"] = p.name;
    j["input_size"] = dims_of(p, p.input);
    j["output_size"] = dims_of(p, p.output);
    j["flops"] = p.flops();
    j["even"] = o.even;
    j["holes"] = o.holes;
    j["verdict"] = o.verdict;
    j["dims"] = Json::array();
    for (int d = 0; d < p.rank; ++d) {
        const DimOverlap& x = o.dims[d];
        j["dims"].push_back({{"dim", dim_name(p.rank, d)},
                             {"input", p.input[d]},
                             {"kernel", p.kernel[d]},
                             {"stride", p.stride[d]},
                             {"dilation", p.dilation[d]},
                             {"pad_begin", p.pad_begin[d]},
                             {"pad_end", p.pad_end[d]},
                             {"output_padding", p.output_padding[d]},
                             {"output", p.output[d]},
                             {"counts", x.counts},
                             {"pattern", x.pattern},
                             {"interior", {x.interior_begin, x.interior_end}},
                             {"border_band", {x.band_begin, x.band_end}},
                             {"even", x.even},
                             {"holes", x.holes},
                             {"even_kernel_below", x.even_kernel_below},
                             {"even_kernel_above", x.even_kernel_above}});
    }
    Json alt;
    if (o.resize_conv.applicable)
        alt["resize_conv"] = {{"applicable", true},
                              {"config", resize_conv_config(p, o.resize_conv)},
                              {"modes", Json{"nearest", linear_mode(p.rank)}},
                              {"flops", o.resize_conv.flops}};
    else
        alt["resize_conv"] = {{"applicable", false}, {"why_not", o.resize_conv.why_not}};
    const PixelShuffleAlternative& ps = o.pixel_shuffle;
    alt["pixel_shuffle"] = {{"applicable", ps.applicable}};
    if (ps.applicable) {
        alt["pixel_shuffle"]["config"] = pixel_shuffle_config(p, ps);
        alt["pixel_shuffle"]["output_size"] = dims_of(p, ps.output);
        alt["pixel_shuffle"]["same_size"] = ps.same_size;
        alt["pixel_shuffle"]["flops"] = ps.flops;
    } else {
        alt["pixel_shuffle"]["why_not"] = ps.why_not;
    }
    j["alternatives"] = alt;
    return j;
}

// "1 2 2 2 ... 2 2 1": long rows shortened in the middle.
std::string counts_text(const std::vector<int64_t>& v) {
    constexpr size_t kEdge = 8;
    if (v.size() <= 2 * kEdge + 1) return fmt::format("{}", fmt::join(v, " "));
    return fmt::format("{} ... {}", fmt::join(v.begin(), v.begin() + kEdge, " "),
                       fmt::join(v.end() - kEdge, v.end(), " "));
}

std::string mflops(double f) { return fmt::format("{:.4g} MFLOP", f / 1e6); }

void print_layer(const std::string& file, const Problem& p, const Overlap& o) {
    fmt::print("{}: {} ({} -> {} channels, {} -> {}): {}\n", file, p.name, p.in_channels,
               p.out_channels, dims_of(p, p.input), dims_of(p, p.output), o.verdict);
    for (int d = 0; d < p.rank; ++d) {
        const DimOverlap& x = o.dims[d];
        const std::string inside =
            x.interior_begin < x.interior_end
                ? fmt::format("interior [{}, {}) repeats {}; border band {} | {}",
                              x.interior_begin, x.interior_end, pattern_text(x.pattern),
                              x.band_begin, x.band_end)
                : fmt::format("no interior (a larger input would repeat {})",
                              pattern_text(x.pattern));
        fmt::print("  {}: k{} s{} d{} pads {}/{} op {}: counts {} ({}); {}\n",
                   dim_name(p.rank, d), p.kernel[d], p.stride[d], p.dilation[d], p.pad_begin[d],
                   p.pad_end[d], p.output_padding[d], counts_text(x.counts), x.counts.size(),
                   inside);
    }
    if (!o.even) {
        std::vector<std::string> k;
        for (int d = 0; d < p.rank; ++d) {
            const DimOverlap& x = o.dims[d];
            if (x.even) k.push_back(fmt::format("{} {} (even)", dim_name(p.rank, d), p.kernel[d]));
            else if (!x.even_kernel_below && !x.even_kernel_above)
                k.push_back(fmt::format("{}: none (dilation {} shares a factor with stride {})",
                                        dim_name(p.rank, d), p.dilation[d], p.stride[d]));
            else
                k.push_back(fmt::format("{} {}", dim_name(p.rank, d),
                                        x.even_kernel_below && x.even_kernel_above
                                            ? fmt::format("{} or {}", x.even_kernel_below,
                                                          x.even_kernel_above)
                                            : std::to_string(x.even_kernel_below +
                                                             x.even_kernel_above)));
        }
        fmt::print("  remedy: kernel sizes with even overlap: {}\n", fmt::join(k, ", "));
    }
    fmt::print("  this layer: {}\n", mflops(p.flops()));
    if (!o.resize_conv.applicable)
        fmt::print("  as resize_conv: not applicable ({})\n", o.resize_conv.why_not);
    else
        fmt::print("  as resize_conv (\"mode\": \"nearest\" or \"{}\"): {} {}\n",
                   linear_mode(p.rank), mflops(o.resize_conv.flops),
                   resize_conv_config(p, o.resize_conv).dump());
    const PixelShuffleAlternative& ps = o.pixel_shuffle;
    if (!ps.applicable)
        fmt::print("  as pixel_shuffle: not applicable ({})\n", ps.why_not);
    else
        fmt::print("  as pixel_shuffle: {} {}{}\n", mflops(ps.flops),
                   pixel_shuffle_config(p, ps).dump(),
                   ps.same_size ? ""
                                : fmt::format(" (output {}, not {})", dims_of(p, ps.output),
                                              dims_of(p, p.output)));
}

}  // namespace

int cmd_lint(const Argv& argv) {
    Args args = parse_args("lint", argv, kFlags);
    if (args.help) {
        fmt::print("usage: tconv lint CONFIG-or-DIR... [--layer NAME] [--json] [--strict] "
                   "[--png FILE]\n\n"
                   "For each layer and spatial dim, counts how many (input position, tap) pairs\n"
                   "reach each output index (an N-D output's count is the product over dims),\n"
                   "from stride, kernel, dilation, pads and output_padding. Uneven interior counts\n"
                   "make grid patterns (checkerboard artifacts). Prints the verdict, the border\n"
                   "band, the kernel sizes with even overlap, and the equivalent resize_conv and\n"
                   "pixel_shuffle layers with their FLOPs. Exit 0, or 1 with --strict when some\n"
                   "layer is uneven.\n\n{}",
                   flags_help(kFlags));
        return 0;
    }
    if (args.positional.empty())
        throw Error(ErrorKind::invalid_argument, "lint: no config given; see 'tconv lint --help'");
    const std::string only = args.value("--layer").value_or("");
    std::vector<std::pair<std::string, Problem>> layers;
    for (const std::string& file : config_files(args.positional))
        for (Problem& p : select_layers(load_config(file), only, file))
            layers.emplace_back(file, std::move(p));
    const std::optional<std::string> png = args.value("--png");
    if (png && layers.size() != 1)
        throw Error(ErrorKind::invalid_argument,
                    fmt::format("lint: --png draws one layer, but {} are selected (use --layer "
                                "NAME or one single-layer config)",
                                layers.size()));

    bool uneven = false;
    Json all = Json::array();
    for (const auto& [file, p] : layers) {
        const Overlap o = analyse_overlap(p);
        uneven = uneven || !o.even;
        if (args.has("--json")) all.push_back(layer_json(file, p, o));
        else print_layer(file, p, o);
        if (png) write_overlap_png(p, o, *png);
    }
    if (args.has("--json")) fmt::print("{}\n", Json{{"layers", all}}.dump(2));
    return args.has("--strict") && uneven ? 1 : 0;
}

}  // namespace tconv::cli
