// SPDX-License-Identifier: Apache-2.0
#include <omp.h>

#include <algorithm>
#include <ctime>
#include <vector>

#include <xbyak/xbyak.h>
#include <xbyak/xbyak_util.h>

#include "bench_peak.hpp"
#include "tconv/tconv.hpp"

namespace tconv::bench {
namespace {

// void loop(uint64_t iterations): `chains` accumulators, each updated `unroll` times per
// iteration from two constant sources. With as many chains as FMA latency x ports (4 x 2 on
// current cores) and more, throughput, not latency, bounds the loop. `bf16`: vdpbf16ps (zmm),
// two bf16 multiply-adds per fp32 lane.
class FmaLoop : public Xbyak::CodeGenerator {
  public:
    static constexpr int kUnroll = 4;

    FmaLoop(bool zmm, int chains, bool bf16 = false)
        : Xbyak::CodeGenerator(4096, Xbyak::DontSetProtectRWE), chains_(chains) {
        using namespace Xbyak;
        util::StackFrame frame(this, 1);  // p[0]: iteration count
        const Reg64& reg_iters = frame.p[0];
        const int src_a = chains, src_b = chains + 1;
        for (int i = 0; i < chains + 2; ++i) {
            if (zmm)
                vpxord(Zmm(i), Zmm(i), Zmm(i));  // vxorps zmm would need AVX512DQ
            else
                vxorps(Ymm(i), Ymm(i), Ymm(i));
        }
        Label loop;
        L(loop);
        for (int u = 0; u < kUnroll; ++u) {
            for (int i = 0; i < chains; ++i) {
                if (bf16)
                    vdpbf16ps(Zmm(i), Zmm(src_a), Zmm(src_b));
                else if (zmm)
                    vfmadd231ps(Zmm(i), Zmm(src_a), Zmm(src_b));
                else
                    vfmadd231ps(Ymm(i), Ymm(src_a), Ymm(src_b));
            }
        }
        dec(reg_iters);
        jnz(loop);
        vzeroupper();
        // the frame's destructor emits the epilogue and ret
    }
    int chains() const { return chains_; }

  private:
    int chains_;
};

// void loop(uint64_t iterations): four C tiles each updated by tdpbf16ps from two A and two B
// tiles (16 x 64 bytes each), `kUnroll` times per iteration: 4 x 16 x 16 x 32 bf16
// multiply-adds per unroll step, no loads, as AMX's peak.
class TdpLoop : public Xbyak::CodeGenerator {
  public:
    static constexpr int kUnroll = 4;

    TdpLoop() : Xbyak::CodeGenerator(4096, Xbyak::DontSetProtectRWE) {
        using namespace Xbyak;
        Label config, loop;
        ldtilecfg(ptr[rip + config]);
        for (int t = 0; t < 8; ++t) tilezero(Tmm(t));
        L(loop);
        for (int u = 0; u < kUnroll; ++u)
            for (int c = 0; c < 4; ++c) tdpbf16ps(Tmm(c), Tmm(4 + c / 2), Tmm(6 + c % 2));
        dec(rdi);
        jnz(loop);
        tilerelease();
        ret();
        align(64);
        L(config);
        uint8_t cfg[64] = {1};
        for (int t = 0; t < 8; ++t) {
            cfg[16 + 2 * t] = 64;
            cfg[48 + t] = 16;
        }
        for (uint8_t v : cfg) db(v);
    }
    int chains() const { return 4; }
};

using LoopFn = void (*)(uint64_t);

// Seconds of CPU time the slowest of `threads` threads, started together, took to run
// `iterations`; `team` receives how many threads OpenMP actually started. CPU time rather than wall time: on a machine shared with other work a thread
// that is descheduled for a while would otherwise lower the peak, and the peak is meant to say
// what the cores can do.
double run_parallel(LoopFn fn, uint64_t iterations, int threads, int& team) {
    std::vector<double> seconds(size_t(threads), 0.0);
    auto cpu_seconds = [] {
        timespec ts{};
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
    };
#pragma omp parallel num_threads(threads)
    {
#pragma omp single
        team = omp_get_num_threads();  // the implied barrier starts all threads together
        const double t0 = cpu_seconds();
        fn(iterations);
        seconds[size_t(omp_get_thread_num())] = cpu_seconds() - t0;
    }
    return *std::max_element(seconds.begin(), seconds.end());
}

// The best of many short trials (~5 ms) of `code`'s loop: the first ones let the clock ramp
// up, and the best is the least disturbed by other work on the machine.
template <class Loop>
double best_gflops(Loop& code, double flops_per_iter, int threads) {
    code.setProtectModeRE();
    const LoopFn fn = code.template getCode<LoopFn>();
    uint64_t iters = 20000;
    int team = threads;
    const double calib = run_parallel(fn, iters, threads, team);
    iters = std::max<uint64_t>(1000, uint64_t(double(iters) * 0.005 / std::max(calib, 1e-6)));
    double best = 0;
    for (int trial = 0; trial < 30; ++trial) {
        const double s = run_parallel(fn, iters, threads, team);
        best = std::max(best, flops_per_iter * double(iters) * team / s * 1e-9);
    }
    return best;
}

}  // namespace

std::optional<double> measure_fma_peak(Isa isa, int threads) {
    const Xbyak::util::Cpu cpu;
    const bool zmm = isa >= Isa::avx512;  // amx: its AVX-512 FMAs
    if (isa == Isa::scalar) return std::nullopt;
    if (zmm && !cpu.has(Xbyak::util::Cpu::tAVX512F)) return std::nullopt;
    if (!zmm && !(cpu.has(Xbyak::util::Cpu::tAVX2) && cpu.has(Xbyak::util::Cpu::tFMA)))
        return std::nullopt;

    // 32 zmm: 24 chains + 2 sources; 16 ymm: 14 chains + 2 sources.
    FmaLoop code(zmm, zmm ? 24 : 14);
    return best_gflops(code, 2.0 * (zmm ? 16 : 8) * code.chains() * FmaLoop::kUnroll, threads);
}

const char* bf16_peak_probe(Isa isa) { return isa == Isa::amx ? "tdpbf16ps" : "vdpbf16ps"; }

std::optional<double> measure_bf16_peak(Isa isa, int threads) {
    if (isa == Isa::amx) {
        if (!cpu_info().amx_bf16) return std::nullopt;  // detection asked the OS for the tiles
        TdpLoop code;
        return best_gflops(code, 2.0 * 16 * 16 * 32 * code.chains() * TdpLoop::kUnroll, threads);
    }
    const Xbyak::util::Cpu cpu;
    if (isa < Isa::avx512 || !cpu.has(Xbyak::util::Cpu::tAVX512_BF16)) return std::nullopt;
    FmaLoop code(true, 24, true);
    // 16 lanes x 2 pairs x 2 flops per instruction.
    return best_gflops(code, 64.0 * code.chains() * FmaLoop::kUnroll, threads);
}

}  // namespace tconv::bench
