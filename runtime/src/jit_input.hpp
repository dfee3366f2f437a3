// SPDX-License-Identifier: Apache-2.0
// The run-time copy of the user's input into a plan's zero-halo buffer (gen::InputLayout).
#pragma once

#include <cstdint>

#include "tconv/gen/plan.hpp"
#include "work_part.hpp"

namespace tconv {

// Share t of nt copies its part of work part w's input (its slab's blocks, its padded input
// rows of images [n0, n1)) from the user's input x into xbuf (images from n0 on, each
// pl.input.image_floats()). With `halo_ready` the buffer already holds this layer's zeros:
// only the interior is copied.
void copy_input(const gen::PlanBase& pl, const float* x, float* xbuf, const WorkPart& w, int t,
                int nt, bool halo_ready);

}  // namespace tconv
