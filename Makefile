# SPDX-License-Identifier: Apache-2.0
# One-command set-up on a fresh Debian 12 or 13 machine: `make run`, `make test`.
BUILD   ?= build
JOBS    ?= $(shell nproc)
CMAKE_FLAGS ?=

# Hardening builds, each in its own directory so they never disturb the Release build.
SANITIZE_BUILD ?= build-sanitize
TSAN_BUILD     ?= build-tsan
FUZZ_BUILD     ?= build-fuzz
FUZZ_SECONDS   ?= 60

# Debian packages the build, the tests and the comparison bench need; clang, its sanitizer
# runtime (libFuzzer; libclang-rt-dev follows the release's default clang) and valgrind serve
# the hardening targets, pkg-config the install test; pybind11 and the Python headers build the
# Python package, NumPy, pytest and PyTorch (CPU) test it; OpenBLAS (threaded) gives PyTorch its
# fast BLAS for the comparison with it; libonnx-dev and libprotobuf-dev read ONNX models
# (tconv import); libpng writes the pictures (`lint --png`, `bench --plot`). Names common to
# Debian 12 and 13.
PACKAGES := cmake g++ make libxbyak-dev libfmt-dev nlohmann-json3-dev doctest-dev \
            libdnnl-dev libxnnpack-dev libpthreadpool-dev \
            clang libclang-rt-dev valgrind pkg-config \
            pybind11-dev python3-dev python3-numpy python3-pytest python3-torch \
            libopenblas0-pthread libonnx-dev libprotobuf-dev libpng-dev
# Installed where the release has them (ONNX Runtime: Debian 13 on), skipped where it has not.
OPTIONAL_PACKAGES := libonnxruntime-dev

# The sanitizer and fuzzing builds: -O1 with line tables only (-g1) compiles two to three times
# faster under GCC's sanitizers than RelWithDebInfo's -O2 -g (clang's fuzzing build: a quarter);
# reports still name files and lines.
HARDENING_FLAGS := -DCMAKE_BUILD_TYPE=RelWithDebInfo \
                   -DCMAKE_CXX_FLAGS_RELWITHDEBINFO='-O1 -g1 -DNDEBUG' \
                   -DCMAKE_C_FLAGS_RELWITHDEBINFO='-O1 -g1 -DNDEBUG'

# Arguments of `make bench-debian13`, after `tconv bench configs/`.
BENCH_ARGS ?=

.PHONY: all deps build run test clean fuzz test-sanitize test-tsan test-valgrind \
        test-debian13 bench-debian13 bench-check

all: build

