package runner

import (
	"context"
	"errors"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// A batch whose Jobs fail to be created reports every node that failed, not the first.
func TestCreateJobsReportsEveryFailedNode(t *testing.T) {
	f := setup(t, 3)
	ctx := context.Background()
	st, cm, err := f.runner.store.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f.cs.PrependReactor("create", "jobs", func(a k8stesting.Action) (bool, runtime.Object, error) {
		j := a.(k8stesting.CreateAction).GetObject().(*batchv1.Job)
		if n := j.Spec.Template.Annotations[job.AnnotationNode]; n != "edge-02" {
			return true, nil, errors.New("quota exceeded for " + n)
		}
		return false, nil, nil
	})
	b := &upgrade.Batch{Index: 1, Role: upgrade.RoleWorker, Nodes: []string{"edge-01", "edge-02", "edge-03"}}
	err = f.runner.createJobs(ctx, st, cm, upgrade.Action{Kind: upgrade.CreateJobs, Batch: b, Nodes: b.Nodes})
	if err == nil {
		t.Fatal("no error though two of three Job creations failed")
	}
	for _, want := range []string{`node "edge-01"`, `node "edge-03"`, "quota exceeded"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), `node "edge-02"`) {
		t.Errorf("error %q names a node whose Job was created", err)
	}
}
