// SPDX-License-Identifier: Apache-2.0
// The module: tconv::Error -> tconv.Error (defined in python/tconv/_errors.py so that Python
// code raises the same class), and the buffer checks every binding shares.
#include "bindings.hpp"

namespace tconv::python {

namespace {

// The class object, looked up once; never released (it lives as long as the interpreter).
py::handle error_class() {
    static py::handle cls = py::object(py::module_::import("tconv._errors").attr("Error")).release();
    return cls;
}

const char* kind_name(ErrorKind k) {
    switch (k) {
    case ErrorKind::invalid_config: return "invalid_config";
    case ErrorKind::invalid_argument: return "invalid_argument";
    case ErrorKind::unsupported: return "unsupported";
    case ErrorKind::out_of_memory: return "out_of_memory";
    case ErrorKind::io: return "io";
    case ErrorKind::internal: return "internal";
    }
    return "internal";
}

void raise(const char* message, const char* kind) {
    py::object e = error_class()(message, kind);
    PyErr_SetObject(error_class().ptr(), e.ptr());
}

}  // namespace

void argument_error(const std::string& message) {
    throw Error(ErrorKind::invalid_argument, message);
}

static void check_array(const py::array& a, int64_t elems, const char* what) {
    if (!a.dtype().is(py::dtype::of<float>()))
        argument_error(std::string(what) + " must be float32, got " +
                       std::string(py::str(a.dtype())));
    if (!(a.flags() & py::array::c_style))
        argument_error(std::string(what) + " must be C-contiguous");
    if (a.size() != elems)
        argument_error(std::string(what) + " has " + std::to_string(a.size()) +
                       " elements but the layer needs " + std::to_string(elems));
}

const float* float_data(const py::array& a, int64_t elems, const char* what) {
    check_array(a, elems, what);
    return static_cast<const float*>(a.data());
}

float* mutable_float_data(py::array& a, int64_t elems, const char* what) {
    check_array(a, elems, what);
    if (!a.writeable()) argument_error(std::string(what) + " is read-only");
    return static_cast<float*>(a.mutable_data());
}

}  // namespace tconv::python

PYBIND11_MODULE(_tconv, m) {
    namespace tp = tconv::python;
    m.doc() = "tconv's C++ API (use the tconv package, not this module)";
    pybind11::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const tconv::Error& e) {
            tp::raise(e.what(), tp::kind_name(e.kind()));
        }
    });
    tp::bind_layer(m);
    tp::bind_process(m);
}
