# kind lab (test/kind, docs/kind.md): a kind cluster of systemd nodes (one control plane,
# two workers) upgraded v1.35.4 -> v1.36.3 by the plugin, the node agent restarting and
# rolling back the kubelet with systemd. Needs root; installs Debian's docker.io when
# missing and runs its own dockerd (stopped by PID at the end). Node images are built
# offline (debootstrap + `kind build node-image` from our Kubernetes builds) and cached.
KIND_LAB_DIR := test/kind

.PHONY: e2e-kind e2e-kind-suite kind-images kind-down

e2e-kind: real-deps ## kind cluster (systemd nodes) upgraded v1.35.4 -> v1.36.3 by the plugin (root, Docker; builds what it needs)
	$(KIND_LAB_DIR)/e2e.sh

kind-images: real-deps ## kind lab: build/cache its base and node images (starts and stops its dockerd)
	$(KIND_LAB_DIR)/e2e.sh build

kind-down: ## kind lab: remove every container, network and mount of its dockerd, then stop it
	$(KIND_LAB_DIR)/dockerd.sh stop

# In CI (make test): where Docker cannot run, the suite says so loudly and is skipped;
# `make e2e-kind` fails there instead.
e2e-kind-suite: real-deps
	KIND_OPTIONAL=1 $(KIND_LAB_DIR)/e2e.sh

TEST_SUITES += e2e-kind-suite
