// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <memory>

#include "impl.hpp"

namespace tconv {

// A validated resize_conv or pixel_shuffle layer, compiled through its transposed lowering.
std::unique_ptr<Impl> make_upsample_impl(const Problem& p, const float* w, const float* b,
                                         const Options& options);

}  // namespace tconv
