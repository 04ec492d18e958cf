# Distribution: release archives and the krew manifest (`make dist`), and the offline
# krew test (`make krew-test`). The scripts are hack/krew-*.sh; docs/install.md is the
# user's side of it.

KREW_VERSION ?= v0.5.0
DIST ?= $(CURDIR)/dist

.PHONY: dist krew-tools krew-test
dist: ## release archives (linux, darwin, windows × amd64, arm64), SHA256SUMS, dist/krew.yaml
	VERSION='$(VERSION)' COMMIT='$(COMMIT)' DIST='$(DIST)' GO='$(GO)' hack/krew-dist.sh

krew-tools: ## build krew and validate-krew-manifest from the Go module proxy (cached)
	hack/krew-tools.sh $(KREW_VERSION)

# The test needs one real archive, this machine's: cross-building the five others costs
# about 3 minutes each on a cold 2-core machine and proves only that Go cross-compiles.
# Their manifest entries are left out of the test's manifest (KREW_PARTIAL); `make dist`
# builds all six. KREW_TEST_PLATFORMS='linux/amd64 linux/arm64 ...' tests more.
KREW_TEST_PLATFORMS ?= $(shell $(GO) env GOOS)/$(shell $(GO) env GOARCH)
KREW_TEST_DIST := $(DIST)/krew-test

krew-test: ## validate the manifest with krew's code, install with krew offline, run via kubectl
	VERSION='$(VERSION)' COMMIT='$(COMMIT)' DIST='$(KREW_TEST_DIST)' GO='$(GO)' \
	  PLATFORMS='$(KREW_TEST_PLATFORMS)' KREW_PARTIAL=1 hack/krew-dist.sh
	KUBE_VERSION='$(KUBE_VERSION)' KREW_VERSION='$(KREW_VERSION)' DIST='$(KREW_TEST_DIST)' hack/krew-test.sh

TEST_SUITES += krew-test
