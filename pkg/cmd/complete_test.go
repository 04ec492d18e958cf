package cmd

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/precheck"
)

func TestCompleteNodeNames(t *testing.T) {
	var nodes []corev1.Node
	for _, n := range []string{"master-1", "edge-a-001", "edge-a-002", "edge-b-001"} {
		nodes = append(nodes, corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n}})
	}
	cs := fake.NewClientset(&corev1.NodeList{Items: nodes})
	complete := nodeNameCompleter(func() (kubernetes.Interface, error) { return cs, nil })
	got, dir := complete(nil, nil, "edge-a")
	if !slices.Equal(got, []string{"edge-a-001", "edge-a-002"}) || dir != cobra.ShellCompDirectiveNoFileComp {
		t.Errorf("edge-a: %v %v", got, dir)
	}
	if got, _ := complete(nil, []string{"edge-a-001"}, ""); got != nil {
		t.Errorf("a second argument completed: %v", got)
	}
	failing := nodeNameCompleter(func() (kubernetes.Interface, error) { return nil, errors.New("no cluster") })
	if got, dir := failing(nil, nil, ""); got != nil || dir != cobra.ShellCompDirectiveNoFileComp {
		t.Errorf("unreachable cluster: %v %v", got, dir)
	}
}

func TestCompleteCheckIDs(t *testing.T) {
	ids := precheck.CheckIDs()
	got, dir := completeCheckIDs(nil, nil, "")
	if !slices.Equal(got, ids) || dir&cobra.ShellCompDirectiveNoSpace == 0 {
		t.Fatalf("all IDs: %v %v", got, dir)
	}
	first := ids[0]
	got, _ = completeCheckIDs(nil, nil, first+",")
	if len(got) != len(ids)-1 {
		t.Errorf("after %q: %d candidates, want %d", first, len(got), len(ids)-1)
	}
	for _, c := range got {
		if !strings.HasPrefix(c, first+",") || c == first+","+first {
			t.Errorf("after %q: candidate %q", first, c)
		}
	}
	if got, _ := completeCheckIDs(nil, nil, "no-such-prefix"); got != nil {
		t.Errorf("unknown prefix: %v", got)
	}
}

func TestCompleteModes(t *testing.T) {
	got, _ := completeModes(nil, nil, "")
	if !slices.Equal(got, []string{"all", "control-plane", "nodes"}) {
		t.Errorf("modes %v", got)
	}
}

// The root registers completions on the flags and arguments that have known values,
// and offers no flag it would ignore.
func TestRootFlagsAndCompletions(t *testing.T) {
	root := NewCmdRoot(genericiooptions.NewTestIOStreamsDiscard())
	for _, ignored := range []string{"namespace", "username", "password"} {
		if root.PersistentFlags().Lookup(ignored) != nil {
			t.Errorf("--%s is accepted though nothing uses it", ignored)
		}
	}
	for _, c := range []struct{ cmd, flag string }{{"start", "mode"}, {"start", "skip-check"}, {"plan", "mode"}, {"logs", "container"}} {
		sub, _, err := root.Find([]string{c.cmd})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := sub.GetFlagCompletionFunc(c.flag); !ok {
			t.Errorf("%s --%s has no completion", c.cmd, c.flag)
		}
	}
	logs, _, _ := root.Find([]string{"logs"})
	if logs.ValidArgsFunction == nil {
		t.Error("logs NODE has no completion")
	}
}

// -o offers json, yaml and templates, never name: no command prints a named object.
func TestOutputFormatsHaveNoName(t *testing.T) {
	root := NewCmdRoot(genericiooptions.NewTestIOStreamsDiscard())
	for _, name := range []string{"plan", "status", "check", "version"} {
		sub, _, err := root.Find([]string{name})
		if err != nil {
			t.Fatal(err)
		}
		f := sub.Flags().Lookup("output")
		if f == nil {
			t.Fatalf("%s has no -o", name)
		}
		if strings.Contains(f.Usage, "name") || !strings.Contains(f.Usage, "json") || !strings.Contains(f.Usage, "yaml") {
			t.Errorf("%s -o: %s", name, f.Usage)
		}
	}
}
