package sim

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
)

// The image pull model: a pod's containers start only once their images are on the
// node. An image not yet there takes its size ÷ the node's link speed to pull, one
// image after the other (the kubelet pulls serially by default); one being pulled by
// another pod is waited for, not pulled twice. Sizes are per container name
// (ConfigMap keys KeyUpgradeImageSize, KeyPreprocessImageSize; absent: no pull time),
// the link per node (AnnotationLinkSpeed; absent: no pull time). The images a node has
// live in the simulator's memory: a restarted simulator starts with empty nodes.
const (
	// AnnotationLinkSpeed is the node's link speed: "1Mbit", "512kbit", "1Gbit", or
	// bits per second.
	AnnotationLinkSpeed = "lab.edgeupgrade.io/link-speed"
	// AnnotationPullFail makes the node's staging pod fail its pull with the value as
	// the message (a registry the node cannot reach).
	AnnotationPullFail = "lab.edgeupgrade.io/pull-fail"

	// KeyUpgradeImageSize and KeyPreprocessImageSize are the compressed sizes of the
	// images of the containers "upgrade" and "preprocess" (quantities: "64Mi").
	KeyUpgradeImageSize    = "upgradeImageSize"
	KeyPreprocessImageSize = "preprocessImageSize"
)

// ParseLinkSpeed reads a link speed in bits per second.
func ParseLinkSpeed(v string) (float64, error) {
	s := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSpace(v), "/s"), "bit")
	mult := 1.0
	switch {
	case strings.HasSuffix(s, "k"), strings.HasSuffix(s, "K"):
		mult, s = 1e3, s[:len(s)-1]
	case strings.HasSuffix(s, "M"):
		mult, s = 1e6, s[:len(s)-1]
	case strings.HasSuffix(s, "G"):
		mult, s = 1e9, s[:len(s)-1]
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("link speed %q: want a positive speed such as 1Mbit, 512kbit or 1Gbit", v)
	}
	return n * mult, nil
}

// PullDuration is how long an image of size bytes takes over a link of bps.
func PullDuration(size int64, bps float64) time.Duration {
	if size <= 0 || bps <= 0 {
		return 0
	}
	return time.Duration(float64(size) * 8 / bps * float64(time.Second))
}

// imageID is the image ID the simulated runtime reports: a repository digest, made
// up from the reference when it names a tag, so that a node Job may name the staged
// image by digest (its reference and digest are the same image to the simulator).
func imageID(image string) string {
	if strings.Contains(image, "@") {
		return image
	}
	repo := image
	if slash, colon := strings.LastIndex(image, "/"), strings.LastIndex(image, ":"); colon > slash {
		repo = image[:colon]
	}
	return fmt.Sprintf("%s@sha256:%x", repo, sha256.Sum256([]byte(image)))
}

// imageSize is the size of the image of container name (0: not modelled).
func (s *Simulator) imageSize(container string) int64 {
	key := map[string]string{job.ContainerUpgrade: KeyUpgradeImageSize, job.ContainerPreprocess: KeyPreprocessImageSize}[container]
	cm, err := s.configs.ConfigMaps(ConfigMapNamespace).Get(ConfigMapName)
	if key == "" || err != nil || cm.Data[key] == "" {
		return 0
	}
	q, err := resource.ParseQuantity(cm.Data[key])
	if err != nil {
		s.logf("ConfigMap %s/%s: %s=%q is no size; no pull time modelled", ConfigMapNamespace, ConfigMapName, key, cm.Data[key])
		return 0
	}
	return q.Value()
}

// pullWait starts the pulls the pod's images need on node and returns how long until
// they are all there (0: the containers may start).
func (s *Simulator) pullWait(pod *corev1.Pod, node *corev1.Node) time.Duration {
	bps := 0.0
	if v, ok := node.Annotations[AnnotationLinkSpeed]; ok {
		var err error
		if bps, err = ParseLinkSpeed(v); err != nil {
			s.logf("node %s: %v; no pull time modelled", node.Name, err)
		}
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	have := s.images[node.Name]
	if have == nil {
		have = map[string]time.Time{}
		s.images[node.Name] = have
	}
	ready := now
	for _, c := range append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...) {
		if at, ok := have[c.Image]; ok {
			ready = later(ready, at) // there, or being pulled
			continue
		}
		d := PullDuration(s.imageSize(c.Name), bps)
		ready = ready.Add(d) // after the pulls before it: one at a time
		have[c.Image], have[imageID(c.Image)] = ready, ready
		if d > 0 {
			s.logf("node %s: pulling %s (%s)", node.Name, c.Image, d.Round(time.Millisecond))
		}
	}
	return ready.Sub(now)
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// syncStage runs a staging pod: its images are pulled, then its containers print a
// version and exit 0 — or its pull fails (AnnotationPullFail). An offline node does
// nothing.
func (s *Simulator) syncStage(ctx context.Context, pod *corev1.Pod, node *corev1.Node) (time.Duration, error) {
	if node.Labels[LabelNotReady] == "true" {
		return 0, nil // re-checked when the node changes
	}
	if msg, ok := node.Annotations[AnnotationPullFail]; ok {
		st := base(pod, node, metav1.Now())
		st.Phase, st.Reason, st.Message = corev1.PodFailed, "ErrImagePull", "lab: "+msg
		if err := s.writeStatus(ctx, pod, st); err != nil {
			return 0, err
		}
		s.logf("%s/%s on %s: pull failed: %s", pod.Namespace, pod.Name, node.Name, msg)
		return 0, nil
	}
	if wait := s.pullWait(pod, node); wait > 0 {
		return wait, nil
	}
	s.markStarted(pod.UID)
	if err := s.writeStatus(ctx, pod, succeededStatus(pod, node, "")); err != nil {
		return 0, err
	}
	s.logf("%s/%s on %s: images staged", pod.Namespace, pod.Name, node.Name)
	return 0, nil
}
