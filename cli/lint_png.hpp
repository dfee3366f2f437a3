// SPDX-License-Identifier: Apache-2.0
// `tconv lint --png`: one layer's overlap counts as a picture.
#pragma once

#include <string>

#include "tconv/overlap.hpp"

namespace tconv::cli {

// A heat map of the 2D counts (3D: the middle slice of the first dim; 1D: a bar strip), a
// legend of the count values and the verdict as title.
void write_overlap_png(const Problem& problem, const Overlap& overlap, const std::string& path);

}  // namespace tconv::cli
