package precheck

import (
	"os"
	"strings"
	"testing"
)

// TestDocsListEveryCheck keeps docs/prechecks.md in step with the registry.
func TestDocsListEveryCheck(t *testing.T) {
	b, err := os.ReadFile("../../docs/prechecks.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range CheckIDs() {
		if !strings.Contains(string(b), "| `"+id+"` |") {
			t.Errorf("docs/prechecks.md has no table row for %s", id)
		}
	}
}
