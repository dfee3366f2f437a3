// SPDX-License-Identifier: Apache-2.0
// ONNX Runtime on the same layer: a ConvTranspose model (plus the activation as a second node,
// as an exporter writes it) serialised in memory and run by the default CPU execution provider,
// through the C API only. ONNX is NCHW: channels_last layers are not served.
#include "bench_peer.hpp"

#ifdef TCONV_HAVE_ONNXRUNTIME

#include <fcntl.h>
#include <unistd.h>

#include <bit>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <onnxruntime_c_api.h>
#include <onnxruntime_session_options_config_keys.h>

#include "tconv/error.hpp"

namespace tconv::bench {
namespace {

// ---- A minimal protobuf writer: just what an ONNX ModelProto needs ----

// Fields are appended in order; a nested message is written on its own, then appended whole as
// a length-delimited field. Repeated scalars are written unpacked, proto2's default (parsers
// accept both forms).
class Message {
  public:
    Message& varint(int field, uint64_t v) {
        tag(field, 0);
        put_varint(v);
        return *this;
    }
    Message& float32(int field, float f) {
        static_assert(std::endian::native == std::endian::little);
        tag(field, 5);
        out_.append(reinterpret_cast<const char*>(&f), sizeof f);
        return *this;
    }
    Message& bytes(int field, std::string_view s) {
        tag(field, 2);
        put_varint(s.size());
        out_.append(s);
        return *this;
    }
    Message& message(int field, const Message& m) { return bytes(field, m.out_); }
    const std::string& data() const { return out_; }

