##@ Viewer

# The emulator's conversation viewer and the card preview bundle Microsoft's Adaptive Cards
# renderer (npm: adaptivecards) into internal/emulator/ui/dist/viewer.js, which is committed: a
# fresh clone builds and tests without npm. These targets rebuild it from package-lock.json.
VIEWER_DIR = internal/emulator/ui

.PHONY: viewer-assets
viewer-assets: ## Rebuild the viewer's bundle from npm (internal/emulator/ui/dist/viewer.js).
	cd "$(VIEWER_DIR)" && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build

.PHONY: verify-viewer
verify-viewer: ## Fail if the committed viewer bundle is not what npm builds (skipped without npm).
	@if command -v npm >/dev/null; then \
		$(MAKE) --no-print-directory viewer-assets && \
		git diff --exit-code -- "$(VIEWER_DIR)/dist" || { echo "The viewer bundle is out of date: run 'make viewer-assets' and commit." >&2; exit 1; }; \
	else echo "npm is not installed: not checking the viewer bundle" >&2; fi

verify: verify-viewer

.PHONY: viewer-screenshot
viewer-screenshot: envtest ## Run the viewer's browser test and write docs/images/viewer.png (needs chromium).
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" VIEWER_SCREENSHOT="$(CURDIR)/docs/images/viewer.png" \
		go test ./test/e2e -run 'TestViewer$$' -count=1 -v -timeout 15m
