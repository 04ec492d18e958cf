package fleet

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const kubeconfig = `apiVersion: v1
kind: Config
current-context: mgmt
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:1"}
users:
- name: u
  user: {token: t}
contexts:
- name: mgmt
  context: {cluster: c, user: u}
- name: site-a
  context: {cluster: c, user: u}
- name: site-b
  context: {cluster: c, user: u}
`

const head = "apiVersion: edgeupgrade.io/v1alpha1\nkind: Fleet\n"

// TestValidate is the fleet file's validation table: every refusal is one line that
// names what is wrong, and the accepted files resolve to their clusters.
func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name, file, err string
		clusters        int
	}{
		{name: "ok", clusters: 3, file: head + `spec:
  targetVersion: 1.36.3
  waves:
  - {name: management, clusters: [{context: mgmt}], soak: 10m}
  - {name: sites, maxConcurrent: 2, clusters: [{context: site-a}, {name: b, kubeconfig: kc, context: site-b, start: {maxBatchSize: 2}}]}`},
		{name: "kubeconfig alone uses its current context", clusters: 1, file: head + `spec:
  targetVersion: v1.36.3
  waves: [{clusters: [{kubeconfig: kc}]}]`},
		{name: "wrong kind", err: `apiVersion "edgeupgrade.io/v1alpha1", kind "Plan": a fleet file has apiVersion edgeupgrade.io/v1alpha1 and kind Fleet`,
			file: "apiVersion: edgeupgrade.io/v1alpha1\nkind: Plan\nspec: {targetVersion: v1.36.3, waves: [{clusters: [{context: mgmt}]}]}"},
		{name: "unknown field", err: `unknown field "spec.waves[0].maxConcurent"`,
			file: head + "spec: {targetVersion: v1.36.3, waves: [{maxConcurent: 2, clusters: [{context: mgmt}]}]}"},
		{name: "unknown start field", err: `unknown field "spec.defaults.batchSize"`,
			file: head + "spec: {targetVersion: v1.36.3, defaults: {batchSize: 2}, waves: [{clusters: [{context: mgmt}]}]}"},
		{name: "no target", err: "spec.targetVersion is missing",
			file: head + "spec: {waves: [{clusters: [{context: mgmt}]}]}"},
		{name: "bad target", err: `spec.targetVersion: invalid version "1.36"`,
			file: head + "spec: {targetVersion: '1.36', waves: [{clusters: [{context: mgmt}]}]}"},
		{name: "no waves", err: "spec.waves is empty",
			file: head + "spec: {targetVersion: v1.36.3}"},
		{name: "empty wave", err: "wave 2 (sites) has no clusters",
			file: head + "spec: {targetVersion: v1.36.3, waves: [{clusters: [{context: mgmt}]}, {name: sites, clusters: []}]}"},
		{name: "negative maxConcurrent", err: "wave 1: maxConcurrent -1: must be at least 1",
			file: head + "spec: {targetVersion: v1.36.3, waves: [{maxConcurrent: -1, clusters: [{context: mgmt}]}]}"},
		{name: "bad soak", err: `invalid duration "soon"`,
			file: head + "spec: {targetVersion: v1.36.3, waves: [{soak: soon, clusters: [{context: mgmt}]}]}"},
		{name: "cluster without context or kubeconfig", err: "wave 1, cluster 1: set context",
			file: head + "spec: {targetVersion: v1.36.3, waves: [{clusters: [{name: x}]}]}"},
		{name: "a cluster in two waves", err: `cluster "site-a" is in wave 1 and wave 2 (sites): a cluster belongs to one wave`,
			file: head + "spec: {targetVersion: v1.36.3, waves: [{clusters: [{context: site-a}]}, {name: sites, clusters: [{context: site-a}]}]}"},
		{name: "the same cluster under two names", err: `cluster "b" of wave 2 is the same cluster (kubeconfig and context) as "a" in wave 1`,
			file: head + "spec: {targetVersion: v1.36.3, waves: [{clusters: [{name: a, context: site-a}]}, {clusters: [{name: b, context: site-a}]}]}"},
		{name: "the same context through the file and the default", err: `cluster "b" of wave 2 is the same kubeconfig context (mgmt) as "a" in wave 1`,
			file: head + "spec: {targetVersion: v1.36.3, waves: [{clusters: [{name: a, kubeconfig: kc}]}, {clusters: [{name: b, kubeconfig: kc, context: mgmt}]}]}"},
		{name: "unknown context", err: `cluster "site-z": context "site-z" not found in kubeconfig`,
			file: head + "spec: {targetVersion: v1.36.3, waves: [{clusters: [{context: site-z}]}]}"},
		{name: "missing kubeconfig file", err: `cluster "gone": kubeconfig`,
			file: head + "spec: {targetVersion: v1.36.3, waves: [{clusters: [{kubeconfig: gone.yaml}]}]}"},
		{name: "bad mode", err: `cluster "mgmt" start: unknown --mode "workers"`,
			file: head + "spec: {targetVersion: v1.36.3, waves: [{clusters: [{context: mgmt, start: {mode: workers}}]}]}"},
		{name: "bad runtime version", err: `cluster "mgmt" start: invalid --runtime-version "2.2"`,
			file: head + "spec: {targetVersion: v1.36.3, waves: [{clusters: [{context: mgmt, start: {runtimeVersion: \"2.2\"}}]}]}"},
		{name: "negative pulls", err: `spec.defaults: maxConcurrentPulls -1: must be at least 1`,
			file: head + "spec: {targetVersion: v1.36.3, defaults: {maxConcurrentPulls: -1}, waves: [{clusters: [{context: mgmt}]}]}"},
		{name: "bad default skip", err: `spec.defaults: unknown check ID nope in --skip-check`,
			file: head + "spec: {targetVersion: v1.36.3, defaults: {skipChecks: [nope]}, waves: [{clusters: [{context: mgmt}]}]}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			kc := filepath.Join(dir, "kc")
			write(t, kc, kubeconfig)
			path := filepath.Join(dir, "fleet.yaml")
			write(t, path, tc.file)
			f, err := Read(path)
			var targets []Target
			if err == nil {
				targets, err = f.Resolve(kc)
			}
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("error %v, want one line containing %q", err, tc.err)
				}
				return
			}
			if err != nil || len(targets) != tc.clusters {
				t.Fatalf("got %d clusters, %v; want %d", len(targets), err, tc.clusters)
			}
		})
	}
}

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestOptions: the defaults apply to every cluster, and a cluster's own fields replace
// them one by one, as start flags.
func TestOptions(t *testing.T) {
	f, err := Parse([]byte(head + `spec:
  targetVersion: v1.36.3
  defaults: {mode: all, maxBatchSize: 3, imageRegistry: reg.local/eu, jobTimeout: 20m, drain: true, skipChecks: [node-cordoned], runtimeVersion: none}
  waves:
  - clusters:
    - context: a
    - context: b
      start: {maxBatchSize: 5, drain: false, upgradeImage: reg.local/up:1, skipChecks: [], runtimeVersion: v2.2.9, stage: false, maxConcurrentPulls: 4}`))
	if err != nil {
		t.Fatal(err)
	}
	c := f.Spec.Waves[0].Clusters
	got := []string{strings.Join(f.Options(c[0]).Args(), " "), strings.Join(f.Options(c[1]).Args(), " ")}
	want := []string{
		"--mode all --max-batch-size 3 --drain=true --job-timeout 20m0s --skip-check node-cordoned --image-registry reg.local/eu --runtime-version none",
		"--mode all --max-batch-size 5 --drain=false --job-timeout 20m0s --image-registry reg.local/eu --upgrade-image reg.local/up:1 --runtime-version v2.2.9 --no-stage --max-concurrent-pulls 4",
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("cluster %d: start %s\nwant         %s", i, got[i], want[i])
		}
	}
}

// TestExampleValidates keeps the README's example file valid.
func TestExampleValidates(t *testing.T) {
	f, err := Read("../../docs/examples/fleet.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Spec.Waves) != 3 || f.Spec.Waves[2].Limit() != 2 || f.Spec.Waves[0].Soak.Minutes() != 30 {
		t.Fatalf("the example changed shape: %+v", f.Spec)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	ex, _ := os.ReadFile("../../docs/examples/fleet.yaml")
	if !strings.Contains(string(readme), string(ex[strings.Index(string(ex), "apiVersion"):])) {
		t.Error("README.md's fleet example differs from docs/examples/fleet.yaml: copy it over")
	}
}
