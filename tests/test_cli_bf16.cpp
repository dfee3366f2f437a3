// SPDX-License-Identifier: Apache-2.0
// The CLI on bf16 layers: `run` reads and writes fp32 .npy, `--dtype` overrides the configs'.
#include <doctest/doctest.h>

#include "helpers.hpp"

namespace tconv::test {

TEST_CASE("cli: run on a bf16 layer reads and writes fp32 .npy, rounded through bf16") {
    TempDir dir;
    const std::string config = dir.write("layer.json", R"({"in_channels": 1, "out_channels": 1,
        "input_size": [2, 2], "kernel_size": 3, "stride": 2, "padding": 1, "bias": false,
        "dtype": "bf16"})");
    const std::string x = dir.file("x.npy"), w = dir.file("w.npy"), y = dir.file("y.npy");
    // 1 + 2^-8 is a tie between two bf16 values: the input rounds to 1 (even); the weight
    // 3 + 2^-7 rounds to 3 (a tie as well, one step being 2^-6 from 2 to 4).
    const float xs[] = {1.00390625f, 2, 3, 4}, ws[] = {1, 2, 3.0078125f, 4, 5, 6, 7, 8, 9};
    write_npy(x, {1, 1, 2, 2}, xs);
    write_npy(w, {1, 1, 3, 3}, ws);
    for (std::string isa : {"avx512_amx", "avx512_bf16", "avx512", "avx2", "scalar"}) {
        if (*isa_from_string(isa) > cpu_info().best_isa()) continue;
        INFO("isa " << isa);
        auto r = run_cli({"run", config, "--input", x, "--weights", w, "--output", y, "--isa", isa});
        REQUIRE_MESSAGE(r.exit_code == 0, r.err);
        const Tensor t = read_npy(y);
        CHECK(t.data == std::vector<float>{5, 14, 10, 14, 36, 24, 15, 34, 20});
    }
}

TEST_CASE("cli: --dtype on compile and verify") {
    TempDir dir;
    const std::string cfg = dir.write("g.json", R"({"name": "g", "in_channels": 24,
        "out_channels": 32, "input_size": [5, 7], "kernel_size": 4, "stride": 2, "padding": 1})");
    auto r = run_cli({"compile", cfg, "--dtype", "bf16"});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    CHECK(r.out.find("g: [1, 24, 5, 7] -> [1, 32, 10, 14], weights [24, 32, 4, 4], bf16") !=
          std::string::npos);
    CHECK(r.out.find("bf16 storage") != std::string::npos);
    r = run_cli({"compile", cfg});
    CHECK(r.out.find("bf16") == std::string::npos);
    r = run_cli({"verify", cfg, "--dtype", "bf16", "--threads", "2"});
    CHECK_MESSAGE(r.exit_code == 0, r.err);
    CHECK(r.out.find(" 0 mismatched") != std::string::npos);
    r = run_cli({"verify", cfg, "--dtype", "f16"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("--dtype f16: must be one of f32, bf16") != std::string::npos);
}

TEST_CASE("cli: --dtype bf16 on a folder of mixed kinds leaves resize_conv and pixel_shuffle f32") {
    TempDir dir;
    const std::string cfg = dir.write("m.json", R"({"layers": [
        {"name": "t", "in_channels": 16, "out_channels": 16, "input_size": [4, 4],
         "kernel_size": 4, "stride": 2, "padding": 1},
        {"name": "r", "kind": "resize_conv", "scale": 2, "mode": "nearest", "in_channels": 16,
         "out_channels": 8, "input_size": [4, 4], "kernel_size": 3, "padding": 1},
        {"name": "s", "kind": "pixel_shuffle", "upscale_factor": 2, "in_channels": 16,
         "out_channels": 8, "input_size": [4, 4], "kernel_size": 3, "padding": 1}]})");
    auto r = run_cli({"compile", cfg, "--dtype", "bf16"});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    CHECK(r.out.find("t: [1, 16, 4, 4] -> [1, 16, 8, 8], weights [16, 16, 4, 4], bf16") !=
          std::string::npos);
    CHECK(r.out.find("r: [1, 16, 4, 4] -> [1, 8, 8, 8], weights [8, 16, 3, 3]\n") !=
          std::string::npos);
    r = run_cli({"verify", cfg, "--dtype", "bf16"});
    CHECK_MESSAGE(r.exit_code == 0, r.err);
    r = run_cli({"bench", cfg, "--dtype", "bf16", "--no-peers", "--min-time", "0.001"});
    CHECK_MESSAGE(r.exit_code == 0, r.err);
}

}  // namespace tconv::test
