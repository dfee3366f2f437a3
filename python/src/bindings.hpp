// SPDX-License-Identifier: Apache-2.0
// The _tconv extension: pybind11 bindings over tconv's public C++ API only. Shape and argument
// checks that name PyTorch's arguments live in the Python package (python/tconv/); these
// bindings check what memory safety needs (dtype, contiguity, sizes) and translate tconv::Error.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "tconv/tconv.hpp"

namespace tconv::python {

namespace py = pybind11;

// Raises tconv.Error (a ValueError with .kind) from C++ argument checks.
[[noreturn]] void argument_error(const std::string& message);

// A float32, C-contiguous array of exactly `elems` elements (writable when `writable`): its
// data, never a copy. `what` names the argument in the Error.
const float* float_data(const py::array& a, int64_t elems, const char* what);
float* mutable_float_data(py::array& a, int64_t elems, const char* what);

void bind_layer(py::module_& m);    // layer.cpp: Layer and Model
void bind_process(py::module_& m);  // process.cpp: caches, CPU, version, weight fingerprints

}  // namespace tconv::python
