// SPDX-License-Identifier: Apache-2.0
// The two up-sampling alternatives to a transposed convolution, lowered onto one: so the same
// JIT runs them, with no up-sampled tensor and no new kernels.
//
// - resize_conv, nearest: u[j] = x[floor(j/s)] followed by a stride-1 convolution (kernel K,
//   dilation D, pads pb/pe) is a transposed convolution with stride s, kernel s + (K-1)*D and
//   dilation 1 whose taps are the box filter of width s convolved with the (flipped) kernel:
//   W'[t] = sum_k w[k] * [0 <= t - (K-1-k)*D < s]; pad_begin' = (K-1)*D - pb and likewise at
//   the end.
// - resize_conv, (bi|tri)linear with PyTorch's align_corners=False: inside the input it is a
//   transposed convolution with a triangle filter; at the borders PyTorch clamps the source
//   coordinate to the input. Both are the same filter on the input padded by one replicated
//   value per side (the clamped weight lands on the copy), so the lowering runs on that copy:
//   exact, at the cost of one copy of the input. That holds while the convolution has no
//   padding: its zero padding of the up-sampled tensor is not a filter of the input (the
//   replicated copy leaks into it). So a padded linear resize_conv runs the same lowering with
//   the conv's pads, right wherever no tap reaches the padding, then recomputes the border
//   slabs where one does (the first pad_begin and last pad_end outputs of each dim): each from
//   the up-sampled box of input its outputs read (as many values as the kernel's reach along
//   that dim, the whole extent along the others) under a stride-1 convolution with that
//   slab's pads, pasted over the output. The slabs are thin: no tensor the size of the
//   up-sampled input is made. Only where an up-sampled extent is shorter than the kernel's
//   reach (every output a border one, no slab fitting) is the input up-sampled whole into a
//   buffer instead, and the convolution run on it as a stride-1 transposed convolution with
//   flipped taps (the nearest lowering with scale 1).
// - Both resizes also factor (lower(..., factored)): the merged kernel's taps are the filter h
//   convolved with the flipped conv kernel, so the layer is a transposed convolution with the
//   conv's own K taps at stride s (writing v), then h run over v along each dim on the output
//   side, then the bias and the activation (filter_output). Per output value that is
//   icg * prod(K/s) multiply-adds plus the filter's terms, against icg * prod((L + (K-1)*D)/s)
//   merged (L: the filter's length, 4 for linear x2): 4x fewer for bilinear x2 with a 3x3 conv,
//   1.8x for nearest. The pass costs memory traffic, so small channel counts stay merged.
//   The padded linear case recomputes the same border slabs after it.
// - pixel_shuffle r: a stride-1 convolution to C*r^2 channels then depth-to-space is a
//   transposed convolution with stride r and kernel r*K whose tap (K-1-k)*r + a of final
//   channel c is the conv's tap k of channel c*r^2 + a_h*r + a_w: the shuffle is the transposed
//   convolution's own output order, so it costs no stores of its own. The conv's bias differs
//   per phase (a_h, a_w), which a transposed convolution's per-channel bias cannot say: with a
//   bias, it and the activation are one pass over the output after the kernel.
#pragma once

#include <vector>

#include "tconv/problem.hpp"
#include "tconv/tconv.hpp"
#include "upsample_filter.hpp"

namespace tconv {

enum class UpsampleKind { nearest, linear, pixel_shuffle };

struct UpsampleProblem {
    UpsampleKind kind = UpsampleKind::nearest;
    // The stride-1 convolution: batch, channels (out_channels: the final channels, for
    // pixel_shuffle too), input, kernel, dilation, pads, groups, bias, activation, layout.
    // stride, output_padding and output are ignored.
    Problem conv;
    Dims scale{1, 1, 1};     // resize_conv: up-sampling factor per dim
    int64_t upscale_factor = 1;  // pixel_shuffle: r

