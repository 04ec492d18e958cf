package cmd

import (
	"path/filepath"
	"testing"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/internal/golden"
)

// compareGolden compares got with testdata/name (make golden rewrites it).
func compareGolden(t *testing.T, name, got string) {
	t.Helper()
	golden.Compare(t, filepath.Join("testdata", name), got)
}
