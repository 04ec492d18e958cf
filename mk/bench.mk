# Scale benchmark of the orchestration (docs/bench.md). Not part of `make test`:
# the default sizes use both cores for about 15 minutes.
#
#   make bench                       N = 100, 1000, 5000 workers; writes bench/results/
#   make bench BENCH_SIZES=100       quick mode (about 2 minutes warm; what CI may run)
#   make bench-driver                the in-cluster driver's memory alone (detached runs at BENCH_DRIVER_SIZES)
#   make bench-staging               the staging benchmark alone (1,000 workers on edge links, time ÷ 20)
#   make bench-go                    Go benchmarks of the pure functions (-benchmem)
#   make bench-report                regenerate RESULTS.md and the PNGs from bench/results/raw
#
# BENCH_PLUGIN measures another build of the plugin (e.g. with a patch applied);
# BENCH_OUT writes elsewhere (each size replaces its raw/N.json, RESULTS.md is
# regenerated from every raw file there). BENCH_ARGS=-hold keeps each lab after its
# measurement, for profiling by hand, until its dir/release file exists.

BENCH_SIZES ?= 100,1000,5000
BENCH_JOB_DURATION ?= 5s
BENCH_POOLS ?= 1
BENCH_OUT ?= $(CURDIR)/bench/results
BENCH_PLUGIN ?= $(BIN)/kubectl-edgeupgrade
BENCH_ARGS ?=
# The in-cluster driver's memory (docs/bench.md#the-in-cluster-drivers-memory); empty skips it in `make bench`.
BENCH_DRIVER_SIZES ?= 1000,5000
BENCH_DRIVER ?= $(BIN)/edgeupgrade-driver
# The staging benchmark (docs/bench.md#staging); BENCH_STAGING_WORKERS= (empty) skips it in `make bench`.
BENCH_STAGING_WORKERS ?= 1000
BENCH_TIME_SCALE ?= 20
# The run without staging's scale (empty: BENCH_TIME_SCALE): e.g. 20 with BENCH_TIME_SCALE=2.
BENCH_TIME_SCALE_WITHOUT ?=

.PHONY: bench bench-plugin bench-go bench-report bench-unit bench-staging bench-driver

bench-plugin:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/kubectl-edgeupgrade ./cmd/edgeupgrade-driver

# The plugin is rebuilt unless BENCH_PLUGIN points elsewhere.
bench: lab-tools $(if $(filter $(BIN)/kubectl-edgeupgrade,$(BENCH_PLUGIN)),bench-plugin) ## measure start --wait at BENCH_SIZES workers (default 100,1000,5000) into bench/results
	@echo ">> load before the benchmark: $$(cut -d' ' -f1-3 /proc/loadavg) (2 cores: numbers are only comparable on a quiet machine)" >&2
	cd test && $(GO) run ./bench -plugin $(BENCH_PLUGIN) -sizes $(BENCH_SIZES) -job-duration $(BENCH_JOB_DURATION) \
	  -pools $(BENCH_POOLS) -out $(BENCH_OUT) $(BENCH_ARGS)
	$(if $(BENCH_DRIVER_SIZES),$(MAKE) bench-driver BENCH_PLUGIN=$(BENCH_PLUGIN))
	$(if $(BENCH_STAGING_WORKERS),$(MAKE) bench-staging BENCH_PLUGIN=$(BENCH_PLUGIN))

bench-driver: lab-tools $(if $(filter $(BIN)/kubectl-edgeupgrade,$(BENCH_PLUGIN)),bench-plugin) ## the in-cluster driver's peak RSS and CPU: a detached run at BENCH_DRIVER_SIZES workers (default 1000,5000)
	cd test && $(GO) run ./bench -plugin $(BENCH_PLUGIN) -driver $(BENCH_DRIVER) -driver-sizes $(BENCH_DRIVER_SIZES) \
	  -job-duration $(BENCH_JOB_DURATION) -pools $(BENCH_POOLS) -out $(BENCH_OUT)

bench-staging: lab-tools $(if $(filter $(BIN)/kubectl-edgeupgrade,$(BENCH_PLUGIN)),bench-plugin) ## staging benchmark: without vs with staging vs the ideal, 1,000 workers on 1-100 Mbit links (STAGING.md)
	cd test && $(GO) run ./bench -staging -plugin $(BENCH_PLUGIN) -staging-workers $(BENCH_STAGING_WORKERS) \
	  -time-scale $(BENCH_TIME_SCALE) $(if $(BENCH_TIME_SCALE_WITHOUT),-time-scale-without $(BENCH_TIME_SCALE_WITHOUT)) -out $(BENCH_OUT)

bench-go: ## Go benchmarks (-benchmem) of planning, reconcile, state encoding and the status view at 10,000 nodes, and a driver's decision from its cache at 1,000
	@mkdir -p $(BENCH_OUT)
	$(GO) test -run '^$$' -bench . -benchmem -count 1 ./pkg/upgrade/ ./pkg/store/ ./pkg/status/ ./pkg/runner/ | tee $(BENCH_OUT)/go-bench.txt

bench-report: ## regenerate bench/results/RESULTS.md and the PNGs from the raw measurements
	cd test && $(GO) run ./bench -report-only -out $(BENCH_OUT)

bench-unit: ## unit tests of the benchmark harness (proxy classification, statistics)
	cd test && $(GO) vet ./bench/ && $(GO) test -count=1 ./bench/
