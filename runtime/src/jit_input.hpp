// SPDX-License-Identifier: Apache-2.0
// The run-time copy of the user's input into a plan's zero-halo buffer (gen::InputLayout).
#pragma once

#include <cstdint>

#include "tconv/gen/plan.hpp"
#include "work_part.hpp"

namespace tconv {

// Share t of nt copies its part of work part w's input (its slab's blocks, its padded input
// rows of images [n0, n1)) from the user's input x (floats, or bf16 where pl.io says so) into
// xbuf (images from n0 on, each pl.input.image_floats()). With `halo_ready` the buffer
// already holds this layer's zeros: only the interior is copied.
void copy_input(const gen::PlanBase& pl, const void* x, float* xbuf, const WorkPart& w, int t,
                int nt, bool halo_ready);

// Padded input columns [w0, w1) of image n of a one-row layer (gen::PhasedPlan::chunk_copies)
// into buf, laid out as `dst` (the input's blocks, padded W at least w1 - w0; column w0 at 0):
// halo columns and padding lanes zero.
void copy_input_columns(const gen::PlanBase& pl, const gen::InputLayout& dst, const void* x,
                        int64_t n, int64_t w0, int64_t w1, float* buf);

// Padded input positions [p0, p1) along D (axis 0) or H (axis 1) of image n, all of the
// others (gen::PhasedPlan::band_copies), into buf laid out as `dst` (the input's blocks, that
// axis padded to at least p1 - p0; position p0 at 0): halo and padding lanes zero.
void copy_input_window(const gen::PlanBase& pl, const gen::InputLayout& dst, const void* x,
                       int64_t n, int axis, int64_t p0, int64_t p1, float* buf);

}  // namespace tconv
