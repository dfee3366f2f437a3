// SPDX-License-Identifier: Apache-2.0
// Lowerings: layers planned as another problem. A single-pixel layer is a matrix product; plan()
// plans its pointwise form and records it in Plan::lowered, the caller rearranges the tensors.
#pragma once

#include <vector>

#include "tconv/problem.hpp"

namespace tconv::gen {

// A layer whose input is a single pixel, without dilation (DCGAN's first layer), is a matrix
// product: y[n][oc][k] = sum_ic x[n][ic] * w[ic][oc][k], k over the taps its outputs read (the
// whole kernel without padding, a window of it with padding; output_padding within pad_end).
// The phase planner would run every tap over a zero halo; instead it is planned as a
// pointwise (1-tap) layer over one row of `batch` pixels with OC*K channels, channels-last,
// whose buffers are the user's own: channels-first output channels are (oc, k), channels-last
// ones (k, oc). Channels-last, the
// same holds for a layer whose leading dims have a 1-wide kernel (stride 1, no padding) and
// whose trailing dims are single input pixels (a 1x12 kernel on a 7x1 map): a product over
// batch x leading-dim pixels; channels-first too when the kernel has more than one tap, through
// pixel_transpose().
bool is_single_pixel_product(const Problem& p);
Problem as_pointwise(const Problem& p);

// Channels-first, such a layer with more than one leading-dim pixel P per image is the same
// product between two transposes the caller makes: each image's input [IC][P] to the product's
// [P][IC], and the product's output [P][OC][K] (channels (oc, k), the user's weight order) to
// the user's [OC][P][K]. Planning it over the zero-halo rows instead computed K times the taps
// (a 1x12 kernel on a 7x1 map: 0.34x ONNX Runtime). `pixels` is 0 where no transpose is needed.
struct PixelTranspose {
    int64_t images = 0, pixels = 0, in_channels = 0, out_channels = 0, kernel = 0;
    int64_t input_floats() const { return images * pixels * in_channels; }
    int64_t output_floats() const { return images * pixels * out_channels * kernel; }
};
PixelTranspose pixel_transpose(const Problem& p);

// A channels-first layer that is pointwise in every dim (kernel 1, stride 1, no padding or
// output_padding) over more than one dim: each image's planes [C][D][H][W] are [C][D*H*W], so
// it is planned as the same layer in 1D over D*H*W pixels (its weights and tensors as they
// are). The phase planner would tile each short row on its own (a 14x14 map: 14 outputs per
// tile, the weights reloaded per row).
bool is_flat_pointwise(const Problem& p);
Problem as_flat_pointwise(const Problem& p);

// The pointwise form's weights [IC][OC*K] and bias [OC*K] in its channel order; left empty
// where the user's tensor already is in that order.
void pointwise_tensors(const Problem& p, const float* w, const float* b, std::vector<float>& qw,
                       std::vector<float>& qb);

}  // namespace tconv::gen
