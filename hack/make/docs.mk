# Documentation targets. Included by the Makefile.

CRD_REF_DOCS_VERSION ?= v0.3.0
# Not $(LOCALBIN): the Makefile sets that after including this file, and a rule's target is expanded when read.
CRD_REF_DOCS ?= $(CURDIR)/bin/crd-ref-docs

##@ Documentation

.PHONY: api-docs
api-docs: crd-ref-docs ## Generate docs/api-reference.md from the API types (crd-ref-docs).
	"$(CRD_REF_DOCS)" --source-path=./api/v1alpha1 --config=hack/api-docs/config.yaml --renderer=markdown \
		--templates-dir=hack/api-docs/templates --output-path=docs/api-reference.md

# `make verify` regenerates the API reference too, so a type change without it shows up as a diff.
verify: api-docs

.PHONY: crd-ref-docs
crd-ref-docs: $(CRD_REF_DOCS) ## Install crd-ref-docs into ./bin.
$(CRD_REF_DOCS):
	@mkdir -p "$(LOCALBIN)"
	$(call go-install-tool,$(CRD_REF_DOCS),github.com/elastic/crd-ref-docs,$(CRD_REF_DOCS_VERSION))
