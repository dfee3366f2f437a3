// SPDX-License-Identifier: Apache-2.0
// A DCGAN-style generator: z (100) -> 512x4x4 -> 256x8x8 -> 128x16x16 -> 64x32x32 -> 3x64x64,
// compiled as one tconv::Model from configs/dcgan.json, run with seeded random weights; the tanh
// output is written as a 64x64 PPM image.
//   generator [output.ppm] [dcgan.json]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "tconv/tconv.hpp"

#ifndef DCGAN_CONFIG
#define DCGAN_CONFIG "configs/dcgan.json"
#endif

namespace {

// DCGAN draws weights from N(0, 0.02) and relies on batch norm between layers to keep
// activations in range. This chain has none, so each layer's weights are scaled for its fan-in
// instead (He initialisation: an input sees in_channels * kernel taps / stride^2 weights per
// output), which keeps the image from fading to flat grey.
std::vector<float> random_weights(const tconv::Problem& p, std::mt19937& rng) {
    double taps = 1;
    for (int i = 0; i < p.rank; ++i) taps *= double(p.kernel[i]) / double(p.stride[i]);
    const double stddev = std::sqrt(2.0 / (double(p.in_channels) * taps));
    std::normal_distribution<float> dist(0.0f, float(stddev));
    std::vector<float> w(size_t(p.weight_elems()));
    for (float& v : w) v = dist(rng);
    return w;
}

// P6: binary RGB. `chw` holds 3 planes of height*width values in [-1, 1].
bool write_ppm(const std::string& path, const std::vector<float>& chw, int64_t height,
               int64_t width) {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) return false;
    std::fprintf(f, "P6\n%lld %lld\n255\n", (long long)width, (long long)height);
    const int64_t plane = height * width;
    std::vector<unsigned char> rgb(size_t(plane * 3));
    for (int64_t i = 0; i < plane; ++i)
        for (int64_t c = 0; c < 3; ++c) {
            const float v = std::clamp((chw[size_t(c * plane + i)] + 1.0f) * 127.5f, 0.0f, 255.0f);
            rgb[size_t(i * 3 + c)] = (unsigned char)std::lround(v);
        }
    const bool ok = std::fwrite(rgb.data(), 1, rgb.size(), f) == rgb.size();
    return std::fclose(f) == 0 && ok;
}

}  // namespace

int main(int argc, char** argv) {
    const std::string out = argc > 1 ? argv[1] : "generator.ppm";
    const std::string config_path = argc > 2 ? argv[2] : DCGAN_CONFIG;
    try {
        const tconv::Config config = tconv::load_config(config_path);
        std::mt19937 rng(2014);  // every run draws the same network and the same z
        std::vector<std::vector<float>> weights, biases;
        std::vector<tconv::Span<const float>> w_spans, b_spans;
        for (const tconv::Problem& p : config.layers) {
            weights.push_back(random_weights(p, rng));
            biases.push_back(std::vector<float>(size_t(p.bias_elems()), 0.0f));
        }
        for (size_t i = 0; i < weights.size(); ++i) {
            w_spans.emplace_back(weights[i]);
            b_spans.emplace_back(biases[i]);
        }
        const tconv::Model model = tconv::Model::compile(config, w_spans, b_spans);

        const std::vector<int64_t> shape = model.output_shape();
        if (shape.size() != 4 || shape[0] != 1 || shape[1] != 3) {
            std::fprintf(stderr, "generator: %s must produce one RGB image, not %s\n",
                         config_path.c_str(), tconv::shape_string(shape).c_str());
            return 1;
        }
        std::normal_distribution<float> normal(0.0f, 1.0f);
        std::vector<float> z(size_t(model.input_elems())), image(size_t(model.output_elems()));
        for (float& v : z) v = normal(rng);
        model.execute(z.data(), image.data());

        for (const tconv::Layer& l : model.layers())
            std::printf("%-10s %-18s -> %-18s %s\n", l.problem().name.c_str(),
                        tconv::shape_string(tconv::input_shape(l.problem())).c_str(),
                        tconv::shape_string(tconv::output_shape(l.problem())).c_str(),
                        l.implementation().c_str());
        double sum = 0;
        for (float v : image) sum += v;
        const auto [lo, hi] = std::minmax_element(image.begin(), image.end());
        std::printf("image %s: mean %.4f, min %.4f, max %.4f\n", tconv::shape_string(shape).c_str(),
                    sum / double(image.size()), double(*lo), double(*hi));
        if (!write_ppm(out, image, shape[2], shape[3])) {
            std::fprintf(stderr, "generator: cannot write %s\n", out.c_str());
            return 1;
        }
        std::printf("wrote %s\n", out.c_str());
        return 0;
    } catch (const tconv::Error& e) {
        std::fprintf(stderr, "generator: %s\n", e.what());
        return 1;
    }
}
