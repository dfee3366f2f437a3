// SPDX-License-Identifier: Apache-2.0
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bench_peak.hpp"
#include "bench_report.hpp"
#include "bench_timing.hpp"
#include "tconv/error.hpp"

namespace tconv::bench {

std::optional<double> LayerResult::ratio(const PeerResult& peer) const {
    const VariantResult* v = peer.best_variant();
    if (!v || !(median_ms > 0)) return std::nullopt;
    return v->median_ms / median_ms;
}

const PeerResult* LayerResult::best_peer() const {
    const PeerResult* best = nullptr;
    std::optional<double> best_ratio;
    for (const PeerResult& p : peers)
        if (auto r = ratio(p); r && (!best_ratio || *r < *best_ratio)) {
            best = &p;
            best_ratio = r;
        }
    return best;
}

Summary summarize(const BenchRun& run) {
    Summary s;
    std::vector<double> best_ratios;
    for (size_t k = 0; k < run.peer_names.size(); ++k) {
        std::vector<double> ratios;
        for (const LayerResult& l : run.layers) {
            if (k >= l.peers.size()) continue;
            if (l.peers[k].status == PeerResult::Status::wrong) ++s.wrong;
            if (auto r = l.ratio(l.peers[k])) ratios.push_back(*r);
        }
        s.peers.push_back({run.peer_names[k],
                           ratios.empty() ? std::nullopt : std::optional(geometric_mean(ratios)),
                           int(ratios.size())});
    }
    for (const LayerResult& l : run.layers) {
        const PeerResult* best_peer = l.best_peer();
        if (!best_peer) continue;
        const std::optional<double> best = l.ratio(*best_peer);
        best_ratios.push_back(*best);
        if (!s.slowest_ratio || *best < *s.slowest_ratio) {
            s.slowest_ratio = best;
            s.slowest_layer = l.name;
        }
    }
    if (!run.peer_names.empty())
        s.peers.push_back({"best peer",
                           best_ratios.empty() ? std::nullopt
                                               : std::optional(geometric_mean(best_ratios)),
                           int(best_ratios.size())});
    return s;
}

namespace {

std::string dims_string(const std::vector<int64_t>& shape) {
    std::string s;
    for (size_t i = 0; i < shape.size(); ++i) {
        if (i) s += 'x';
        s += std::to_string(shape[i]);
    }
    return s;
}

std::string shapes(const Problem& p) {
    return dims_string(input_shape(p)) + " -> " + dims_string(output_shape(p));
}

std::string kernel_cell(const std::vector<std::string>& names) {
    if (names.empty()) return "-";
    return names.size() == 1 ? names[0] : fmt::format("{} (+{})", names[0], names.size() - 1);
}

std::string ratio_cell(std::optional<double> r) {
    if (!r) return "-";
    return *r >= 0.01 ? fmt::format("{:.2f}x", *r) : fmt::format("{:.2g}x", *r);
}

// Milliseconds with a resolution that suits the size: layers span microseconds to seconds.
std::string ms_cell(double ms) {
    if (ms >= 1) return fmt::format("{:.3f}", ms);
    return ms >= 0.01 ? fmt::format("{:.4f}", ms) : fmt::format("{:.6f}", ms);
}

struct Table {
    std::vector<std::string> header;
    std::vector<bool> numeric;  // right-aligned
    std::vector<std::vector<std::string>> rows;
};

Table build_table(const BenchRun& run) {
    Table t;
    auto col = [&](std::string name, bool numeric) {
        t.header.push_back(std::move(name));
        t.numeric.push_back(numeric);
    };
    col("layer", false);
    col("in -> out", false);
    col("impl", false);
    col("kernel", false);
    col("compile us", true);
    col("ms", true);
    col("GFLOP/s", true);
    col("% peak", true);
    for (const std::string& peer : run.peer_names) {
        col(peer + " ms", true);
        col(peer + " impl", false);
        col(peer + " create ms", true);
        col("ratio", true);
    }
    if (!run.peer_names.empty()) {
        col("best peer", false);
        col("vs best", true);
    }
    for (const LayerResult& l : run.layers) {
        std::vector<std::string> r{l.name,
                                   shapes(l.problem),
                                   l.implementation,
                                   kernel_cell(l.kernel_names),
                                   fmt::format("{:.0f}", l.compile_us),
                                   ms_cell(l.median_ms),
                                   fmt::format("{:.1f}", l.gflops),
                                   l.percent_of_peak ? fmt::format("{:.1f}", *l.percent_of_peak)
                                                     : "n/a"};
        for (const PeerResult& p : l.peers) {
            if (const VariantResult* v = p.best_variant()) {
                const bool several = p.variants.size() > 1;
                r.push_back(ms_cell(v->median_ms) +
                            (several ? fmt::format(" ({})", v->variant) : std::string()));
                r.push_back(v->impl);
                r.push_back(fmt::format("{:.1f}", v->create_ms));
                r.push_back(ratio_cell(l.ratio(p)));
            } else {
                r.push_back(p.status == PeerResult::Status::wrong ? "WRONG" : "n/a");
                r.insert(r.end(), {"-", "-", "-"});
            }
        }
        if (!run.peer_names.empty()) {
            const PeerResult* best = l.best_peer();
            r.push_back(best ? best->peer : "-");
            r.push_back(ratio_cell(best ? l.ratio(*best) : std::nullopt));
        }
        t.rows.push_back(std::move(r));
    }
    return t;
}

std::string header_lines(const BenchRun& run, const std::string& prefix) {
    std::string peak = run.peak_gflops
                           ? fmt::format("{:.1f} GFLOP/s ({} FMA probe, {} thread{})",
                                         *run.peak_gflops, to_string(run.isa), run.threads,
                                         run.threads == 1 ? "" : "s")
                           : std::string("n/a (scalar)");
    if (run.bf16_peak_gflops)
        peak += fmt::format("; bf16 peak: {:.1f} GFLOP/s ({} probe; bf16 layers' % peak)",
                            *run.bf16_peak_gflops, bf16_peak_probe(run.isa));
    std::string out = fmt::format("{}CPU: {}\n{}threads: {}, ISA cap: {}{}, peak: {}\n", prefix,
                                  run.cpu_model, prefix, run.threads, to_string(run.isa),
                                  run.peer_isa.empty() ? "" : " (" + run.peer_isa + ")", peak);
    if (!run.peer_versions.empty()) {
        std::string versions;
        for (const std::string& v : run.peer_versions)
            versions += (versions.empty() ? "" : ", ") + v;
        out += fmt::format("{}peers: {}\n", prefix, versions);
    }
    return out;
}

// Notes below the table: why a peer is n/a or WRONG, and what its timing means, each text once
// with the layers it applies to.
std::string notes(const BenchRun& run, const std::string& bullet) {
    std::vector<std::pair<std::string, std::vector<std::string>>> grouped;
    auto add = [&](const std::string& text, const std::string& layer) {
        auto it = std::find_if(grouped.begin(), grouped.end(),
                               [&](const auto& g) { return g.first == text; });
        if (it == grouped.end()) {
            grouped.push_back({text, {}});
            it = grouped.end() - 1;
        }
        it->second.push_back(layer);
    };
    for (const LayerResult& l : run.layers) {
        for (const PeerResult& p : l.peers) {
            if (p.status == PeerResult::Status::unavailable)
                add(p.peer + " n/a: " + p.reason, l.name);
            else if (p.status == PeerResult::Status::wrong)
                add(p.peer + " WRONG: " + p.reason, l.name);
            else if (const VariantResult* v = p.best_variant(); v && !v->note.empty())
                add(p.peer + " " + v->note, l.name);
        }
    }
    std::string out;
    for (const auto& [text, layers] : grouped) {
        std::string names;
        for (size_t i = 0; i < layers.size() && i < 6; ++i) {
        if (i) names += ", ";
        names += layers[i];
    }
        if (layers.size() > 6) names += fmt::format(" and {} more", layers.size() - 6);
        out += fmt::format("{}{} ({})\n", bullet, text, names);
    }
    return out;
}

std::string summary_lines(const Summary& s, const std::string& bullet) {
    std::string out;
    for (const PeerSummary& p : s.peers) {
        out += p.geomean_ratio ? fmt::format("{}geomean speedup vs {}: {} over {} layer{}\n",
                                             bullet, p.peer, ratio_cell(p.geomean_ratio),
                                             p.layers, p.layers == 1 ? "" : "s")
                               : fmt::format("{}geomean speedup vs {}: n/a\n", bullet, p.peer);
    }
    if (s.slowest_ratio)
        out += fmt::format("{}slowest layer vs its best peer: {} at {}\n", bullet,
                           s.slowest_layer, ratio_cell(s.slowest_ratio));
    if (s.wrong)
        out += fmt::format("{}{} peer result{} disagreed with tconv (WRONG)\n", bullet, s.wrong,
                           s.wrong == 1 ? "" : "s");
    return out;
}

const char* kRatioLegend = "ratio = peer ms / tconv ms (> 1: tconv is faster)";

}  // namespace

std::string format_text(const BenchRun& run, const Summary& summary) {
    const Table t = build_table(run);
    std::vector<size_t> width(t.header.size());
    for (size_t c = 0; c < t.header.size(); ++c) {
        width[c] = t.header[c].size();
        for (const auto& r : t.rows) width[c] = std::max(width[c], r[c].size());
    }
    auto line = [&](const std::vector<std::string>& cells) {
        std::string s;
        for (size_t c = 0; c < cells.size(); ++c) {
            if (c) s += "  ";
            s += t.numeric[c] ? fmt::format("{:>{}}", cells[c], width[c])
                              : fmt::format("{:<{}}", cells[c], width[c]);
        }
        while (!s.empty() && s.back() == ' ') s.pop_back();
        return s + "\n";
    };
    std::string out = header_lines(run, "") + "\n" + line(t.header);
    for (const auto& r : t.rows) out += line(r);
    const std::string n = notes(run, "  ");
    if (!n.empty()) out += fmt::format("\n{}", n);
    if (!run.peer_names.empty())
        out += fmt::format("\n{}{}\n", summary_lines(summary, ""), kRatioLegend);
    return out;
}

std::string format_markdown(const BenchRun& run, const Summary& summary) {
    const Table t = build_table(run);
    auto line = [](const std::vector<std::string>& cells) {
        std::string s = "|";
        for (const std::string& c : cells) s += " " + c + " |";
        return s + "\n";
    };
    std::string out = header_lines(run, "") + "\n" + line(t.header) + "|";
    for (bool numeric : t.numeric) out += numeric ? " ---: |" : " --- |";
    out += "\n";
    for (const auto& r : t.rows) out += line(r);
    const std::string n = notes(run, "- ");
    if (!n.empty()) out += fmt::format("\n{}", n);
    if (!run.peer_names.empty())
        out += fmt::format("\n{}\n{}\n", summary_lines(summary, "- "), kRatioLegend);
    return out;
}

std::string format_json(const BenchRun& run, const Summary& summary) {
    using nlohmann::json;
    auto opt = [](const std::optional<double>& v) { return v ? json(*v) : json(nullptr); };
    json layers = json::array();
    for (const LayerResult& l : run.layers) {
        json peers = json::array();
        for (const PeerResult& p : l.peers) {
            json variants = json::array();
            for (const VariantResult& v : p.variants)
                variants.push_back({{"variant", v.variant}, {"impl", v.impl}, {"note", v.note},
                                    {"create_ms", v.create_ms},
                                    {"median_ms", v.repeats ? json(v.median_ms) : json(nullptr)},
                                    {"repeats", v.repeats}});
            const VariantResult* best = p.best_variant();
            static const char* status[] = {"ok", "n/a", "WRONG"};
            peers.push_back({{"peer", p.peer},
                             {"best", &p == l.best_peer()},
                             {"status", status[int(p.status)]},
                             {"reason", p.reason},
                             {"max_rel_error", p.max_rel_error},
                             {"best_variant", best ? json(best->variant) : json(nullptr)},
                             {"median_ms", best ? json(best->median_ms) : json(nullptr)},
                             {"ratio", opt(l.ratio(p))},
                             {"variants", variants}});
        }
        layers.push_back({{"config", l.config},
                          {"name", l.name},
                          {"layout", to_string(l.problem.layout)},
                          {"dtype", to_string(l.problem.dtype)},
                          {"input_shape", input_shape(l.problem)},
                          {"output_shape", output_shape(l.problem)},
                          {"flops", l.problem.flops()},
                          {"implementation", l.implementation},
                          {"kernel_names", l.kernel_names},
                          {"compile_us", l.compile_us},
                          {"median_ms", l.median_ms},
                          {"repeats", l.repeats},
                          {"gflops", l.gflops},
                          {"percent_of_peak", opt(l.percent_of_peak)},
                          {"peers", peers}});
    }
    json peers = json::array();
    for (const PeerSummary& p : summary.peers)
        peers.push_back({{"peer", p.peer}, {"geomean_ratio", opt(p.geomean_ratio)},
                         {"layers", p.layers}});
    json doc = {{"cpu", run.cpu_model},
                {"threads", run.threads},
                {"isa", to_string(run.isa)},
                {"peer_isa", run.peer_isa},
                {"peer_versions", run.peer_versions},
                {"peak_gflops", opt(run.peak_gflops)},
                {"bf16_peak_gflops", opt(run.bf16_peak_gflops)},
                {"min_time_s", run.min_time},
                {"layers", layers},
                {"summary",
                 {{"peers", peers},
                  {"slowest_layer", summary.slowest_ratio ? json(summary.slowest_layer)
                                                          : json(nullptr)},
                  {"slowest_ratio", opt(summary.slowest_ratio)},
                  {"wrong", summary.wrong}}}};
    return doc.dump(2) + "\n";
}

void write_file_atomically(const std::string& path, const std::string& text) {
    namespace fs = std::filesystem;
    const fs::path target(path);
    fs::path tmp = target;
    tmp += fmt::format(".tmp{}", ::getpid());
    {
        std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
        if (f) f.write(text.data(), std::streamsize(text.size()));
        if (f) f.close();
        if (!f) {
            std::error_code ignored;
            fs::remove(tmp, ignored);
            throw Error(ErrorKind::io, "bench: cannot write '" + path + "'");
        }
    }
    std::error_code ec;
    fs::rename(tmp, target, ec);
    if (ec) {
        std::error_code ignored;
        fs::remove(tmp, ignored);
        throw Error(ErrorKind::io, "bench: cannot write '" + path + "': " + ec.message());
    }
}

}  // namespace tconv::bench
