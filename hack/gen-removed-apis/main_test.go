package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestGeneratedTableIsCurrent fails when the CSVs changed but the Go table was not
// regenerated (go generate ./pkg/precheck).
func TestGeneratedTableIsCurrent(t *testing.T) {
	want, err := Generate("removed-apis-deprecation-guide.csv", "k8s-prerelease-lifecycle.csv")
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join("..", "..", "pkg", "precheck", "zz_generated_removedapis.go"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("pkg/precheck/zz_generated_removedapis.go is stale: run go generate ./pkg/precheck")
	}
}

func TestMergeRules(t *testing.T) {
	src, err := Generate("removed-apis-deprecation-guide.csv", "k8s-prerelease-lifecycle.csv")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		// The guide's replacement and notes are merged into the lifecycle row.
		`{GroupVersion: "policy/v1beta1", Kind: "PodDisruptionBudget", Deprecated: 21, Removed: 25, Replacement: "policy/v1", ReplacementSince: "1.21", Notes: "empty spec.selector {} selects ALL pods in namespace in v1 (selected none in v1beta1)"`,
		// Replacements are followed to one that is never removed.
		`{GroupVersion: "flowcontrol.apiserver.k8s.io/v1beta1", Kind: "FlowSchema", Deprecated: 23, Removed: 26, Replacement: "flowcontrol.apiserver.k8s.io/v1"`,
		// The lifecycle of the newest k8s.io/api wins for the removal release.
		`{GroupVersion: "resource.k8s.io/v1beta1", Kind: "ResourceClaim", Deprecated: 35, Removed: 38`,
	} {
		if !bytes.Contains(src, []byte(want)) {
			t.Errorf("generated table lacks %s", want)
		}
	}
}
