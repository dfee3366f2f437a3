// SPDX-License-Identifier: Apache-2.0
// Differential fuzzing of the kernels: bytes -> a valid random layer and random data; every
// implementation this CPU can run (the JIT at each ISA up to the cap, or the reference when every
// JIT declines) must match the scalar reference within the relative-error bound `tconv verify`
// uses (bf16 layers, a quarter of the transposed ones: the bf16 bound against the reference on
// the rounded input and weights). A mismatch prints the layer as a config line and aborts, so
// libFuzzer keeps the input.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tconv/tconv.hpp"

namespace {

using tconv::Isa;
using tconv::Problem;

// The bound of `tconv verify` and the tests:
// |got - want| <= kTolerance * (sum of |x*w| over the element's terms + |bias| + |want|).
constexpr double kTolerance = 1e-5;
// Per run: the reference is scalar and instrumented, so layers are shrunk to stay within a few
// milliseconds; 1.5 MFLOP still lets the JIT split a layer between two threads.
constexpr double kMaxFlops = 1.5e6;
constexpr int64_t kMaxOutputElems = int64_t(1) << 17;
// Floats past each end of an output tensor that must come back untouched.
constexpr size_t kGuard = 64;

struct Layer {
    int rank = 1;
    int64_t batch = 1, groups = 1, icg = 1, ocg = 1;
    int64_t in[3]{}, k[3]{}, s[3]{}, d[3]{}, pb[3]{}, pe[3]{}, op[3]{};
    bool bias = true, channels_last = false, bf16 = false;
    int activation = 0;  // index into kActivations
    float slope = 0.01f;
    // The layer kind: 0 transposed, 1 resize_conv (up-sampling by scale, nearest or linear,
    // then a stride-1 convolution), 2 pixel_shuffle (2D: a convolution to ocg * r^2 channels,
    // then depth-to-space by r).
    int kind = 0;
    int64_t scale[3]{1, 1, 1}, r = 1;
    bool linear = false;

