# End-to-end suite and demo on the simulated lab (docs/lab.md).

ETCD_VERSION ?= v3.6.8
KWOK_VERSION ?= v0.8.0

.PHONY: lab-bins e2e demo
lab-bins: ## build the lab's binaries (Kubernetes, etcd, kwok) from the module proxy, cached
	@hack/build-kube.sh $(KUBE_VERSION) >/dev/null
	@hack/build-etcd.sh $(ETCD_VERSION) >/dev/null
	@hack/install-kwok.sh $(KWOK_VERSION) >/dev/null

e2e: lab-bins ## end-to-end tests of every DESIGN.md §2 rule through the plugin binary, in the lab
	cd test && $(GO) test -count=1 -timeout 40m -v ./e2e

demo: lab-bins ## start a lab (3 masters, 60 edge workers in 3 pools, 1 cloud pool), check, upgrade, show, stop
	@hack/demo.sh

TEST_SUITES += e2e
