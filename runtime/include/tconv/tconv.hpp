// SPDX-License-Identifier: Apache-2.0
// tconv's C++ API: compile a transposed-convolution layer once (weights prepacked), execute it
// many times, from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tconv/bf16.hpp"
#include "tconv/config.hpp"
#include "tconv/error.hpp"
#include "tconv/npy.hpp"
#include "tconv/problem.hpp"
#include "tconv/reference.hpp"
#include "tconv/span.hpp"

namespace tconv {

// ---- threads ----
// How the library's idle worker threads, and a call's threads waiting for each other, wait:
// bounded (the default) spins about 50 us, then sleeps, and sleeps at once for a second after
// a spinning thread was descheduled (its core is wanted elsewhere, README "Threads"); passive
// sleeps at once; spin never sleeps (lowest latency on cores nobody else uses). Results are
// bitwise identical under every policy and thread count.
enum class WaitPolicy { bounded, spin, passive };
std::string_view to_string(WaitPolicy w);
// The thread count execute() uses when neither the call nor Options says: TCONV_NUM_THREADS
// (1-1024; another value is an Error), else OMP_NUM_THREADS's first entry when it is a valid
// count, else the CPUs in the process's affinity mask. Read at each compile.
int default_threads();
// Puts the library's idle worker threads to sleep now, whatever the last call's policy said
// (under `spin` they would keep their cores busy until the next call): for an application
// that is about to leave the cores to other work for a while. The next call wakes them.
void park_threads();
// ---- end threads ----

struct Options {
    // Highest ISA the dispatcher may pick; unset: TCONV_MAX_ISA from the environment, else the
    // best the CPU has. Asking for an ISA the CPU lacks is an Error (unsupported).
    std::optional<Isa> max_isa;
    // Threads used by execute() when the call does not say; 0: default_threads().
    int threads = 0;
    // Size limits for configs parsed by compile_json/compile_file and for every tensor the
    // layer allocates, packed weights included (16 GiB each by default).
    ConfigLimits limits;
    // Threads that pack a large layer's weights at compile; 0: default_threads(). One by default:
    // packing is bound by memory and page faults, and on a busy machine waiting for a second
    // thread to be scheduled can cost more than it saves. The packed bytes never depend on it.
    int compile_threads = 1;
    // How idle threads wait (see WaitPolicy); unset: TCONV_WAIT_POLICY from the environment
    // (passive, bounded or spin; another value is an Error), else bounded.
    std::optional<WaitPolicy> wait = std::nullopt;
};

// One line of `tconv compile`: what serves a layer, and why better ones declined.
struct CompileReport {
    std::string implementation;              // e.g. "jit_avx512", "reference"
    std::vector<std::string> kernel_names;   // the emitted kernels (empty for the reference)
    std::vector<std::string> declined;       // "jit_avx512: <reason>" for each skipped above it
    std::vector<std::string> plan_lines;     // phases, taps, tiles, blocking: human-readable
    uint64_t code_bytes = 0;
    uint64_t packed_weight_bytes = 0;
    double compile_us = 0;                   // plan + generate + pack
    double pack_us = 0;                      // of which packing the weights
    // ---- reshape (Layer::reshape) ----
    uint64_t weight_packs = 0;  // times the weights were packed: 1, reshapes never re-pack
    uint64_t reshapes = 0;      // reshapes since compile (compile_us: the last one's time)
};

class Impl;  // an implementation serving one layer (runtime/src/impl.hpp)

class Layer {
  public:
    // weights: PyTorch layout [IC, OC/G, *K]; bias: [OC], required iff problem.bias.
    static Layer compile(const Problem& problem, const float* weights, const float* bias,
                         const Options& options = {});
    // The same from a config: the layer named `layer`, or the only layer when `layer` is empty
    // (a config with several layers then needs a name; the Error lists them).
    static Layer compile(const Config& config, const float* weights, const float* bias,
                         const Options& options = {}, const std::string& layer = {});
    // From config JSON text (messages call it "<string>") or from a config file.
    static Layer compile_json(std::string_view json, const float* weights, const float* bias,
                              const Options& options = {}, const std::string& layer = {});
    static Layer compile_file(const std::string& path, const float* weights, const float* bias,
                              const Options& options = {}, const std::string& layer = {});

    // x and y in the layer's layout; sizes input_elems() / output_elems(). Thread-safe.
    // On a bf16 layer ("dtype": "bf16") x is rounded to bf16 and y holds bf16 values as floats.
    void execute(const float* x, float* y) const;
    void execute(const float* x, float* y, int threads) const;
    // bf16 layers only: bf16 bit patterns (tconv/bf16.hpp converts). On an f32 layer an Error
    // (invalid_argument).
    void execute_bf16(const uint16_t* x, uint16_t* y) const;
    void execute_bf16(const uint16_t* x, uint16_t* y, int threads) const;