    int64_t out(int i) const {
        if (kind == 1) return in[i] * scale[i] + pb[i] + pe[i] - d[i] * (k[i] - 1);
        if (kind == 2) return r * (in[i] + pb[i] + pe[i] - k[i] + 1);
        return tconv::output_extent(in[i], k[i], s[i], d[i], pb[i], pe[i], op[i]);
    }
    int64_t spatial(bool output) const {
        int64_t n = 1;
        for (int i = 0; i < rank; ++i) n *= output ? std::max<int64_t>(out(i), 0) : in[i];
        return n;
    }
    double flops() const {  // the other kinds: their convolution over its output grid
        double taps = 1;
        for (int i = 0; i < rank; ++i) taps *= double(k[i]);
        const double grid = kind == 0 ? double(spatial(false)) : double(spatial(true));
        return 2.0 * double(batch) * double(icg) * double(groups * ocg) * taps * grid;
    }
    int64_t output_elems() const { return batch * groups * ocg * spatial(true); }
};

const char* const kActivations[] = {"none", "relu", "leaky_relu", "sigmoid", "tanh"};

// Every feature of a layer from the bytes. Channels come in five shapes: groups = 1 (4 in 9
// inputs), depthwise with a channel multiplier, a few channels per group, 16 or more per group
// (several channel blocks per group), and many input channels into a few (the column family's).
Layer decode_layer(FuzzedDataProvider& in) {
    Layer l;
    l.rank = in.ConsumeIntegralInRange(1, 3);
    l.batch = in.ConsumeIntegralInRange(1, 3);
    switch (in.ConsumeIntegralInRange(0, 8)) {
        case 4:
        case 5:  // depthwise: in_channels == groups
            l.groups = in.ConsumeIntegralInRange(1, 32);
            l.icg = 1;
            l.ocg = in.ConsumeIntegralInRange(1, 3);
            break;
        case 6:
            l.groups = in.ConsumeIntegralInRange(2, 4);
            l.icg = in.ConsumeIntegralInRange(2, 15);
            l.ocg = in.ConsumeIntegralInRange(1, 15);
            break;
        case 7:
            l.groups = in.ConsumeIntegralInRange(2, 3);
            l.icg = in.ConsumeIntegralInRange(16, 40);
            l.ocg = in.ConsumeIntegralInRange(1, 40);
            break;
        case 8:
            l.groups = in.ConsumeIntegralInRange(1, 2);
            l.icg = in.ConsumeIntegralInRange(32, 96);
            l.ocg = in.ConsumeIntegralInRange(1, 4);
            break;
        default:
            l.icg = in.ConsumeIntegralInRange(1, 40);
            l.ocg = in.ConsumeIntegralInRange(1, 40);
    }
    // 1D rows are long enough for several register tiles and a tail.
    const int64_t max_in = l.rank == 3 ? 5 : l.rank == 2 ? 12 : 40;
    for (int i = 0; i < l.rank; ++i) {
        if (in.ConsumeIntegralInRange(0, 15) == 15) {  // HiFi-GAN's and FCN's k16 s8
            l.k[i] = 16;
            l.s[i] = 8;
            l.d[i] = 1;
        } else {
            l.k[i] = in.ConsumeIntegralInRange(1, 7);
            l.s[i] = in.ConsumeIntegralInRange(1, 8);
            l.d[i] = in.ConsumeIntegralInRange(1, 3);
        }
        l.in[i] = in.ConsumeIntegralInRange<int64_t>(1, max_in);
        l.pb[i] = in.ConsumeIntegralInRange<int64_t>(0, l.d[i] * (l.k[i] - 1));
        l.pe[i] = in.ConsumeIntegralInRange<int64_t>(0, l.d[i] * (l.k[i] - 1));
        l.op[i] = in.ConsumeIntegralInRange<int64_t>(0, std::max(l.s[i], l.d[i]) - 1);
    }
    // One layer in eight is an up-sampling alternative (the kinds lowered onto the JIT).
    if (in.ConsumeIntegralInRange(0, 7) == 7) {
        l.kind = l.rank == 2 && in.ConsumeBool() ? 2 : 1;
        l.linear = in.ConsumeBool();
        l.r = in.ConsumeIntegralInRange(1, 3);
        for (int i = 0; i < l.rank; ++i) {
            l.s[i] = 1;
            l.op[i] = 0;
            l.scale[i] = in.ConsumeIntegralInRange(1, 3);
            if (l.kind == 2) {  // dilation 1: pads within kernel - 1
                l.d[i] = 1;
                l.pb[i] = std::min(l.pb[i], l.k[i] - 1);
                l.pe[i] = std::min(l.pe[i], l.k[i] - 1);
            }
        }
    }
    l.bias = in.ConsumeBool();
    l.channels_last = in.ConsumeBool();
    l.activation = in.ConsumeIntegralInRange(0, 4);
    l.slope = float(in.ConsumeIntegralInRange(-64, 64)) / 16.0f;  // exact in float and JSON
    l.bf16 = l.kind == 0 && in.ConsumeIntegralInRange(0, 3) == 3;  // f32 only for the others
    return l;
}

// Halves the largest input dim, then the batch, then channels, until the run is cheap.
void shrink(Layer& l) {
    while (l.flops() > kMaxFlops || l.output_elems() > kMaxOutputElems) {
        int big = 0;
        for (int i = 1; i < l.rank; ++i)
            if (l.in[i] > l.in[big]) big = i;
        if (l.in[big] > 1) l.in[big] = (l.in[big] + 1) / 2;
        else if (l.batch > 1) l.batch = 1;
        else if (l.ocg > 1) l.ocg = (l.ocg + 1) / 2;
        else if (l.icg > 1) l.icg = (l.icg + 1) / 2;
        else if (l.groups > 1) l.groups = (l.groups + 1) / 2;
        else return;
    }
}

nlohmann::json to_json(const Layer& l, uint64_t seed) {
    auto dims = [&l](const int64_t* v) {
        return std::vector<int64_t>(v, v + l.rank);
    };
    std::vector<int64_t> pads = dims(l.pb);
    for (int i = 0; i < l.rank; ++i) pads.push_back(l.pe[i]);
    // The seed rides in the name: `tconv verify FILE --seed N` and the regression test use it.
    nlohmann::json j = {
        {"name", "differential seed=" + std::to_string(seed)},
        {"batch", l.batch},
        {"in_channels", l.groups * l.icg},
        {"out_channels", l.groups * l.ocg},
        {"groups", l.groups},
        {"input_size", dims(l.in)},
        {"kernel_size", dims(l.k)},
        {"stride", dims(l.s)},
        {"dilation", dims(l.d)},
        {"pads", pads},
        {"output_padding", dims(l.op)},
        {"bias", l.bias},
        {"activation", kActivations[l.activation]},
        {"layout", l.channels_last ? "channels_last" : "channels_first"},
    };
    if (std::string(kActivations[l.activation]) == "leaky_relu") j["negative_slope"] = l.slope;
    if (l.bf16) j["dtype"] = "bf16";
    if (l.kind != 0) {
        j.erase("stride");
        j.erase("output_padding");
    }
    if (l.kind == 1) {
        j["kind"] = "resize_conv";
        j["scale"] = dims(l.scale);
        const char* linear[] = {"", "linear", "bilinear", "trilinear"};
        j["mode"] = l.linear ? linear[l.rank] : "nearest";
    } else if (l.kind == 2) {
        j["kind"] = "pixel_shuffle";
        j["upscale_factor"] = l.r;
        j["out_channels"] = l.groups * l.ocg;
    }
    return j;
}

// "[n, c, h, w]" (or the layout's order) of a flat output index.
std::string coordinates(const Problem& p, int64_t index) {
    const std::vector<int64_t> shape = tconv::output_shape(p);
    std::vector<int64_t> at(shape.size());
    for (size_t i = shape.size(); i-- > 0;) {
        at[i] = index % shape[i];
        index /= shape[i];
    }
    return tconv::shape_string(at);
}

[[noreturn]] void fail(const std::string& config, uint64_t seed, const std::string& what) {
    std::fprintf(stderr,
                 "\nfuzz_differential: %s\nconfig: %s\n"
                 "reproduce: `tconv verify FILE.json --seed %llu`, FILE.json the config line\n",
                 what.c_str(), config.c_str(), static_cast<unsigned long long>(seed));
    std::abort();
}

std::string describe(const tconv::Layer& layer, Isa cap, int threads) {
    const tconv::CompileReport& r = layer.report();
    std::string s = r.implementation + " (max_isa " + std::string(tconv::to_string(cap)) +
                    ", " + std::to_string(threads) + " thread(s))";
    for (const std::string& k : r.kernel_names) s += "\n  kernel " + k;
    return s;
}

// An output buffer with guard zones; the tensor starts NaN, so an element no kernel writes fails.
struct Output {
    explicit Output(int64_t n) : buf(size_t(n) + 2 * kGuard, kGuardValue) {
        std::fill(data(), data() + n, std::nanf(""));
    }
    float* data() { return buf.data() + kGuard; }
    bool guards_intact() const {
        auto intact = [](const float* g) {
            for (size_t i = 0; i < kGuard; ++i)
                if (std::memcmp(&g[i], &kGuardValue, sizeof(float)) != 0) return false;
            return true;
        };
        return intact(buf.data()) && intact(buf.data() + buf.size() - kGuard);
    }
    static constexpr float kGuardValue = -12345.0f;
    std::vector<float> buf;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    FuzzedDataProvider in(data, size);
    Layer l = decode_layer(in);
    const int threads = in.ConsumeIntegralInRange(1, 2);
    const uint64_t seed = in.ConsumeIntegral<uint32_t>();
    shrink(l);
    for (int i = 0; i < l.rank; ++i)
        if (l.out(i) < 1) return 0;

