// SPDX-License-Identifier: Apache-2.0
// The C API over the C++ one. Every entry point runs inside `guard`, so no exception crosses the
// C boundary: each becomes a status plus a message kept per thread.
#include "tconv/tconv.h"

#include <new>
#include <span>
#include <string>
#include <vector>

#include "tconv/tconv.hpp"
#include "thread_defaults.hpp"

struct tconv_layer {
    tconv::Layer layer;
};

struct tconv_model {
    tconv::Model model;
    std::vector<tconv_layer> layers;  // views handed out by tconv_model_layer
};

namespace {

thread_local std::string t_last_error;

tconv_status status_of(tconv::ErrorKind kind) {
    using tconv::ErrorKind;
    switch (kind) {
        case ErrorKind::invalid_config: return TCONV_INVALID_CONFIG;
        case ErrorKind::invalid_argument:
        case ErrorKind::io: return TCONV_INVALID_ARGUMENT;
        case ErrorKind::unsupported: return TCONV_UNSUPPORTED;
        case ErrorKind::out_of_memory: return TCONV_OUT_OF_MEMORY;
        case ErrorKind::internal: return TCONV_INTERNAL;
    }
    return TCONV_INTERNAL;
}

tconv_status fail(tconv_status status, const char* message) noexcept {
    try {
        t_last_error = message;
    } catch (...) {  // no room for the message: the status still tells
        t_last_error.clear();
    }
    return status;
}

template <class F>
tconv_status guard(F&& f) noexcept {
    try {
        f();
        return TCONV_OK;
    } catch (const tconv::Error& e) {
        return fail(status_of(e.kind()), e.what());
    } catch (const std::bad_alloc&) {
        return fail(TCONV_OUT_OF_MEMORY, "out of memory");
    } catch (const std::exception& e) {
        return fail(TCONV_INTERNAL, e.what());
    } catch (...) {
        return fail(TCONV_INTERNAL, "unknown internal error");
    }
}

// Throws when a required pointer is NULL; `what` names it, `fn` the function.
void require(const void* p, const char* fn, const char* what) {
    if (!p)
        throw tconv::Error(tconv::ErrorKind::invalid_argument,
                           std::string(fn) + ": " + what + " must not be NULL");
}

tconv::Isa parse_isa(const char* s) {
    const std::string v = s;
    if (const auto isa = tconv::isa_from_string(v)) return *isa;
    throw tconv::Error(tconv::ErrorKind::invalid_argument,
                       "max_isa \"" + v +
                           "\" is not an ISA: use avx512_amx, avx512_bf16, avx512, avx2 or scalar");
}

// Thread counts beyond any real machine are refused: OpenMP would try to start them all and
// the process would die rather than report an error. The CLI's --threads has the same bound.
constexpr int kMaxThreads = 1024;

void check_threads(int threads, int lo, const char* what) {
    if (threads < lo || threads > kMaxThreads)
        throw tconv::Error(tconv::ErrorKind::invalid_argument,
                           std::string(what) + " must be from " + std::to_string(lo) + " to " +
                               std::to_string(kMaxThreads) + ", got " + std::to_string(threads));
}

tconv::Options to_options(const tconv_options* o) {
    tconv::Options opt;
    if (!o) return opt;
    if (o->max_isa) opt.max_isa = parse_isa(o->max_isa);
    check_threads(o->threads, 0, "options->threads (0: the default)");
    opt.threads = o->threads;
    // ---- threads ----
    if (o->wait_policy) {
        opt.wait = tconv::parse_wait_policy(o->wait_policy);
        if (!opt.wait)
            throw tconv::Error(tconv::ErrorKind::invalid_argument,
                               "options->wait_policy \"" + std::string(o->wait_policy) +
                                   "\" is not a wait policy: use bounded, spin or passive");
    }
    // ---- end threads ----
    return opt;
}

std::string layer_name(const tconv_options* o) {
    return o && o->layer_name ? std::string(o->layer_name) : std::string();
}

void copy_dims(const std::vector<int64_t>& shape, int64_t* dims, int* ndims) {
    if (shape.size() > TCONV_MAX_DIMS)
        throw tconv::Error(tconv::ErrorKind::internal, "a shape has more than TCONV_MAX_DIMS dims");
    for (size_t i = 0; i < shape.size(); ++i) dims[i] = shape[i];
    *ndims = int(shape.size());
}

// Layer creation shared by the string and file variants; *out is NULL on any failure.
template <class Compile>
tconv_status create_layer(const char* fn, const char* config, const char* config_what,
                          const float* weights, tconv_layer** out, Compile compile) {
    if (out) *out = nullptr;
    return guard([&] {
        require(out, fn, "out");
        require(config, fn, config_what);
        require(weights, fn, "weights");
        *out = new tconv_layer{compile()};
    });
}

template <class Compile>
tconv_status create_model(const char* fn, const char* config, const char* config_what,
                          const tconv_options* options, size_t count, const float* const* weights,
                          const float* const* biases, tconv_model** out, Compile compile) {
    if (out) *out = nullptr;
    return guard([&] {
        require(out, fn, "out");
        require(config, fn, config_what);
        require(weights, fn, "weights");
        if (options && options->layer_name)
            throw tconv::Error(tconv::ErrorKind::invalid_argument,
                               std::string(fn) + ": options->layer_name must be NULL for a model");
        std::vector<const float*> w(weights, weights + count);
        std::vector<const float*> b = biases ? std::vector<const float*>(biases, biases + count)
                                             : std::vector<const float*>{};
        for (size_t i = 0; i < count; ++i) {
            if (!w[i])
                throw tconv::Error(tconv::ErrorKind::invalid_argument,
                                   std::string(fn) + ": weights[" + std::to_string(i) +
                                       "] must not be NULL");
        }
        tconv::Model m = compile(w, b, to_options(options));
        auto* model = new tconv_model{std::move(m), {}};
        try {
            for (const tconv::Layer& l : model->model.layers()) model->layers.push_back({l});
        } catch (...) {
            delete model;
            throw;
        }
        *out = model;
    });
}

}  // namespace

