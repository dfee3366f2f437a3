// SPDX-License-Identifier: Apache-2.0
// The subcommands of `tconv`. Each takes the arguments after its name and returns the exit code:
// 0 success, 1 verification mismatch; errors are thrown as tconv::Error (exit code 2).
#pragma once

#include <string>
#include <vector>

namespace tconv::cli {

using Argv = std::vector<std::string>;

int cmd_info(const Argv& args);
int cmd_run(const Argv& args);
int cmd_verify(const Argv& args);
int cmd_compile(const Argv& args);
int cmd_bench(const Argv& args);
int cmd_import(const Argv& args);
int cmd_lint(const Argv& args);

}  // namespace tconv::cli
