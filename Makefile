# Makefile: the README commands. Everything installs what it needs first (deploy/install-deps.sh).
BUILD       ?= build
TEST_BUILD  ?= build-test
BENCH_BUILD ?= build-bench
FUZZ_BUILD  ?= build-fuzz
JOBS       ?= $(shell nproc)

.PHONY: all deps build test demo demo-containers bench fuzz format format-check clean

all: build

deps:
	@bash deploy/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCERTLINE_WERROR=ON
	cmake --build $(BUILD) -j $(JOBS)

# Tests: warnings as errors, AddressSanitizer + UndefinedBehaviorSanitizer, clang-format checked.
test: deps format-check
	cmake -S . -B $(TEST_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCERTLINE_WERROR=ON -DCERTLINE_SANITIZE=ON
	cmake --build $(TEST_BUILD) -j $(JOBS)
	cd $(TEST_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j $(JOBS)

# The factory simulation: a production day on one machine (private PostgreSQL, the four
# programs, three lines). Options go in DEMO_ARGS, e.g. make demo DEMO_ARGS="--devices-per-line 10
# --kill-terminal --ca-down --json". See deploy/sim/factory_day.py --help.
DEMO_ARGS ?=
demo: build
	/usr/bin/python3 deploy/sim/factory_day.py --build $(BUILD) $(DEMO_ARGS)

# The same day in containers (deploy/docker-compose.yml): its own dockerd when none runs, base
# images made from Debian's archive and cached in /var/cache/certline-containers
# (CERTLINE_CONTAINERS_STATE), certline's image built once with BuildKit; everything removed at
# the end. Options in CONTAINER_DEMO_ARGS, e.g. "--devices-per-line 6 --keep --json". See
# deploy/containers/compose_day.py --help.
CONTAINER_DEMO_ARGS ?=
demo-containers: deps
	/usr/bin/python3 deploy/containers/compose_day.py $(CONTAINER_DEMO_ARGS)

# Benchmarks (issue 7): Release, no sanitizers; each prints a table with the goals and writes JSON
# into $(BENCH_BUILD)/bench/. See tests/bench/README.md. Each benchmark runs BENCH_REPEAT times
# (issue 19 part 4: at least 3) and bench_repeat.py prints the machine, its load before and after,
# and each goal's median with the spread. Takes about 45 minutes on 2 cores, plus about 20 for
# bench_cfssl.py, which alternates its own 3 rounds (skipped, with a message, without golang-cfssl).
BENCH_REPEAT ?= 3
REPEAT = /usr/bin/python3 tests/bench/bench_repeat.py $(BENCH_REPEAT) $(BENCH_BUILD)/bench
bench: deps
	cmake -S . -B $(BENCH_BUILD) -DCMAKE_BUILD_TYPE=Release -DCERTLINE_WERROR=ON -DCERTLINE_SANITIZE=OFF
	cmake --build $(BENCH_BUILD) -j $(JOBS)
	mkdir -p $(BENCH_BUILD)/bench
	$(REPEAT) bench-issuance.json -- /usr/bin/python3 tests/bench/bench_issuance.py \
	  $(BENCH_BUILD)/ca-server/ca-server $(BENCH_BUILD)/tests/bench/bench_issue_raw \
	  $(BENCH_BUILD)/wsdl . $(BENCH_BUILD)/bench
	$(REPEAT) bench-day-store.json -- /usr/bin/python3 tests/bench/bench_day_store.py \
	  $(BENCH_BUILD) $(BENCH_BUILD)/bench
	$(REPEAT) bench-line-time.json -- /usr/bin/python3 tests/bench/bench_line_time.py \
	  $(BENCH_BUILD) $(BENCH_BUILD)/bench
	/usr/bin/python3 tests/bench/bench_pk_ops.py $(BENCH_BUILD) $(BENCH_BUILD)/bench
	$(REPEAT) bench-many-lines.json -- /usr/bin/python3 tests/bench/bench_many_lines.py \
	  $(BENCH_BUILD) $(BENCH_BUILD)/bench
	$(REPEAT) bench-reconnect.json -- $(BENCH_BUILD)/tests/bench/bench_reconnect $(BENCH_BUILD)/bench
	$(REPEAT) bench-crl.json -- $(BENCH_BUILD)/tests/bench/bench_crl $(BENCH_BUILD)/bench
	$(REPEAT) bench-token.json -- /usr/bin/python3 tests/bench/bench_token.py \
	  $(BENCH_BUILD)/ca-server/ca-server $(BENCH_BUILD)/wsdl $(BENCH_BUILD)/bench
	/usr/bin/python3 tests/bench/bench_cfssl.py $(BENCH_BUILD)/ca-server/ca-server \
	  $(BENCH_BUILD)/tests/bench/bench_cfssl_load $(BENCH_BUILD)/wsdl . $(BENCH_BUILD)/bench
	/usr/bin/python3 tests/bench/bench_console.py $(BENCH_BUILD) $(BENCH_BUILD)/bench
	/usr/bin/python3 tests/bench/bench_ca_console.py $(BENCH_BUILD) $(BENCH_BUILD)/bench \
	  --certificates 100000
	/usr/bin/python3 tests/bench/bench_growth.py $(BENCH_BUILD) $(BENCH_BUILD)/bench

# Fuzzing (issue 12): clang-14 with libFuzzer, ASan and UBSan, into its own build folder; each
# target runs FUZZ_SECONDS over a copy of its seed corpus (FUZZ_TARGETS to pick some, e.g.
# "fuzz_pack fuzz_plan"). See tests/fuzz/README.md.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=
fuzz: deps
	cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang-14 -DCMAKE_BUILD_TYPE=Debug \
	  -DCMAKE_C_FLAGS_DEBUG="-g -O1" -DCERTLINE_WERROR=ON -DCERTLINE_SANITIZE=ON -DCERTLINE_FUZZ=ON
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target certline_fuzz
	bash tests/fuzz/run-fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

FORMAT_FILES = $(shell git ls-files '*.c' '*.h' | grep -v '^wsdl/')

format: deps
	clang-format -i $(FORMAT_FILES)

format-check: deps
	clang-format --dry-run -Werror $(FORMAT_FILES)

clean:
	rm -rf $(BUILD) $(TEST_BUILD) $(BENCH_BUILD) $(FUZZ_BUILD)
