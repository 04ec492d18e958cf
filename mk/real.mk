# Real-cluster lab (test/real, docs/real-lab.md): a real kubeadm cluster on this machine
# (two nodes: own network/mount/PID namespaces, own containerd, real kubelets), upgraded
# v1.35.4 -> v1.36.3 with the plugin and the node agent's images. Needs root, Debian's
# containerd/CNI/iptables packages (installed by the target when missing) and the
# Kubernetes builds cached under $(EDGEUPGRADE_CACHE).
REAL_DIR := test/real
# The real lab's etcd image runs the simulated lab's etcd build (test/real/build.sh).
export REALLAB_ETCD_VERSION := $(LAB_ETCD_VERSION)

.PHONY: real-deps real-build real-up real-down e2e-real

real-deps: ## real-cluster lab: install the Debian packages it needs (containerd, CNI plugins, iptables)
	@$(REAL_DIR)/deps.sh

real-build: real-deps ## real-cluster lab: build/cache Kubernetes binaries and images for both versions
	$(REAL_DIR)/build.sh all

real-up: real-build ## real-cluster lab: bring up the v1.35.4 cluster (KUBECONFIG=/var/tmp/eulab/admin.conf)
	$(REAL_DIR)/up.sh

real-down: ## real-cluster lab: remove every process, mount, namespace, cgroup and directory it made
	$(REAL_DIR)/down.sh

e2e-real: real-deps ## real kubeadm cluster upgraded v1.35.4 -> v1.36.3 by the plugin (root; builds what it needs)
	$(REAL_DIR)/e2e.sh

# In CI (make test): about 6 min warm, the failure case included; cold it first builds
# what it needs, sharing the v1.36.3 binaries with the simulated lab and make images
# (docs/real-lab.md, "Timings").
TEST_SUITES += e2e-real
