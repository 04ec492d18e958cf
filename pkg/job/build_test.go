package job

import (
	corev1 "k8s.io/api/core/v1"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/internal/golden"
)

func TestNameIsDeterministicAndValid(t *testing.T) {
	long := strings.Repeat("edge-node.region-north.", 12) + "x"
	for _, node := range []string{"edge-a-001", "Edge_Node.01", long, "10.0.0.1", "a"} {
		n := Name("2611231000-abcd", node)
		if n != Name("2611231000-abcd", node) {
			t.Fatalf("%q: name not deterministic", node)
		}
		if errs := validation.IsDNS1123Label(n); len(errs) > 0 {
			t.Errorf("%q: job name %q invalid: %v", node, n, errs)
		}
		if errs := validation.IsValidLabelValue(NodeHash(node)); len(errs) > 0 {
			t.Errorf("%q: node hash invalid: %v", node, errs)
		}
	}
	if n := StageName("2611231000-abcd", long); n == Name("2611231000-abcd", long) || len(validation.IsDNS1123Label(n)) > 0 {
		t.Errorf("staging Job name %q: invalid or the node Job's", n)
	}
	if Name("r", "edge-1") == Name("r", "edge-2") || Name("r1", "edge-1") == Name("r2", "edge-1") {
		t.Fatal("names collide across nodes or runs")
	}
	// Two long names with the same 24-character prefix still differ.
	if Name("r", long+"1") == Name("r", long+"2") {
		t.Fatal("long names collide")
	}
}

func TestBuildPinsAndLabels(t *testing.T) {
	j := Build(Params{RunID: "r", TargetVersion: "v1.36.3", PreprocessImage: "p", UpgradeImage: "u", TimeoutSeconds: 90},
		NodeJob{Node: "edge-1", Pool: "pool-a", Batch: "3", Role: RoleWorker})
	if j.Spec.Template.Spec.NodeName != "edge-1" || j.Labels[LabelBatch] != "3" || j.Annotations[AnnotationPool] != "pool-a" ||
		j.Spec.Template.Labels[LabelRun] != "r" || j.Spec.Template.Annotations[AnnotationTargetVersion] != "v1.36.3" ||
		j.Spec.Template.Spec.InitContainers[0].Image != "p" || j.Spec.Template.Spec.Containers[0].Image != "u" ||
		j.Spec.Template.Spec.Containers[0].Command[1] != "upgrade" || len(j.OwnerReferences) != 0 {
		t.Fatalf("job %+v", j)
	}
}

func TestBuildCheck(t *testing.T) {
	p := CheckParams{RunID: "check-0a1b2c3d", Image: "p", TimeoutSeconds: 120}
	j := BuildCheck(p, "edge-1", RoleWorker)
	if j.Spec.Template.Spec.NodeName != "edge-1" || j.Labels[LabelComponent] != ComponentDeepCheck || j.Labels[LabelNodeHash] != NodeHash("edge-1") ||
		j.Name != Name(p.RunID, "edge-1") || j.Spec.Template.Annotations[AnnotationNode] != "edge-1" || len(j.Spec.Template.Spec.InitContainers) != 0 ||
		j.Spec.Template.Spec.Containers[0].Name != ContainerCheck || j.Spec.Template.Spec.Containers[0].Command[1] != "check" {
		t.Fatalf("job %+v", j)
	}
	if _, ok := j.Annotations[AnnotationTargetVersion]; ok {
		t.Errorf("no --to, but a target-version annotation: %v", j.Annotations)
	}
}

// TestGolden pins both Jobs: they are the contract with the node agent and the lab
// (make golden rewrites testdata/).
func TestGolden(t *testing.T) {
	for file, j := range map[string]any{
		"node-upgrade-job.yaml": Build(Params{RunID: "2611231000-abcd", TargetVersion: "v1.36.3",
			PreprocessImage: "registry.local/edgeupgrade/node-preprocess:v0.1.0", UpgradeImage: "registry.local/edgeupgrade/upgrade:v1.36.3",
			TimeoutSeconds: 1800, OwnerName: "edgeupgrade", OwnerUID: "0b5e7a52-5c2a-4b53-9d3e-0c1f5f6d1e2a"},
			NodeJob{Node: "edge-a-001.region-north.example.com", Pool: "pool-a", Batch: "3", Role: RoleWorker}),
		"stage-job.yaml": BuildStage(Params{RunID: "2611231000-abcd", TargetVersion: "v1.36.3",
			PreprocessImage: "registry.local/edgeupgrade/node-preprocess:v0.1.0", UpgradeImage: "registry.local/edgeupgrade/upgrade:v1.36.3",
			TimeoutSeconds: 1800, OwnerName: "edgeupgrade", OwnerUID: "0b5e7a52-5c2a-4b53-9d3e-0c1f5f6d1e2a"},
			"edge-a-001.region-north.example.com", "pool-a"),
		"deep-check-job.yaml": BuildCheck(CheckParams{RunID: "check-0a1b2c3d", TargetVersion: "v1.36.3",
			Image: "registry.local/edgeupgrade/node-preprocess:v0.1.0", TimeoutSeconds: 120}, "master-1", RoleMaster),
	} {
		t.Run(file, func(t *testing.T) {
			got, err := yaml.Marshal(j)
			if err != nil {
				t.Fatal(err)
			}
			golden.Compare(t, filepath.Join("testdata", file), string(got))
		})
	}
}