    // ---- sized buffers: the same, with each size checked (an Error names the layer, the
    // argument and both sizes). Weights hold exactly weight_elems() floats; bias exactly
    // bias_elems(), or is empty for none; x and y at least input_elems() / output_elems().
    static Layer compile(const Problem& problem, Span<const float> weights,
                         Span<const float> bias, const Options& options = {});
    static Layer compile(const Config& config, Span<const float> weights, Span<const float> bias,
                         const Options& options = {}, const std::string& layer = {});
    static Layer compile_json(std::string_view json, Span<const float> weights,
                              Span<const float> bias, const Options& options = {},
                              const std::string& layer = {});
    static Layer compile_file(const std::string& path, Span<const float> weights,
                              Span<const float> bias, const Options& options = {},
                              const std::string& layer = {});
    void execute(Span<const float> x, Span<float> y) const;
    void execute(Span<const float> x, Span<float> y, int threads) const;
    // ---- end sized buffers

    const Problem& problem() const;
    int64_t input_elems() const { return problem().input_elems(); }
    int64_t output_elems() const { return problem().output_elems(); }
    int64_t weight_elems() const { return problem().weight_elems(); }
    int64_t bias_elems() const { return problem().bias_elems(); }  // 0 without bias
    // Sizes of the buffers compile() and execute() (execute_bf16() for a bf16 layer) take:
    // input and output in the layer's dtype, weights and bias in float32.
    uint64_t input_bytes() const { return uint64_t(input_elems() * problem().activation_bytes()); }
    uint64_t output_bytes() const { return uint64_t(output_elems() * problem().activation_bytes()); }
    uint64_t weight_bytes() const { return uint64_t(weight_elems()) * sizeof(float); }
    uint64_t bias_bytes() const { return uint64_t(bias_elems()) * sizeof(float); }
    // The implementation serving the layer ("jit_avx512", "reference", ...); the emitted kernels'
    // names are in report().kernel_names.
    const std::string& implementation() const { return report().implementation; }
    const CompileReport& report() const;
    // The machine code of each emitted kernel (empty for the reference), e.g. for disassembly:
    // `objdump -D -b binary -mi386:x86-64 FILE`.
    struct KernelBinary {
        std::string name;
        std::vector<uint8_t> code;
    };
    std::vector<KernelBinary> kernel_binaries() const;

    // ---- reshape: dynamic shapes ----
    // Re-shapes the layer to a new batch and input size (`input_size`: the spatial dims, as
    // many as the layer's rank), as XNNPACK's reshape step: everything else stays (channels,
    // kernel, stride, padding, output_padding, activation, layout), the packed weights are
    // kept as they are (never re-packed; report().weight_packs stays 1) and the kernels come
    // from the process-wide cache. problem(), input/output_elems() and report() then describe
    // the new shape. A bad shape (wrong rank, sizes < 1, an output size < 1, a tensor over
    // Options::limits) is an Error (invalid_argument; out_of_memory for the limits); a shape
    // whose plan would pack the weights differently (a layer compiled as a matrix product
    // over single input pixels, reshaped to larger inputs or back) is an Error (unsupported).
    // On any Error the layer is left as it was.
    // Not thread-safe: reshape() must not run while another thread executes or reshapes the
    // same Layer object (copies of a Layer are independent: reshape one copy per thread).
    void reshape(int64_t batch, Span<const int64_t> input_size);

  private:
    explicit Layer(std::shared_ptr<const Impl> impl, Options options);
    std::shared_ptr<const Impl> impl_;
    Options options_;
};

// A chain of layers ("chain": true in the config): each layer's output is the next one's input.
// Intermediate activations live in two ping-pong scratch buffers; execute() is thread-safe, each
// concurrent call using its own pair (kept for reuse by later calls).
class Model {
  public:
    // weights[i] / biases[i]: layer i's tensors as for Layer::compile; biases[i] is nullptr for a
    // layer with "bias": false, and `biases` may be empty when no layer has a bias. A config with
    // several layers must say "chain": true; a single layer is a chain of one.
    static Model compile(const Config& config, const std::vector<const float*>& weights,
                         const std::vector<const float*>& biases, const Options& options = {});
    // The same with every tensor's length checked against its layer (an empty bias span: none).
    static Model compile(const Config& config, const std::vector<Span<const float>>& weights,
                         const std::vector<Span<const float>>& biases,
                         const Options& options = {});
    static Model compile_json(std::string_view json, const std::vector<const float*>& weights,
                              const std::vector<const float*>& biases, const Options& options = {});
    static Model compile_json(std::string_view json,
                              const std::vector<Span<const float>>& weights,
                              const std::vector<Span<const float>>& biases,
                              const Options& options = {});
    static Model compile_file(const std::string& path, const std::vector<const float*>& weights,
                              const std::vector<const float*>& biases, const Options& options = {});
    static Model compile_file(const std::string& path,
                              const std::vector<Span<const float>>& weights,
                              const std::vector<Span<const float>>& biases,
                              const Options& options = {});

