// SPDX-License-Identifier: Apache-2.0
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "bench_plot.hpp"
#include "picture.hpp"

namespace tconv::bench {

namespace {

using cli::Canvas;

constexpr int kMargin = 12, kBar = 9, kGap = 8, kPlotWidth = 560;

// A round axis end at or above `x`: 1, 2 or 5 times a power of ten.
double nice_ceiling(double x) {
    const double p = std::pow(10.0, std::floor(std::log10(std::max(x, 1e-9))));
    for (double m : {1.0, 2.0, 5.0, 10.0})
        if (m * p >= x) return m * p;
    return 10 * p;
}

// GFLOP/s of a peer's best variant, when it ran and agreed with tconv.
std::optional<double> peer_gflops(const LayerResult& l, const PeerResult& p) {
    const VariantResult* v = p.best_variant();
    if (!v || v->median_ms <= 0) return std::nullopt;
    return l.problem.flops() / (v->median_ms * 1e6);
}

}  // namespace

void write_plot(const BenchRun& run, const std::string& path) {
    const size_t series = 1 + run.peer_names.size();
    double top = run.peak_gflops.value_or(0);
    size_t label_chars = 0;
    for (const LayerResult& l : run.layers) {
        top = std::max(top, l.gflops);
        for (const PeerResult& p : l.peers) top = std::max(top, peer_gflops(l, p).value_or(0));
        label_chars = std::max(label_chars, l.name.size());
    }
    const double axis = nice_ceiling(top * 1.05);
    const int label_w = Canvas::text_width(std::string(std::min<size_t>(label_chars, 40), 'x'));
    const int x0 = kMargin + label_w + 8;                 // the axis
    const int group = int(series) * kBar + kGap;
    const int header = kMargin + 3 * 14 + 10;
    const int plot_h = int(run.layers.size()) * group + kGap;
    const int width = x0 + kPlotWidth + 2 * kMargin + 40;
    const int height = header + plot_h + 40 + kMargin;
    Canvas c(width, height);

    const std::string title = fmt::format("tconv bench: GFLOP/s per layer, {} thread{}, {}",
                                          run.threads, run.threads == 1 ? "" : "s",
                                          to_string(run.isa));
    c.text(kMargin, kMargin, title, cli::kBlack, 2);
    // Legend: one swatch per series, then the peak line.
    int lx = kMargin;
    const int ly = kMargin + 24;
    for (size_t s = 0; s < series; ++s) {
        bool any = s == 0;  // a peer without one correct result is marked in the legend
        for (const LayerResult& l : run.layers)
            any = any || (s - 1 < l.peers.size() && peer_gflops(l, l.peers[s - 1]));
        const std::string name = s == 0 ? "tconv" : run.peer_names[s - 1] + (any ? "" : " (n/a)");
        c.fill(lx, ly, 12, 9, cli::series_colour(s));
        c.text(lx + 16, ly + 1, name, cli::kBlack);
        lx += 16 + Canvas::text_width(name) + 18;
    }
    if (run.peak_gflops) {
        c.fill(lx, ly + 4, 14, 2, cli::Rgb{200, 0, 0});
        c.text(lx + 18, ly + 1, fmt::format("FMA peak {:.0f} GFLOP/s", *run.peak_gflops),
               cli::kBlack);
    }

    auto xpos = [&](double g) { return x0 + int(std::lround(kPlotWidth * g / axis)); };
    // Grid: five ticks with values.
    for (int t = 0; t <= 5; ++t) {
        const double g = axis * t / 5;
        const int x = xpos(g);
        c.fill(x, header, 1, plot_h, cli::Rgb{225, 225, 225});
        const std::string v = fmt::format("{:g}", g);
        c.text(x - Canvas::text_width(v) / 2, header + plot_h + 6, v, cli::kBlack);
    }
    c.text(x0 + kPlotWidth / 2 - Canvas::text_width("GFLOP/s") / 2, header + plot_h + 22,
           "GFLOP/s", cli::kBlack);

    for (size_t i = 0; i < run.layers.size(); ++i) {
        const LayerResult& l = run.layers[i];
        const int y = header + kGap + int(i) * group;
        std::string label = l.name.size() > 40 ? l.name.substr(0, 39) + "~" : l.name;
        c.text(x0 - 8 - Canvas::text_width(label), y + (int(series) * kBar) / 2 - 3, label,
               cli::kBlack);
        for (size_t s = 0; s < series; ++s) {
            const std::optional<double> g =
                s == 0 ? std::optional<double>(l.gflops)
                       : (s - 1 < l.peers.size() ? peer_gflops(l, l.peers[s - 1]) : std::nullopt);
            if (!g) continue;
            c.fill(x0, y + int(s) * kBar, xpos(*g) - x0, kBar - 1, cli::series_colour(s));
            c.text(xpos(*g) + 3, y + int(s) * kBar, fmt::format("{:.0f}", *g), cli::kGrey);
        }
    }
    c.fill(x0, header, 1, plot_h, cli::kBlack);
    if (run.peak_gflops) c.fill(xpos(*run.peak_gflops), header, 2, plot_h, cli::Rgb{200, 0, 0});
    c.write_png(path, "bench: --plot");
}

}  // namespace tconv::bench
