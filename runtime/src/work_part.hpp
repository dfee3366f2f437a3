// SPDX-License-Identifier: Apache-2.0
// A part of a call's work that is copied, then computed, before the next part: images of a
// batch group, a slab of groups, a band of rows (gen::PlanBase says how a layer is cut).
#pragma once

#include <cstdint>

#include "tconv/gen/plan.hpp"

namespace tconv {

struct WorkPart {
    int64_t n0 = 0, n1 = 0;          // images (a band holds one image)
    int64_t slab = 0;                // slab of groups: PlanBase::slab_input/oc_blocks
    int64_t row0 = 0, row1 = 0;      // output rows to compute (D x H flattened, per image)
    int64_t in_row0 = 0, in_row1 = 0;  // padded input rows to copy (flattened, per image)

    // Every row of images [n0, n1), slab s.
    static WorkPart whole(const gen::PlanBase& pl, int64_t n0, int64_t n1, int64_t s) {
        const gen::Dim3& P = pl.input.padded;
        return {n0, n1, s, 0, pl.out_rows(), 0, P[0] * P[1]};
    }
    // A call's parts, in order: groups of images > slabs of groups > bands of rows (only with
    // `banded`: see JitImpl::execute).
    static int64_t count(const gen::PlanBase& pl, bool banded) {
        return (pl.batch + pl.batch_group - 1) / pl.batch_group * pl.group_slabs() *
               (banded ? pl.bands() : 1);
    }
    static WorkPart at(const gen::PlanBase& pl, int64_t index, bool banded) {
        const int64_t bands = banded ? pl.bands() : 1, slabs = pl.group_slabs();
        const int64_t b = index % bands, s = index / bands % slabs;
        const int64_t n0 = index / (bands * slabs) * pl.batch_group;
        WorkPart w = whole(pl, n0, std::min(pl.batch, n0 + pl.batch_group), s);
        if (bands > 1) {  // a band copies the rows no earlier band read
            w.row0 = b * pl.band_rows;
            w.row1 = std::min(pl.out_rows(), w.row0 + pl.band_rows);
            w.in_row0 = b == 0 ? 0 : pl.band_input_rows(w.row0);
            w.in_row1 = pl.band_input_rows(w.row1);
        }
        return w;
    }
};

}  // namespace tconv
