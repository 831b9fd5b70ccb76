# Thin wrapper: CMake does the building, scripts/ the setting up.
BUILD ?= build
JOBS ?= $(shell nproc)
PREFIX_PATH := $(CURDIR)/$(BUILD)/deps/usr
ARGS ?=
FUZZ_SECONDS ?= 60
PREFIX ?= /usr/local

.PHONY: deps build run test bench fuzz clean format install

deps:
	@bash scripts/deps.sh $(CURDIR)/$(BUILD)/deps

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_PREFIX_PATH=$(PREFIX_PATH)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

# Starts the agent on this node: live transactions on stdout, metrics on :9464.
run: build
	$(BUILD)/l7tap --print $(ARGS)

test: build
	cd $(BUILD) && ctest --output-on-failure --timeout 600

# The agent, the libraries it needs that Debian lacks, its systemd unit and the Prometheus/Grafana files; DESTDIR
# is honoured for packaging.
install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

bench: build
	@bash benchmarks/run.sh $(BUILD)

# libFuzzer targets (tests/fuzz) built with clang, ASan and UBSan in build-fuzz, each run FUZZ_SECONDS.
fuzz: deps
	@FUZZ_SECONDS=$(FUZZ_SECONDS) JOBS=$(JOBS) bash scripts/fuzz.sh $(CURDIR)/build-fuzz

format:
	clang-format -i $$(git ls-files '*.cpp' '*.h' | grep -v '^probes/.*\.h$$')

clean:
	rm -rf $(BUILD)
