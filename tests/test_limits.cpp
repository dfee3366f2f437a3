// SPDX-License-Identifier: Apache-2.0
// Memory limits: sizes over the configured limit are refused before anything is allocated, and
// an allocation that fails is a clear error (TCONV_OUT_OF_MEMORY in the C API, exit code 2 with
// a message in the CLI) after which the process carries on normally.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "helpers.hpp"
#include "npy_format.hpp"
#include "tconv/tconv.h"


namespace tconv::test {
namespace {

// Address-space limits cannot be tested under a sanitizer (its shadow memory and allocator own
// the address space) or Valgrind (which replaces the allocator).
bool address_space_limits_work() {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    return false;
#else
    return !running_under_valgrind();
#endif
}

// This process's virtual size, from /proc/self/status.
uint64_t vm_size_bytes() {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("VmSize:", 0) == 0) return std::stoull(line.substr(7)) * 1024;
    return 0;
}

// Caps the address space at the current size plus `headroom` until destroyed.
class AddressSpaceCap {
  public:
    explicit AddressSpaceCap(uint64_t headroom) {
        ::getrlimit(RLIMIT_AS, &saved_);
        rlimit r = saved_;
        r.rlim_cur = vm_size_bytes() + headroom;
        ok_ = ::setrlimit(RLIMIT_AS, &r) == 0;
    }
    ~AddressSpaceCap() { ::setrlimit(RLIMIT_AS, &saved_); }
    AddressSpaceCap(const AddressSpaceCap&) = delete;
    AddressSpaceCap& operator=(const AddressSpaceCap&) = delete;
    bool ok() const { return ok_; }

  private:
    rlimit saved_{};
    bool ok_ = false;
};

// Zero-filled memory the kernel only backs when written: big "weights" that cost nothing.
struct LazyZeros {
    explicit LazyZeros(size_t bytes) : size(bytes) {
        void* p = ::mmap(nullptr, bytes, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                         -1, 0);
        data = p == MAP_FAILED ? nullptr : static_cast<const float*>(p);
    }
    ~LazyZeros() {
        if (data) ::munmap(const_cast<float*>(data), size);
    }
    size_t size;
    const float* data;
};

// A sparse .npy file: a valid header claiming `shape`, data all holes (no disk space used).
std::string sparse_npy(const TempDir& dir, const std::string& name,
                       const std::vector<int64_t>& shape) {
    const std::string path = dir.file(name);
    const std::string header = npy::header_block(shape);
    uint64_t bytes = sizeof(float);
    for (int64_t d : shape) bytes *= uint64_t(d);
    std::ofstream(path, std::ios::binary) << header;
    REQUIRE(::truncate(path.c_str(), off_t(header.size() + bytes)) == 0);
    return path;
}

// 1024 -> 1024 channels, kernel 16x16: 1 GiB of weights, tiny activations.
const char* const kGiBWeights = R"({"in_channels": 1024, "out_channels": 1024,
    "input_size": [1, 1], "kernel_size": 16, "bias": false})";

}  // namespace

TEST_CASE("limits: a layer over the tensor limit is refused by the C API before reading weights") {
    // 2^16 x 2^16 x 3 x 3 weights: 144 GiB. One float stands in for them: nothing may read it.
    const float w = 0;
    tconv_layer* layer = reinterpret_cast<tconv_layer*>(&layer);
    const tconv_status s = tconv_layer_create(
        R"({"in_channels": 65536, "out_channels": 65536, "input_size": [4, 4], "kernel_size": 3,
            "bias": false})",
        &w, nullptr, &layer);
    CHECK(s == TCONV_OUT_OF_MEMORY);
    CHECK(layer == nullptr);
    const std::string msg = tconv_last_error();
    CHECK_MESSAGE(msg.find("weights tensor [65536, 65536, 3, 3] needs 144 GiB") != std::string::npos,
                  msg);
    CHECK_MESSAGE(msg.find("over the limit of 16 GiB") != std::string::npos, msg);
}

