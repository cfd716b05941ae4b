# Helm chart targets (charts/teams-operator). Included by the Makefile.
#
# The chart's CRDs (files/crds) and the manager's ClusterRole rules (files/manager-role.yaml) are copies of what
# controller-gen generates into config/ from the markers; `chart-manifests` refreshes them, `make verify` fails
# when they were not committed, and test/chart fails when they differ from config/.

CHART_DIR ?= charts/teams-operator

##@ Helm chart

.PHONY: chart-manifests
chart-manifests: manifests ## Copy the generated CRDs and manager RBAC rules into the chart.
	@rm -f $(CHART_DIR)/files/crds/*.yaml
	@mkdir -p $(CHART_DIR)/files/crds
	cp config/crd/bases/*.yaml $(CHART_DIR)/files/crds/
	cp config/rbac/role.yaml $(CHART_DIR)/files/manager-role.yaml

.PHONY: helm-lint
helm-lint: helm ## Lint the chart (strict) with its default values and each test value set.
	"$(HELM)" lint --strict $(CHART_DIR)
	@for f in test/chart/testdata/values-*.yaml; do \
		echo "helm lint --strict $(CHART_DIR) -f $$f"; \
		"$(HELM)" lint --strict --quiet $(CHART_DIR) -f "$$f"; \
	done

.PHONY: helm-template
helm-template: helm ## Render the chart with its default values to stdout.
	@"$(HELM)" template teams-operator $(CHART_DIR) --namespace teams-operator-system

.PHONY: test-chart
test-chart: helm ## Run the chart tests (render, lint, server-side dry-run against a local kube-apiserver).
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" go test ./test/chart/ -count=1 -v

# `make verify` refreshes the chart copies too, so a stale copy shows up as a diff.
verify: chart-manifests
