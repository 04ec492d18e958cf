// Package fleet upgrades many clusters in waves: the fleet file (this file), and the
// pure decision of what to start next from what each cluster's own state ConfigMap
// says (decide.go). It keeps no state of its own: a fleet's progress is read from its
// clusters every time, so any machine with the file and the kubeconfigs continues it.
package fleet

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/precheck"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// The fleet file's type.
const (
	APIVersion = "edgeupgrade.io/v1alpha1"
	Kind       = "Fleet"
)

// File is a fleet file: the target version and the waves of clusters.
type File struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Metadata   Metadata `json:"metadata"`
	Spec       Spec     `json:"spec"`

	// path is where the file was read from: relative kubeconfig paths start there.
	path string
}

// Metadata names the fleet.
type Metadata struct {
	Name string `json:"name,omitempty"`
}

// Spec is what the fleet does.
type Spec struct {
	// TargetVersion is the version every cluster is upgraded to.
	TargetVersion string `json:"targetVersion"`
	// Defaults are the start options of every cluster; a cluster's own replace them
	// field by field.
	Defaults StartOptions `json:"defaults,omitzero"`
	// Waves run in order: a wave starts once every cluster of the previous wave is
	// done and its soak has passed.
	Waves []Wave `json:"waves"`
}

// Wave is a group of clusters upgraded together, at most MaxConcurrent at once.
type Wave struct {
	Name string `json:"name"`
	// MaxConcurrent is how many of the wave's clusters may run at once (default 1).
	MaxConcurrent int `json:"maxConcurrent,omitempty"`
	// Soak is how long to wait after the wave's last cluster finished before the next
	// wave starts.
	Soak     Duration  `json:"soak,omitzero"`
	Clusters []Cluster `json:"clusters"`
}

// Cluster is one cluster: a context of the default kubeconfig, or a kubeconfig file
// (and optionally one of its contexts).
type Cluster struct {
	// Name is how the fleet shows the cluster (default: the context, else the
	// kubeconfig's file name without extension).
	Name       string        `json:"name,omitempty"`
	Context    string        `json:"context,omitempty"`
	Kubeconfig string        `json:"kubeconfig,omitempty"`
	Start      *StartOptions `json:"start,omitempty"`
}

// StartOptions are the flags of `kubectl edgeupgrade start` a fleet passes per
// cluster. Unset fields take start's defaults.
type StartOptions struct {
	Mode            string    `json:"mode,omitempty"`
	MaxBatchSize    int       `json:"maxBatchSize,omitempty"`
	Selector        string    `json:"selector,omitempty"`
	PoolLabel       string    `json:"poolLabel,omitempty"`
	Drain           *bool     `json:"drain,omitempty"`
	DrainTimeout    *Duration `json:"drainTimeout,omitempty"`
	JobTimeout      *Duration `json:"jobTimeout,omitempty"`
	OfflineGrace    *Duration `json:"offlineGrace,omitempty"`
	MaxDeferred     string    `json:"maxDeferred,omitempty"`
	BatchSoak       *Duration `json:"batchSoak,omitempty"`
	SkipUnready     *bool     `json:"skipUnready,omitempty"`
	SkipChecks      []string  `json:"skipChecks,omitempty"`
	ImageRegistry   string    `json:"imageRegistry,omitempty"`
	PreprocessImage string    `json:"preprocessImage,omitempty"`
	UpgradeImage    string    `json:"upgradeImage,omitempty"`
	DriverImage     string    `json:"driverImage,omitempty"`
	// RuntimeVersion is start's --runtime-version: auto, none or a containerd version.
	RuntimeVersion string `json:"runtimeVersion,omitempty"`
	// Stage false is start's --no-stage; MaxConcurrentPulls its --max-concurrent-pulls.
	Stage              *bool `json:"stage,omitempty"`
	MaxConcurrentPulls int   `json:"maxConcurrentPulls,omitempty"`
}

// Duration is a Go duration written as a string ("10m").
type Duration struct{ time.Duration }

