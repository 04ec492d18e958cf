// Package sim is the lab's simulated kubelet upgrade. It is test infrastructure, never
// product code: it plays the part of the kubelet and the node agent for the plugin's
// Job pods on kwok's fake nodes.
//
// kwok runs every other pod on the fake nodes; the lab's kwok stages leave the plugin's
// node-upgrade and deep-check pods (namespace kube-upgrade, label
// app.kubernetes.io/managed-by=kubectl-edgeupgrade) alone except for deleting them, so
// the simulator alone writes their status and nothing fights over it. The Jobs are run
// by the real job controller, so Job conditions (Complete, Failed with
// BackoffLimitExceeded or DeadlineExceeded) are real.
//
// All behaviour is read from the cluster, so the simulator keeps no configuration of its
// own and a test can change it at runtime with `kubectl annotate`:
//
//   - node annotations (Annotation*) set per-node faults and durations;
//   - the ConfigMap kube-system/edgeupgrade-lab (key jobDuration) sets the default
//     job duration;
//   - the node label LabelNotReady makes kwok report the node NotReady, and the same
//     label on a running pod makes kwok report the pod not Ready.
package sim

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

const (
	// AnnotationFail makes the node's upgrade pod fail: container "upgrade" terminates
	// with exit code 1 and the value as its termination message. A value starting with
	// PreprocessPrefix fails the init container "preprocess" instead (with the rest of
	// the value as its message).
	AnnotationFail = "lab.edgeupgrade.io/fail"
	// AnnotationHang ("true") keeps the node's upgrade pod Running until it is deleted
	// (the Job's activeDeadlineSeconds then fails it).
	AnnotationHang = "lab.edgeupgrade.io/hang"
	// AnnotationJobDuration (a Go duration) overrides the default job duration for the node.
	AnnotationJobDuration = "lab.edgeupgrade.io/job-duration"
	// AnnotationNotReadyDuring makes the node go NotReady when its upgrade pod starts.
	// "true": it stays NotReady and the pod never reports back (an edge node that went
	// offline mid-upgrade; the Job deadline fails it). A Go duration such as "5s": it
	// comes back Ready after that long and the upgrade then finishes normally (a kubelet
	// restart blip).
	AnnotationNotReadyDuring = "lab.edgeupgrade.io/not-ready-during"
	// AnnotationDeepResult, when present, is the termination message of the node's
	// deep-check pod verbatim (JSON of pkg/hostcheck.Result).
	AnnotationDeepResult = "lab.edgeupgrade.io/deep-result"

	// LabelNotReady ("true") makes kwok report the node NotReady (Ready=False,
	// KubeletNotReady); the simulator does not start pods on such a node. On a running
	// pod (a DaemonSet's, say) it makes kwok report the pod not Ready, and Ready again
	// once the label is removed.
	LabelNotReady = "lab.edgeupgrade.io/not-ready"

	// PreprocessPrefix in AnnotationFail selects the init container.
	PreprocessPrefix = "preprocess:"

	// ConfigMapNamespace/ConfigMapName hold the simulator's cluster-wide settings.
	ConfigMapNamespace = "kube-system"
	ConfigMapName      = "edgeupgrade-lab"
	// KeyJobDuration is the default job duration (Go duration) in the ConfigMap.
	KeyJobDuration = "jobDuration"

	// DefaultJobDuration applies when neither the ConfigMap nor the node sets one.
	DefaultJobDuration = 2 * time.Second

	// AnnotationKwokNode marks a node kwok manages; the simulator only acts on those.
	AnnotationKwokNode = "kwok.x-k8s.io/node"
	KwokNodeValue      = "fake"
)

// Knobs is the simulated behaviour of one node, decoded from its annotations.
type Knobs struct {
	// Fail is the failure message ("" = succeed).
	Fail string
	// FailPreprocess fails the init container instead of the main container.
	FailPreprocess bool
	Hang           bool
	// Duration overrides the default job duration when non-zero.
	Duration time.Duration
	// NotReadyDuring: the node goes NotReady when the upgrade pod starts.
	NotReadyDuring bool
	// NotReadyFor is how long it stays NotReady (0 = until the knob is cleared).
	NotReadyFor time.Duration
}

// KnobsOf decodes a node's knobs. Malformed values are reported, not ignored, so a typo
// in a test does not silently turn into a succeeding node.
func KnobsOf(node *corev1.Node) (Knobs, error) {
	var k Knobs
	a := node.Annotations
	if msg, ok := a[AnnotationFail]; ok {
		if rest, found := strings.CutPrefix(msg, PreprocessPrefix); found {
			k.FailPreprocess = true
			msg = strings.TrimSpace(rest)
		}
		if msg == "" {
			msg = "simulated failure"
		}
		k.Fail = msg
	}
	if v, ok := a[AnnotationHang]; ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return k, fmt.Errorf("node %s: annotation %s=%q: want true or false", node.Name, AnnotationHang, v)
		}
		k.Hang = b
	}
	if v, ok := a[AnnotationJobDuration]; ok {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return k, fmt.Errorf("node %s: annotation %s=%q: want a duration such as 3s", node.Name, AnnotationJobDuration, v)
		}
		k.Duration = d
	}
	if v, ok := a[AnnotationNotReadyDuring]; ok {
		if b, err := strconv.ParseBool(v); err == nil {
			k.NotReadyDuring = b
		} else if d, err := time.ParseDuration(v); err == nil && d > 0 {
			k.NotReadyDuring, k.NotReadyFor = true, d
		} else {
			return k, fmt.Errorf("node %s: annotation %s=%q: want true or a duration such as 5s", node.Name, AnnotationNotReadyDuring, v)
		}
	}
	return k, nil
}

// Annotations is the inverse of KnobsOf: the annotations that produce k. Keys of knobs
// that are off map to nil so the result can be used as a JSON merge patch that also
// clears them.
func (k Knobs) Annotations() map[string]*string {
	str := func(s string) *string { return &s }
	out := map[string]*string{
		AnnotationFail: nil, AnnotationHang: nil, AnnotationJobDuration: nil, AnnotationNotReadyDuring: nil,
	}
	if k.Fail != "" || k.FailPreprocess {
		msg := k.Fail
		if k.FailPreprocess {
			msg = PreprocessPrefix + " " + msg
		}
		out[AnnotationFail] = str(msg)
	}
	if k.Hang {
		out[AnnotationHang] = str("true")
	}
	if k.Duration > 0 {
		out[AnnotationJobDuration] = str(k.Duration.String())
	}
	if k.NotReadyDuring {
		v := "true"
		if k.NotReadyFor > 0 {
			v = k.NotReadyFor.String()
		}
		out[AnnotationNotReadyDuring] = str(v)
	}
	return out
}
