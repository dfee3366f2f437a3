// SPDX-License-Identifier: Apache-2.0
// The rules of the resize_conv and pixel_shuffle kinds, beside the transposed convolution's
// (problem_rules.hpp calls them, so configs and Problems built in code obey the same).
#pragma once

#include "problem_rules.hpp"

namespace tconv::rules {

// The kind's own fields (scale, upscale_factor), the transposed-only ones left neutral (stride
// 1, no output_padding), and pads within the kernel's reach (the lowering's transposed pads are
// reach - pad).
void check_upsample_fields(const Problem& p, const Spelling& s);
// resize_conv: I*scale + pb + pe - D*(K-1); pixel_shuffle: r * (I + pb + pe - (K-1)).
Dims derive_upsample_output(const Problem& p, const Spelling& s);

}  // namespace tconv::rules
