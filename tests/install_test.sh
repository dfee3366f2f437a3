#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs a built tree into a temporary prefix, then builds and runs what a consumer would:
# examples/ through find_package(tconv), and a C and a C++17 program through pkg-config when it is
# installed.
#   install_test.sh <build dir> <source dir> <cmake> <C compiler> <libdir, e.g. lib> [C++ compiler]
set -euo pipefail

build=$1 source=$2 cmake=$3 cc=$4 libdir=$5 cxx=${6:-c++}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tconv_install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

step() { echo "== $*"; }
fail() { echo "install test: $*" >&2; exit 1; }
# Runs a command quietly; on failure shows its output and stops.
quiet() {
    local what=$1 log=$tmp/$2.log
    shift 2
    "$@" >"$log" 2>&1 || { cat "$log"; fail "$what failed"; }
}

step "cmake --install into $prefix"
quiet install install "$cmake" --install "$build" --prefix "$prefix"
for f in include/tconv/tconv.h include/tconv/tconv.hpp include/tconv/problem.hpp \
         include/tconv/span.hpp \
         include/tconv/config.hpp include/tconv/onnx.hpp \
         "$libdir/libtconv.a" "$libdir/cmake/tconv/tconvConfig.cmake" \
         "$libdir/pkgconfig/tconv.pc" bin/tconv; do
    [ -e "$prefix/$f" ] || fail "$f is not installed"
done
ls "$prefix/$libdir"/libtconv.so* >/dev/null 2>&1 || fail "libtconv.so is not installed"
ls "$prefix/$libdir"/libtconv_onnx.so* >/dev/null 2>&1 || fail "libtconv_onnx.so is not installed"
# The fmt, nlohmann-json and xbyak code compiled into libtconv.so stays private.
if command -v nm >/dev/null; then
    nm -D -C --defined-only "$prefix/$libdir/libtconv.so" >"$tmp/symbols"
    grep -q ' tconv_layer_create$' "$tmp/symbols" || fail "libtconv.so does not export the C API"
    own='^[0-9a-f]+ [A-Za-z] (fmt|nlohmann|Xbyak)::'  # defined in those namespaces
    if grep -E -q "$own" "$tmp/symbols"; then
        grep -E -m 5 "$own" "$tmp/symbols"
        fail "libtconv.so exports its dependencies' symbols"
    fi
fi
# libtconv_onnx.so exports the ONNX API and keeps ONNX's, protobuf's and fmt's code private.
if command -v nm >/dev/null; then
    nm -D -C --defined-only "$prefix/$libdir/libtconv_onnx.so" >"$tmp/onnx_symbols"
    grep -q ' tconv::load_onnx(' "$tmp/onnx_symbols" || fail "libtconv_onnx.so does not export load_onnx"
    own='^[0-9a-f]+ [A-Za-z] (fmt|nlohmann|onnx|google)::'
    if grep -E -q "$own" "$tmp/onnx_symbols"; then
        grep -E -m 5 "$own" "$tmp/onnx_symbols"
        fail "libtconv_onnx.so exports its dependencies' symbols"
    fi
fi
if [ -e "$prefix/include/tconv/gen/plan.hpp" ]; then
    fail "the internal header gen/plan.hpp is installed"
fi

step "configure and build examples/ against the installed package"
quiet configure configure "$cmake" -S "$source/examples" -B "$tmp/examples" \
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix"
quiet build build "$cmake" --build "$tmp/examples" -j 2

step "run embed"
"$tmp/examples/embed" | tee "$tmp/embed.out"
grep -q '^implementation: ' "$tmp/embed.out" || fail "embed printed no implementation"
grep -q '^checksum: ' "$tmp/embed.out" || fail "embed printed no checksum"
if [ -x "$tmp/examples/embed_static" ]; then
    step "run embed_static"
    "$tmp/examples/embed_static" >"$tmp/embed_static.out"
    # Same library code, same data: the same numbers.
    diff "$tmp/embed.out" "$tmp/embed_static.out" || fail "static and shared builds disagree"
    ldd "$tmp/examples/embed_static" >"$tmp/ldd.out"
    if grep -q libtconv "$tmp/ldd.out"; then fail "embed_static loads libtconv.so"; fi
