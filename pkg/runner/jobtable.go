package runner

import (
	"context"
	"errors"
	"fmt"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// A one-shot command of a run whose state records every finished batch
// (upgrade.HistoryComplete) reads the Jobs of those batches as the API server's
// Table with no object: per Job its name and Status cell, one request per batch
// label. That is what the core and status need of them — which nodes have a Job, in
// which batch, and whether it failed (the failed ones are read in full anyway) — at
// about a hundred bytes a Job, where their metadata (managed fields, owner, labels,
// annotations) is over three KiB: at 5,000 nodes 18 MiB per call. The batches'
// times come from the state's records, the batch in flight's Jobs as metadata.

// jobRow is one row of a Table of Jobs.
type jobRow struct {
	Name, Status, Batch string
}

// jobTableParallel bounds the concurrent Table reads (one per batch).
const jobTableParallel = 8

// readJobTables lists the node Jobs of each batch label as Tables, in parallel.
func readJobTables(ctx context.Context, rc rest.Interface, runID string, batches []string) ([]jobRow, error) {
	out := make([][]jobRow, len(batches))
	errs := forEachLimit(len(batches), jobTableParallel, func(i int) error {
		var err error
		out[i], err = readJobTable(ctx, rc, runID, batches[i])
		return err
	})
	var rows []jobRow
	for i := range batches {
		if errs[i] != nil {
			return nil, errs[i]
		}
		rows = append(rows, out[i]...)
	}
	return rows, nil
}

// readJobTable lists one batch's node Jobs as a Table (names and Status only), from
// the API server's watch cache.
func readJobTable(ctx context.Context, rc rest.Interface, runID, label string) ([]jobRow, error) {
	raw, err := rc.Get().AbsPath("/apis/batch/v1/namespaces", job.Namespace, "jobs").
		Param("labelSelector", job.NodeUpgradeSelector(runID)+","+job.LabelBatch+"="+label).
		Param("resourceVersion", "0").Param("includeObject", string(metav1.IncludeNone)).
		SetHeader("Accept", tableAccept).Do(ctx).Raw()
	if err != nil {
		return nil, fmt.Errorf("list the Jobs of batch %s: %w", label, err)
	}
	rows, err := jobsFromTable(raw, label)
	if err != nil {
		return nil, fmt.Errorf("list the Jobs of batch %s: %w", label, err)
	}
	return rows, nil
}

// jobsFromTable converts a Table of Jobs (JSON): the Name and Status columns.
func jobsFromTable(raw []byte, label string) ([]jobRow, error) {
	t, col, err := decodeTable(raw, "Job", "Name", "Status")
	if err != nil {
		return nil, err
	}
	nameCol, statusCol := col[0], col[1]
	if nameCol < 0 || statusCol < 0 {
		return nil, fmt.Errorf("the Job table has no Name or Status column")
	}
	out := make([]jobRow, 0, len(t.Rows))
	for _, row := range t.Rows {
		if len(row.Cells) <= max(nameCol, statusCol) {
			return nil, fmt.Errorf("a Job table row has %d cells", len(row.Cells))
		}
		name, _ := row.Cells[nameCol].(string)
		st, _ := row.Cells[statusCol].(string)
		out = append(out, jobRow{Name: name, Status: st, Batch: label})
	}
	return out, nil
}

// closedJobs are the Jobs of the finished batches, from their Tables, by Job name,
// with the node each belongs to.
type closedJobs struct {
	rows map[string]jobRow
	node map[string]string // Job name → node
}

// resolveNodes maps each row to its node: Job names derive from the run and the node
// (job.Name), so the nodes in scope name them; a Job whose node left the scope is
// read as metadata for its node annotation (at most maxNodeGets of them; more are
// left out, as nodes no longer in the cluster).
func (cj *closedJobs) resolveNodes(ctx context.Context, md metadata.Interface, runID string, inScope []string) error {
	byName := make(map[string]string, len(inScope))
	for _, n := range inScope {
		byName[job.Name(runID, n)] = n
	}
	cj.node = make(map[string]string, len(cj.rows))
	gets := 0
	for name := range cj.rows {
		if n, ok := byName[name]; ok {
			cj.node[name] = n
			continue
		}
		if gets == maxNodeGets {
			continue
		}
		gets++
		m, err := md.Resource(batchv1.SchemeGroupVersion.WithResource("jobs")).Namespace(job.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("read Job %s/%s: %w", job.Namespace, name, err)
		}
		cj.node[name] = m.Annotations[job.AnnotationNode]
	}
	return nil
}

// observe adds the finished batches' Jobs to into. A Job the full list (full, by
// name) holds is left to it. Otherwise it has succeeded (the Table was read before
// the full list, which holds every Job not succeeded), unless its row said Failed:
// then it was deleted since (a retry) and is left out.
func (cj *closedJobs) observe(st upgrade.State, into map[string]upgrade.Job, full map[string]bool) {
	for name, r := range cj.rows {
		node := cj.node[name]
		if node == "" || full[name] || r.Status == "Failed" {
			continue
		}
		role := upgrade.RoleWorker
		if strings.HasPrefix(r.Batch, "m") {
			role = upgrade.RoleMaster
		}
		rec, _ := upgrade.RecordOf(st, r.Batch)
		into[node] = upgrade.Job{Name: name, Node: node, Batch: r.Batch, Pool: rec.Pool, Role: role, Phase: upgrade.JobSucceeded}
	}
}

// syncLeanJobs reads the run's succeeded Jobs for a lean cache: every Job's metadata,
// or, when the state records every finished batch and the nodes are read as a Table,
// the finished batches' Tables and the batch in flight's metadata, at once.
func (c *Cache) syncLeanJobs(ctx context.Context, opts CacheOptions, st upgrade.State) error {
	sel := job.NodeUpgradeSelector(st.RunID)
	if opts.Table == nil || !upgrade.HistoryComplete(st) || upgrade.KindOf(st.Spec) != upgrade.KindKubernetes {
		return c.syncJobMetadata(ctx, opts.Metadata, sel)
	}
	var finished []string
	for _, l := range upgrade.BatchLabels(st) {
		if st.Current == nil || l != st.Current.Label() {
			finished = append(finished, l)
		}
	}
	var rows []jobRow
	var tableErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		rows, tableErr = readJobTables(ctx, opts.Table, st.RunID, finished)
	}()
	var metaErr error
	if st.Current != nil {
		metaErr = c.syncJobMetadata(ctx, opts.Metadata, sel+","+job.LabelBatch+"="+st.Current.Label())
	}
	<-done
	if err := errors.Join(metaErr, tableErr); err != nil {
		return err
	}
	c.closed = &closedJobs{rows: make(map[string]jobRow, len(rows))}
	for _, r := range rows {
		c.closed.rows[r.Name] = r
	}
	return nil
}

// nodeNames lists the names of the cached nodes.
func (c *Cache) nodeNames() []string {
	nodes, _ := c.nodes.List(labels.Everything())
	out := make([]string, 0, len(nodes))
	for _, n := range nodes {
		out = append(out, n.Name)
	}
	return out
}

// jobNames is the set of the Jobs' names.
func jobNames(jobs []*batchv1.Job) map[string]bool {
	out := make(map[string]bool, len(jobs))
	for _, j := range jobs {
		out[j.Name] = true
	}
	return out
}
