# Node agent images (docs/node-agent.md): `make images` builds the node-preprocess and
# upgrade image archives, and the in-cluster driver's edgeupgrade image (the plugin
# itself), offline into dist/images/ for linux/amd64 and linux/arm64,
# from the agent (static, CGO_ENABLED=0) and the cached Kubernetes builds of
# hack/build-kube.sh. Warm runs rebuild only what changed.
#
#   dist/images/node-preprocess_<version>.tar              multi-arch OCI archive (ctr import, crane/skopeo push)
#   dist/images/node-preprocess_<version>_linux-<arch>.tar one platform: ctr import and docker load
#   dist/images/upgrade_<kube version>.tar                 multi-arch OCI archive: the base upgrade image
#   dist/images/upgrade_<kube version>_linux-<arch>.tar    one platform
#   dist/images/upgrade_<kube version>-containerd-<containerd version>.tar (and _linux-<arch>.tar)
#                                                          the upgrade image with containerd
#   dist/images/edgeupgrade_<version>.tar                  multi-arch OCI archive (and _linux-<arch>.tar)
#   dist/images/*.zstd.tar                                 each multi-arch archive again with zstd
#                                                          layers: ctr import and registries, not docker load
#
# KUBE_VERSION=v1.36.3 (Makefile default) picks the upgrade image's Kubernetes version;
# IMAGE_REGISTRY=mirror.local/edgeupgrade renames the images.

IMAGE_REGISTRY ?= ghcr.io/edgeupgrade
# containerd of the upgrade image's runtime variant, <upgrade image>-containerd-<version>,
# which a run that upgrades containerd gives the nodes whose containerd is older (the
# plugin's default, precheck.DefaultRuntimeVersion); empty: no runtime variant.
CONTAINERD_VERSION ?= v2.2.9
IMAGE_ARCHES ?= amd64 arm64
# Evaluated once: VERSION comes from `git describe`, which moves when anyone commits.
ifeq ($(origin AGENT_VERSION),undefined)
AGENT_VERSION := $(VERSION)
endif
PREPROCESS_IMAGE ?= $(IMAGE_REGISTRY)/node-preprocess:$(AGENT_VERSION)
DRIVER_IMAGE ?= $(IMAGE_REGISTRY)/edgeupgrade:$(AGENT_VERSION)
UPGRADE_IMAGE ?= $(IMAGE_REGISTRY)/upgrade:$(KUBE_VERSION)
# The runtime variant's reference is the plugin's: the base reference, -containerd-<version>.
UPGRADE_RUNTIME_IMAGE := $(UPGRADE_IMAGE)-containerd-$(CONTAINERD_VERSION)
IMAGES_DIR := dist/images
IMAGE_STAGE := dist/stage
IMAGE_TOOL := $(BIN)/edgeupgrade-image
# Compressed layers by content, shared by every image, variant and lab and kept across
# builds with the other caches: an unchanged Kubernetes or containerd binary is never
# compressed again (zstd at its best level costs ~35 s of CPU per upgrade image and
# arch). Keyed by content, so sharing is safe; entries unused for a week are pruned.
LAYER_CACHE ?= $(EDGEUPGRADE_CACHE)/layers
HOST_ARCH := $(shell $(GO) env GOARCH)
# Layer time stamps: the last commit's time, so identical inputs give identical images.
ifeq ($(origin SOURCE_DATE_EPOCH),undefined)
SOURCE_DATE_EPOCH := $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
endif
export SOURCE_DATE_EPOCH

