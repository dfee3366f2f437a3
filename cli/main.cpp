// SPDX-License-Identifier: Apache-2.0
// `tconv`: a thin command line over the public API. Errors go to stderr as
// "tconv: error: ..." with exit code 2.
#include <csignal>
#include <cstdio>
#include <exception>
#include <new>
#include <string>

#include "args.hpp"
#include "commands.hpp"
#include "tconv/error.hpp"
#include "tconv/npy.hpp"
#include "tconv/tconv.h"

namespace {

struct Command {
    const char* name;
    int (*run)(const tconv::cli::Argv&);
    const char* summary;
};

constexpr Command kCommands[] = {
    {"info", tconv::cli::cmd_info, "CPU model, ISA features and threads; which ISA tconv uses"},
    {"run", tconv::cli::cmd_run, "compute one layer from .npy tensors and write the output"},
    {"verify", tconv::cli::cmd_verify, "check every implementation against the reference"},
    {"compile", tconv::cli::cmd_compile, "plan and JIT-compile layers; print kernels and tiles"},
    {"bench", tconv::cli::cmd_bench, "time layers, side by side with oneDNN and XNNPACK"},
    {"import", tconv::cli::cmd_import, "an ONNX model's ConvTranspose layers as a config + .npy"},
    {"lint", tconv::cli::cmd_lint, "overlap of each layer's kernel footprints: checkerboard check"},
};

void print_usage(std::FILE* to) {
    std::fprintf(to, "usage: tconv COMMAND [ARGS...]\n\nCommands:\n");
    for (const auto& c : kCommands) std::fprintf(to, "  %-9s %s\n", c.name, c.summary);
    std::fprintf(to, "\n'tconv COMMAND --help' describes each command; 'tconv --version' prints the "
                     "version.\n");
}

// One line whatever the message holds: control characters of user-given names and paths are
// escaped (\n, \t, \xNN).
std::string one_line(const std::string& s) {
    std::string out;
    for (unsigned char c : s) {
        if (c == '\n') out += "\\n";
        else if (c == '\t') out += "\\t";
        else if (c < 0x20 || c == 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        } else out += char(c);
    }
    return out;
}

int fail(const std::string& message) {
    std::fprintf(stderr, "tconv: error: %s\n", one_line(message).c_str());
    return 2;
}

// SIGINT, SIGTERM, SIGHUP: remove the partial output being written, then die of the signal as
// the shell expects.
extern "C" void on_fatal_signal(int sig) {
    tconv::remove_partial_npy_files();
    std::signal(sig, SIG_DFL);
    std::raise(sig);
}

void install_signal_handlers() {
    struct sigaction sa {};
    sa.sa_handler = on_fatal_signal;
    sigemptyset(&sa.sa_mask);
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        print_usage(stderr);
        return 2;
    }
    std::string name = argv[1];
    if (name == "--help" || name == "-h" || name == "help") {
        print_usage(stdout);
        return 0;
    }
    if (name == "--version" || name == "version") {
        std::printf("tconv %s\n", tconv_version());
        return 0;
    }
    install_signal_handlers();
    tconv::cli::Argv args(argv + 2, argv + argc);
    for (const auto& c : kCommands) {
        if (name != c.name) continue;
        try {
            return c.run(args);
        } catch (const tconv::Error& e) {
            return fail(e.what());
        } catch (const std::bad_alloc&) {
            return fail(name + ": out of memory");
        } catch (const std::exception& e) {
            return fail(name + ": internal error: " + e.what());
        }
    }
    std::vector<std::string> names;
    for (const auto& c : kCommands) names.push_back(c.name);
    std::string hint = tconv::cli::closest_match(name, names);
    return fail("unknown command '" + name + "'" +
                (hint.empty() ? "" : " (did you mean '" + hint + "'?)") + "; see 'tconv --help'");
}
