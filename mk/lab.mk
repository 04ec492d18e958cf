# Offline lab (test/lab, docs/lab.md): a real control plane (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler) on 127.0.0.1 with kwok nodes and a simulated
# kubelet upgrade. Its binaries are built once from the Go module proxy and cached under
# $(EDGEUPGRADE_CACHE) by version; test/ is its own Go module.
#
#   make lab-up                    a demo-sized lab in $(LAB_DIR) (LAB_ARGS=... to change it)
#   export KUBECONFIG=$(LAB_DIR)/kubeconfig
#   make lab-down
#   make lab-test                  the lab's own tests (a small lab; about a minute warm)
#   make lab-scale N=2000          start time, idle CPU and memory at N nodes (not in CI)

LAB_KUBE_VERSION := v1.36.3
LAB_ETCD_VERSION := v3.6.8
LAB_KWOK_VERSION := v0.8.0
LAB_KUBE_COMPONENTS := kube-apiserver kube-controller-manager kube-scheduler kubectl
LAB_DIR ?= /tmp/edgeupgrade-lab
LAB_FROM ?= v1.35.4
LAB_ARGS ?= --masters 3 --workers 60 --pools 3 --cloud-workers 2 --from $(LAB_FROM)
LAB_TOOL := $(BIN)/edgeupgrade-lab
LAB_SOURCES := $(shell find test/lab test/cmd/edgeupgrade-lab -type f -not -name '*_test.go' 2>/dev/null) \
	test/go.mod test/go.sum pkg/job/contract.go pkg/hostcheck/result.go

.PHONY: lab-tools lab-tool lab-up lab-down lab-test lab-scale

# The build scripts serialise builds of one version with a lock file (flock), so a
# concurrent make, suite or hand-started build waits instead of building twice.
lab-tools: ## build the lab's binaries once: Kubernetes $(LAB_KUBE_VERSION), etcd, kwok (cold: about 15 minutes)
	@hack/build-kube.sh $(LAB_KUBE_VERSION) $(LAB_KUBE_COMPONENTS) >/dev/null
	@hack/build-etcd.sh $(LAB_ETCD_VERSION) >/dev/null
	@hack/install-kwok.sh $(LAB_KWOK_VERSION) >/dev/null
	@echo ">> lab binaries ready in $(EDGEUPGRADE_CACHE)" >&2

lab-tool: $(LAB_TOOL) ## build bin/edgeupgrade-lab

$(LAB_TOOL): $(LAB_SOURCES)
	cd test && CGO_ENABLED=0 $(GO) build -trimpath -o $(LAB_TOOL) ./cmd/edgeupgrade-lab

lab-up: lab-tools $(LAB_TOOL) ## start a demo-sized lab in $(LAB_DIR) (3 masters, 60 edge workers in 3 pools, 2 cloud)
	$(LAB_TOOL) up --dir $(LAB_DIR) $(LAB_ARGS)

lab-down: $(LAB_TOOL) ## stop the lab in $(LAB_DIR) and remove the directory
	$(LAB_TOOL) down --dir $(LAB_DIR)

# The tests fail (never skip) here when the binaries are missing: EDGEUPGRADE_LAB_REQUIRED.
lab-test: lab-tools ## the lab's own tests: a small lab, real Jobs, every simulated fault, clean shutdown
	cd test && $(GO) vet ./... && \
	  EDGEUPGRADE_LAB_REQUIRED=1 $(GO) test -count=1 -parallel 16 -timeout 10m ./lab/... ./cmd/edgeupgrade-lab/...

# Not in CI: uses both cores for minutes. N nodes, then a batch of Jobs on 10% of them.
lab-scale: lab-tools ## measure a big lab: make lab-scale N=2000 (start time, idle CPU, RSS, a 10% batch of Jobs)
	cd test && EDGEUPGRADE_LAB_REQUIRED=1 EDGEUPGRADE_LAB_SCALE=$(N) $(GO) test -count=1 -v -timeout 30m -run 'TestScale$$' ./lab/

TEST_SUITES += lab-test