AGENT_SOURCES := $(shell find cmd/edgeupgrade-node pkg/nodeagent pkg/hostcheck pkg/job -name '*.go' -not -name '*_test.go' -not -path '*/testdata/*' 2>/dev/null) go.mod go.sum
IMAGE_TOOL_SOURCES := $(shell find cmd/edgeupgrade-image -name '*.go' -not -name '*_test.go' 2>/dev/null) go.mod go.sum
AGENT_BINS := $(foreach a,$(IMAGE_ARCHES),$(IMAGE_STAGE)/agent/linux-$(a)/edgeupgrade-node)
KUBE_STAMPS := $(foreach a,$(IMAGE_ARCHES),$(IMAGE_STAGE)/kube/$(KUBE_VERSION)/linux-$(a).ok)
CONTAINERD_STAMPS := $(foreach a,$(IMAGE_ARCHES),$(IMAGE_STAGE)/containerd/$(CONTAINERD_VERSION)/linux-$(a).ok)
CONTAINERD_FILES := $(foreach b,containerd containerd-shim-runc-v2 ctr,--file '$(IMAGE_STAGE)/containerd/$(CONTAINERD_VERSION)/linux-{arch}/$(b):/usr/local/containerd/bin/$(b):0755') \
  --label io.edgeupgrade.containerd-version=$(CONTAINERD_VERSION)
IMAGE_PLATFORM_FLAGS := $(foreach a,$(IMAGE_ARCHES),--platform linux/$(a))
PREPROCESS_TAR := $(IMAGES_DIR)/node-preprocess_$(AGENT_VERSION).tar
DRIVER_TAR := $(IMAGES_DIR)/edgeupgrade_$(AGENT_VERSION).tar
DRIVER_SOURCES := $(shell find cmd/edgeupgrade-driver pkg -name '*.go' -not -name '*_test.go' -not -path '*/testdata/*' 2>/dev/null) go.mod go.sum
DRIVER_BINS := $(foreach a,$(IMAGE_ARCHES),$(IMAGE_STAGE)/driver/linux-$(a)/edgeupgrade-driver)
UPGRADE_TAR := $(IMAGES_DIR)/upgrade_$(KUBE_VERSION).tar
UPGRADE_RUNTIME_TAR := $(if $(CONTAINERD_VERSION),$(IMAGES_DIR)/upgrade_$(KUBE_VERSION)-containerd-$(CONTAINERD_VERSION).tar)
GZIP_TARS := $(PREPROCESS_TAR) $(UPGRADE_TAR) $(UPGRADE_RUNTIME_TAR) $(DRIVER_TAR)
ZSTD_TARS := $(GZIP_TARS:.tar=.zstd.tar)

.PHONY: images image-sizes image-tool agent-test

images: $(GZIP_TARS) $(ZSTD_TARS) ## node-preprocess, upgrade (base and with containerd) and the driver's edgeupgrade image into dist/images, gzip and zstd (offline; KUBE_VERSION=…)
	@ls -l $(IMAGES_DIR) | sed 1d
	@find $(LAYER_CACHE) -type f -mtime +7 -delete 2>/dev/null || true

image-sizes: images ## per image, platform and layer: the compressed size a node pulls (staging's load on edge links), gzip and zstd
	@$(IMAGE_TOOL) sizes $(GZIP_TARS) $(ZSTD_TARS)

image-tool: $(IMAGE_TOOL) ## build bin/edgeupgrade-image (image archives from local files)

$(IMAGE_TOOL): $(IMAGE_TOOL_SOURCES)
	CGO_ENABLED=0 $(GO) build -trimpath -o $@ ./cmd/edgeupgrade-image

# The version is linked into the agent: a build for another AGENT_VERSION is stale.
AGENT_VERSION_STAMP := $(IMAGE_STAGE)/agent/version-$(AGENT_VERSION).stamp
$(AGENT_VERSION_STAMP):
	@mkdir -p $(@D) && rm -f $(@D)/version-*.stamp && touch $@

$(IMAGE_STAGE)/agent/linux-%/edgeupgrade-node: $(AGENT_SOURCES) $(AGENT_VERSION_STAMP)
	CGO_ENABLED=0 GOOS=linux GOARCH=$* $(GO) build -trimpath -ldflags '-s -w -X main.version=$(AGENT_VERSION)' -o $@ ./cmd/edgeupgrade-node

