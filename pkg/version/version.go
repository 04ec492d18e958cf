// Package version reports which build of kubectl-edgeupgrade is running.
//
// Release builds set the three variables below with the linker:
//
//	go build -ldflags "-X github.com/edgeupgrade/kubectl-edgeupgrade/pkg/version.version=v0.1.0 \
//	  -X github.com/edgeupgrade/kubectl-edgeupgrade/pkg/version.commit=1e6cc67 \
//	  -X github.com/edgeupgrade/kubectl-edgeupgrade/pkg/version.date=2026-01-01T00:00:00Z"
//
// A binary built without them (`go install …@v0.1.0`, `go build`) falls back to what the
// Go toolchain recorded: the module version and, when built in a git checkout, the VCS
// revision and time.
package version

import (
	"runtime"
	"runtime/debug"
)

// Written only by the linker (-X); never assigned in code.
var (
	version string
	commit  string
	date    string
)

// Unknown is reported for a field the build recorded nothing about.
const Unknown = "unknown"

// devVersion is reported when neither -ldflags nor the module version says anything.
const devVersion = "v0.0.0-dev"

// Info describes one build of the plugin.
type Info struct {
	// Version is a semantic version with a leading "v" (the krew manifest's version).
	Version string `json:"version"`
	// Commit is the git revision the binary was built from.
	Commit string `json:"commit"`
	// Date is the build time, RFC 3339 in UTC.
	Date string `json:"date"`
	// GoVersion is the Go toolchain that built the binary.
	GoVersion string `json:"goVersion"`
	// Platform is GOOS/GOARCH of the binary.
	Platform string `json:"platform"`
}

// Get returns the build information of the running binary.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return resolve(version, commit, date, bi)
}

// resolve prefers the linker-set values and falls back to the Go build info.
func resolve(ldVersion, ldCommit, ldDate string, bi *debug.BuildInfo) Info {
	info := Info{
		Version:   ldVersion,
		Commit:    ldCommit,
		Date:      ldDate,
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
	}
	if bi != nil {
		if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision" && info.Commit == "":
				info.Commit = s.Value
			case s.Key == "vcs.time" && info.Date == "":
				info.Date = s.Value
			}
		}
		if bi.GoVersion != "" {
			info.GoVersion = bi.GoVersion
		}
	}
	if info.Version == "" {
		info.Version = devVersion
	}
	if info.Commit == "" {
		info.Commit = Unknown
	}
	if info.Date == "" {
		info.Date = Unknown
	}
	return info
}
