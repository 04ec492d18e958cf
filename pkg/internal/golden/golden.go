// Package golden compares test output with files under a package's testdata/ and,
// with UPDATE_GOLDEN=1 (make golden), rewrites them: one switch for every package of
// the repository, where a test flag would only exist in the packages defining it.
package golden

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Env is the environment variable that rewrites golden files when set to 1.
const Env = "UPDATE_GOLDEN"

// Updating reports whether golden files are being rewritten.
func Updating() bool { return os.Getenv(Env) == "1" }

// Compare compares got with the file at path (relative to the package), after
// rewriting the file when Updating.
func Compare(t testing.TB, path, got string) {
	t.Helper()
	if Updating() {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (make golden writes it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s\n(if the change is intended: make golden)", path, diff)
	}
}
