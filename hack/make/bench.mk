##@ Benchmarks

# BENCH_ARGS: flags for hack/bench, e.g. BENCH_ARGS="--messages 10000" (see `go run ./hack/bench -h`).
BENCH_ARGS ?=
# BENCH_SCALE_ARGS: flags for the scale run, e.g. BENCH_SCALE_ARGS="--messages 20000".
BENCH_SCALE_ARGS ?= --messages 100000
# BENCH_SCALE_MEMORY: the scale run's manager runs as in a container with this memory limit (MiB):
# GOMEMLIMIT at 90 % of it, as the manager sets it from its cgroup. 0: no limit.
BENCH_SCALE_MEMORY ?= 512

.PHONY: bench
bench: envtest ## Deliver 2,000 messages through the manager and a direct loop against the emulator at Teams' limits; report in bin/bench.json.
	@mkdir -p bin
	@go build -o bin/bench ./hack/bench
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" bin/bench --out bin/bench.json $(BENCH_ARGS)

.PHONY: bench-scale
bench-scale: envtest ## Restart the manager with 100k ProactiveMessages present: memory, resync time, no resend; report in bin/bench-scale.json.
	@mkdir -p bin
	@go build -o bin/bench ./hack/bench
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" bin/bench --scale --out bin/bench-scale.json --memory-limit $(BENCH_SCALE_MEMORY) $(BENCH_SCALE_ARGS)