fi

step "run onnx_model on a committed model (tconv::onnx from the package)"
[ -x "$tmp/examples/onnx_model" ] || fail "find_package(tconv) offered no tconv::onnx"
"$tmp/examples/onnx_model" "$source/tests/onnx/models/dcgan.onnx" >"$tmp/onnx_model.out" ||
    { cat "$tmp/onnx_model.out"; fail "onnx_model failed"; }
cat "$tmp/onnx_model.out"
[ "$(grep -c ' channels, jit_\| channels, reference' "$tmp/onnx_model.out")" -ge 2 ] ||
    fail "onnx_model compiled fewer than two layers of dcgan.onnx"

step "the shared library's consumers need neither fmt, xbyak nor nlohmann-json"
quiet "configure without fmt" configure-nofmt "$cmake" -S "$source/examples" \
    -B "$tmp/examples-nofmt" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_DISABLE_FIND_PACKAGE_fmt=ON -DCMAKE_DISABLE_FIND_PACKAGE_xbyak=ON \
    -DCMAKE_DISABLE_FIND_PACKAGE_nlohmann_json=ON
quiet "build without fmt" build-nofmt "$cmake" --build "$tmp/examples-nofmt" --target embed
"$tmp/examples-nofmt/embed" >/dev/null

step "the licence is installed and declared"
grep -q "Apache License" "$prefix/share/doc/tconv/LICENSE" || fail "LICENSE is not installed"
grep -rq 'tconv_LICENSE "Apache-2.0"' "$prefix"/lib*/cmake/tconv/tconvConfig.cmake \
    || fail "the CMake package does not declare its licence"
grep -q "^License: Apache-2.0" "$prefix"/lib*/pkgconfig/tconv.pc || fail "tconv.pc has no License"

step "run generator"
"$tmp/examples/generator" "$tmp/image.ppm"
size=$(stat -c %s "$tmp/image.ppm")
header=$(printf 'P6\n64 64\n255\n' | wc -c)
want=$((header + 64 * 64 * 3))
[ "$size" -eq "$want" ] || fail "image.ppm has $size bytes, want $want"
[ "$(head -c 2 "$tmp/image.ppm")" = P6 ] || fail "image.ppm is not a binary PPM"

if command -v pkg-config >/dev/null; then
    step "build a C program with pkg-config"
    cat >"$tmp/hello.c" <<'C'
