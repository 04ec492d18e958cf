package hostcheck

// removal lists what a kubelet minor release no longer accepts: a kubelet started
// with any of these fails to start. Data from the Kubernetes changelogs as collected by
// siderolabs/go-kubernetes (upgrade/checks.go) for kubelet flags and feature gates.
type removal struct {
	flags        []string // kubelet command-line flags, without "--"
	featureGates []string // --feature-gates / featureGates keys
	configFields []string // KubeletConfiguration fields (top-level keys)
}

// kubeletRemovals is keyed by the minor release that removed the items (1.x).
var kubeletRemovals = map[uint]removal{
	27: {flags: []string{"container-runtime", "master-service-namespace"}},
	31: {flags: []string{"keep-terminated-pod-volumes", "iptables-masquerade-bit", "iptables-drop-bit"}},
	33: {featureGates: []string{"AppArmor", "AppArmorFields", "CPUManager", "DisableCloudProviders", "DisableKubeletCloudCredentialProviders"}},
	34: {flags: []string{"cloud-config"}, featureGates: []string{"DevicePluginCDIDevices", "LegacySidecarContainers", "PodDisruptionConditions"}},
	35: {flags: []string{"pod-infra-container-image"}, featureGates: []string{"SizeMemoryBackedVolumes", "UserNamespacesHostNetworkSupport"}},
	36: {featureGates: []string{"CSIMigrationPortworx", "InTreePluginPortworxUnregister", "WatchFromStorageWithoutResourceVersion"}},
}