  private:
    void tag(int field, int wire_type) { put_varint(uint64_t(field) << 3 | uint64_t(wire_type)); }
    void put_varint(uint64_t v) {
        for (; v >= 0x80; v >>= 7) out_ += char(v | 0x80);
        out_ += char(v);
    }
    std::string out_;
};

// Field numbers of onnx.proto, named as there.
namespace onnx {
struct ModelProto {
    static constexpr int ir_version = 1, producer_name = 2, graph = 7, opset_import = 8;
};
struct OperatorSetIdProto {
    static constexpr int domain = 1, version = 2;
};
struct GraphProto {
    static constexpr int node = 1, name = 2, initializer = 5, input = 11, output = 12;
};
struct NodeProto {
    static constexpr int input = 1, output = 2, op_type = 4, attribute = 5;
};
struct AttributeProto {
    static constexpr int name = 1, f = 2, i = 3, ints = 8, type = 20;
    enum Type { FLOAT = 1, INT = 2, INTS = 7 };
};
struct TensorProto {
    static constexpr int dims = 1, data_type = 2, name = 8, raw_data = 9;
    static constexpr int FLOAT = 1;  // DataType
};
struct ValueInfoProto {
    static constexpr int name = 1, type = 2;
};
struct TypeProto {
    static constexpr int tensor_type = 1;
    struct Tensor {
        static constexpr int elem_type = 1, shape = 2;
    };
};
struct TensorShapeProto {
    static constexpr int dim = 1;
    struct Dimension {
        static constexpr int dim_value = 1;
    };
};
// Opset 17 (ONNX 1.12) has every operator used here in its current form; IR version 8 goes
// with it.
constexpr int64_t kOpset = 17, kIrVersion = 8;
}  // namespace onnx

Message attribute(std::string_view name, const std::vector<int64_t>& ints) {
    using A = onnx::AttributeProto;
    Message m;
    m.bytes(A::name, name).varint(A::type, A::INTS);
    for (int64_t v : ints) m.varint(A::ints, uint64_t(v));
    return m;
}

Message attribute(std::string_view name, int64_t i) {
    using A = onnx::AttributeProto;
    Message m;
    m.bytes(A::name, name).varint(A::type, A::INT).varint(A::i, uint64_t(i));
    return m;
}

Message attribute(std::string_view name, float f) {
    using A = onnx::AttributeProto;
    Message m;
    m.bytes(A::name, name).varint(A::type, A::FLOAT).float32(A::f, f);
    return m;
}

Message node(std::string_view op_type, const std::vector<std::string_view>& inputs,
             std::string_view output, const std::vector<Message>& attributes = {}) {
    using N = onnx::NodeProto;
    Message m;
    for (std::string_view in : inputs) m.bytes(N::input, in);
    m.bytes(N::output, output).bytes(N::op_type, op_type);
    for (const Message& a : attributes) m.message(N::attribute, a);
    return m;
}

Message float_tensor(std::string_view name, const std::vector<int64_t>& dims, const float* data) {
    using T = onnx::TensorProto;
    Message m;
    for (int64_t d : dims) m.varint(T::dims, uint64_t(d));
    int64_t elems = 1;
    for (int64_t d : dims) elems *= d;
    m.varint(T::data_type, T::FLOAT).bytes(T::name, name);
    // raw_data is little-endian IEEE 754, i.e. the floats' own bytes here.
    m.bytes(T::raw_data, {reinterpret_cast<const char*>(data), size_t(elems) * sizeof(float)});
    return m;
}

Message float_value_info(std::string_view name, const std::vector<int64_t>& dims) {
    Message shape;
    for (int64_t d : dims) {
        Message dim;
        dim.varint(onnx::TensorShapeProto::Dimension::dim_value, uint64_t(d));
        shape.message(onnx::TensorShapeProto::dim, dim);
    }
    Message tensor, type, m;
    tensor.varint(onnx::TypeProto::Tensor::elem_type, onnx::TensorProto::FLOAT)
        .message(onnx::TypeProto::Tensor::shape, shape);
    type.message(onnx::TypeProto::tensor_type, tensor);
    m.bytes(onnx::ValueInfoProto::name, name).message(onnx::ValueInfoProto::type, type);
    return m;
}

constexpr const char* kInput = "x";
constexpr const char* kOutput = "y";

// The serialised ModelProto: y = activation(ConvTranspose(x, w[, b])), weights and bias as
// initializers, every shape static.
std::string conv_transpose_model(const Problem& p, const float* weights, const float* bias) {
    std::vector<int64_t> kernel, strides, dilations, pads, output_padding;
    for (int i = 0; i < p.rank; ++i) {
        kernel.push_back(p.kernel[i]);
        strides.push_back(p.stride[i]);
        dilations.push_back(p.dilation[i]);
        pads.push_back(p.pad_begin[i]);
        output_padding.push_back(p.output_padding[i]);
    }
    for (int i = 0; i < p.rank; ++i) pads.push_back(p.pad_end[i]);

    std::vector<std::string_view> conv_inputs{kInput, "w"};
    if (bias) conv_inputs.push_back("b");
    const bool activation = p.activation != Activation::none;
    const std::string_view conv_output = activation ? "conv" : kOutput;

    using G = onnx::GraphProto;
    Message graph;
    graph.bytes(G::name, "conv_transpose");
    graph.message(G::node, node("ConvTranspose", conv_inputs, conv_output,
                                {attribute("kernel_shape", kernel), attribute("strides", strides),
                                 attribute("dilations", dilations), attribute("pads", pads),
                                 attribute("output_padding", output_padding),
                                 attribute("group", p.groups)}));
    switch (p.activation) {
        case Activation::none: break;
        case Activation::relu: graph.message(G::node, node("Relu", {conv_output}, kOutput)); break;
        case Activation::leaky_relu:
            graph.message(G::node, node("LeakyRelu", {conv_output}, kOutput,
                                        {attribute("alpha", p.negative_slope)}));
            break;
        case Activation::sigmoid:
            graph.message(G::node, node("Sigmoid", {conv_output}, kOutput));
            break;
        case Activation::tanh: graph.message(G::node, node("Tanh", {conv_output}, kOutput)); break;
    }
    graph.message(G::initializer, float_tensor("w", weight_shape(p), weights));
    if (bias) graph.message(G::initializer, float_tensor("b", bias_shape(p), bias));
    graph.message(G::input, float_value_info(kInput, input_shape(p)));
    graph.message(G::output, float_value_info(kOutput, output_shape(p)));

    Message opset;  // the default domain, ai.onnx
    opset.bytes(onnx::OperatorSetIdProto::domain, "")
        .varint(onnx::OperatorSetIdProto::version, onnx::kOpset);
    using M = onnx::ModelProto;
    Message model;
    model.varint(M::ir_version, onnx::kIrVersion)
        .bytes(M::producer_name, "tconv bench")
        .message(M::opset_import, opset)
        .message(M::graph, graph);
    return model.data();
}

// ---- The C API: checked calls and owned objects ----

const OrtApi& api() {
    static const OrtApi* const a = OrtGetApiBase()->GetApi(ORT_API_VERSION);
    if (!a)
        throw Error(ErrorKind::unsupported,
                    "the library (" + std::string(OrtGetApiBase()->GetVersionString()) +
                        ") has no C API version " + std::to_string(ORT_API_VERSION));
    return *a;
}

struct OrtRelease {
    void operator()(OrtStatus* p) const { api().ReleaseStatus(p); }
    void operator()(OrtEnv* p) const { api().ReleaseEnv(p); }
    void operator()(OrtSessionOptions* p) const { api().ReleaseSessionOptions(p); }
    void operator()(OrtSession* p) const { api().ReleaseSession(p); }
    void operator()(OrtMemoryInfo* p) const { api().ReleaseMemoryInfo(p); }
    void operator()(OrtValue* p) const { api().ReleaseValue(p); }
};
template <class T>
using OrtPtr = std::unique_ptr<T, OrtRelease>;

// Every API call goes through here: a failure becomes an Error carrying ORT's message.
void check(OrtStatus* status) {
    if (!status) return;
    const OrtPtr<OrtStatus> owned(status);
    throw Error(ErrorKind::unsupported, api().GetErrorMessage(status));
}

// Holds fd 2 on /dev/null while it lives (C and C++ streams both write through it).
class QuietStderr {
  public:
    QuietStderr() {
        std::fflush(stderr);
        saved_ = dup(STDERR_FILENO);
        const int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (saved_ >= 0 && null >= 0) dup2(null, STDERR_FILENO);
        if (null >= 0) close(null);
    }
    ~QuietStderr() {
        std::fflush(stderr);
        if (saved_ < 0) return;
        dup2(saved_, STDERR_FILENO);
        close(saved_);
    }
    QuietStderr(const QuietStderr&) = delete;
    QuietStderr& operator=(const QuietStderr&) = delete;

