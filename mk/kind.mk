# kind lab (test/kind, docs/kind.md): a kind cluster of systemd nodes (one control plane,
# two workers) upgraded v1.35.4 -> v1.36.3 by the plugin, the node agent restarting and
# rolling back the kubelet with systemd. Needs root; installs Debian's docker.io when
# missing and runs its own dockerd (stopped by PID at the end). Node images are built
# offline (debootstrap + `kind build node-image` from our Kubernetes builds) and cached.
# Where Docker cannot run, it says why and fails (KIND_OPTIONAL=1 makes that a loud skip).
KIND_LAB_DIR := test/kind

.PHONY: e2e-kind kind-images kind-up kind-down

e2e-kind: real-deps ## kind cluster (systemd nodes) upgraded v1.35.4 -> v1.36.3 by the plugin (root, Docker; builds what it needs)
	$(KIND_LAB_DIR)/e2e.sh

kind-images: real-deps ## kind lab: build/cache its base and node images (starts and stops its dockerd)
	$(KIND_LAB_DIR)/e2e.sh build

kind-up: real-deps ## kind lab: a v1.35.4 kind cluster (1 control plane, 2 workers) with the plugin's images, kept; prints how to upgrade it
	$(KIND_LAB_DIR)/e2e.sh up

# Under the lab's lock, as e2e.sh: never under a run (or CI's background build) in progress.
kind-down: ## kind lab: remove every container and network of its dockerd, stop it, check nothing is left
	flock /tmp/edgeupgrade-kind.lock $(KIND_LAB_DIR)/dockerd.sh stop

# In CI (make test) it runs last: by then `make prefetch` has built its node images in
# the background (mk/ci.mk).
TEST_SUITES_LAST += e2e-kind
