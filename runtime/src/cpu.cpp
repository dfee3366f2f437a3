// SPDX-License-Identifier: Apache-2.0
// CPU detection (once per process) and the ISA cap: Options::max_isa, else TCONV_MAX_ISA.
#include <xbyak/xbyak_util.h>

#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "tconv/gen/plan.hpp"
#include "tconv/tconv.hpp"
#include "thread_defaults.hpp"

namespace tconv {

static std::string brand_string() {
    uint32_t regs[4];
    Xbyak::util::Cpu::getCpuid(0x80000000u, regs);
    if (regs[0] < 0x80000004u) return "unknown x86-64";
    char brand[49] = {};
    for (uint32_t leaf = 0; leaf < 3; ++leaf) {
        Xbyak::util::Cpu::getCpuid(0x80000002u + leaf, regs);
        std::memcpy(brand + 16 * leaf, regs, 16);
    }
    std::string s(brand);
    size_t b = s.find_first_not_of(' '), e = s.find_last_not_of(' ');
    return b == std::string::npos ? "unknown x86-64" : s.substr(b, e - b + 1);
}

// The per-core L2 size: extended leaf 0x80000006 ECX[31:16] in KiB, which AMD and Intel CPUs
// both report (0 where the leaf is missing).
static int64_t l2_bytes() {
    uint32_t regs[4];
    Xbyak::util::Cpu::getCpuid(0x80000000u, regs);
    if (regs[0] < 0x80000006u) return 0;
    Xbyak::util::Cpu::getCpuid(0x80000006u, regs);
    return int64_t(regs[2] >> 16) * 1024;
}

// Linux hands out the AMX tile state (8 KiB per thread) only to processes that ask for it.
static bool amx_permitted() {
#if defined(__linux__) && defined(SYS_arch_prctl)
    constexpr int kReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
    return syscall(SYS_arch_prctl, kReqXcompPerm, kXfeatureXtiledata) == 0;
#else
    return false;
#endif
}

const CpuInfo& cpu_info() {
    static const CpuInfo info = [] {
        using Xbyak::util::Cpu;
        Cpu cpu;
        CpuInfo c;
        c.model = brand_string();
        c.avx2 = cpu.has(Cpu::tAVX2);
        c.fma = cpu.has(Cpu::tFMA);
        c.avx512f = cpu.has(Cpu::tAVX512F);
        c.avx512bw = cpu.has(Cpu::tAVX512BW);
        c.avx512vl = cpu.has(Cpu::tAVX512VL);
        c.avx512_bf16 = cpu.has(Cpu::tAVX512_BF16);
        c.amx = cpu.has(Cpu::tAMX_TILE);
        c.amx_bf16 = c.amx && cpu.has(Cpu::tAMX_BF16) && c.avx512f && c.avx512bw &&
                     c.avx512vl && amx_permitted();
        c.threads = affinity_cpus();
        c.l2_bytes = l2_bytes();
        c.plan_l2_bytes = gen::planning_l2_bytes(c.l2_bytes);
        return c;
    }();
    return info;
}

Isa CpuInfo::best_isa() const {
    if (amx_bf16 && avx2 && fma) return Isa::amx;
    if (avx512_bf16 && avx512f && avx512bw && avx512vl && avx2 && fma) return Isa::avx512_bf16;
    if (avx512f && avx2 && fma) return Isa::avx512;
    if (avx2 && fma) return Isa::avx2;
    return Isa::scalar;
}

std::optional<Isa> isa_from_string(std::string_view s) {
    if (s == "avx512_amx") return Isa::amx;
    if (s == "avx512_bf16") return Isa::avx512_bf16;
    if (s == "avx512") return Isa::avx512;
    if (s == "avx2") return Isa::avx2;
    if (s == "scalar") return Isa::scalar;
    return std::nullopt;
}

static Isa parse_isa(const std::string& s, const std::string& where) {
    if (const auto isa = isa_from_string(s)) return *isa;
    throw Error(ErrorKind::invalid_argument,
                where + "=" + s +
                    " is not an ISA: use avx512_amx, avx512_bf16, avx512, avx2 or scalar");
}

static std::string features_string(const CpuInfo& c) {
    std::string f;
    auto add = [&](bool has, const char* name) {
        if (has) f += (f.empty() ? "" : ", ") + std::string(name);
    };
    add(c.avx2, "avx2");
    add(c.fma, "fma");
    add(c.avx512f, "avx512f");
    add(c.avx512_bf16, "avx512_bf16");
    add(c.amx_bf16, "amx-bf16");
    return f.empty() ? "none of avx2, fma, avx512f" : f;
}

Isa resolve_max_isa(const Options& options) {
    const CpuInfo& cpu = cpu_info();
    Isa want = cpu.best_isa();
    std::string source;
    if (options.max_isa) {
        want = *options.max_isa;
        source = "the requested ISA " + std::string(to_string(want));
    } else if (const char* env = std::getenv("TCONV_MAX_ISA"); env && *env) {
        want = parse_isa(env, "TCONV_MAX_ISA");
        source = "TCONV_MAX_ISA=" + std::string(env);
    }
    if (want > cpu.best_isa())
        throw Error(ErrorKind::unsupported,
                    source + " is not available on this CPU (" + cpu.model + ", has " +
                        features_string(cpu) + "); the best it supports is " +
                        std::string(to_string(cpu.best_isa())));
    return want;
}

}  // namespace tconv
