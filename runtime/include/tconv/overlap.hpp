// SPDX-License-Identifier: Apache-2.0
// Overlap analysis of a transposed convolution ("checkerboard artifacts"): how many
// (input position, tap) pairs reach each output index, per spatial dim, and what follows from it.
// Pure arithmetic on a Problem's sizes: no weights, no JIT, no files.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "tconv/problem.hpp"

namespace tconv {

// One spatial dim. The count of an N-D output element is the product of its dims' counts.
struct DimOverlap {
    std::vector<int64_t> counts;   // per output index, borders included (size = output extent)
    // The counts an unbounded input would give, one period (stride entries) starting at
    // interior_begin: what the interior repeats.
    std::vector<int64_t> pattern;
    int64_t interior_begin = 0;    // [begin, end): no tap of these outputs falls off the input
    int64_t interior_end = 0;      // (empty when the input is shorter than the dilated kernel)
    int64_t band_begin = 0;        // leading and trailing outputs with fewer pairs than the
    int64_t band_end = 0;          //   pattern gives them (the border band)
    bool even = false;             // every phase gets the same, non-zero count
    bool holes = false;            // some phase gets no pair at all (stride > dilated kernel)
    // The nearest kernel sizes below and above (0: none) whose overlap is even at this stride
    // and dilation; with dilation 1 exactly the multiples of the stride.
    int64_t even_kernel_below = 0, even_kernel_above = 0;
};

// Pairs reaching output index `o` of one dim: #{(i, k) : i*S + k*D - pad_begin = o}.
int64_t overlap_count(int64_t in, int64_t kernel, int64_t stride, int64_t dilation,
                      int64_t pad_begin, int64_t o);

// One dim of a transposed convolution with output extent `out`.
DimOverlap dim_overlap(int64_t in, int64_t kernel, int64_t stride, int64_t dilation,
                       int64_t pad_begin, int64_t out);

// A period for people: "2,1"; a long constant one as "4 at all 256 phases", a long uneven one cut
// after 16 entries with its length.
std::string pattern_text(const std::vector<int64_t>& pattern);

// The alternatives the lint suggests for the same input and output size.
struct ResizeConvAlternative {
    bool applicable = false;   // some stride > 1
    std::string why_not;
    Dims scale{1, 1, 1};       // nearest / (bi|tri)linear up-sampling factor = the stride
    Dims kernel{3, 3, 3};      // stride-1 convolution after it
    Dims pad_begin{0, 0, 0}, pad_end{0, 0, 0};
    double flops = 0;          // the convolution over the up-sampled grid
};
struct PixelShuffleAlternative {
    bool applicable = false;   // 2D with one stride > 1 for both dims, as torch.nn.PixelShuffle
    std::string why_not;       // when not applicable
    int64_t upscale_factor = 1;
    int64_t conv_out_channels = 0;  // out_channels * r^2
    Dims kernel{3, 3, 3}, padding{1, 1, 1};
    Dims output{1, 1, 1};      // input * r (may differ from the layer's output: see same_size)
    bool same_size = false;
    double flops = 0;          // the convolution at input resolution
};

struct Overlap {
    int rank = 2;
    std::array<DimOverlap, kMaxRank> dims;
    bool even = false;         // every dim even
    bool holes = false;        // some dim has holes
    std::string verdict;       // one line a user can act on
    ResizeConvAlternative resize_conv;
    PixelShuffleAlternative pixel_shuffle;
};

// The whole analysis of a valid problem (validate_problem's rules hold).
Overlap analyse_overlap(const Problem& problem);

}  // namespace tconv
