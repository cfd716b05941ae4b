# The fault suite (test/faults, docs/reliability.md). Included by the Makefile; `make test` runs it
# too, with every other package.

# FAULTS_RUN: a test name regexp, e.g. FAULTS_RUN=TestSIGKILL; FAULTS_SEED replays SIGKILL's kill
# points; FAULTS_LOG_DIR keeps the managers' logs.
FAULTS_RUN ?= .

##@ Fault suite

.PHONY: test-faults
test-faults: ## Run only the fault suite (SIGKILL, 429, 503, dropped answers, API server restart, token outage).
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" go test ./test/faults/ -race -count=1 -timeout 15m -v -run '$(FAULTS_RUN)'