# Installs only what is missing. As root: apt-get update once, then install. Otherwise print
# the exact command and stop. An optional package is installed when apt knows a candidate for
# it (after that update); one this release lacks is skipped without asking the archive again.
deps:
	@installed() { dpkg-query -W -f='$${Status}' $$1 2>/dev/null | grep -q 'install ok installed'; }; \
	available() { apt-cache policy $$1 2>/dev/null | grep -q 'Candidate: [^(]'; }; \
	missing=$$(for p in $(PACKAGES); do installed $$p || echo $$p; done); \
	if [ -n "$$missing" ] && [ "$$(id -u)" != 0 ]; then \
	  echo "Missing packages. Run: sudo apt-get update && sudo apt-get install -y" $$missing; \
	  exit 1; \
	fi; \
	if [ -n "$$missing" ]; then apt-get update -qq || exit 1; fi; \
	optional=$$(for p in $(OPTIONAL_PACKAGES); do installed $$p || ! available $$p || echo $$p; done); \
	if [ -n "$$missing$$optional" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing:" $$missing $$optional; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing $$optional || exit 1; \
	  else \
	    echo "Optional packages this release has: sudo apt-get install -y" $$optional; \
	  fi; \
	fi

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j $(JOBS)

run: build
	$(BUILD)/tconv bench configs/

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The whole suite under AddressSanitizer + UndefinedBehaviorSanitizer (generated kernels are not
# instrumented; everything that calls them is). The install test only repackages the same code
# and links consumers without the sanitizer runtime, so it is left out; so is the Python
# package, whose uninstrumented interpreter cannot load an instrumented extension (the library
# under it is the one the C++ tests run): not built, as nothing here would run it.
test-sanitize: deps
	cmake -S . -B $(SANITIZE_BUILD) $(HARDENING_FLAGS) \
	      -DTCONV_SANITIZE=address,undefined -DTCONV_BUILD_PYTHON=OFF $(CMAKE_FLAGS)
	cmake --build $(SANITIZE_BUILD) -j $(JOBS)
	cd $(SANITIZE_BUILD) && \
	  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j $(JOBS) -E '^install$$'

# ThreadSanitizer on the tests of threads meeting (their own executable, so nothing else is
# built). The library's pool synchronises through C++ atomics only (its futexes just sleep), so
# TSan sees every hand-over: calls run on several pool threads while the tests' own std::threads
# call at once.
test-tsan: deps
	cmake -S . -B $(TSAN_BUILD) $(HARDENING_FLAGS) -DTCONV_SANITIZE=thread \
	      -DTCONV_INSTALL=OFF $(CMAKE_FLAGS)
	cmake --build $(TSAN_BUILD) -j $(JOBS) --target tconv_concurrency_tests
	cd $(TSAN_BUILD) && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	  ctest --output-on-failure -L '^tconv_concurrency_tests$$'

# Memcheck on the Release build. Valgrind cannot decode AVX-512, so the ISA is capped at AVX2
# (Valgrind's CPUID hides AVX-512 too, so tests probing the CPU skip it). The slow sweeps, the
# bench peers (oneDNN's own JIT) and the CLI tests (one process each) are left out to keep the
# run to a few minutes; the CLI's code is the library's, which the rest exercises. The perf map
# tests share one map file per process, so they only pass one per process (as CTest runs them).
# The 2000-shape memory test measures the resident set, which Valgrind's own memory distorts.
VALGRIND_TESTS ?= *
VALGRIND_EXCLUDE ?= *sweep*,*random layers*,bench*,cli:*,bad input*,install*,perf map*,memory: 2000*
test-valgrind: build
	@for t in tconv_tests tconv_concurrency_tests; do \
	  echo "== memcheck $$t"; \
	  TCONV_MAX_ISA=avx2 OMP_NUM_THREADS=2 valgrind --tool=memcheck --error-exitcode=1 \
	    --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite \
	    --track-origins=yes --quiet \
	    $(BUILD)/tests/$$t -tc='$(VALGRIND_TESTS)' -tce='$(VALGRIND_EXCLUDE)' || exit 1; \
	done

# libFuzzer on the three parsers of untrusted bytes (configs, .npy, ONNX models) and on the
# kernels against the reference (differential), FUZZ_SECONDS each. New inputs go to the build directory's corpus; fuzz/corpus/
# holds the committed seeds. A crash leaves its input in $(FUZZ_BUILD)/artifacts/ and fails the
# target: add it to tests/fuzz_regressions/ (a differential mismatch as the config line it prints).
# The differential target keeps every kernel it generates in the library's process-wide cache
# (about 2 MB/s of growth, not a leak), so it gets a higher RSS limit.
FUZZ_TARGETS := config npy onnx differential
fuzz: deps
	cmake -S fuzz -B $(FUZZ_BUILD) $(HARDENING_FLAGS) \
	      -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang
	cmake --build $(FUZZ_BUILD) -j $(JOBS)
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$t $(FUZZ_BUILD)/artifacts && \
	  echo "== fuzz_$$t for $(FUZZ_SECONDS) s" && \
	  rss=2048; [ $$t != differential ] || rss=8192; \
	  $(FUZZ_BUILD)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=$$rss \
	    -print_final_stats=1 -artifact_prefix=$(FUZZ_BUILD)/artifacts/$$t- \
	    $(FUZZ_BUILD)/corpus/$$t fuzz/corpus/$$t 2>$(FUZZ_BUILD)/fuzz_$$t.log; \
	  status=$$?; grep -E -e '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added)' \
	    -e '^==[0-9]+==ERROR|SUMMARY|Test unit written' \
	    -e '^(fuzz_differential|config): |^  (kernel|worst element) ' $(FUZZ_BUILD)/fuzz_$$t.log; \
	  if [ $$status -ne 0 ]; then echo "fuzz_$$t: crashes: 1 (libFuzzer stops at the first)"; \
	    tail -40 $(FUZZ_BUILD)/fuzz_$$t.log; exit 1; fi; \
	  echo "fuzz_$$t: crashes: 0"; \
	done

# The same `make test` on Debian 13 (trixie), from a clean clone of HEAD, in a minimal root that
# debootstrap makes once and keeps in $$TCONV_CACHE_DIR (default ~/.cache/tconv), outside the
# work tree. `make bench-debian13` runs `tconv bench configs/ $$BENCH_ARGS` there: against the
# newest oneDNN, XNNPACK and ONNX Runtime. Both need root (debootstrap, chroot).
test-debian13:
	scripts/debian13.sh test

bench-debian13:
	scripts/debian13.sh bench $(BENCH_ARGS)

# The bench's ratios against tconv_harness's (tconv via its C API, oneDNN via its own code):
# scripts/bench_check.sh, on a few configs at 1 and 2 threads in both layouts.
bench-check: build
	scripts/bench_check.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(SANITIZE_BUILD) $(TSAN_BUILD) $(FUZZ_BUILD)