TEST_CASE("limits: a smaller ConfigLimits refuses what the default accepts") {
    const std::string json = kGiBWeights;
    CHECK_NOTHROW(parse_config(json, "<limits>"));
    ConfigLimits small;
    small.max_tensor_bytes = uint64_t(1) << 29;  // 512 MiB: the 1 GiB of weights is over it
    try {
        parse_config(json, "<limits>", small);
        FAIL("accepted a layer over the limit");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::out_of_memory);
        CHECK(std::string(e.what()).find("weights tensor [1024, 1024, 16, 16] needs 1 GiB") !=
              std::string::npos);
    }
}

TEST_CASE("limits: a .npy file over the limit is refused before allocation") {
    TempDir dir;
    // 5 * 2^30 floats: 20 GiB claimed and present (as holes), over the 16 GiB default.
    const std::string big = sparse_npy(dir, "big.npy", {5, 1024, 1024, 1024});
    try {
        read_npy(big);
        FAIL("accepted a tensor over the limit");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::out_of_memory);
        CHECK(std::string(e.what()).find("more than the limit of 17179869184 bytes") !=
              std::string::npos);
    }
    // The same through the CLI: exit 2, one message, no output.
    const std::string cfg = dir.write("l.json", kGiBWeights);
    const float x[1024] = {};
    write_npy(dir.file("x.npy"), {1, 1024, 1, 1}, x);
    const auto r = run_cli({"run", cfg, "--input", dir.file("x.npy"), "--weights", big,
                            "--output", dir.file("y.npy")});
    CHECK(r.exit_code == 2);
    CHECK_MESSAGE(r.err.find("big.npy: the tensor [5, 1024, 1024, 1024] is 21474836480 bytes, "
                             "more than the limit") != std::string::npos,
                  r.err);
    CHECK(!std::filesystem::exists(dir.file("y.npy")));
}

TEST_CASE("limits: a failed allocation in compile is TCONV_OUT_OF_MEMORY, then work goes on" *
          doctest::skip(!address_space_limits_work())) {
    LazyZeros w(size_t(1) << 30);
    REQUIRE(w.data);
    {
        // 256 MiB of room: the packed (or copied) 1 GiB of weights cannot fit.
        AddressSpaceCap cap(uint64_t(256) << 20);
        REQUIRE(cap.ok());
        tconv_layer* layer = nullptr;
        const tconv_status s = tconv_layer_create(kGiBWeights, w.data, nullptr, &layer);
        CHECK(s == TCONV_OUT_OF_MEMORY);
        CHECK(layer == nullptr);
        CHECK(std::string(tconv_last_error()).find("out of memory") != std::string::npos);
    }
    // The process is intact: a small layer compiles and runs.
    const Problem p = problem_from_json(R"({"in_channels": 2, "out_channels": 4,
        "input_size": [3, 3], "kernel_size": 3, "stride": 2})");
    const LayerData d = random_layer_data(p, 9);
    const Layer l = Layer::compile(p, d.w.data(), d.b.data());
    std::vector<float> y(size_t(p.output_elems()));
    l.execute(d.x.data(), y.data());
    CHECK(compare_to_reference(p, d, y.data()) == "");
}

#ifdef TCONV_CLI
TEST_CASE("limits: the CLI out of memory is one clear message and exit code 2" *
          doctest::skip(!address_space_limits_work())) {
    TempDir dir;
    const std::string cfg = dir.write("l.json", kGiBWeights);
    const float x[1024] = {};
    write_npy(dir.file("x.npy"), {1, 1024, 1, 1}, x);
    const std::string w = sparse_npy(dir, "w.npy", {1024, 1024, 16, 16});
    // 768 MiB of address space: the CLI starts, but the 1 GiB of weights cannot be read.
    const std::string cmd = "ulimit -v 786432 && exec '" + std::string(TCONV_CLI) + "' run '" +
                            cfg + "' --input '" + dir.file("x.npy") + "' --weights '" + w +
                            "' --output '" + dir.file("y.npy") + "' </dev/null >/dev/null 2>'" +
                            dir.file("err") + "'";
    const int status = std::system(cmd.c_str());
    REQUIRE(WIFEXITED(status));
    std::ifstream in(dir.file("err"));
    std::stringstream err;
    err << in.rdbuf();
    CHECK_MESSAGE(WEXITSTATUS(status) == 2, err.str());
    CHECK_MESSAGE(err.str().rfind("tconv: error: " + w + ": out of memory: cannot allocate "
                                  "1073741824 bytes for the tensor [1024, 1024, 16, 16]",
                                  0) == 0,
                  err.str());
    CHECK(!std::filesystem::exists(dir.file("y.npy")));
}
#endif

}  // namespace tconv::test

