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

krew-test: dist ## validate the manifest with krew's code, install with krew offline, run via kubectl
	KUBE_VERSION='$(KUBE_VERSION)' KREW_VERSION='$(KREW_VERSION)' DIST='$(DIST)' hack/krew-test.sh

TEST_SUITES += krew-test
