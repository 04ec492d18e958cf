package version

import (
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestResolve(t *testing.T) {
	platform := runtime.GOOS + "/" + runtime.GOARCH
	tests := []struct {
		name                string
		ldVersion, ldCommit string
		ldDate              string
		bi                  *debug.BuildInfo
		want                Info
	}{{
		name:      "ldflags win over build info",
		ldVersion: "v0.1.0", ldCommit: "1e6cc67", ldDate: "2026-01-02T03:04:05Z",
		bi: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v9.9.9"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "ffffff"}, {Key: "vcs.time", Value: "2020-01-01T00:00:00Z"}}},
		want: Info{Version: "v0.1.0", Commit: "1e6cc67", Date: "2026-01-02T03:04:05Z", GoVersion: "go1.26.8", Platform: platform},
	}, {
		name: "go install module@version",
		bi:   &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.2.0"}},
		want: Info{Version: "v0.2.0", Commit: Unknown, Date: Unknown, GoVersion: "go1.26.8", Platform: platform},
	}, {
		name: "go build in a git checkout",
		bi: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abcdef0123"}, {Key: "vcs.time", Value: "2026-02-03T04:05:06Z"}}},
		want: Info{Version: devVersion, Commit: "abcdef0123", Date: "2026-02-03T04:05:06Z", GoVersion: "go1.26.8", Platform: platform},
	}, {
		name: "nothing recorded",
		want: Info{Version: devVersion, Commit: Unknown, Date: Unknown, GoVersion: runtime.Version(), Platform: platform},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := resolve(tt.ldVersion, tt.ldCommit, tt.ldDate, tt.bi)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("resolve() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGetFillsEveryField(t *testing.T) {
	// The test binary is built without -X, so Get reports the fallbacks; the linker path
	// is covered end to end by `make krew-test`, which runs a release archive's binary.
	got := Get()
	if got.Version == "" || got.Commit == "" || got.Date == "" {
		t.Fatalf("Get() left a field empty: %+v", got)
	}
}