# The in-cluster driver of detached runs (docs/design.md §1): the plugin's `drive`
# alone (cmd/edgeupgrade-driver), half the plugin's size.
$(IMAGE_STAGE)/driver/linux-%/edgeupgrade-driver: $(DRIVER_SOURCES) $(AGENT_VERSION_STAMP)
	CGO_ENABLED=0 GOOS=linux GOARCH=$* $(GO) build -trimpath -ldflags '$(subst $(VERSION),$(AGENT_VERSION),$(LDFLAGS))' -o $@ ./cmd/edgeupgrade-driver

# The Kubernetes binaries: hack/build-kube.sh caches them (bin/ for the host's arch,
# bin-<arch> for others) and never run two builds of one version at once.
$(IMAGE_STAGE)/kube/$(KUBE_VERSION)/linux-%.ok:
	@mkdir -p $(@D)
	dir=$$(GOARCH=$* hack/build-kube.sh $(KUBE_VERSION) kubeadm kubelet kubectl | tail -1) && \
	  ln -sfn "$$dir" $(@D)/linux-$* && touch $@

# containerd 2.x: hack/build-containerd.sh caches it like the Kubernetes builds.
$(IMAGE_STAGE)/containerd/$(CONTAINERD_VERSION)/linux-%.ok:
	@mkdir -p $(@D)
	dir=$$(hack/build-containerd.sh $(CONTAINERD_VERSION) $* | tail -1) && \
	  ln -sfn "$$dir" $(@D)/linux-$* && touch $@

# Every archive is built twice from the same arguments: gzip layers (NAME.tar, and one
# archive per platform for docker load) and zstd layers (NAME.zstd.tar); the layer cache
# makes each distinct layer compressed once per compression.
IMAGE_BUILD = $(IMAGE_TOOL) build --layer-cache $(LAYER_CACHE) $(IMAGE_PLATFORM_FLAGS)
split = --split-output '$(IMAGES_DIR)/$(1)_{os}-{arch}.tar'

PREPROCESS_ARGS = --tag $(PREPROCESS_IMAGE) \
	  --file '$(IMAGE_STAGE)/agent/linux-{arch}/edgeupgrade-node:/edgeupgrade-node:0755' \
	  --entrypoint /edgeupgrade-node \
	  --label org.opencontainers.image.title=edgeupgrade-node-preprocess \
	  --label org.opencontainers.image.version=$(AGENT_VERSION)
$(PREPROCESS_TAR) $(PREPROCESS_TAR:.tar=.zstd.tar): $(AGENT_BINS) $(IMAGE_TOOL)
	$(IMAGE_BUILD) -o $@ $(if $(filter %.zstd.tar,$@),--compression zstd,$(call split,node-preprocess_$(AGENT_VERSION))) $(PREPROCESS_ARGS)

# The upgrade image: the base (the agent, kubeadm, kubelet, kubectl) and, with
# CONTAINERD_VERSION, the runtime variant: the same layers first, then containerd's.
UPGRADE_ARGS = --file '$(IMAGE_STAGE)/agent/linux-{arch}/edgeupgrade-node:/edgeupgrade-node:0755' \
	  --file '$(IMAGE_STAGE)/kube/$(KUBE_VERSION)/linux-{arch}/kubeadm:/usr/local/bin/kubeadm:0755' \
	  --file '$(IMAGE_STAGE)/kube/$(KUBE_VERSION)/linux-{arch}/kubelet:/usr/local/bin/kubelet:0755' \
	  --file '$(IMAGE_STAGE)/kube/$(KUBE_VERSION)/linux-{arch}/kubectl:/usr/local/bin/kubectl:0755' \
	  --entrypoint /edgeupgrade-node --env EDGEUPGRADE_BIN_DIR=/usr/local/bin \
	  --label org.opencontainers.image.title=edgeupgrade-upgrade \
	  --label org.opencontainers.image.version=$(KUBE_VERSION) \
	  --label io.edgeupgrade.agent-version=$(AGENT_VERSION)
