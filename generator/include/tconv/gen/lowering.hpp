// SPDX-License-Identifier: Apache-2.0
// Lowerings: layers planned as another problem. A single-pixel layer is a matrix product; plan()
// plans its pointwise form and records it in Plan::lowered, the caller rearranges the tensors.
#pragma once

#include <vector>

#include "tconv/problem.hpp"

namespace tconv::gen {

// A layer whose input is a single pixel, without padding or dilation (DCGAN's first layer),
// is a matrix product: y[n][oc][k] = sum_ic x[n][ic] * w[ic][oc][k]. The phase planner would
// run every tap over a zero halo; instead it is planned as a pointwise (1-tap) layer over one
// row of `batch` pixels with OC*K channels, channels-last, whose buffers are the user's own:
// channels-first output channels are (oc, k), channels-last ones (k, oc). Channels-last, the
// same holds for a layer whose leading dims have a 1-wide kernel (stride 1, no padding) and
// whose trailing dims are single input pixels (a 1x12 kernel on a 7x1 map): a product over
// batch x leading-dim pixels.
bool is_single_pixel_product(const Problem& p);
Problem as_pointwise(const Problem& p);

// The pointwise form's weights [IC][OC*K] and bias [OC*K] in its channel order; left empty
// where the user's tensor already is in that order.
void pointwise_tensors(const Problem& p, const float* w, const float* b, std::vector<float>& qw,
                       std::vector<float>& qb);

}  // namespace tconv::gen