    // x: the first layer's input, y: the last layer's output (must not overlap x). Thread-safe.
    void execute(const float* x, float* y) const;
    void execute(const float* x, float* y, int threads) const;

    const std::string& name() const { return name_; }
    const std::vector<Layer>& layers() const { return layers_; }
    int64_t input_elems() const { return layers_.front().input_elems(); }
    int64_t output_elems() const { return layers_.back().output_elems(); }
    uint64_t input_bytes() const { return layers_.front().input_bytes(); }
    uint64_t output_bytes() const { return layers_.back().output_bytes(); }
    std::vector<int64_t> input_shape() const {
        return tconv::input_shape(layers_.front().problem());
    }
    std::vector<int64_t> output_shape() const {
        return tconv::output_shape(layers_.back().problem());
    }
    // Scratch one execute() call holds: both ping-pong buffers (0 for a single layer).
    uint64_t scratch_bytes() const;

  private:
    struct Scratch;  // the pool of ping-pong buffer pairs (model.cpp)
    Model(std::string name, std::vector<Layer> layers);
    void run(const float* x, float* y, int threads) const;  // threads 0: each layer's default
    std::string name_;
    std::vector<Layer> layers_;
    std::shared_ptr<Scratch> scratch_;
};

// ---- memory: the kernel cache and per-thread scratch ----
// Compiled kernels are shared by every layer of the same geometry through a process-wide
// cache. A kernel some live Layer uses is never evicted; unused ones are kept for reuse up to
// the capacity (bytes of code, each kernel in whole 4 KiB pages; 32 MiB by default) and evicted
// least recently used first. Threads keep scratch buffers for execute() no larger than the
// live layers need: released as layers die (by the thread destroying one at once, by others at
// their next call) and at thread exit.
struct CacheStats {
    uint64_t entries = 0;         // kernels held
    uint64_t code_bytes = 0;      // their code
    uint64_t capacity_bytes = 0;  // the bound on code_bytes, kernels in use aside
    uint64_t hits = 0;            // kernel requests served from the cache
    uint64_t misses = 0;          // kernel requests that generated code
    uint64_t evictions = 0;       // unused kernels dropped (capacity or clear)
    uint64_t kernels_in_use = 0;  // held by live layers: never evicted
    uint64_t scratch_bytes = 0;   // per-thread scratch held by all threads
};
CacheStats cache_stats();
// Sets the capacity; unused kernels over it are evicted at once. 0 keeps no unused kernel.
void set_cache_capacity(uint64_t bytes);
// Drops every unused kernel and the calling thread's scratch beyond what live layers need
// (other threads release theirs at their next call).
void clear_cache();
// ---- end memory

// Implementations available on this machine, best first, capped by `max_isa` (or TCONV_MAX_ISA).
Isa resolve_max_isa(const Options& options);
// options.wait, else TCONV_WAIT_POLICY, else bounded.
WaitPolicy resolve_wait_policy(const Options& options);

// "avx512_amx", "avx512_bf16", "avx512", "avx2" or "scalar" as an Isa; nullopt for anything else.
std::optional<Isa> isa_from_string(std::string_view s);

struct CpuInfo {
    std::string model;
    bool avx2 = false, fma = false, avx512f = false, avx512bw = false, avx512vl = false,
         avx512_bf16 = false, amx = false;
    // AMX-BF16 tiles this process may use: the CPU has them and the OS granted the tile state
    // (Linux: arch_prctl ARCH_REQ_XCOMP_PERM, asked once at detection).
    bool amx_bf16 = false;
    int threads = 1;  // CPUs in the process's affinity mask
    // Per-core L2 in bytes (CPUID 0x80000006; 0: not reported), and the size the planner
    // sizes its cache blocking for: the L2 within [256 KiB, 1 MiB] (1 MiB when not reported).
    int64_t l2_bytes = 0, plan_l2_bytes = 0;
    Isa best_isa() const;
};
const CpuInfo& cpu_info();

}  // namespace tconv