$(UPGRADE_TAR) $(UPGRADE_TAR:.tar=.zstd.tar): $(AGENT_BINS) $(KUBE_STAMPS) $(IMAGE_TOOL)
	$(IMAGE_BUILD) -o $@ $(if $(filter %.zstd.tar,$@),--compression zstd,$(call split,upgrade_$(KUBE_VERSION))) \
	  --tag $(UPGRADE_IMAGE) $(UPGRADE_ARGS)

ifneq ($(CONTAINERD_VERSION),)
$(UPGRADE_RUNTIME_TAR) $(UPGRADE_RUNTIME_TAR:.tar=.zstd.tar): $(AGENT_BINS) $(KUBE_STAMPS) $(CONTAINERD_STAMPS) $(IMAGE_TOOL)
	$(IMAGE_BUILD) -o $@ $(if $(filter %.zstd.tar,$@),--compression zstd,$(call split,upgrade_$(KUBE_VERSION)-containerd-$(CONTAINERD_VERSION))) \
	  --tag $(UPGRADE_RUNTIME_IMAGE) $(UPGRADE_ARGS) $(CONTAINERD_FILES)
endif

# agent-test: the agent's, host checks' and image tool's tests (fake kube binaries,
# a fake node in a temp dir, small fake files for images; no Kubernetes build), then
# the agent cross-built for every image arch and a node-preprocess image from it.
agent-test: ## node agent, host checks and image tool tests (fast; no Kubernetes build)
	$(GO) test -count=1 ./pkg/nodeagent/... ./pkg/hostcheck/... ./cmd/edgeupgrade-node/... ./cmd/edgeupgrade-image/...
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	for a in $(IMAGE_ARCHES); do \
	  CGO_ENABLED=0 GOOS=linux GOARCH=$$a $(GO) build -trimpath -o $$tmp/linux-$$a/edgeupgrade-node ./cmd/edgeupgrade-node || exit 1; \
	done && \
	$(GO) build -o $$tmp/edgeupgrade-image ./cmd/edgeupgrade-image && \
	$$tmp/edgeupgrade-image build -q -o $$tmp/np.tar --tag $(PREPROCESS_IMAGE) $(IMAGE_PLATFORM_FLAGS) \
	  --file "$$tmp/linux-{arch}/edgeupgrade-node:/edgeupgrade-node:0755" --entrypoint /edgeupgrade-node && \
	$$tmp/edgeupgrade-image inspect $$tmp/np.tar > $$tmp/np.json && \
	for a in $(IMAGE_ARCHES); do grep -q "\"platform\": \"linux/$$a\"" $$tmp/np.json || { echo "agent-test: no linux/$$a image" >&2; exit 1; }; done && \
	grep -q '"path": "/edgeupgrade-node"' $$tmp/np.json && \
	echo "agent-test: node-preprocess image for $(IMAGE_ARCHES) built and inspected"

TEST_SUITES += agent-test

# The driver's image: the driver binary alone, run as a non-root user (the Job's pod sets it).
$(DRIVER_TAR) $(DRIVER_TAR:.tar=.zstd.tar): $(DRIVER_BINS) $(IMAGE_TOOL)
	$(IMAGE_BUILD) -o $@ $(if $(filter %.zstd.tar,$@),--compression zstd,$(call split,edgeupgrade_$(AGENT_VERSION))) \
	  --tag $(DRIVER_IMAGE) \
	  --file '$(IMAGE_STAGE)/driver/linux-{arch}/edgeupgrade-driver:/edgeupgrade-driver:0755' \
	  --entrypoint /edgeupgrade-driver \
	  --label org.opencontainers.image.title=edgeupgrade \
	  --label org.opencontainers.image.version=$(AGENT_VERSION)
