// SPDX-License-Identifier: Apache-2.0
// tanh(x) = x P(x^2) / Q(x^2) for |x| <= kTanhClamp, the one fit every kernel and the run
// time's vector passes use: a rational minimax fit of tanh(x) / x in s = x^2 over [0, 81]
// (weighted by the relative error), P of degree 6 and Q of 3 with P(0) = Q(0) = 1. Relative
// error 7e-9 in exact arithmetic, under 3e-7 evaluated in floats by Horner's rule with FMAs.
// Beyond the clamp tanh rounds to +-1 in floats.
#pragma once

namespace tconv::gen {

inline constexpr float kTanhClamp = 9.0f;
inline constexpr float kTanhP[7] = {1.0f,
                                    0.13086800466064775f,
                                    0.0031070112482929325f,
                                    1.1184508842119e-5f,
                                    -2.0337164368295659e-8f,
                                    5.3262262187593508e-11f,
                                    -8.5989999025713536e-14f};
inline constexpr float kTanhQ[4] = {1.0f, 0.46420130280054302f, 0.024507515252551388f,
                                    0.00025504911754860011f};

}  // namespace tconv::gen
