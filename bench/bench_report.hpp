// SPDX-License-Identifier: Apache-2.0
// What a bench run measured, and its three renderings: an aligned text table, a Markdown table,
// and JSON with every figure.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "tconv/problem.hpp"

namespace tconv::bench {

struct VariantResult {
    std::string variant, impl, note;
    double create_ms = 0;
    double median_ms = 0;  // the timed run
    int repeats = 0;
};

struct PeerResult {
    std::string peer;  // column name, e.g. "oneDNN"
    enum class Status { ok, unavailable, wrong } status = Status::unavailable;
    std::string reason;          // unavailable: why; wrong: the error found
    double max_rel_error = 0;    // vs tconv, relative to max |y|
    std::vector<VariantResult> variants;  // every variant timed
    int best = -1;               // index of the fastest variant (status ok)

    const VariantResult* best_variant() const {
        return status == Status::ok && best >= 0 ? &variants[size_t(best)] : nullptr;
    }
};

struct LayerResult {
    std::string config;  // the config file
    std::string name;
    Problem problem;     // as run (layout possibly overridden)
    std::string implementation;
    std::vector<std::string> kernel_names;
    double compile_us = 0;
    double median_ms = 0;
    int repeats = 0;
    double gflops = 0;
    std::optional<double> percent_of_peak;
    std::vector<PeerResult> peers;  // in all_peers() order; empty with --no-peers

    // peer time / tconv time: > 1 means tconv is faster. nullopt unless the peer ran correctly.
    std::optional<double> ratio(const PeerResult& peer) const;
    // The fastest peer that ran correctly (the smallest ratio), or nullptr.
    const PeerResult* best_peer() const;
};

struct BenchRun {
    std::string cpu_model;
    int threads = 1;
    Isa isa = Isa::scalar;              // cap in use
    std::optional<double> peak_gflops;  // nullopt for scalar
    // The bf16 peak (measure_bf16_peak: AMX's tdpbf16ps under the avx512_amx cap, vdpbf16ps
    // under avx512_bf16 and avx512), probed when a layer is bf16: bf16 layers' % peak is
    // against it.
    std::optional<double> bf16_peak_gflops;
    double min_time = 0;
    std::vector<std::string> peer_names;  // columns; empty with --no-peers
    // Every peer the bench knows, e.g. "oneDNN 3.7.2" or "not in this build", in all_peers()
    // order; the columns (peer_names) are those in this build.
    std::vector<std::string> peer_versions;
    std::string peer_isa;                 // how the peers' ISA was capped, if at all
    std::vector<LayerResult> layers;
};

struct PeerSummary {
    std::string peer;  // a peer's name, or "best peer"
    std::optional<double> geomean_ratio;
    int layers = 0;  // layers that entered the mean
};

struct Summary {
    std::vector<PeerSummary> peers;  // one per peer, then "best peer"
    // The layer where tconv fares worst against its best peer.
    std::string slowest_layer;
    std::optional<double> slowest_ratio;
    int wrong = 0;  // peer results that disagreed with tconv
};

Summary summarize(const BenchRun& run);

std::string format_text(const BenchRun& run, const Summary& summary);
std::string format_markdown(const BenchRun& run, const Summary& summary);
std::string format_json(const BenchRun& run, const Summary& summary);

// Writes `text` to a temporary file beside `path`, then renames it over `path`.
void write_file_atomically(const std::string& path, const std::string& text);

}  // namespace tconv::bench
