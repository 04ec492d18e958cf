// Package store keeps the upgrade state in the ConfigMap kube-upgrade/edgeupgrade:
// a versioned JSON encoding written only with optimistic concurrency.
package store

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// Name of the state ConfigMap in job.Namespace.
const Name = "edgeupgrade"

// Keys of the ConfigMap: schemaVersion and state.json in data, or, for a large state,
// state.json.gz in binaryData instead of state.json.
const (
	KeySchema     = "schemaVersion"
	KeyState      = "state.json"
	KeyStateGzip  = "state.json.gz"
	PlainLimit    = 16 << 10 // a state up to this size stays readable JSON
	maxStateBytes = 8 << 20  // a decompressed state larger than this is corrupt
)

// ErrNoRun means no upgrade was ever started (the ConfigMap does not exist).
var ErrNoRun = errors.New("no upgrade found: start one with kubectl edgeupgrade start --to VERSION")

// CorruptError is a state ConfigMap that cannot be trusted; it is never overwritten.
type CorruptError struct{ Reason string }

func (e *CorruptError) Error() string {
	return fmt.Sprintf("the state ConfigMap %s/%s is not valid (%s); inspect it with "+
		"`kubectl -n %s get configmap %s -o yaml` and restore it, or delete it if no upgrade is running",
		job.Namespace, Name, e.Reason, job.Namespace, Name)
}

// Store reads and writes the state ConfigMap.
type Store struct {
	Client kubernetes.Interface
}

// Get returns the current state and the ConfigMap it came from (for its
// resourceVersion). ErrNoRun when there is none, *CorruptError when it is invalid.
func (s Store) Get(ctx context.Context) (upgrade.State, *corev1.ConfigMap, error) {
	cm, err := s.Client.CoreV1().ConfigMaps(job.Namespace).Get(ctx, Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return upgrade.State{}, nil, ErrNoRun
	}
	if err != nil {
		return upgrade.State{}, nil, fmt.Errorf("read state ConfigMap %s/%s: %w", job.Namespace, Name, err)
	}
	st, err := Decode(cm)
	return st, cm, err
}

// Create writes the first state of a run. An existing ConfigMap is replaced only
// through prev (its resourceVersion guards against a concurrent start).
func (s Store) Create(ctx context.Context, prev *corev1.ConfigMap, st upgrade.State) (*corev1.ConfigMap, error) {
	if prev != nil {
		return s.Update(ctx, prev, st)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
		Name: Name, Namespace: job.Namespace,
		Labels: map[string]string{job.LabelManagedBy: job.ManagedBy},
	}}
	if err := Encode(st, cm); err != nil {
		return nil, err
	}
	out, err := s.Client.CoreV1().ConfigMaps(job.Namespace).Create(ctx, cm, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("write state ConfigMap %s/%s: %w", job.Namespace, Name, err)
	}
	return out, nil
}

// Update writes st over cm if nobody changed cm since it was read: a Conflict error
// (apierrors.IsConflict) means someone else advanced the run; re-read and re-decide.
func (s Store) Update(ctx context.Context, cm *corev1.ConfigMap, st upgrade.State) (*corev1.ConfigMap, error) {
	next := cm.DeepCopy()
	if err := Encode(st, next); err != nil {
		return nil, err
	}
	out, err := s.Client.CoreV1().ConfigMaps(job.Namespace).Update(ctx, next, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("update state ConfigMap %s/%s: %w", job.Namespace, Name, err)
	}
	return out, nil
}

// Encode writes st into cm. A state above PlainLimit (a batch of 1,000 long node
// names) is gzipped into binaryData: node names compress about 8:1, which keeps the
// ConfigMap far below 64 KiB at 10,000 nodes (docs/design.md §4).
func Encode(st upgrade.State, cm *corev1.ConfigMap) error {
	st.SchemaVersion = upgrade.SchemaVersion
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	if cm.Data == nil {
		cm.Data = map[string]string{}
	}
	cm.Data[KeySchema] = strconv.Itoa(upgrade.SchemaVersion)
	delete(cm.Data, KeyState)
	delete(cm.BinaryData, KeyStateGzip)
	if len(b) <= PlainLimit {
		cm.Data[KeyState] = string(b)
		return nil
	}
	var z bytes.Buffer
	w := gzipWriters.Get().(*gzip.Writer)
	defer gzipWriters.Put(w)
	w.Reset(&z)
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("compress state: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("compress state: %w", err)
	}
	if cm.BinaryData == nil {
		cm.BinaryData = map[string][]byte{}
	}
	cm.BinaryData[KeyStateGzip] = z.Bytes()
	return nil
}

// gzipWriters reuses compressors: each holds ~800 KB of tables, and a driver writes
// the state on every decision.
var gzipWriters = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(nil, gzip.BestCompression) // a valid level never errs
	return w
}}

// rawState returns the state's JSON from whichever key holds it.
func rawState(cm *corev1.ConfigMap) ([]byte, error) {
	plain, hasPlain := cm.Data[KeyState]
	packed, hasPacked := cm.BinaryData[KeyStateGzip]
	switch {
	case hasPlain && hasPacked:
		return nil, &CorruptError{Reason: "both " + KeyState + " and " + KeyStateGzip + " are set"}
	case hasPlain:
		return []byte(plain), nil
	case !hasPacked:
		return nil, &CorruptError{Reason: "key " + KeyState + " is missing"}
	}
	r, err := gzip.NewReader(bytes.NewReader(packed))
	if err != nil {
		return nil, &CorruptError{Reason: "cannot decompress " + KeyStateGzip + ": " + err.Error()}
	}
	b, err := io.ReadAll(io.LimitReader(r, maxStateBytes+1))
	if err != nil {
		return nil, &CorruptError{Reason: "cannot decompress " + KeyStateGzip + ": " + err.Error()}
	}
	if len(b) > maxStateBytes {
		return nil, &CorruptError{Reason: fmt.Sprintf("%s decompresses to more than %d bytes", KeyStateGzip, maxStateBytes)}
	}
	return b, nil
}

// Decode reads and validates the state in cm.
func Decode(cm *corev1.ConfigMap) (upgrade.State, error) {
	var st upgrade.State
	raw, err := rawState(cm)
	if err != nil {
		return st, err
	}
	v, err := strconv.Atoi(cm.Data[KeySchema])
	switch {
	case err != nil:
		return st, &CorruptError{Reason: fmt.Sprintf("%s %q is not a number", KeySchema, cm.Data[KeySchema])}
	case v > upgrade.SchemaVersion:
		return st, fmt.Errorf("the upgrade state was written by a newer kubectl-edgeupgrade (schema %d, this plugin reads up to %d); upgrade the plugin", v, upgrade.SchemaVersion)
	case v < 1:
		return st, &CorruptError{Reason: fmt.Sprintf("unknown %s %d", KeySchema, v)}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return st, &CorruptError{Reason: "cannot decode " + KeyState + ": " + err.Error()}
	}
	if st.SchemaVersion != v {
		return st, &CorruptError{Reason: fmt.Sprintf("%s says %d but the state says %d", KeySchema, v, st.SchemaVersion)}
	}
	if err := upgrade.Validate(st); err != nil {
		return st, &CorruptError{Reason: err.Error()}
	}
	return st, nil
}