    // The layer goes through the config parser, so it obeys every rule a config file does.
    const std::string config = to_json(l, seed).dump();
    Problem p;
    try {
        p = tconv::parse_config(config, "<fuzz>").layers.at(0);
    } catch (const std::exception& e) {
        fail(config, seed, std::string("the decoded layer is not a valid config: ") + e.what());
    }

    // The data `tconv verify --seed` draws, in the same order.
    std::mt19937_64 gen{seed};
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    auto random_values = [&](int64_t n) {
        std::vector<float> v(static_cast<size_t>(n));
        for (float& e : v) e = dist(gen);
        return v;
    };
    const std::vector<float> x = random_values(p.input_elems());
    const std::vector<float> w = random_values(p.weight_elems());
    const std::vector<float> b = random_values(p.bias_elems());
    const float* bias = p.bias ? b.data() : nullptr;
    const std::vector<float> x_copy = x;  // execute() must leave its input alone
    const int64_t n = p.output_elems();

    // bf16: the reference on the input and weights as the layer stores them, its output not
    // rounded (the bound allows the rounding), as `tconv verify` checks.
    const bool bf16 = p.dtype == tconv::DType::bf16;
    Problem exact = p;
    exact.dtype = tconv::DType::f32;
    std::vector<float> xr = x, wr = w;
    if (bf16) {
        tconv::round_to_bf16(x.data(), xr.data(), int64_t(x.size()));
        tconv::round_to_bf16(w.data(), wr.data(), int64_t(w.size()));
    }
    std::vector<float> want(static_cast<size_t>(n));
    tconv::reference_conv_transpose(exact, xr.data(), wr.data(), bias, want.data(), 1);
    for (int64_t i = 0; i < n; ++i)
        if (!std::isfinite(want[size_t(i)]))  // bounded data: the reference itself is wrong
            fail(config, seed, "the reference gives " + std::to_string(want[size_t(i)]) +
                             " at element " + std::to_string(i) + " " + coordinates(p, i));
    // The magnitudes (sum of |x*w| + |bias| per element) cost a second reference run. Within
    // kTolerance * |want| everywhere already meets the bound, so they are computed only if not.
    std::vector<float> mag;
    auto deviation = [&](const float* got) {
        tconv::Deviation d;
        if (bf16) {
            if (mag.empty()) mag = tconv::reference_magnitudes(exact, xr.data(), wr.data(), bias, 1);
            const int64_t at =
                tconv::first_outside_bf16_bound(got, want.data(), mag.data(), n, kTolerance);
            if (at < 0) return d;
            d.worst = at;
            d.got = got[at];
            d.want = want[size_t(at)];
            d.max_rel = std::numeric_limits<double>::infinity();  // outside: a mismatch
            return d;
        }
        bool close = true;
        for (int64_t i = 0; i < n && close; ++i)
            close = std::fabs(double(got[i]) - double(want[size_t(i)])) <=
                    kTolerance * std::fabs(double(want[size_t(i)]));
        if (close) return d;
        if (mag.empty()) mag = tconv::reference_magnitudes(p, x.data(), w.data(), bias, 1);
        return tconv::deviation(got, want.data(), mag.data(), n);
    };

