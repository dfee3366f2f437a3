// SPDX-License-Identifier: Apache-2.0
// tconv reports every failure as a tconv::Error carrying a complete, user-facing message
// (the CLI prints it verbatim after "tconv: error: ") and a category the C API maps to a status.
#pragma once

#include <stdexcept>
#include <string>

namespace tconv {

enum class ErrorKind {
    invalid_config,    // a layer config broke a rule (file, key path, value, rule in the message)
    invalid_argument,  // bad API/CLI argument or tensor file (.npy), wrong shapes
    unsupported,       // valid request this build or CPU cannot serve (e.g. ISA not present)
    out_of_memory,     // a size over the configured limit, or an allocation failed
    io,                // a file could not be read or written
    internal,          // a bug: an invariant did not hold
};

class Error : public std::runtime_error {
  public:
    Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
    ErrorKind kind() const noexcept { return kind_; }

  private:
    ErrorKind kind_;
};

}  // namespace tconv
