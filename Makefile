# attestd - top-level entry points. Everything goes through CMake + Ninja in build/.
#   make run     install what is missing, build, and start (see README)
#   make test    install, build, check the formatting (make format-check), run every test (then unit, CLI, e2e and interop tests again under
#                ASan+UBSan, then every libFuzzer target for 5 s when clang is present:
#                make fuzz-smoke)
#   make cluster three attestd replicas on one throw-away PostgreSQL behind HAProxy, on loopback
#                (scripts/cluster; docs/deploy.md); prints the one URL; Ctrl-C stops everything
#   make demo    the five-step workflow end to end on loopback, narrated (docs/demo.md)
#   make bench   benchmarks against the crypto bound and the peer verifier
#   make fuzz    every libFuzzer target for FUZZ_SECONDS each
#   make fuzz-smoke  the same for FUZZ_SMOKE_SECONDS (5) each: what `make test` runs
#   make deb     Debian packages attestd, attest, libattest0, libattest-dev in build/deb
#                (dpkg-buildpackage + debhelper, then lintian; scripts/make-deb)
#   make install install binaries, library, headers, attest.pc, man pages, completion, systemd
#                unit and sample config under PREFIX (default /usr/local; DESTDIR honoured)
#   make clean

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 5
JOBS       ?= $(shell nproc)
CMAKE_FLAGS ?=
ifneq ($(CI),)
CMAKE_FLAGS += -DATT_WERROR=ON
endif

.PHONY: all deps build run cluster demo test test-asan bench fuzz fuzz-build fuzz-smoke clean format format-check deb install

all: build

deps:
	@scripts/install-deps --check >/dev/null 2>&1 || scripts/install-deps

$(BUILD)/build.ninja: | deps
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS)

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

# RUN_ARGS: extra attestd options; ATTESTD_* variables win over run-default's defaults
# (ATTESTD_LISTEN, ATTESTD_DATA_DIR, ...); ATTESTD_TLS=off: plain HTTP (scripts/run-default)
run: build
	scripts/run-default $(BUILD) $(RUN_ARGS)

# CLUSTER_ARGS: e.g. --replicas 2 --port 9090 -- --collateral-dir DIR --at TIME
cluster: build
	scripts/cluster $(BUILD) $(CLUSTER_ARGS)

demo: build
	scripts/demo $(BUILD)

test: build format-check
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)
	$(MAKE) --no-print-directory test-asan
	@if command -v clang >/dev/null 2>&1; then \
	  $(MAKE) --no-print-directory fuzz-smoke; \
	else \
	  echo "make test: clang not found, fuzz targets not run (scripts/install-deps installs it)"; \
	fi

test-asan: deps
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DATT_SANITIZE=ON -DATT_BENCH=OFF $(CMAKE_FLAGS)
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir $(ASAN_BUILD) --output-on-failure -j $(JOBS) -L "unit|cli|e2e|interop"

bench: build
	bench/run $(BUILD)

# Debian packages from a copy of the working tree, checked with lintian (docs/deploy.md, "Install")
deb: deps
	JOBS=$(JOBS) scripts/make-deb $(BUILD)/deb

# cmake --install; the prefix is a configure-time setting (the unit's ExecStart, attest.pc), so
# PREFIX reconfigures $(BUILD) with it
PREFIX ?= /usr/local
install: deps
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j $(JOBS)
	DESTDIR=$(DESTDIR) cmake --install $(BUILD)

fuzz-build: deps
	CC=clang CXX=clang++ cmake -S . -B $(FUZZ_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DATT_FUZZ=ON -DATT_BENCH=OFF $(CMAKE_FLAGS)
	cmake --build $(FUZZ_BUILD) -j $(JOBS)

fuzz: fuzz-build
	tests/fuzz/run $(FUZZ_BUILD) $(FUZZ_SECONDS)

# CI: every fuzz target briefly (seeds plus FUZZ_SMOKE_SECONDS of mutation each).
fuzz-smoke: fuzz-build
	tests/fuzz/run $(FUZZ_BUILD) $(FUZZ_SMOKE_SECONDS)

# soak: attestd under wrk at 80% of saturation, valid + invalid requests (SOAK_SECONDS, default
# 180), then a valgrind run (tests/soak/run); not part of make test
.PHONY: soak
soak: build
	tests/soak/run $(BUILD)

format:
	clang-format -i $$(git ls-files '*.c' '*.h' '*.cpp')

# The tree is formatted as .clang-format says (run by make test; `make format` fixes it).
format-check: deps
	@if git rev-parse --git-dir >/dev/null 2>&1; then \
	  clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h' '*.cpp') && \
	  echo "format-check: $$(git ls-files '*.c' '*.h' '*.cpp' | wc -l) files formatted as .clang-format says"; \
	else \
	  echo "format-check: not a git checkout, skipped"; \
	fi

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
