##@ Demo

# DEMO_ARGS: extra flags for hack/demo, e.g. DEMO_ARGS=--exit-when-done (see `go run ./hack/demo -h`).
DEMO_ARGS ?=

.PHONY: demo
demo: ## Run the operator end to end locally: control plane, Teams emulator, manager, samples; Ctrl-C stops it all.
	@mkdir -p bin
	@echo "==> Building bin/demo"
	@go build -o bin/demo ./hack/demo
	@exec bin/demo $(DEMO_ARGS)