// UnmarshalJSON reads "10m"; a bare number is refused (seconds or nanoseconds?).
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration is a string like \"10m\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q: use a Go duration like 10m or 1h30m", s)
	}
	if v < 0 {
		return fmt.Errorf("invalid duration %q: must not be negative", s)
	}
	d.Duration = v
	return nil
}

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// Read reads and parses a fleet file and checks it alone (Validate); the clusters'
// kubeconfigs are checked by Resolve.
func Read(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the fleet file: %w", err)
	}
	f, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f.path = path
	return f, nil
}

// Parse decodes a fleet file, refusing unknown fields, and validates it.
func Parse(b []byte) (*File, error) {
	var f File
	j, err := yaml.YAMLToJSONStrict(b)
	if err != nil {
		return nil, fmt.Errorf("%s; fix the fleet file's YAML", oneLine(err.Error()))
	}
	strict, err := sigsjson.UnmarshalStrict(j, &f)
	if err == nil && len(strict) > 0 {
		err = strict[0] // an unknown or duplicate field, with its path
	}
	if err != nil {
		return nil, fmt.Errorf("%s; fix the fleet file (README, Fleets, lists the fields)", oneLine(err.Error()))
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return &f, nil
}

// oneLine keeps the first line of a decoder's message.
func oneLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return strings.TrimPrefix(s, "error converting YAML to JSON: ")
}

// Validate checks the file alone: type, version, waves, clusters and their options.
// It does not open kubeconfigs (Resolve) nor read clusters (a skipped minor is found by
// plan and start, which know each cluster's version).
func (f *File) Validate() error {
	if f.APIVersion != APIVersion || f.Kind != Kind {
		return fmt.Errorf("apiVersion %q, kind %q: a fleet file has apiVersion %s and kind %s", f.APIVersion, f.Kind, APIVersion, Kind)
	}
	to, err := upgrade.CanonicalVersion(f.Spec.TargetVersion)
	if f.Spec.TargetVersion == "" {
		return fmt.Errorf("spec.targetVersion is missing: set the version to upgrade every cluster to, e.g. v1.36.3")
	}
	if err != nil {
		return fmt.Errorf("spec.targetVersion: %w", err)
	}
	f.Spec.TargetVersion = to
	if err := f.Spec.Defaults.validate("spec.defaults"); err != nil {
		return err
	}
	if len(f.Spec.Waves) == 0 {
		return fmt.Errorf("spec.waves is empty: list at least one wave of clusters")
	}
	return f.validateWaves()
}

