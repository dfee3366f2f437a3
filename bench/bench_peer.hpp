// SPDX-License-Identifier: Apache-2.0
// A peer library timed against tconv on the same layer. Each peer offers one or more variants
// (e.g. oneDNN in the user's plain layout and in its preferred blocked layout); the bench times
// them all, interleaved with tconv, and reports the fastest.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tconv/problem.hpp"

namespace tconv::bench {

// One runnable contender. Only run() is timed, and it takes the input and leaves the output in
// the user's layout: a peer races only layouts it computes in natively (XNNPACK: channels_last).
// set_input/get_output copy between the user's buffers and the runner's, and hold what stays
// untimed by design (oneDNN's reorders to the blocked formats of its `any` variant, as benchdnn
// does).
class Runner {
  public:
    virtual ~Runner() = default;
    virtual void set_input(const float* x) = 0;  // x: input_elems() floats, user layout
    virtual void run() = 0;
    virtual void get_output(float* y) = 0;  // y: output_elems() floats, user layout
    // Untimed, around each batch of runs: park (pause) and wake (resume) what would compete
    // with the other contenders while this one waits, i.e. a thread pool whose idle workers
    // spin. The pool itself lives on: it is created once, not per batch. Runners start resumed.
    virtual void pause() {}
    virtual void resume() {}
};

struct PeerVariant {
    std::string variant;    // e.g. "plain", "any", "nhwc"
    std::string impl;       // the peer's name for the code it chose
    std::string note;       // said next to the table, e.g. which layout it ran in
    double create_ms = 0;   // setup: primitive/operator creation and weight packing
    std::unique_ptr<Runner> runner;
};

struct PeerSetup {
    std::vector<PeerVariant> variants;  // empty when the peer cannot run this layer
    std::string unavailable;            // why not, when `variants` is empty
};

// The inputs shared by every peer: the layer (in the layout to run), PyTorch-layout weights
// [IC, OC/G, *K], bias [OC] or nullptr, and the thread count.
struct PeerLayer {
    const Problem& problem;
    const float* weights;
    const float* bias;
    int threads;
};

// What a peer missing from this build answers, as its version and as its reason.
inline constexpr const char* kNotInThisBuild = "not in this build";
// XNNPACK's reason on a channels_first layer: it computes in NHWC only, and timing transposes
// around it would compare a job no XNNPACK user does.
inline constexpr const char* kXnnpackNhwcOnly = "NHWC only; run with --layout channels_last";

// A peer that computes only transposed convolutions, on a resize_conv or pixel_shuffle layer.
inline constexpr const char* kTransposedOnly = "transposed convolutions only";

// A peer without a bf16 deconvolution, on a bf16 layer.
inline constexpr const char* kF32Only = "f32 only in this bench (no bf16 deconvolution)";

struct Peer {
    const char* name;
    PeerSetup (*create)(const PeerLayer& layer);
    // The library and version this build compares with, e.g. "oneDNN 3.7.2", or "not in this
    // build"; printed in the table's header.
    std::string (*version)();
};

// Every peer the bench knows, in column order; one missing from this build answers every
// create() with "not in this build".
const std::vector<Peer>& all_peers();

PeerSetup create_onednn(const PeerLayer& layer);
std::string onednn_version();
// Caps oneDNN's ISA like tconv's (before any oneDNN primitive exists); returns what was done,
// for the table's header, or "" when oneDNN is not in this build.
std::string cap_onednn_isa(Isa isa);
PeerSetup create_xnnpack(const PeerLayer& layer);
std::string xnnpack_version();
// ONNX Runtime's default CPU provider (MLAS) on a one-node ConvTranspose model; channels_first.
PeerSetup create_onnxruntime(const PeerLayer& layer);
std::string onnxruntime_version();

}  // namespace tconv::bench
