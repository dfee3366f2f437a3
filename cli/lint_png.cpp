// SPDX-License-Identifier: Apache-2.0
#include "lint_png.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "picture.hpp"

namespace tconv::cli {

namespace {

constexpr int kMargin = 12;
constexpr int kMapSide = 480;  // the longer side of the map, in pixels

// The 2D map drawn: rows x cols of counts (1D: one row).
struct CountMap {
    int64_t rows = 1, cols = 1;
    std::vector<int64_t> v;
    int64_t at(int64_t r, int64_t c) const { return v[size_t(r * cols + c)]; }
};

CountMap map_of(const Problem& p, const Overlap& o, std::string& note) {
    CountMap m;
    const int first = p.rank == 3 ? 1 : 0;
    int64_t factor = 1;
    if (p.rank == 3) {
        // The middle period's slice with the most pairs: the pattern at its fullest.
        int64_t mid = p.output[0] / 2;
        for (int64_t i = mid + 1; i < std::min(p.output[0], p.output[0] / 2 + p.stride[0]); ++i)
            if (o.dims[0].counts[size_t(i)] > o.dims[0].counts[size_t(mid)]) mid = i;
        factor = o.dims[0].counts[size_t(mid)];
        note = fmt::format("middle slice: output index {} of dim D (count {})", mid, factor);
    }
    const std::vector<int64_t> one{1};
    const auto& rows = p.rank == 1 ? one : o.dims[first].counts;
    const auto& cols = o.dims[p.rank - 1].counts;
    m.rows = int64_t(rows.size());
    m.cols = int64_t(cols.size());
    for (int64_t a : rows)
        for (int64_t b : cols) m.v.push_back(factor * a * b);
    return m;
}

}  // namespace

void write_overlap_png(const Problem& p, const Overlap& o, const std::string& path) {
    std::string note;
    const CountMap m = map_of(p, o, note);
    const int64_t max_count = std::max<int64_t>(1, *std::max_element(m.v.begin(), m.v.end()));
    const std::set<int64_t> values(m.v.begin(), m.v.end());

    // Cell size: the longer side near kMapSide; maps larger than that are sampled.
    const int64_t longest = std::max(m.rows, m.cols);
    const int cell = int(std::clamp<int64_t>(kMapSide / longest, 1, 48));
    const int map_w = int(std::min<int64_t>(m.cols * cell, kMapSide));
    const int bar_h = 160;  // 1D: bar strip height
    const int map_h = p.rank == 1 ? bar_h : int(std::min<int64_t>(m.rows * cell, kMapSide));

    const std::string title = fmt::format("{}: {}", p.name, o.verdict);
    std::vector<std::string> dims_line;
    static const char* kNames[3][3] = {{"W"}, {"H", "W"}, {"D", "H", "W"}};
    for (int d = 0; d < p.rank; ++d)
        dims_line.push_back(fmt::format("{}: k{} s{} d{} pads {}/{} op {} -> {}",
                                        kNames[p.rank - 1][d], p.kernel[d], p.stride[d],
                                        p.dilation[d], p.pad_begin[d], p.pad_end[d],
                                        p.output_padding[d], p.output[d]));
    const std::string subtitle = fmt::format("{}", fmt::join(dims_line, "   "));

    const int line = Canvas::text_height() + 6;
    const int legend_w = 120;
    const int top = kMargin + 3 * line + (note.empty() ? 0 : line);
    const int width = 3 * kMargin + std::max({map_w + legend_w, Canvas::text_width(title),
                                              Canvas::text_width(subtitle)});
    const int legend_rows = int(std::min<size_t>(values.size(), 16));
    const int height = top + std::max(map_h, legend_rows * 18 + 24) + kMargin;
    Canvas c(width, height);
    c.text(kMargin, kMargin, title, kBlack);
    c.text(kMargin, kMargin + line, subtitle, kBlack);
    c.text(kMargin, kMargin + 2 * line,
           fmt::format("(input position, tap) pairs per output; {} x {} outputs shown", m.rows,
                       m.cols),
           kGrey);
    if (!note.empty()) c.text(kMargin, kMargin + 3 * line, note, kGrey);

    auto colour = [&](int64_t v) { return heat_colour(double(v) / double(max_count)); };
    if (p.rank == 1) {
        // Bars: one per output (sampled when wider than the strip), height by count.
        for (int x = 0; x < map_w; ++x) {
            const int64_t v = m.at(0, int64_t(x) * m.cols / map_w);
            const int h = int(double(bar_h) * double(v) / double(max_count));
            c.fill(kMargin + x, top + bar_h - h, 1, h, colour(v));
        }
        c.fill(kMargin, top + bar_h, map_w, 1, kBlack);
    } else {
        for (int y = 0; y < map_h; ++y)
            for (int x = 0; x < map_w; ++x)
                c.fill(kMargin + x, top + y, 1, 1,
                       colour(m.at(int64_t(y) * m.rows / map_h, int64_t(x) * m.cols / map_w)));
        if (cell >= 8)  // cell borders, where cells are big enough to count
            for (int64_t i = 0; i <= std::max(m.rows, m.cols); ++i) {
                if (i <= m.cols) c.fill(kMargin + int(i) * cell, top, 1, map_h, kWhite);
                if (i <= m.rows) c.fill(kMargin, top + int(i) * cell, map_w, 1, kWhite);
            }
    }

    // Legend: a swatch per count value (the 16 largest when there are more).
    const int lx = kMargin + map_w + 20;
    c.text(lx, top, "count", kBlack);
    int ly = top + 18;
    std::vector<int64_t> shown(values.rbegin(), values.rend());
    shown.resize(size_t(legend_rows));
    for (int64_t v : shown) {
        c.fill(lx, ly, 14, 12, colour(v));
        c.frame(lx, ly, 14, 12, kGrey);
        c.text(lx + 20, ly + 3, std::to_string(v), kBlack);
        ly += 18;
    }
    c.write_png(path, "lint: --png");
}

}  // namespace tconv::cli
