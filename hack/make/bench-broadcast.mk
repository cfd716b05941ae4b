##@ Benchmarks

# BENCH_BROADCAST_ARGS: flags for hack/bench-broadcast, e.g. BENCH_BROADCAST_ARGS="--people 100000".
BENCH_BROADCAST_ARGS ?= --people 10000

.PHONY: bench-broadcast
bench-broadcast: envtest ## Broadcast to 10,000 people (cold, then warm) at Teams' limits with single messages beside it; report in bin/bench-broadcast.json.
	@mkdir -p bin
	@go build -o bin/bench-broadcast ./hack/bench-broadcast
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" bin/bench-broadcast --out bin/bench-broadcast.json $(BENCH_BROADCAST_ARGS)
