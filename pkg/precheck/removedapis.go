package precheck

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/version"
)

// removedAPI is one row of the generated table (zz_generated_removedapis.go).
type removedAPI struct {
	GroupVersion string
	Kind         string
	// Deprecated and Removed are minor versions of Kubernetes 1.x (0 = unknown).
	Deprecated       int
	Removed          int
	Replacement      string
	ReplacementSince string
	Notes            string
	Source           string
}

// apiStatus is what a target release does to an API version of a kind.
type apiStatus int

const (
	apiServed apiStatus = iota
	// apiDeprecated: still served by the target, removed by a later release.
	apiDeprecated
	// apiRemovedByTarget: served now, gone after the upgrade.
	apiRemovedByTarget
	// apiAlreadyRemoved: already not served by the current version (a stale record).
	apiAlreadyRemoved
)

// lookupRemovedAPI finds the table row for an apiVersion and kind.
func lookupRemovedAPI(apiVersion, kind string) (removedAPI, bool) {
	for _, r := range removedAPIs {
		if r.GroupVersion == apiVersion && r.Kind == kind {
			return r, true
		}
	}
	return removedAPI{}, false
}

// lookupRemovedResource finds the row for a group/version and a resource (plural,
// lower case), as the deprecated-API metric names them.
func lookupRemovedResource(groupVersion, resource string) (removedAPI, bool) {
	for _, r := range removedAPIs {
		if r.GroupVersion == groupVersion && pluralize(r.Kind) == resource {
			return r, true
		}
	}
	return removedAPI{}, false
}

func pluralize(kind string) string {
	k := strings.ToLower(kind)
	switch {
	case strings.HasSuffix(k, "s"):
		return k + "es"
	case strings.HasSuffix(k, "y"):
		return k[:len(k)-1] + "ies"
	}
	return k + "s"
}

// statusFor classifies an API for an upgrade from server to target.
func (r removedAPI) statusFor(server, target *version.Version) apiStatus {
	switch {
	case server != nil && server.Major() == 1 && int(server.Minor()) >= r.Removed:
		return apiAlreadyRemoved
	case target.Major() == 1 && int(target.Minor()) >= r.Removed:
		return apiRemovedByTarget
	case r.Deprecated > 0 && target.Major() == 1 && int(target.Minor()) >= r.Deprecated:
		return apiDeprecated
	}
	return apiServed
}

// migration says what to move to, given the target.
func (r removedAPI) migration(target *version.Version) string {
	if r.Replacement == "" {
		return "it has no replacement: remove the objects or move to another mechanism"
	}
	if next, ok := lookupRemovedAPI(r.Replacement, r.Kind); ok && int(target.Minor()) >= next.Removed {
		return fmt.Sprintf("its replacement %s is itself removed in 1.%d; %s", r.Replacement, next.Removed, next.migration(target))
	}
	return "use " + r.Replacement
}

// removedKinds is the set of kinds that appear in the table.
func removedKinds() map[string]bool {
	m := map[string]bool{}
	for _, r := range removedAPIs {
		m[r.Kind] = true
	}
	return m
}

// apiFinding turns an API use into a finding, or nil when the target still serves it
// without deprecation. Removal by the target is an error; deprecation and stale
// records of already-removed APIs are warnings.
func apiFinding(v *View, apiVersion, kind, obj, source, howToFix string) *Finding {
	r, ok := lookupRemovedAPI(apiVersion, kind)
	if !ok {
		return nil
	}
	f := &Finding{Object: obj, Source: source}
	switch r.statusFor(v.Server, v.Target) {
	case apiRemovedByTarget:
		f.Severity = SeverityError
		f.Message = fmt.Sprintf("uses %s %s, removed in 1.%d (target %s)", apiVersion, kind, r.Removed, v.Options.TargetVersion)
	case apiDeprecated:
		f.Severity = SeverityWarning
		f.Message = fmt.Sprintf("uses %s %s, deprecated in 1.%d and removed in 1.%d", apiVersion, kind, r.Deprecated, r.Removed)
	case apiAlreadyRemoved:
		f.Severity = SeverityWarning
		f.Message = fmt.Sprintf("records %s %s, already removed in 1.%d (stale: re-applying it fails today)", apiVersion, kind, r.Removed)
	default:
		return nil
	}
	f.Remediation = howToFix + "; " + r.migration(v.Target)
	if r.Notes != "" {
		f.Remediation += " (check: " + r.Notes + ")"
	}
	return f
}