func (f *File) validateWaves() error {
	names := map[string]string{} // cluster name -> where it was seen
	ids := map[string]string{}   // kubeconfig+context -> where it was seen
	for i, w := range f.Spec.Waves {
		where := waveName(i, w)
		switch {
		case w.MaxConcurrent < 0:
			return fmt.Errorf("%s: maxConcurrent %d: must be at least 1 (default 1)", where, w.MaxConcurrent)
		case len(w.Clusters) == 0:
			return fmt.Errorf("%s has no clusters: list its clusters or remove it", where)
		}
		for j, c := range w.Clusters {
			if c.Context == "" && c.Kubeconfig == "" {
				return fmt.Errorf("%s, cluster %d: set context (of the default kubeconfig) or kubeconfig (a file, optionally with context)", where, j+1)
			}
			name := c.DisplayName()
			if prev, ok := names[name]; ok {
				return fmt.Errorf("cluster %q is in %s and %s: a cluster belongs to one wave (give clusters distinct names)", name, prev, where)
			}
			id := c.Kubeconfig + "\x00" + c.Context
			if prev, ok := ids[id]; ok {
				return fmt.Errorf("cluster %q of %s is the same cluster (kubeconfig and context) as %s: a cluster belongs to one wave", name, where, prev)
			}
			names[name], ids[id] = where, fmt.Sprintf("%q in %s", name, where)
			if c.Start != nil {
				if err := c.Start.validate(fmt.Sprintf("cluster %q start", name)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// validate checks the options in the words of start's flags, which they become.
func (o StartOptions) validate(where string) error {
	if o.Mode != "" {
		if err := upgrade.ValidateMode(upgrade.Mode(o.Mode)); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
	}
	if err := precheck.ValidateSkips(o.SkipChecks); err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	if err := precheck.ValidateRuntimeVersion(o.RuntimeVersion); err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	if o.MaxConcurrentPulls < 0 {
		return fmt.Errorf("%s: maxConcurrentPulls %d: must be at least 1 (omit it for the batch cap)", where, o.MaxConcurrentPulls)
	}
	if o.MaxBatchSize < 0 {
		return fmt.Errorf("%s: maxBatchSize %d: must be at least 1 (omit it for 10%% of the workers)", where, o.MaxBatchSize)
	}
	return nil
}

// waveName is how errors and views name a wave: "wave 2 (workloads)".
func waveName(i int, w Wave) string {
	if w.Name == "" {
		return "wave " + strconv.Itoa(i+1)
	}
	return fmt.Sprintf("wave %d (%s)", i+1, w.Name)
}

// DisplayName is the cluster's name in the fleet's output.
func (c Cluster) DisplayName() string {
	switch {
	case c.Name != "":
		return c.Name
	case c.Context != "":
		return c.Context
	}
	base := filepath.Base(c.Kubeconfig)
	return strings.TrimSuffix(base, filepath.Ext(base))
}

// Limit is the wave's concurrency (MaxConcurrent, default 1).
func (w Wave) Limit() int { return max(1, w.MaxConcurrent) }

// Options are the cluster's start options: the fleet's defaults with the cluster's
// own fields in their place.
func (f *File) Options(c Cluster) StartOptions {
	o := f.Spec.Defaults
	if c.Start == nil {
		return o
	}
	s := *c.Start
	pick(&o.Mode, s.Mode)
	pick(&o.MaxBatchSize, s.MaxBatchSize)
	pick(&o.Selector, s.Selector)
	pick(&o.PoolLabel, s.PoolLabel)
	pick(&o.Drain, s.Drain)
	pick(&o.DrainTimeout, s.DrainTimeout)
	pick(&o.JobTimeout, s.JobTimeout)
	pick(&o.OfflineGrace, s.OfflineGrace)
	pick(&o.MaxDeferred, s.MaxDeferred)
	pick(&o.BatchSoak, s.BatchSoak)
	pick(&o.SkipUnready, s.SkipUnready)
	if s.SkipChecks != nil {
		o.SkipChecks = s.SkipChecks
	}
	pick(&o.ImageRegistry, s.ImageRegistry)
	pick(&o.PreprocessImage, s.PreprocessImage)
	pick(&o.UpgradeImage, s.UpgradeImage)
	pick(&o.DriverImage, s.DriverImage)
	pick(&o.RuntimeVersion, s.RuntimeVersion)
	pick(&o.Stage, s.Stage)
	pick(&o.MaxConcurrentPulls, s.MaxConcurrentPulls)
	return o
}

func pick[T comparable](dst *T, v T) {
	var zero T
	if v != zero {
		*dst = v
	}
}

// Args are the flags of `start` for these options (after --to).
func (o StartOptions) Args() []string {
	var a []string
	str := func(flag, v string) {
		if v != "" {
			a = append(a, "--"+flag, v)
		}
	}
	dur := func(flag string, d *Duration) {
		if d != nil {
			a = append(a, "--"+flag, d.String())
		}
	}
	boolean := func(flag string, b *bool) {
		if b != nil {
			a = append(a, "--"+flag+"="+strconv.FormatBool(*b))
		}
	}
	str("mode", o.Mode)
	if o.MaxBatchSize > 0 {
		str("max-batch-size", strconv.Itoa(o.MaxBatchSize))
	}
	str("selector", o.Selector)
	str("pool-label", o.PoolLabel)
	boolean("drain", o.Drain)
	dur("drain-timeout", o.DrainTimeout)
	dur("job-timeout", o.JobTimeout)
	dur("offline-grace", o.OfflineGrace)
	str("max-deferred", o.MaxDeferred)
	dur("soak", o.BatchSoak)
	boolean("skip-unready", o.SkipUnready)
	for _, id := range o.SkipChecks {
		str("skip-check", id)
	}
	str("image-registry", o.ImageRegistry)
	str("preprocess-image", o.PreprocessImage)
	str("upgrade-image", o.UpgradeImage)
	str("driver-image", o.DriverImage)
	str("runtime-version", o.RuntimeVersion)
	if o.Stage != nil && !*o.Stage {
		a = append(a, "--no-stage")
	}
	if o.MaxConcurrentPulls > 0 {
		str("max-concurrent-pulls", strconv.Itoa(o.MaxConcurrentPulls))
	}
	return a
}
