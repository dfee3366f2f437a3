// SPDX-License-Identifier: Apache-2.0
// An app's startup from a trained model: every ConvTranspose layer of an ONNX file compiled in
// one call, then each run once on an input of ones.
//   onnx_model MODEL.onnx
#include <cstdio>
#include <vector>

#include "tconv/onnx.hpp"

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: onnx_model MODEL.onnx\n");
        return 2;
    }
    try {
        const tconv::OnnxModel model = tconv::load_onnx(argv[1]);
        const std::vector<tconv::Layer> layers = tconv::compile_onnx(model);
        for (size_t i = 0; i < layers.size(); ++i) {
            const tconv::Problem& p = model.layers[i].problem;
            std::vector<float> x(size_t(p.input_elems()), 1.0f), y(size_t(p.output_elems()));
            layers[i].execute(x, y);
            double sum = 0;
            for (float v : y) sum += v;
            std::printf("%s: %lld -> %lld channels, %s, checksum %.6g\n", p.name.c_str(),
                        static_cast<long long>(p.in_channels),
                        static_cast<long long>(p.out_channels),
                        layers[i].report().implementation.c_str(), sum);
        }
    } catch (const tconv::Error& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 2;
    }
    return 0;
}
