# kubectl-edgeupgrade. `make help` lists the targets.
#
# Every heavy artefact (Kubernetes binaries, etcd, kwok, krew) is built from the Go
# module proxy once and cached by version under $(EDGEUPGRADE_CACHE).

SHELL := /usr/bin/env bash
GO ?= go
BIN := $(CURDIR)/bin
export EDGEUPGRADE_CACHE ?= $(HOME)/.cache/edgeupgrade
KUBE_VERSION ?= v1.36.3
# One build configuration for every go command (tests, vet, release archives, the labs'
# tools): packages compiled once are reused by all, which saves minutes on a cold machine.
# Nothing here needs cgo.
export GOFLAGS ?= -trimpath
export CGO_ENABLED ?= 0

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo v0.0.0-dev)
COMMIT ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
DATE ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
VERSION_PKG := github.com/edgeupgrade/kubectl-edgeupgrade/pkg/version
LDFLAGS := -s -w -X $(VERSION_PKG).version=$(VERSION) -X $(VERSION_PKG).commit=$(COMMIT) -X $(VERSION_PKG).date=$(DATE)

.PHONY: help build unit golden test clean
help: ## list targets
	@grep -hE '^[a-zA-Z0-9_.-]+:.*## ' $(MAKEFILE_LIST) | sort | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

build: ## build the plugin and the node agent into ./bin
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...

unit: ## unit tests of the plugin module and of the build scripts' locking (no cluster needed)
	$(GO) vet ./...
	$(GO) test -count=1 ./...
	hack/test-build-lock.sh

golden: ## rewrite every golden file and transcript (testdata/) from the actual output; review the diff before committing
	UPDATE_GOLDEN=1 $(GO) test -count=1 ./...

# `make test` is what CI runs: unit tests, then every suite the targets in mk/*.mk add
# to TEST_SUITES (lab e2e, krew install, real-cluster lab).
TEST_SUITES :=
# Suites whose images CI's background `make prefetch` builds last run after the others.
TEST_SUITES_LAST :=
include $(sort $(wildcard mk/*.mk))

test: unit $(TEST_SUITES) $(TEST_SUITES_LAST) ## everything CI runs: unit tests and all end-to-end suites

clean: ## remove ./bin and ./dist (the cache stays)
	rm -rf $(BIN) dist

.PHONY: verify
verify: ## static checks: gofmt, go vet, golangci-lint (pinned in tools/), shellcheck, go mod tidy
	hack/verify.sh