  private:
    int saved_ = -1;
};

OrtPtr<OrtSession> create_session(OrtEnv* env, const std::string& model,
                                  const OrtSessionOptions* options) {
    OrtSession* out = nullptr;
    check(api().CreateSessionFromArray(env, model.data(), model.size(), options, &out));
    return OrtPtr<OrtSession>(out);
}

// One OrtEnv per process, quiet unless something fails (failures also come back as statuses).
// ONNX Runtime built against a shared ONNX library (Debian's) registers the operator schemas a
// second time on the first model load, and ONNX prints a "Schema error" line to std::cerr for
// each duplicate, hundreds in all; harmless, since ONNX Runtime keeps the first. A 1x1 layer is
// loaded once here with stderr silenced, which also keeps that one-time cost out of the first
// layer's create_ms.
OrtEnv* env() {
    static const OrtPtr<OrtEnv> e = [] {
        OrtEnv* raw = nullptr;
        check(api().CreateEnv(ORT_LOGGING_LEVEL_ERROR, "tconv-bench", &raw));
        OrtPtr<OrtEnv> out(raw);
        Problem tiny;
        tiny.rank = 1;
        tiny.in_channels = tiny.out_channels = 1;
        const float one = 1.f;
        OrtSessionOptions* options = nullptr;
        check(api().CreateSessionOptions(&options));
        const OrtPtr<OrtSessionOptions> owned(options);
        check(api().SetIntraOpNumThreads(options, 1));  // no thread pool for this one
        const QuietStderr quiet;
        create_session(out.get(), conv_transpose_model(tiny, &one, nullptr), options);
        return out;
    }();
    return e.get();
}

// The input and output OrtValues wrap the runner's own buffers and are created once, so run()
// is the session's Run alone; the output is preallocated, so ORT writes into y_ in place.
class OrtRunner : public Runner {
  public:
    explicit OrtRunner(const Problem& p)
        : x_(size_t(p.input_elems())), y_(size_t(p.output_elems())) {}

    void set_input(const float* x) override {
        std::memcpy(x_.data(), x, x_.size() * sizeof(float));
    }
    void run() override {
        const OrtValue* in = x_value_.get();
        OrtValue* out = y_value_.get();
        check(api().Run(session_.get(), nullptr, &kInput, &in, 1, &kOutput, 1, &out));
    }
    void get_output(float* y) override { std::memcpy(y, y_.data(), y_.size() * sizeof(float)); }