namespace tconv::test {

TEST_CASE("limits: absurd thread counts are refused by the C API, not attempted") {
    // The pool would try to start every one of them and take the process down.
    const Problem p = problem_from_json(R"({"in_channels": 2, "out_channels": 4,
        "input_size": [3, 3], "kernel_size": 3, "stride": 2, "bias": false})");
    const LayerData d = random_layer_data(p, 4);
    const std::string json = R"({"in_channels": 2, "out_channels": 4, "input_size": [3, 3],
                                 "kernel_size": 3, "stride": 2, "bias": false})";
    tconv_layer* layer = nullptr;
    REQUIRE(tconv_layer_create(json.c_str(), d.w.data(), nullptr, &layer) == TCONV_OK);
    std::vector<float> y(size_t(p.output_elems()), 7.0f);
    const std::vector<float> untouched = y;
    for (int threads : {1025, 1000000, INT32_MAX, -1}) {
        INFO("threads " << threads);
        CHECK(tconv_layer_execute_threads(layer, d.x.data(), y.data(), threads) ==
              TCONV_INVALID_ARGUMENT);
        CHECK(std::string(tconv_last_error()).find("threads must be from 1 to 1024") !=
              std::string::npos);
        CHECK(y == untouched);
    }
    CHECK(tconv_layer_execute_threads(layer, d.x.data(), y.data(), 2) == TCONV_OK);
    CHECK(compare_to_reference(p, d, y.data()) == "");
    tconv_layer_destroy(layer);

    tconv_options opt{};
    opt.threads = 1 << 20;
    tconv_layer* other = nullptr;
    CHECK(tconv_layer_create_ex(json.c_str(), &opt, d.w.data(), nullptr, &other) ==
          TCONV_INVALID_ARGUMENT);
    CHECK(other == nullptr);
    CHECK(std::string(tconv_last_error()).find("options->threads (0: the default) must be from 0 "
                                               "to 1024, got 1048576") != std::string::npos);
}

}  // namespace tconv::test

TEST_CASE("limits: padded packed weights over the limit are refused before they are allocated") {
    if (tconv::cpu_info().best_isa() == tconv::Isa::scalar) return;
    // 17 output channels pad to 32 lanes: packing doubles the weights, past a 200-byte limit that
    // every user tensor (weights 136 B, output 68 B) stays under.
    const tconv::Problem p = tconv::test::problem_from_json(R"({"in_channels": 2,
        "out_channels": 17, "input_size": [1], "kernel_size": 1, "bias": false})");
    const std::vector<float> w(size_t(p.weight_elems()), 1.0f), x{1.0f, 2.0f};
    tconv::Options options;
    options.limits.max_tensor_bytes = 200;
    const tconv::Layer layer = tconv::Layer::compile(p, w.data(), nullptr, options);
    CHECK(layer.report().implementation == "reference");
    bool said = false;
    for (const std::string& d : layer.report().declined)
        said = said || d.find("packed weights would need") != std::string::npos;
    CHECK(said);
    std::vector<float> y(17);
    layer.execute(x.data(), y.data());
    CHECK(y[16] == 3.0f);
    // The same limit refuses a user tensor over it, with the tensor named.
    options.limits.max_tensor_bytes = 100;
    CHECK_THROWS_WITH_AS(tconv::Layer::compile(p, w.data(), nullptr, options),
                         doctest::Contains("weights"), tconv::Error);
}