    // The final output size: resize_conv I*s + pb + pe - D*(K-1); pixel_shuffle r times the
    // convolution's output.
    Dims output() const;
    // The weights in PyTorch's Conv layout [conv out channels, in/groups, *kernel].
    int64_t weight_elems() const;
    int64_t bias_elems() const;  // conv out channels when conv.bias
    double flops() const;        // the convolution as written: on the up-sampled grid / at C*r^2
};

// A resize_conv or pixel_shuffle Problem in these terms.
UpsampleProblem upsample_problem(const Problem& p);

struct BorderSlab;

struct Lowered {
    Problem transposed;          // what the JIT runs: input as given, or the padded copy
    std::vector<float> weights;  // PyTorch ConvTranspose layout [IC, OC/G, *K']
    std::vector<float> bias;     // [OC] fused into the kernel, or empty
    bool replicate_pad = false;  // linear: the input with one replicated value per side per dim
    bool upsampled_input = false;  // padded linear: the kernel reads upsample_input()'s buffer
    // Factored: `transposed` has the conv's own taps (no bias, no activation) and writes v,
    // of extents filter.v_extent; filter_output() makes the output from it.
    bool factored = false;
    OutputFilter filter;
    // pixel_shuffle with bias: [r, r, C] (phase h % r, w % r), added after the kernel, then
    // the activation.
    std::vector<float> phase_bias;
    // Padded linear: the slabs recomputed after the kernel, in order.
    std::vector<BorderSlab> borders;
};

// One border slab of a padded linear resize_conv: `conv` (a scale-1 nearest lowering) runs on
// the up-sampled input's box [box_lo, box_hi) (slab_input) and its output goes to the layer's
// output from out_lo on (paste_output). A slab along W runs with H and W exchanged (swap_hw),
// so that its outputs make rows of the kernels' tiles rather than one-pixel columns.
struct BorderSlab {
    Lowered conv;
    Dims box_lo{0, 0, 0}, box_hi{1, 1, 1}, out_lo{0, 0, 0};
    bool swap_hw = false;
};

// Empty when `p` can be lowered, else the rule it breaks (e.g. a pad beyond the kernel's reach,
// which would need a negative transposed pad).
std::string lowering_rule(const UpsampleProblem& p);
// merged: one transposed convolution with merged taps; factored: the conv's own taps, then the
// up-sampling filter on the output side (filter_output); automatic: whichever does less work
// (nearest and linear; a pixel shuffle is always one kernel).
enum class LoweringChoice { automatic, merged, factored };
Lowered lower(const UpsampleProblem& p, const float* weights, const float* bias,
              LoweringChoice how = LoweringChoice::automatic);

// The input of a replicate_pad lowering: `x` in `p.conv`'s layout padded by one replicated value
// on each side of every spatial dim (the layout of `lowered.transposed`'s input).
// Rows split over `threads` of the library's pool.
void replicate_pad_input(const Problem& conv, const float* x, float* padded, int threads = 1,
                         WaitPolicy wait = WaitPolicy::bounded);
// The input of an upsampled_input lowering: `x` up-sampled as PyTorch does (align_corners=False),
// in the layer's layout. Each thread blends rows in its row scratch (upsample_row_floats).
// Rows split over `threads` of the library's pool.
void upsample_input(const UpsampleProblem& p, const float* x, float* u, int threads = 1,
                    WaitPolicy wait = WaitPolicy::bounded);
// The same for the box [lo, hi) of the up-sampled input only (a border slab's), laid out as a
// tensor of the box's size.
void upsample_input(const UpsampleProblem& p, const Dims& lo, const Dims& hi, const float* x,
                    float* u, int threads = 1, WaitPolicy wait = WaitPolicy::bounded);
// A border slab's input, made in `buf` (slab_floats(), its output's place included) from the
// layer's input x: returns where it is.
int64_t slab_floats(const BorderSlab& slab);
const float* slab_input(const UpsampleProblem& p, const BorderSlab& slab, const float* x,
                        float* buf, int threads = 1, WaitPolicy wait = WaitPolicy::bounded);
// Where in `buf` the slab's output goes.
float* slab_output(const BorderSlab& slab, float* buf);
// A border slab's output `src` (its own problem's output) written over the layer's output y.
void paste_output(const UpsampleProblem& p, const BorderSlab& slab, const float* src, float* y);
// Floats of row scratch upsample_input asks of each thread.
int64_t upsample_row_floats(const UpsampleProblem& p);
// The pass after the kernel of a pixel_shuffle with bias: y += phase_bias, then the activation.
// Rows split over `threads` of the library's pool.
void add_phase_bias(const UpsampleProblem& p, const Lowered& l, float* y, int threads = 1,
                    WaitPolicy wait = WaitPolicy::bounded);

// The oracle, computed as written, in double: up-sample (nearest / PyTorch's linear) then
// convolve; convolve then depth-to-space. x, y in the layer's layout.
void reference_upsample(const UpsampleProblem& p, const float* x, const float* w, const float* b,
                        float* y);

}  // namespace tconv
