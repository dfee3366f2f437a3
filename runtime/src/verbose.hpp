// SPDX-License-Identifier: Apache-2.0
// TCONV_VERBOSE=1: one line on stderr per compile and per execute, as ONEDNN_VERBOSE does, so an
// app's user can see which implementation and kernel ran each layer and how long it took.
#pragma once

#include <string>

#include "tconv/tconv.hpp"

namespace tconv {

// Read once: TCONV_VERBOSE unset, empty or "0" is off; any other value is on. Fields are
// comma-separated, shapes as 1x256x14x14, times in milliseconds.
bool verbose();

// "tconv_verbose,compile,<layer>,<implementation>,<kernel>,<input>-><output>,<ms>"
void verbose_compile(const Problem& p, const CompileReport& r, double ms);
// "tconv_verbose,execute,<layer>,<implementation>,<kernel>,<input>-><output>,threads=<n>,<ms>"
void verbose_execute(const Problem& p, const CompileReport& r, int threads, double ms);

}  // namespace tconv