extern "C" {

tconv_status tconv_layer_create(const char* config_json, const float* weights, const float* bias,
                                tconv_layer** out) {
    return create_layer("tconv_layer_create", config_json, "config_json", weights, out, [&] {
        return tconv::Layer::compile_json(config_json, weights, bias);
    });
}

tconv_status tconv_layer_create_ex(const char* config_json, const tconv_options* options,
                                   const float* weights, const float* bias, tconv_layer** out) {
    return create_layer("tconv_layer_create_ex", config_json, "config_json", weights, out, [&] {
        return tconv::Layer::compile_json(config_json, weights, bias, to_options(options),
                                          layer_name(options));
    });
}

tconv_status tconv_layer_create_from_file(const char* config_path, const tconv_options* options,
                                          const float* weights, const float* bias,
                                          tconv_layer** out) {
    return create_layer("tconv_layer_create_from_file", config_path, "config_path", weights, out,
                        [&] {
                            return tconv::Layer::compile_file(config_path, weights, bias,
                                                              to_options(options),
                                                              layer_name(options));
                        });
}

tconv_status tconv_layer_execute(const tconv_layer* layer, const float* input, float* output) {
    return guard([&] {
        require(layer, "tconv_layer_execute", "layer");
        require(input, "tconv_layer_execute", "input");
        require(output, "tconv_layer_execute", "output");
        layer->layer.execute(input, output);
    });
}

tconv_status tconv_layer_execute_threads(const tconv_layer* layer, const float* input,
                                         float* output, int threads) {
    return guard([&] {
        require(layer, "tconv_layer_execute_threads", "layer");
        require(input, "tconv_layer_execute_threads", "input");
        require(output, "tconv_layer_execute_threads", "output");
        check_threads(threads, 1, "tconv_layer_execute_threads: threads");
        layer->layer.execute(input, output, threads);
    });
}

tconv_status tconv_layer_execute_bf16(const tconv_layer* layer, const uint16_t* input,
                                      uint16_t* output) {
    return guard([&] {
        require(layer, "tconv_layer_execute_bf16", "layer");
        require(input, "tconv_layer_execute_bf16", "input");
        require(output, "tconv_layer_execute_bf16", "output");
        layer->layer.execute_bf16(input, output);
    });
}

tconv_status tconv_layer_shape(const tconv_layer* layer, int64_t* in_elems, int64_t* out_elems) {
    return guard([&] {
        require(layer, "tconv_layer_shape", "layer");
        require(in_elems, "tconv_layer_shape", "in_elems");
        require(out_elems, "tconv_layer_shape", "out_elems");
        *in_elems = layer->layer.input_elems();
        *out_elems = layer->layer.output_elems();
    });
}

tconv_status tconv_layer_param_elems(const tconv_layer* layer, int64_t* weight_elems,
                                     int64_t* bias_elems) {
    return guard([&] {
        require(layer, "tconv_layer_param_elems", "layer");
        require(weight_elems, "tconv_layer_param_elems", "weight_elems");
        require(bias_elems, "tconv_layer_param_elems", "bias_elems");
        *weight_elems = layer->layer.weight_elems();
        *bias_elems = layer->layer.bias_elems();
    });
}

tconv_status tconv_layer_input_dims(const tconv_layer* layer, int64_t dims[TCONV_MAX_DIMS],
                                    int* ndims) {
    return guard([&] {
        require(layer, "tconv_layer_input_dims", "layer");
        require(dims, "tconv_layer_input_dims", "dims");
        require(ndims, "tconv_layer_input_dims", "ndims");
        copy_dims(tconv::input_shape(layer->layer.problem()), dims, ndims);
    });
}

tconv_status tconv_layer_output_dims(const tconv_layer* layer, int64_t dims[TCONV_MAX_DIMS],
                                     int* ndims) {
    return guard([&] {
        require(layer, "tconv_layer_output_dims", "layer");
        require(dims, "tconv_layer_output_dims", "dims");
        require(ndims, "tconv_layer_output_dims", "ndims");
        copy_dims(tconv::output_shape(layer->layer.problem()), dims, ndims);
    });
}

const char* tconv_layer_implementation(const tconv_layer* layer) {
    if (!layer) {
        fail(TCONV_INVALID_ARGUMENT, "tconv_layer_implementation: layer must not be NULL");
        return nullptr;
    }
    return layer->layer.implementation().c_str();
}

const char* tconv_layer_kernel_name(const tconv_layer* layer, size_t index) {
    if (!layer) {
        fail(TCONV_INVALID_ARGUMENT, "tconv_layer_kernel_name: layer must not be NULL");
        return nullptr;
    }
    const std::vector<std::string>& names = layer->layer.report().kernel_names;
    return index < names.size() ? names[index].c_str() : nullptr;
}

/* ---- compile report ---- */
tconv_status tconv_layer_report(const tconv_layer* layer, tconv_report* out) {
    return guard([&] {
        require(layer, "tconv_layer_report", "layer");
        require(out, "tconv_layer_report", "out");
        const tconv::CompileReport& r = layer->layer.report();
        *out = {r.implementation.c_str(), r.kernel_names.size(), r.declined.size(),
                r.plan_lines.size(),      r.code_bytes,          r.packed_weight_bytes,
                r.compile_us,             r.pack_us};
    });
}

namespace {
// Entry `index` of one of the report's lists, NULL past the last or for a NULL layer.
const char* report_line(const tconv_layer* layer, size_t index, const char* fn,
                        std::vector<std::string> tconv::CompileReport::*list) {
    if (!layer) {
        fail(TCONV_INVALID_ARGUMENT, (std::string(fn) + ": layer must not be NULL").c_str());
        return nullptr;
    }
    const std::vector<std::string>& lines = layer->layer.report().*list;
    return index < lines.size() ? lines[index].c_str() : nullptr;
}
}  // namespace

const char* tconv_layer_declined(const tconv_layer* layer, size_t index) {
    return report_line(layer, index, "tconv_layer_declined", &tconv::CompileReport::declined);
}

const char* tconv_layer_plan_line(const tconv_layer* layer, size_t index) {
    return report_line(layer, index, "tconv_layer_plan_line", &tconv::CompileReport::plan_lines);
}
/* ---- end compile report ---- */

void tconv_layer_destroy(tconv_layer* layer) { delete layer; }

// ---- reshape ----
tconv_status tconv_layer_reshape(tconv_layer* layer, int64_t batch, const int64_t* input_size,
                                 int ndims) {
    return guard([&] {
        require(layer, "tconv_layer_reshape", "layer");
        require(input_size, "tconv_layer_reshape", "input_size");
        if (ndims < 1 || ndims > 3)
            throw tconv::Error(tconv::ErrorKind::invalid_argument,
                               "tconv_layer_reshape: ndims=" + std::to_string(ndims) +
                                   " must be from 1 to 3");
        layer->layer.reshape(batch, tconv::Span<const int64_t>(input_size, size_t(ndims)));
    });
}

tconv_status tconv_model_create(const char* config_json, const tconv_options* options,
                                size_t count, const float* const* weights,
                                const float* const* biases, tconv_model** out) {
    return create_model("tconv_model_create", config_json, "config_json", options, count, weights,
                        biases, out, [&](const auto& w, const auto& b, const auto& opt) {
                            return tconv::Model::compile_json(config_json, w, b, opt);
                        });
}

tconv_status tconv_model_create_from_file(const char* config_path, const tconv_options* options,
                                          size_t count, const float* const* weights,
                                          const float* const* biases, tconv_model** out) {
    return create_model("tconv_model_create_from_file", config_path, "config_path", options,
                        count, weights, biases, out,
                        [&](const auto& w, const auto& b, const auto& opt) {
                            return tconv::Model::compile_file(config_path, w, b, opt);
                        });
}

tconv_status tconv_model_execute(const tconv_model* model, const float* input, float* output) {
    return guard([&] {
        require(model, "tconv_model_execute", "model");
        require(input, "tconv_model_execute", "input");
        require(output, "tconv_model_execute", "output");
        model->model.execute(input, output);
    });
}

tconv_status tconv_model_shape(const tconv_model* model, int64_t* in_elems, int64_t* out_elems) {
    return guard([&] {
        require(model, "tconv_model_shape", "model");
        require(in_elems, "tconv_model_shape", "in_elems");
        require(out_elems, "tconv_model_shape", "out_elems");
        *in_elems = model->model.input_elems();
        *out_elems = model->model.output_elems();
    });
}

tconv_status tconv_model_layer_count(const tconv_model* model, size_t* count) {
    return guard([&] {
        require(model, "tconv_model_layer_count", "model");
        require(count, "tconv_model_layer_count", "count");
        *count = model->layers.size();
    });
}

tconv_status tconv_model_layer(const tconv_model* model, size_t index, const tconv_layer** layer) {
    if (layer) *layer = nullptr;
    return guard([&] {
        require(model, "tconv_model_layer", "model");
        require(layer, "tconv_model_layer", "layer");
        if (index >= model->layers.size())
            throw tconv::Error(tconv::ErrorKind::invalid_argument,
                               "tconv_model_layer: index " + std::to_string(index) +
                                   " is past the last layer (the model has " +
                                   std::to_string(model->layers.size()) + ")");
        *layer = &model->layers[index];
    });
}

void tconv_model_destroy(tconv_model* model) { delete model; }

/* ---- memory ---- */
void tconv_park_threads(void) { tconv::park_threads(); }

tconv_status tconv_cache_stats(tconv_cache_statistics* out) {
    return guard([&] {
        require(out, "tconv_cache_stats", "out");
        const tconv::CacheStats s = tconv::cache_stats();
        *out = {s.entries, s.code_bytes, s.capacity_bytes, s.hits, s.misses, s.evictions,
                s.kernels_in_use, s.scratch_bytes};
    });
}

tconv_status tconv_cache_set_capacity(uint64_t bytes) {
    return guard([&] { tconv::set_cache_capacity(bytes); });
}

tconv_status tconv_cache_clear(void) {
    return guard([] { tconv::clear_cache(); });
}
/* ---- end memory ---- */

const char* tconv_last_error(void) { return t_last_error.c_str(); }

const char* tconv_status_string(tconv_status status) {
    switch (status) {
        case TCONV_OK: return "TCONV_OK";
        case TCONV_INVALID_CONFIG: return "TCONV_INVALID_CONFIG";
        case TCONV_INVALID_ARGUMENT: return "TCONV_INVALID_ARGUMENT";
        case TCONV_UNSUPPORTED: return "TCONV_UNSUPPORTED";
        case TCONV_OUT_OF_MEMORY: return "TCONV_OUT_OF_MEMORY";
        case TCONV_INTERNAL: return "TCONV_INTERNAL";
    }
    return "TCONV_UNKNOWN_STATUS";
}

const char* tconv_version(void) { return TCONV_VERSION_STRING; }

}  // extern "C"
