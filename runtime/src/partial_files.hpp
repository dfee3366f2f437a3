// SPDX-License-Identifier: Apache-2.0
// The temporary files being written right now, for removal from a signal handler
// (remove_partial_npy_files in tconv/npy.hpp). A fixed table: registering allocates nothing and
// the handler only reads it.
#pragma once

namespace tconv::detail {

// Registers `path` (a temporary file about to be created); returns its slot, or -1 when the
// table is full or the path too long (the file is then not removed on a signal).
int register_partial_file(const char* path) noexcept;
void unregister_partial_file(int slot) noexcept;

}  // namespace tconv::detail
