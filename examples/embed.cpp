// SPDX-License-Identifier: Apache-2.0
// The smallest tconv application: compile one layer from an inline config at startup, then run
// it like any function.
#include <cmath>
#include <cstdio>
#include <vector>

#include "tconv/tconv.hpp"

// 2x upsampling of a 32-channel 16x16 feature map to 16 channels, as in a U-Net decoder.
constexpr const char* kLayer = R"({
  "name": "up1", "in_channels": 32, "out_channels": 16, "input_size": [16, 16],
  "kernel_size": 4, "stride": 2, "padding": 1, "activation": "relu"
})";

int main() {
    try {
        // Parse once to size the tensors; real weights would come from a checkpoint.
        const tconv::Problem p = tconv::parse_config(kLayer, "<embedded>").layers.at(0);
        std::vector<float> w(size_t(p.weight_elems())), b(size_t(p.bias_elems()));
        for (size_t i = 0; i < w.size(); ++i) w[i] = std::sin(0.1f * float(i)) * 0.05f;
        for (size_t i = 0; i < b.size(); ++i) b[i] = 0.01f * float(i);

        const tconv::Layer layer = tconv::Layer::compile_json(kLayer, w.data(), b.data());

        std::vector<float> x(size_t(layer.input_elems())), y(size_t(layer.output_elems()));
        for (size_t i = 0; i < x.size(); ++i) x[i] = std::cos(0.03f * float(i));
        layer.execute(x.data(), y.data());

        double sum = 0, abs_sum = 0;
        for (float v : y) sum += v, abs_sum += std::fabs(v);
        const tconv::CompileReport& r = layer.report();
        std::printf("layer %s: input %s -> output %s\n", layer.problem().name.c_str(),
                    tconv::shape_string(tconv::input_shape(layer.problem())).c_str(),
                    tconv::shape_string(tconv::output_shape(layer.problem())).c_str());
        std::printf("implementation: %s\n", r.implementation.c_str());
        for (const std::string& k : r.kernel_names) std::printf("kernel: %s\n", k.c_str());
        std::printf("checksum: sum %.6f, sum |y| %.6f, y[%zu] %.6f\n", sum, abs_sum,
                    y.size() / 2, double(y[y.size() / 2]));
        return 0;
    } catch (const tconv::Error& e) {
        std::fprintf(stderr, "embed: %s\n", e.what());
        return 1;
    }
}
