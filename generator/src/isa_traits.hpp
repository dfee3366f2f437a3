// SPDX-License-Identifier: Apache-2.0
// The ISA differences the generator needs, as traits; the few differing instructions live in
// small if-constexpr helpers next to their users.
#pragma once

#include <xbyak/xbyak.h>

#include "tconv/problem.hpp"

namespace tconv::gen {

struct Avx512Traits {
    using Vmm = Xbyak::Zmm;
    static constexpr Isa isa = Isa::avx512;
    static constexpr int vlen = 16;     // floats per register
    static constexpr int registers = 32;
    static constexpr bool opmask = true;  // channel tails stored under a k-mask
};

struct Avx2Traits {
    using Vmm = Xbyak::Ymm;
    static constexpr Isa isa = Isa::avx2;
    static constexpr int vlen = 8;
    static constexpr int registers = 16;
    static constexpr bool opmask = false;  // channel tails stored with vmaskmovps
};

}  // namespace tconv::gen