#include <stdio.h>
#include "tconv/tconv.h"
int main(void) {
    const char* config = "{\"in_channels\": 1, \"out_channels\": 1, \"input_size\": [2, 2],"
                         " \"kernel_size\": 3, \"stride\": 2, \"padding\": 1, \"bias\": false}";
    const float x[4] = {1, 2, 3, 4}, w[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    float y[9];
    tconv_layer* layer = NULL;
    if (tconv_layer_create(config, w, NULL, &layer) != TCONV_OK ||
        tconv_layer_execute(layer, x, y) != TCONV_OK) {
        fprintf(stderr, "%s\n", tconv_last_error());
        return 1;
    }
    tconv_layer_destroy(layer);
    printf("%g %g %g\n", y[0], y[4], y[8]);
    return 0;
}
C
    export PKG_CONFIG_PATH="$prefix/$libdir/pkgconfig"
    # shellcheck disable=SC2046  # pkg-config output is meant to be split into flags
    "$cc" -std=c11 -o "$tmp/hello" "$tmp/hello.c" $(pkg-config --cflags --libs tconv)
    out=$(LD_LIBRARY_PATH="$prefix/$libdir" "$tmp/hello")
    [ "$out" = "5 36 20" ] || fail "the pkg-config program printed '$out', want '5 36 20'"
    echo "$out"

    # --- C++17 (cache branch): every installed C++ header, sized spans, the cache controls.
    step "build a C++17 program with pkg-config, including every installed header"
    {
        for h in "$prefix"/include/tconv/*.hpp; do echo "#include \"tconv/$(basename "$h")\""; done
        cat <<'CXX'
#include <array>
#include <cstdio>
#include <vector>
int main() {
    const char* config = "{\"in_channels\": 1, \"out_channels\": 1, \"input_size\": [2, 2],"
                         " \"kernel_size\": 3, \"stride\": 2, \"padding\": 1, \"bias\": false}";
    const std::vector<float> x{1, 2, 3, 4};
    const std::array<float, 9> w{1, 2, 3, 4, 5, 6, 7, 8, 9};
    std::vector<float> y(9);
    try {
        tconv::set_cache_capacity(1 << 20);
        const tconv::Layer layer = tconv::Layer::compile_json(config, w, {});
        layer.execute(x, y);
        std::vector<float> small(8);
        try {
            layer.execute(x, small);
            return 1;
        } catch (const tconv::Error& e) {
            std::printf("%s\n", e.what());
        }
    } catch (const tconv::Error& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
    }
    tconv::clear_cache();
    const tconv::CacheStats s = tconv::cache_stats();
    std::printf("%g %g %g %s\n", y[0], y[4], y[8], s.capacity_bytes == (1 << 20) ? "ok" : "bad");
    return 0;
}
CXX
    } >"$tmp/hello17.cpp"
    # shellcheck disable=SC2046
    "$cxx" -std=c++17 -Wall -Wextra -pedantic -Werror -o "$tmp/hello17" "$tmp/hello17.cpp" \
        $(pkg-config --cflags --libs tconv)
    out=$(LD_LIBRARY_PATH="$prefix/$libdir" "$tmp/hello17")
    echo "$out"
    grep -q "execute: output has 8 floats but the layer needs at least 9" <<<"$out" \
        || fail "the C++17 program's short output was not refused"
    [ "$(echo "$out" | tail -1)" = "5 36 20 ok" ] || fail "the C++17 program printed '$out'"
    # --- end C++17
else
    step "pkg-config is not installed: skipping the pkg-config check"
fi
# The Python package, when the build made it (python/ writes the interpreter's path).
if [ -f "$build/python/interpreter" ]; then
    step "import the installed Python package"
    python=$(cat "$build/python/interpreter")
    so=$(find "$prefix" -name '_tconv*.so' -print -quit)
    [ -n "$so" ] || fail "the Python extension is not installed"
    site=$(dirname "$(dirname "$so")")
    case $site in "$prefix"/*) ;; *) fail "the Python package went outside the prefix: $site";; esac
    # One copy of the kernels: the extension loads the installed libtconv.so (found through its
    # RPATH, wherever the prefix is) and holds none of the library's code itself.
    # Output goes to files, never `cmd | grep -q`: under pipefail, grep's early exit can kill the
    # writer with SIGPIPE and fail the pipeline at random.
    ldd "$so" >"$tmp/ldd_python.out"
    grep -q "libtconv.so.* => $prefix/" "$tmp/ldd_python.out" ||
        { cat "$tmp/ldd_python.out"; fail "_tconv does not load $prefix's libtconv.so"; }
    if command -v nm >/dev/null && nm -C --defined-only "$so" >"$tmp/python_symbols" &&
        grep -E -q ' (Xbyak|tconv::gen)::' "$tmp/python_symbols"; then
        fail "_tconv holds a copy of the library's code"
    fi
    (cd "$tmp" && PYTHONPATH="$site" PYTHONDONTWRITEBYTECODE=1 "$python" -c '
import sys, numpy as np, tconv
assert tconv.__file__.startswith(sys.argv[1]), tconv.__file__
x = np.array([[[[1, 2], [3, 4]]]], np.float32)
w = np.arange(1, 10, dtype=np.float32).reshape(1, 1, 3, 3)
y = tconv.conv_transpose2d(x, w, stride=2, padding=1)
print(tconv.__version__, y[0, 0, 0, 0], y[0, 0, 1, 1], y[0, 0, 2, 2])
' "$prefix") >"$tmp/python.out" 2>&1 || { cat "$tmp/python.out"; fail "import tconv failed"; }
    cat "$tmp/python.out"
    [ "$(cut -d' ' -f2- "$tmp/python.out")" = "5.0 36.0 20.0" ] || fail "the Python package computed wrong values"
fi
step "ok"
