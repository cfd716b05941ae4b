# teams-operator. `make help` lists the targets.

# Pinned versions. Tools install into ./bin with `go install`; the Kubernetes test binaries are
# built from the Go module proxy by hack/envtest-binaries.sh into setup-envtest's cache directory.
K8S_VERSION ?= 1.37.2
CONTROLLER_TOOLS_VERSION ?= v0.23.0
GINKGO_VERSION ?= v2.34.0
GOLANGCI_LINT_VERSION ?= v2.15.0
HELM_VERSION ?= v3.22.0

IMG ?= ghcr.io/teams-operator/teams-operator:dev
CONTAINER_TOOL ?= docker
YEAR ?= $(shell date +%Y)

SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Display this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-15s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate the CRDs and the manager's RBAC from the markers.
	"$(CONTROLLER_GEN)" rbac:roleName=manager-role crd paths="./api/..." paths="./internal/controller/..." paths="./internal/alertmanager/..." paths="./internal/botendpoint/..." output:crd:artifacts:config=config/crd/bases

.PHONY: generate
generate: controller-gen ## Generate DeepCopy methods.
	"$(CONTROLLER_GEN)" object:headerFile="hack/boilerplate.go.txt",year=$(YEAR) paths="./api/..."

.PHONY: fmt
fmt: ## Run go fmt.
	go fmt ./...

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: envtest
envtest: ## Build kube-apiserver and etcd from the Go module proxy (once; cached outside the repo).
	@hack/envtest-binaries.sh >/dev/null

# The directory holding kube-apiserver and etcd; the script builds them when missing.
ENVTEST_ASSETS = $(shell hack/envtest-binaries.sh)

.PHONY: test
test: manifests generate fmt vet ## Run every test (unit, envtest and end-to-end on loopback).
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" go test ./... -race -count=1 -timeout 30m

.PHONY: lint
lint: golangci-lint ## Run golangci-lint.
	"$(GOLANGCI_LINT)" run

.PHONY: lint-fix
lint-fix: golangci-lint ## Run golangci-lint and apply its fixes.
	"$(GOLANGCI_LINT)" run --fix

.PHONY: verify
verify: manifests generate fmt ## Regenerate everything and fail if anything changed.
	@git diff --exit-code -- . || { echo "Generated files are out of date: run 'make manifests generate fmt' and commit." >&2; exit 1; }
	@test -z "$$(git status --porcelain --untracked-files=all -- api config internal cmd charts)" || { git status --porcelain -- api config internal cmd charts; echo "Untracked generated files: commit them." >&2; exit 1; }

##@ Build

.PHONY: build
build: manifests generate fmt vet ## Build bin/manager, bin/teams-emulator and bin/teams-preview.
	go build -o bin/manager ./cmd
	go build -o bin/teams-emulator ./cmd/teams-emulator
	go build -o bin/teams-preview ./cmd/teams-preview

.PHONY: run
run: manifests generate fmt vet ## Run the manager from your host against the current kubeconfig.
	go run ./cmd

.PHONY: docker-build
docker-build: ## Build the manager image (needs a container engine).
	$(CONTAINER_TOOL) build -t $(IMG) .

# Feature targets (demo, chart, bench) live in hack/make/*.mk.
-include hack/make/*.mk

##@ Dependencies

LOCALBIN ?= $(shell pwd)/bin
$(LOCALBIN):
	mkdir -p "$(LOCALBIN)"

CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen
GINKGO ?= $(LOCALBIN)/ginkgo
GOLANGCI_LINT ?= $(LOCALBIN)/golangci-lint
HELM ?= $(LOCALBIN)/helm

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN) ## Install controller-gen into ./bin.
$(CONTROLLER_GEN): $(LOCALBIN)
	$(call go-install-tool,$(CONTROLLER_GEN),sigs.k8s.io/controller-tools/cmd/controller-gen,$(CONTROLLER_TOOLS_VERSION))

.PHONY: ginkgo
ginkgo: $(GINKGO) ## Install the ginkgo CLI into ./bin.
$(GINKGO): $(LOCALBIN)
	$(call go-install-tool,$(GINKGO),github.com/onsi/ginkgo/v2/ginkgo,$(GINKGO_VERSION))

.PHONY: golangci-lint
golangci-lint: $(GOLANGCI_LINT) ## Install golangci-lint into ./bin.
$(GOLANGCI_LINT): $(LOCALBIN)
	$(call go-install-tool,$(GOLANGCI_LINT),github.com/golangci/golangci-lint/v2/cmd/golangci-lint,$(GOLANGCI_LINT_VERSION))

.PHONY: helm
helm: $(HELM) ## Install helm into ./bin.
$(HELM): $(LOCALBIN)
	$(call go-install-tool,$(HELM),helm.sh/helm/v3/cmd/helm,$(HELM_VERSION))

# go-install-tool installs package $(2) at version $(3) as $(1)-$(3), linked from $(1).
define go-install-tool
@[ -f "$(1)-$(3)" ] && [ "$$(readlink -- "$(1)" 2>/dev/null)" = "$(1)-$(3)" ] || { \
set -e; \
package=$(2)@$(3) ;\
echo "Installing $${package}" ;\
rm -f "$(1)" ;\
GOBIN="$(LOCALBIN)" go install $${package} ;\
mv "$(LOCALBIN)/$$(basename "$(1)")" "$(1)-$(3)" ;\
} ;\
ln -sf "$$(realpath "$(1)-$(3)")" "$(1)"
endef
