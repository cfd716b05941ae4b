# Security checks besides `make lint` (which runs gosec through golangci-lint).

GOVULNCHECK_VERSION ?= v1.9.0

##@ Security

# Not part of `make verify`: govulncheck needs its database at https://vuln.go.dev, which not every build
# environment reaches (the development sandbox of this repository does not). Run it in CI where it does.
.PHONY: vulncheck
vulncheck: ## Report known vulnerabilities in the code's call graph (govulncheck; needs https://vuln.go.dev).
	go run golang.org/x/vuln/cmd/govulncheck@$(GOVULNCHECK_VERSION) ./...
