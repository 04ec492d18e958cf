package job

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
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
