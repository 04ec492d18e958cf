package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// TestOutageReportedOnceEach: an outage of many failed retries is one warning, with
// when it began and the last error; its end is one line, once the probe answers; a
// later outage is reported again.
func TestOutageReportedOnceEach(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 7, 31, 2, 0, time.UTC)
	refused := errors.New("dial tcp 127.0.0.1:6443: connect: connection refused")
	down := func(context.Context) error { return refused }
	up := func(context.Context) error { return nil }
	var o outage
	ctx := context.Background()
	type step struct {
		fail  error // a reflector's failure first, if any
		probe func(context.Context) error
		want  string // the reason and message reported, "" for none
	}
	for i, s := range []step{
		{nil, up, ""},
		{refused, down, "APIServerUnreachable: the API server fails this driver's requests since 07:31:04 (dial tcp 127.0.0.1:6443: connect: connection refused); retrying, and node Jobs already started go on meanwhile"},
		{refused, down, ""},
		{errors.New("Get pods: forbidden"), down, ""},
		{nil, down, ""},
		{nil, up, "APIServerReachable: the API server answers again, after 5s"},
		{nil, up, ""},
		{refused, up, "APIServerUnreachable: the API server fails this driver's requests since 07:31:10"},
		{nil, up, "APIServerReachable: the API server answers again, after 2s"},
	} {
		now := t0.Add(time.Duration(i+1) * time.Second)
		if s.fail != nil {
			o.failed(now, s.fail)
		}
		evs := o.report(ctx, now.Add(time.Second), s.probe)
		var got string
		for _, e := range evs {
			got += e.Reason + ": " + e.Message
		}
		if s.want == "" && got != "" || !strings.HasPrefix(got, s.want) {
			t.Errorf("step %d: reported %q, want %q", i, got, s.want)
		}
		for _, e := range evs {
			if (e.Reason == upgrade.ReasonAPIUnreachable) != (e.Type == upgrade.Warning) {
				t.Errorf("step %d: %s is a %s event", i, e.Reason, e.Type)
			}
		}
	}
}

// TestWatchOutageLeavesNormalEndsOut: a watch closed or expired (the reflector lists
// again) is no outage; a refused connection, a timeout or a refusal is.
func TestWatchOutageLeavesNormalEndsOut(t *testing.T) {
	gr := schema.GroupResource{Resource: "pods"}
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{io.EOF, false},
		{io.ErrUnexpectedEOF, false},
		{fmt.Errorf("Get \"https://127.0.0.1:6443/api/v1/pods\": %w", io.EOF), true}, // a request that met a closed connection
		{apierrors.NewResourceExpired("too old resource version"), false},
		{&apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: 410, Reason: metav1.StatusReasonGone}}, false},
		{errors.New("dial tcp 127.0.0.1:6443: connect: connection refused"), true},
		{apierrors.NewForbidden(gr, "", errors.New("RBAC")), true},
		{apierrors.NewTimeoutError("slow", 1), true},
	} {
		if got := watchOutage(tc.err); got != tc.want {
			t.Errorf("watchOutage(%v) = %t, want %t", tc.err, got, tc.want)
		}
	}
}

// TestUnanswered: the Lease's failures that tell of an outage are the ones the API
// server did not or could not answer; a conflict or a refusal is an answer.
func TestUnanswered(t *testing.T) {
	gr := schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{errors.New("dial tcp 127.0.0.1:6443: connect: connection refused"), true},
		{context.DeadlineExceeded, true},
		{apierrors.NewServiceUnavailable("starting"), true},
		{apierrors.NewInternalError(errors.New("etcd")), true},
		{apierrors.NewTooManyRequests("busy", 1), true},
		{apierrors.NewTimeoutError("slow", 1), true},
		{apierrors.NewConflict(gr, "edgeupgrade-driver", errors.New("modified")), false},
		{apierrors.NewForbidden(gr, "edgeupgrade-driver", errors.New("RBAC")), false},
		{apierrors.NewNotFound(gr, "edgeupgrade-driver"), false},
	} {
		if got := unanswered(tc.err); got != tc.want {
			t.Errorf("unanswered(%v) = %t, want %t", tc.err, got, tc.want)
		}
	}
}
