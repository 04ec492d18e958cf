# CI helpers (.ci/run).
#
# `make prefetch` builds every cached tool the suites use, in the order they need them.
# .ci/run starts it in the background at low CPU priority: on a cold machine the builds
# then proceed while the suites wait on their labs, and every build script's lock makes a
# suite that needs a tool wait for the build in progress instead of starting another.

# The kind lab's base image (Debian packages, no Kubernetes build) is made alongside the
# Kubernetes builds, not before them; its node images, last, wait for it (its lock).

.PHONY: prefetch
prefetch: ## build and cache every tool the suites need (Kubernetes for both labs, etcd, containerd, kwok, krew, CoreDNS, images, kind node images)
	@$(REAL_DIR)/deps.sh
	@$(KIND_LAB_DIR)/e2e.sh base >/dev/null 2>&1 &
	@hack/build-kube.sh $(LAB_KUBE_VERSION) $(LAB_KUBE_COMPONENTS) >/dev/null
	@hack/build-etcd.sh $(LAB_ETCD_VERSION) >/dev/null
	@hack/build-containerd.sh $(CONTAINERD_VERSION) >/dev/null
	@hack/install-kwok.sh $(LAB_KWOK_VERSION) >/dev/null
	@hack/krew-tools.sh $(KREW_VERSION) >/dev/null
	@$(REAL_DIR)/build.sh kube
	@$(REAL_DIR)/build.sh images
	@$(KIND_LAB_DIR)/e2e.sh build >/dev/null
	@echo ">> prefetch: every tool is built" >&2
