package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// outage tracks the driver's failures to reach the API server (a control plane that
// restarts, a link that drops), so that it says once, in its own words, that it cannot
// see the cluster, and once when it sees it again. The watches alone do not tell: the
// client retries a broken watch quietly for as long as the outage lasts, and the
// errors that do reach its reflectors (a refusal while the API server starts) would
// print a log line per retry of every watch, over the live view. The Lease, renewed
// every LeaseRetry, is the pulse (Elector.OnError).
type outage struct {
	mu       sync.Mutex
	since    time.Time // the first failure since the API server last answered; zero: none
	last     error
	reported bool
}

// failed records a failure (a reflector's list or watch, the Lease's read or write),
// and reports whether it began an outage.
func (o *outage) failed(now time.Time, err error) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	began := o.since.IsZero()
	if began {
		o.since = now
	}
	o.last = err
	return began
}

// watchOutage: the errors a reflector meets in normal operation (its watch closed,
// its resource version expired: it lists again) are no outage, the others are. As
// client-go's own handler, only a bare EOF is a closed watch: a request that met an
// EOF (a connection closed during its handshake) failed. A refused connection never
// gets here: the reflector retries its watch itself, silently.
func watchOutage(err error) bool {
	return err != nil && err != io.EOF && err != io.ErrUnexpectedEOF && //nolint:errorlint // as client-go's DefaultWatchErrorHandler
		!apierrors.IsResourceExpired(err) && !apierrors.IsGone(err)
}

// unanswered: the API server did not answer (a broken connection, a timeout) or could
// not (5xx, 429). A refusal or a conflict is an answer.
func unanswered(err error) bool {
	var st apierrors.APIStatus
	if !errors.As(err, &st) {
		return true
	}
	code := st.Status().Code
	return code == 0 || code >= http.StatusInternalServerError || code == http.StatusTooManyRequests
}

// outageProbe bounds the read that tells whether the API server answers again.
const outageProbe = 2 * time.Second

// report returns what to tell the operator now: the outage once it began, and its end
// once probe (a read the driver needs anyway) succeeds. The reflectors retry on
// their own and report no success, hence the probe.
func (o *outage) report(ctx context.Context, now time.Time, probe func(context.Context) error) []upgrade.Event {
	o.mu.Lock()
	since, last, reported := o.since, o.last, o.reported
	o.reported = !since.IsZero()
	o.mu.Unlock()
	switch {
	case since.IsZero():
		return nil
	case !reported:
		return []upgrade.Event{{Type: upgrade.Warning, Reason: upgrade.ReasonAPIUnreachable, Message: fmt.Sprintf(
			"the API server fails this driver's requests since %s (%v); retrying, and node Jobs already started go on meanwhile", since.Format("15:04:05"), last)}}
	}
	pctx, cancel := context.WithTimeout(ctx, outageProbe)
	defer cancel()
	if probe(pctx) != nil {
		return nil
	}
	o.mu.Lock()
	o.since, o.last, o.reported = time.Time{}, nil, false
	o.mu.Unlock()
	return []upgrade.Event{{Type: upgrade.Normal, Reason: upgrade.ReasonAPIReachable, Message: fmt.Sprintf(
		"the API server answers again, after %s", now.Sub(since).Round(time.Second))}}
}
