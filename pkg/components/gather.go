package components

import (
	"context"
	"fmt"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// SystemNamespace is always searched.
const SystemNamespace = "kube-system"

// Namespaces is kube-system then the extra namespaces, each once.
func Namespaces(extra []string) []string {
	out := []string{SystemNamespace}
	for _, ns := range extra {
		if ns != "" && !slices.Contains(out, ns) {
			out = append(out, ns)
		}
	}
	return out
}

// Gather reads what Build needs: the DaemonSets, Deployments and pods of the
// namespaces, every Node, and the API server's version.
func Gather(ctx context.Context, cs kubernetes.Interface, namespaces []string, target string) (Inputs, error) {
	in := Inputs{Namespaces: namespaces, Target: target}
	sv, err := cs.Discovery().ServerVersion()
	if err != nil {
		return in, fmt.Errorf("read the API server version: %w", err)
	}
	in.ServerVersion = sv.GitVersion
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return in, fmt.Errorf("list nodes: %w", err)
	}
	in.Nodes = nodes.Items
	for _, ns := range namespaces {
		dss, err := cs.AppsV1().DaemonSets(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return in, fmt.Errorf("list DaemonSets in %s: %w", ns, err)
		}
		in.DaemonSets = append(in.DaemonSets, dss.Items...)
		ds, err := cs.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return in, fmt.Errorf("list Deployments in %s: %w", ns, err)
		}
		in.Deployments = append(in.Deployments, ds.Items...)
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return in, fmt.Errorf("list pods in %s: %w", ns, err)
		}
		in.Pods = append(in.Pods, pods.Items...)
	}
	return in, nil
}