    std::set<std::string> seen;
    for (Isa isa : {Isa::amx, Isa::avx512_bf16, Isa::avx512, Isa::avx2}) {
        if (isa > tconv::resolve_max_isa({})) continue;
        std::string stage = "compile";
        try {
            tconv::Options o;
            o.max_isa = isa;
            const tconv::Layer layer = tconv::Layer::compile(p, w.data(), bias, o);
            // As in `tconv verify`: the reference against itself only when every JIT declined.
            const std::string& impl = layer.implementation();
            if (impl == "reference" && !seen.empty()) continue;
            if (!seen.insert(impl).second) continue;

            stage = "execute";
            Output got(n);
            layer.execute(x.data(), got.data(), threads);
            const std::string who = describe(layer, isa, threads);
            if (!got.guards_intact())
                fail(config, seed, "writes outside the output tensor: " + who);
            if (x != x_copy) fail(config, seed, "writes into its input: " + who);
            const tconv::Deviation dev = deviation(got.data());
            if (!(dev.max_rel <= kTolerance)) {
                char line[256];
                std::snprintf(line, sizeof line,
                              "\n  worst element %lld %s of %lld: got %.9g, want %.9g, "
                              "relative error %.3g > %g (max abs %.3g)",
                              static_cast<long long>(dev.worst), coordinates(p, dev.worst).c_str(),
                              static_cast<long long>(n), dev.got, dev.want, dev.max_rel,
                              kTolerance, dev.max_abs);
                fail(config, seed, "MISMATCH: " + who + line);
            }

            // Again on the other thread count: the same bits (every output has one owner), and
            // on this thread the second call reuses the zero halo the first one left.
            Output again(n);
            layer.execute(x.data(), again.data(), 3 - threads);
            if (!again.guards_intact() ||
                std::memcmp(got.data(), again.data(), size_t(n) * sizeof(float)) != 0)
                fail(config, seed, "a second run with " + std::to_string(3 - threads) +
                                 " thread(s) differs from the first: " + who);
        } catch (const std::exception& e) {
            fail(config, seed, stage + " at max_isa " + std::string(tconv::to_string(isa)) +
                             " threw: " + e.what());
        }
    }
    return 0;
}
