// SPDX-License-Identifier: Apache-2.0
// tconv::Layer and tconv::Model for Python: compile from config text or a file, execute on
// NumPy buffers without copying, the GIL released while compiling, re-shaping and executing.
#include <pybind11/stl.h>

#include <optional>

#include "bindings.hpp"

namespace tconv::python {

namespace {

Options make_options(const std::optional<std::string>& max_isa, int threads) {
    Options o;
    if (max_isa) {
        o.max_isa = isa_from_string(*max_isa);
        if (!o.max_isa)
            argument_error("max_isa must be 'avx512_amx', 'avx512_bf16', 'avx512', 'avx2' or "
                           "'scalar', got '" + *max_isa + "'");
    }
    if (threads < 0 || threads > 1024)
        argument_error("threads must be from 1 to 1024, got " + std::to_string(threads));
    o.threads = threads;
    return o;
}

Span<const float> span_of(const std::optional<py::array>& a, int64_t elems, const char* what) {
    if (!a) return {};
    return {float_data(*a, elems, what), size_t(elems)};
}

py::list dims(const Dims& d, int rank) {
    py::list l;
    for (int i = 0; i < rank; ++i) l.append(d[i]);
    return l;
}

py::dict problem_dict(const Problem& p) {
    py::dict d;
    d["name"] = p.name;
    d["batch"] = p.batch;
    d["in_channels"] = p.in_channels;
    d["out_channels"] = p.out_channels;
    d["groups"] = p.groups;
    d["input_size"] = dims(p.input, p.rank);
    d["output_size"] = dims(p.output, p.rank);
    d["kernel_size"] = dims(p.kernel, p.rank);
    d["stride"] = dims(p.stride, p.rank);
    d["dilation"] = dims(p.dilation, p.rank);
    py::list pads = dims(p.pad_begin, p.rank);
    for (auto v : dims(p.pad_end, p.rank)) pads.append(v);
    d["pads"] = pads;
    d["output_padding"] = dims(p.output_padding, p.rank);
    d["bias"] = p.bias;
    d["activation"] = std::string(to_string(p.activation));
    d["negative_slope"] = p.negative_slope;
    d["layout"] = std::string(to_string(p.layout));
    return d;
}

py::dict report_dict(const CompileReport& r) {
    py::dict d;
    d["implementation"] = r.implementation;
    d["kernel_names"] = r.kernel_names;
    d["declined"] = r.declined;
    d["plan_lines"] = r.plan_lines;
    d["code_bytes"] = r.code_bytes;
    d["packed_weight_bytes"] = r.packed_weight_bytes;
    d["compile_us"] = r.compile_us;
    d["pack_us"] = r.pack_us;
    d["weight_packs"] = r.weight_packs;
    d["reshapes"] = r.reshapes;
    return d;
}

// Compiles from config text, or from the file `config` names when `is_path`.
Layer compile_layer(const std::string& config, bool is_path, const py::array& weight,
                    const std::optional<py::array>& bias, const std::optional<std::string>& max_isa,
                    int threads, const std::string& layer) {
    const Options o = make_options(max_isa, threads);
    const Span<const float> w = span_of(weight, weight.size(), "weight");
    const Span<const float> b = span_of(bias, bias ? bias->size() : 0, "bias");
    py::gil_scoped_release release;
    return is_path ? Layer::compile_file(config, w, b, o, layer)
                   : Layer::compile_json(config, w, b, o, layer);
}

Model compile_model(const std::string& config, bool is_path, const std::vector<py::array>& weights,
                    const std::vector<std::optional<py::array>>& biases,
                    const std::optional<std::string>& max_isa, int threads) {
    const Options o = make_options(max_isa, threads);
    std::vector<Span<const float>> w, b;
    for (const py::array& a : weights) w.push_back(span_of(a, a.size(), "weights"));
    for (const auto& a : biases) b.push_back(span_of(a, a ? a->size() : 0, "biases"));
    py::gil_scoped_release release;
    return is_path ? Model::compile_file(config, w, b, o) : Model::compile_json(config, w, b, o);
}

template <class T>
void execute(const T& t, const py::array& x, py::array& y, std::optional<int> threads) {
    const float* in = float_data(x, t.input_elems(), "input");
    float* out = mutable_float_data(y, t.output_elems(), "out");
    py::gil_scoped_release release;
    if (threads) t.execute(in, out, *threads);
    else t.execute(in, out);
}

Layer reshaped(const Layer& l, int64_t batch, const std::vector<int64_t>& input_size) {
    Layer copy = l;  // shares the packed weights; re-shaping it leaves `l` as it is
    py::gil_scoped_release release;
    copy.reshape(batch, input_size);
    return copy;
}

}  // namespace

void bind_layer(py::module_& m) {
    py::class_<Layer>(m, "Layer")
        .def_static("compile", &compile_layer, py::arg("config"), py::arg("is_path"),
                    py::arg("weight"), py::arg("bias"), py::arg("max_isa"), py::arg("threads"),
                    py::arg("layer"))
        .def("execute", &execute<Layer>, py::arg("x"), py::arg("y"), py::arg("threads"))
        .def("reshaped", &reshaped, py::arg("batch"), py::arg("input_size"))
        .def_property_readonly("input_shape", [](const Layer& l) { return input_shape(l.problem()); })
        .def_property_readonly("output_shape", [](const Layer& l) { return output_shape(l.problem()); })
        .def_property_readonly("weight_shape", [](const Layer& l) { return weight_shape(l.problem()); })
        .def_property_readonly("bias_shape", [](const Layer& l) { return bias_shape(l.problem()); })
        .def_property_readonly("implementation", &Layer::implementation)
        .def_property_readonly("kernels", [](const Layer& l) { return l.report().kernel_names; })
        .def_property_readonly("report", [](const Layer& l) { return report_dict(l.report()); })
        .def_property_readonly("problem", [](const Layer& l) { return problem_dict(l.problem()); });

    py::class_<Model>(m, "Model")
        .def_static("compile", &compile_model, py::arg("config"), py::arg("is_path"),
                    py::arg("weights"), py::arg("biases"), py::arg("max_isa"), py::arg("threads"))
        .def("execute", &execute<Model>, py::arg("x"), py::arg("y"), py::arg("threads"))
        .def_property_readonly("name", &Model::name)
        .def_property_readonly("layers", &Model::layers)
        .def_property_readonly("input_shape", &Model::input_shape)
        .def_property_readonly("output_shape", &Model::output_shape)
        .def_property_readonly("scratch_bytes", &Model::scratch_bytes);
}

}  // namespace tconv::python
