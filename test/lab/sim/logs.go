package sim

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
)

// LogsResource is kwok's Logs kind: a pod's container log files, which kwok's kubelet
// API serves as `kubectl logs` (kwok runs with enableCRDs: [Logs]).
var LogsResource = schema.GroupVersionResource{Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: "logs"}

// ContainerLogs writes the simulated node agent's log lines where kwok serves them: one
// file per pod container under Dir, in the container runtime's log format, and one kwok
// Logs object per pod (owned by the pod, so it goes with it) naming those files.
type ContainerLogs struct {
	Dir    string
	Client dynamic.Interface

	mu   sync.Mutex
	pods map[types.UID]bool // pods whose Logs object exists
}

// NewContainerLogs returns a writer into dir (created if missing).
func NewContainerLogs(dir string, client dynamic.Interface) (*ContainerLogs, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return &ContainerLogs{Dir: dir, Client: client, pods: map[types.UID]bool{}}, nil
}

// File is where container's log of pod lives.
func (c *ContainerLogs) File(pod *corev1.Pod, container string) string {
	return filepath.Join(c.Dir, fmt.Sprintf("%s_%s_%s_%s.log", pod.Namespace, pod.Name, pod.UID, container))
}

// Write appends lines to container's log of pod, as the container's standard output.
func (c *ContainerLogs) Write(ctx context.Context, pod *corev1.Pod, container string, lines ...string) error {
	if err := c.ensureObject(ctx, pod); err != nil {
		return err
	}
	f, err := os.OpenFile(c.File(pod, container), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(CRILine(time.Now(), l))
	}
	if _, err := f.WriteString(b.String()); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// CRILine is one line of a container log file as a container runtime writes it (and as
// kwok reads it back): time stamp, stream, "F" for a full line, text.
func CRILine(t time.Time, text string) string {
	return t.UTC().Format(time.RFC3339Nano) + " stdout F " + text + "\n"
}

func (c *ContainerLogs) ensureObject(ctx context.Context, pod *corev1.Pod) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pods[pod.UID] {
		return nil
	}
	var logs []any
	for _, ct := range append(append([]corev1.Container(nil), pod.Spec.InitContainers...), pod.Spec.Containers...) {
		logs = append(logs, map[string]any{"containers": []any{ct.Name}, "logsFile": c.File(pod, ct.Name)})
	}
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": LogsResource.GroupVersion().String(),
		"kind":       "Logs",
		"metadata": map[string]any{
			"name":      pod.Name,
			"namespace": pod.Namespace,
		},
		"spec": map[string]any{"logs": logs},
	}}
	obj.SetOwnerReferences([]metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID}})
	_, err := c.Client.Resource(LogsResource).Namespace(pod.Namespace).Create(ctx, obj, metav1.CreateOptions{FieldManager: "edgeupgrade-lab"})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create kwok Logs %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	c.pods[pod.UID] = true
	return nil
}

// Forget drops what is kept of a deleted pod: its files (its Logs object goes with the
// pod through its owner reference).
func (c *ContainerLogs) Forget(pod *corev1.Pod) {
	c.mu.Lock()
	delete(c.pods, pod.UID)
	c.mu.Unlock()
	files, _ := filepath.Glob(filepath.Join(c.Dir, fmt.Sprintf("%s_%s_%s_*.log", pod.Namespace, pod.Name, pod.UID)))
	for _, f := range files {
		_ = os.Remove(f)
	}
}

// LogsCRD is the CustomResourceDefinition of kwok's Logs kind, which kwok expects to
// exist when it runs with enableCRDs: [Logs]. The schema keeps every field: kwok
// validates what it reads.
func LogsCRD() *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1",
		"kind":       "CustomResourceDefinition",
		"metadata":   map[string]any{"name": LogsResource.Resource + "." + LogsResource.Group},
		"spec": map[string]any{
			"group": LogsResource.Group,
			"names": map[string]any{"kind": "Logs", "listKind": "LogsList", "plural": "logs", "singular": "logs"},
			"scope": "Namespaced",
			"versions": []any{map[string]any{
				"name": LogsResource.Version, "served": true, "storage": true,
				"subresources": map[string]any{"status": map[string]any{}},
				"schema": map[string]any{"openAPIV3Schema": map[string]any{
					"type": "object", "x-kubernetes-preserve-unknown-fields": true,
				}},
			}},
		},
	}}
}
