package e2e

// What each node pulls (docs/design.md §8), through the binary: a run that upgrades
// containerd (--runtime-version auto, a node on containerd 1.7) gives the upgrade image
// with containerd only to the nodes whose containerd is older than the runtime target;
// the others get the base image. Each node's staging Job pulls what its node Job runs,
// and node Jobs run their variant by the digest its staging recorded.

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/test/lab"
)

func TestImageVariantPerNode(t *testing.T) {
	t.Parallel()
	began := time.Now()
	e := startLab(t, lab.Config{Masters: 1, Workers: 4, Pools: 1, JobDuration: 100 * time.Millisecond})
	ctx := context.Background()
	// The lab's nodes report containerd 2.0.5; a 1.7 master makes auto upgrade to v2.2.9.
	runtimes := map[string]string{"master-1": "containerd://1.7.22", "edge-a-001": "containerd://2.2.9", "edge-a-004": "containerd://2.3.1"}
	for n, rt := range runtimes {
		if err := e.lab.SetContainerRuntime(ctx, n, rt); err != nil {
			t.Fatal(err)
		}
	}
	// One-shot commands read the nodes as the API server's Table (runner.ListNodesLean):
	// its Container-Runtime cell carries what the choice reads.
	raw, err := e.lab.Client.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes").
		SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").Do(ctx).Raw()
	if err != nil {
		t.Fatal(err)
	}
	var tab metav1.Table
	if err := json.Unmarshal(raw, &tab); err != nil {
		t.Fatal(err)
	}
	col := slices.IndexFunc(tab.ColumnDefinitions, func(c metav1.TableColumnDefinition) bool { return c.Name == "Container-Runtime" })
	for _, row := range tab.Rows {
		if name := row.Cells[0].(string); col < 0 || runtimes[name] != "" && row.Cells[col] != runtimes[name] {
			t.Errorf("%s: the node Table's Container-Runtime column %d says %v, want %s", name, col, row.Cells[max(col, 0)], runtimes[name])
		}
	}
	const base, withRuntime = "lab/upgrade:" + target, "lab/upgrade:" + target + "-containerd-v2.2.9"
	want := map[string]string{"master-1": withRuntime, "edge-a-001": base, "edge-a-002": withRuntime, "edge-a-003": withRuntime, "edge-a-004": base}

	r := e.run("start", "--to", target, "--image-registry", "lab", "--preprocess-image", "lab/pre:1", "--wait")
	if r.code != 0 {
		t.Fatalf("start --wait, runtime upgraded on some nodes: %s", r)
	}
	jobs, err := e.lab.Client.BatchV1().Jobs(job.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	staged, ran := map[string]string{}, map[string]string{}
	for _, j := range jobs.Items {
		node, spec := j.Annotations[job.AnnotationNode], j.Spec.Template.Spec
		switch j.Labels[job.LabelComponent] {
		case job.ComponentStage:
			staged[node] = spec.Containers[1].Image
		case job.ComponentNodeUpgrade:
			ran[node] = spec.Containers[0].Image
			if env := envOf(spec.Containers[0].Env, job.EnvRuntimeVersion); env != "v2.2.9" {
				t.Errorf("%s: node Job asks for runtime %q, want v2.2.9 (the agent decides on the node)", node, env)
			}
		}
	}
	for node, img := range want {
		if staged[node] != img {
			t.Errorf("%s (%s): staging pulled %q, want %s", node, runtimes[node], staged[node], img)
		}
		// The lab's runtime reports a digest made from the reference (sim.imageID).
		if byDigest := fmt.Sprintf("lab/upgrade@sha256:%x", sha256.Sum256([]byte(img))); ran[node] != byDigest {
			t.Errorf("%s: node Job runs %q, want %s (%s by the digest its staging recorded)", node, ran[node], byDigest, img)
		}
	}
	t.Logf("image variants e2e took %s (lab start included)", time.Since(began).Round(100*time.Millisecond))
}

func envOf(env []corev1.EnvVar, name string) string {
	for _, v := range env {
		if v.Name == name {
			return v.Value
		}
	}
	return ""
}
