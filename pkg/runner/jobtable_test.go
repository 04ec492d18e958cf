package runner

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	metafake "k8s.io/client-go/metadata/fake"
	"k8s.io/client-go/rest"
	clienttesting "k8s.io/client-go/testing"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/status"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// jobTable is a Table of Jobs as the API server's Job printer writes it, without objects.
func jobTable(t *testing.T, rows ...[2]string) []byte {
	t.Helper()
	tab := metav1.Table{TypeMeta: metav1.TypeMeta{Kind: "Table", APIVersion: "meta.k8s.io/v1"}}
	for _, c := range []string{"Name", "Status", "Completions", "Duration", "Age"} {
		tab.ColumnDefinitions = append(tab.ColumnDefinitions, metav1.TableColumnDefinition{Name: c, Type: "string"})
	}
	for _, r := range rows {
		tab.Rows = append(tab.Rows, metav1.TableRow{Cells: []any{r[0], r[1], "1/1", "5s", "9m"}})
	}
	b, err := json.Marshal(tab)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestLeanCacheReadsFinishedBatchesAsTables: a one-shot command of a run that records
// its finished batches never lists every Job's metadata (18 MiB at 5,000 nodes): it
// reads each finished batch's Jobs as a Table without objects, the batch in flight's
// as metadata, and the Jobs not succeeded in full. The observation is the core's as
// before (who has a Job, in which batch and pool, which succeeded), and status shows
// each finished batch's nodes, result and recorded times.
func TestLeanCacheReadsFinishedBatchesAsTables(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	t0 := now.Add(-time.Hour)
	rec := func(i, pool string, m int) upgrade.BatchRecord {
		at := t0.Add(time.Duration(m) * time.Minute)
		return upgrade.BatchRecord{Index: i, Pool: pool, StartedAt: at, FinishedAt: at.Add(30 * time.Second)}
	}
	st := upgrade.State{RunID: "run1", Phase: upgrade.PhaseNodes, Spec: upgrade.Spec{TargetVersion: "v1.36.3", Mode: upgrade.ModeAll},
		MasterSerial: 1, Batches: 3, HistoryKept: true,
		History: []upgrade.BatchRecord{rec("m1", "", 0), rec("1", "pool-a", 1), rec("2", "pool-a", 2)},
		Current: &upgrade.Batch{Index: 3, Role: upgrade.RoleWorker, Pool: "pool-a", Nodes: []string{"edge-03"}, StartedAt: now, JobsCreated: true}}
	name := func(n string) string { return job.Name("run1", n) }
	tables := map[string][]byte{
		"m1": jobTable(t, [2]string{name("master-1"), "Complete"}),
		"1":  jobTable(t, [2]string{name("edge-01"), "Complete"}, [2]string{name("edge-gone"), "Complete"}),
		// edge-02's Job failed, and was deleted since for a retry: not a Job any more.
		"2": jobTable(t, [2]string{name("edge-02"), "Failed"}),
	}
	var mu sync.Mutex
	var asked []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q, _ := url.ParseQuery(r.URL.RawQuery)
		if r.URL.Path == "/api/v1/nodes" {
			_, _ = w.Write(nodeTable(t,
				[3]any{metav1.ObjectMeta{Name: "master-1", Labels: map[string]string{"node-role.kubernetes.io/control-plane": ""}}, "Ready", "v1.36.3"},
				[3]any{metav1.ObjectMeta{Name: "edge-01"}, "Ready", "v1.36.3"},
				[3]any{metav1.ObjectMeta{Name: "edge-02"}, "Ready", "v1.35.4"},
				[3]any{metav1.ObjectMeta{Name: "edge-03"}, "Ready", "v1.35.4"}))
			return
		}
		sel := q.Get("labelSelector")
		mu.Lock()
		asked = append(asked, sel[strings.LastIndex(sel, "=")+1:])
		mu.Unlock()
		if r.URL.Path != "/apis/batch/v1/namespaces/kube-upgrade/jobs" || q.Get("includeObject") != "None" ||
			!strings.Contains(r.Header.Get("Accept"), "as=Table") || !strings.HasPrefix(sel, job.NodeUpgradeSelector("run1")+","+job.LabelBatch+"=") {
			t.Errorf("unexpected request %s?%s (Accept %s)", r.URL.Path, r.URL.RawQuery, r.Header.Get("Accept"))
		}
		_, _ = w.Write(tables[sel[strings.LastIndex(sel, "=")+1:]])
	}))
	defer srv.Close()
	core, err := corev1client.NewForConfig(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	active := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: name("edge-03"), Namespace: job.Namespace, CreationTimestamp: metav1.NewTime(now),
		Labels:      map[string]string{job.LabelManagedBy: job.ManagedBy, job.LabelRun: "run1", job.LabelComponent: job.ComponentNodeUpgrade, job.LabelBatch: "3", job.LabelRole: "worker"},
		Annotations: map[string]string{job.AnnotationNode: "edge-03", job.AnnotationPool: "pool-a"}}}
	scheme := runtime.NewScheme()
	_ = metav1.AddMetaToScheme(scheme)
	// The Job of a node no longer in scope is read for its node annotation (a reactor:
	// the fake lists every object whatever the label selector).
	gone := runJobMeta(name("edge-gone"), "edge-gone", t0, t0)
	md := metafake.NewSimpleMetadataClient(scheme, runJobMeta(name("edge-03"), "edge-03", now, now))
	md.PrependReactor("get", "jobs", func(a clienttesting.Action) (bool, runtime.Object, error) {
		if a.(clienttesting.GetAction).GetName() == gone.Name {
			return true, gone, nil
		}
		return false, nil, nil
	})
	c, err := NewCache(ctx, fake.NewClientset(active), st, CacheOptions{Lean: true, Metadata: md, Table: core.RESTClient()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()

	slices.Sort(asked)
	if want := []string{"1", "2", "m1"}; !slices.Equal(asked, want) {
		t.Errorf("Tables read for batches %v, want the finished ones %v", asked, want)
	}
	for _, a := range md.Actions() {
		if l, ok := a.(clienttesting.ListAction); ok && !strings.Contains(l.GetListRestrictions().Labels.String(), job.LabelBatch+"=3") {
			t.Errorf("metadata listed beyond the batch in flight: %s", l.GetListRestrictions().Labels)
		}
	}

	obs, err := c.Observe(st)
	if err != nil {
		t.Fatal(err)
	}
	for node, want := range map[string]upgrade.Job{
		"master-1":  {Name: name("master-1"), Node: "master-1", Batch: "m1", Role: upgrade.RoleMaster, Phase: upgrade.JobSucceeded},
		"edge-01":   {Name: name("edge-01"), Node: "edge-01", Batch: "1", Pool: "pool-a", Role: upgrade.RoleWorker, Phase: upgrade.JobSucceeded},
		"edge-gone": {Name: name("edge-gone"), Node: "edge-gone", Batch: "1", Pool: "pool-a", Role: upgrade.RoleWorker, Phase: upgrade.JobSucceeded},
	} {
		if got := obs.Jobs[node]; got != want {
			t.Errorf("%s: got %+v, want %+v", node, got, want)
		}
	}
	if j, ok := obs.Jobs["edge-02"]; ok {
		t.Errorf("a failed Job deleted since the Table was read is observed: %+v", j)
	}
	if j := obs.Jobs["edge-03"]; j.Phase != upgrade.JobActive || j.Batch != "3" {
		t.Errorf("the batch in flight's Job listed in full: %+v", j)
	}

	v := status.Build(st, obs, nil, now)
	if len(v.Batches) != 3 {
		t.Fatalf("history: %+v", v.Batches)
	}
	one := v.Batches[1]
	if one.Index != "1" || one.Size != 2 || !slices.Equal(one.Nodes, []string{"edge-01", "edge-gone"}) || one.Result != "Succeeded" ||
		one.StartedAt == nil || !one.StartedAt.Equal(st.History[1].StartedAt) || one.FinishedAt == nil || !one.FinishedAt.Equal(st.History[1].FinishedAt) {
		t.Errorf("batch 1 in status: %+v", one)
	}
	if cur := v.Batches[2]; cur.Index != "3" || cur.Result != "Running" || cur.FinishedAt != nil {
		t.Errorf("the batch in flight in status: %+v", cur)
	}
}

// TestLeanCacheWithoutHistoryListsEveryJobsMetadata: a run whose state does not record
// every finished batch (started by an older plugin, or past upgrade.MaxHistory) is
// read as before, every Job's metadata, and no Table of Jobs is asked for.
func TestLeanCacheWithoutHistoryListsEveryJobsMetadata(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/nodes" {
			t.Errorf("unexpected request %s", r.URL.Path)
		}
		_, _ = w.Write(nodeTable(t, [3]any{metav1.ObjectMeta{Name: "edge-01"}, "Ready", "v1.36.3"}))
	}))
	defer srv.Close()
	core, err := corev1client.NewForConfig(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	scheme := runtime.NewScheme()
	_ = metav1.AddMetaToScheme(scheme)
	md := metafake.NewSimpleMetadataClient(scheme, runJobMeta(job.Name("run1", "edge-01"), "edge-01", now, now))
	st := upgrade.State{RunID: "run1", Phase: upgrade.PhaseNodes, Batches: 3}
	c, err := NewCache(ctx, fake.NewClientset(), st, CacheOptions{Lean: true, Metadata: md, Table: core.RESTClient()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	obs, err := c.Observe(st)
	if err != nil {
		t.Fatal(err)
	}
	if j := obs.Jobs["edge-01"]; j.Phase != upgrade.JobSucceeded || j.Batch != "3" {
		t.Fatalf("Job from metadata: %+v", j)
	}
}