// TestDriverGolden pins the driver Job and the watchdog CronJob of a detached run
// (make golden rewrites testdata/).
func TestDriverGolden(t *testing.T) {
	p := DriverParams{RunID: "2611231000-abcd", Image: "registry.local/edgeupgrade/edgeupgrade:v0.1.0",
		OwnerName: "edgeupgrade", OwnerUID: "0b5e7a52-5c2a-4b53-9d3e-0c1f5f6d1e2a"}
	for file, obj := range map[string]any{"driver-job.yaml": BuildDriver(p), "watchdog-cronjob.yaml": BuildWatchdog(p)} {
		t.Run(file, func(t *testing.T) {
			got, err := yaml.Marshal(obj)
			if err != nil {
				t.Fatal(err)
			}
			golden.Compare(t, filepath.Join("testdata", file), string(got))
		})
	}
}

func TestDriverNamesAreValid(t *testing.T) {
	for _, n := range []string{DriverName("2611231000-abcd"), WatchdogName("2611231000-abcd")} {
		// A CronJob's Jobs get an 11-character suffix and must stay a 63-character label.
		if errs := validation.IsDNS1123Label(n + "-29012345"); len(errs) > 0 {
			t.Errorf("%s: %v", n, errs)
		}
	}
	wd := BuildWatchdog(DriverParams{RunID: "r", Image: "i"})
	if _, ok := wd.Spec.JobTemplate.Spec.Template.Labels[LabelRun]; ok {
		t.Error("the watchdog pod carries the run label: the expiry it enforces would delete it mid-pass")
	}
}

// TestBuildRuntimeVersion: a run that upgrades containerd tells both agent containers
// (preprocess backs it up, upgrade replaces it); other runs say nothing of it.
func TestBuildRuntimeVersion(t *testing.T) {
	envOf := func(c corev1.Container) string {
		for _, e := range c.Env {
			if e.Name == EnvRuntimeVersion {
				return e.Value
			}
		}
		return ""
	}
	p := Params{RunID: "r", TargetVersion: "v1.36.3", PreprocessImage: "p", UpgradeImage: "u", TimeoutSeconds: 90}
	j := Build(p, NodeJob{Node: "edge-1", Pool: "a", Batch: "1", Role: RoleWorker})
	if got := envOf(j.Spec.Template.Spec.InitContainers[0]) + envOf(j.Spec.Template.Spec.Containers[0]); got != "" {
		t.Errorf("%s set without a runtime upgrade: %q", EnvRuntimeVersion, got)
	}
	p.RuntimeVersion = "v2.2.9"
	j = Build(p, NodeJob{Node: "edge-1", Pool: "a", Batch: "1", Role: RoleWorker})
	for _, c := range append(j.Spec.Template.Spec.InitContainers, j.Spec.Template.Spec.Containers...) {
		if got := envOf(c); got != "v2.2.9" {
			t.Errorf("container %s: %s = %q, want v2.2.9", c.Name, EnvRuntimeVersion, got)
		}
	}
}

// The driver's memory request grows with the nodes it watches (as make bench
// measured it), its limit leaves room for a relist, and GOMEMLIMIT sits below the
// limit so that the collector works before the kernel kills.
func TestDriverMemoryGrowsWithTheNodes(t *testing.T) {
	small, smallLim, _ := DriverMemory(103)
	big, bigLim, goLim := DriverMemory(5003)
	mid, _, _ := DriverMemory(1003)
	// The peaks make bench-driver measured: 35, 52 and 132 MiB.
	if small.Cmp(big) >= 0 || small.Value() < 35<<20 || mid.Value() < 52<<20 || big.Value() < 132<<20 || small.Value() > 60<<20 {
		t.Errorf("requests %s at 100 nodes, %s at 5,000: want growing, at least the measured peak at 5,000", small.String(), big.String())
	}
	if smallLim.Value() != 2*small.Value() || bigLim.Value() != 2*big.Value() || goLim >= bigLim.Value() || goLim <= big.Value() {
		t.Errorf("limit %s for %s, GOMEMLIMIT %d", bigLim.String(), big.String(), goLim)
	}
	pod := BuildDriver(DriverParams{RunID: "r", Image: "i", Nodes: 5000}).Spec.Template.Spec.Containers[0]
	if pod.Resources.Requests.Memory().Cmp(big) != 0 || pod.Resources.Limits.Memory().Cmp(bigLim) != 0 {
		t.Errorf("driver pod resources %+v", pod.Resources)
	}
}
