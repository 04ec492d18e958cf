package precheck

import (
	"k8s.io/apimachinery/pkg/util/version"
)

// maxKubeletLag is how many minors a kubelet may lag the API server: three since
// 1.25 (kubelets older than 1.25: two), per the Kubernetes version-skew policy.
func maxKubeletLag(kubelet *version.Version) int {
	if kubelet.Major() == 1 && kubelet.Minor() < 25 {
		return 2
	}
	return 3
}

// minorDiff returns a.minor - b.minor (same major assumed; majors differ only at 2.0).
func minorDiff(a, b *version.Version) int {
	if a.Major() != b.Major() {
		return int(a.Major()-b.Major()) * 1000
	}
	return int(a.Minor()) - int(b.Minor())
}

// compareRelease compares major.minor.patch, ignoring pre-release and build metadata
// (vendor suffixes such as -aliyun.1 or +k3s1).
func compareRelease(a, b *version.Version) int {
	for _, d := range []int{int(a.Major()) - int(b.Major()), int(a.Minor()) - int(b.Minor()), int(a.Patch()) - int(b.Patch())} {
		if d != 0 {
			return d
		}
	}
	return 0
}

func minorString(v *version.Version) string {
	return version.MajorMinor(v.Major(), v.Minor()).String()
}