    std::vector<float> x_, y_;  // wrapped by the values below: never resized
    OrtPtr<OrtSession> session_;
    OrtPtr<OrtValue> x_value_, y_value_;
};

OrtPtr<OrtValue> wrap(const OrtMemoryInfo* info, std::vector<float>& buffer,
                      const std::vector<int64_t>& shape) {
    OrtValue* out = nullptr;
    check(api().CreateTensorWithDataAsOrtValue(info, buffer.data(), buffer.size() * sizeof(float),
                                               shape.data(), shape.size(),
                                               ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT, &out));
    return OrtPtr<OrtValue>(out);
}

}  // namespace

PeerSetup create_onnxruntime(const PeerLayer& layer) {
    const Problem& p = layer.problem;
    if (p.kind != LayerKind::transposed) return {{}, kTransposedOnly};
    if (p.layout != Layout::channels_first) return {{}, "channels_first only (ONNX's NCHW)"};
    if (p.dtype != DType::f32) return {{}, kF32Only};
    PeerSetup out;
    try {
        OrtEnv* const ort = env();  // once per process: not this layer's setup
        const auto t0 = std::chrono::steady_clock::now();
        const std::string model = conv_transpose_model(p, layer.weights, layer.bias);

        OrtSessionOptions* raw_options = nullptr;
        check(api().CreateSessionOptions(&raw_options));
        const OrtPtr<OrtSessionOptions> options(raw_options);
        check(api().SetIntraOpNumThreads(options.get(), layer.threads));
        check(api().SetInterOpNumThreads(options.get(), 1));
        check(api().SetSessionExecutionMode(options.get(), ORT_SEQUENTIAL));
        check(api().SetSessionGraphOptimizationLevel(options.get(), ORT_ENABLE_ALL));
        // By default idle intra-op workers spin for 2^20 pause instructions after each Run:
        // with 2 threads the process still burnt 12-18 ms of CPU in the 20 ms after a batch,
        // far past the bench's rest between contenders, and the next contender (tconv, after
        // ORT in every round) ran 1.5-3x slower. The C API has nothing that stops them from
        // outside, for a pause(); force_spinning_stop ends the spinning as each Run returns and
        // keeps it between the parallel loops within a Run (GEMM, col2im, activation), where
        // ORT's best times were 2-8% faster than with spinning off.
        check(api().AddSessionConfigEntry(options.get(),
                                          kOrtSessionOptionsConfigAllowIntraOpSpinning, "1"));
        check(api().AddSessionConfigEntry(options.get(),
                                          kOrtSessionOptionsConfigForceSpinningStop, "1"));

        auto runner = std::make_unique<OrtRunner>(p);
        runner->session_ = create_session(ort, model, options.get());

        OrtMemoryInfo* raw_info = nullptr;
        check(api().CreateCpuMemoryInfo(OrtArenaAllocator, OrtMemTypeDefault, &raw_info));
        const OrtPtr<OrtMemoryInfo> info(raw_info);
        runner->x_value_ = wrap(info.get(), runner->x_, input_shape(p));
        runner->y_value_ = wrap(info.get(), runner->y_, output_shape(p));

        PeerVariant v;
        v.variant = "nchw";
        v.impl = "ConvTranspose: MLAS GEMM + col2im (CPU EP)";
        if (p.activation != Activation::none)  // ORT fuses activations into Conv, not here
            v.note = "ran the activation as a second node, as ONNX exporters write it";
        v.create_ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                .count();
        v.runner = std::move(runner);
        out.variants.push_back(std::move(v));
    } catch (const Error& e) {
        out.unavailable = std::string("ONNX Runtime refused: ") + e.what();
    }
    return out;
}

std::string onnxruntime_version() {
    return "ONNX Runtime " + std::string(OrtGetApiBase()->GetVersionString());
}

}  // namespace tconv::bench

#else

namespace tconv::bench {
PeerSetup create_onnxruntime(const PeerLayer&) { return {{}, kNotInThisBuild}; }
std::string onnxruntime_version() { return kNotInThisBuild; }
}  // namespace tconv::bench

#endif
