package fleet

import (
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/tools/clientcmd"
)

// Target is one cluster of the fleet, resolved: where it is and how it is started.
type Target struct {
	Name string
	// Wave is the index of the cluster's wave in Spec.Waves.
	Wave int
	// Kubeconfig is the file to load ("" = the default loading rules: --kubeconfig,
	// $KUBECONFIG, ~/.kube/config); Context the context in it (never "").
	Kubeconfig, Context string
	Options             StartOptions
}

// Resolve checks every cluster's kubeconfig and context and returns the clusters in
// wave order. defaultKubeconfig is the --kubeconfig flag ("" = the default loading
// rules). Relative kubeconfig paths in the file are relative to the file.
func (f *File) Resolve(defaultKubeconfig string) ([]Target, error) {
	var out []Target
	seen := map[string]string{}
	for i, w := range f.Spec.Waves {
		for _, c := range w.Clusters {
			t := Target{Name: c.DisplayName(), Wave: i, Context: c.Context, Options: f.Options(c)}
			path := defaultKubeconfig
			if c.Kubeconfig != "" {
				path = c.Kubeconfig
				if !filepath.IsAbs(path) && f.path != "" {
					path = filepath.Join(filepath.Dir(f.path), path)
				}
				if _, err := os.Stat(path); err != nil {
					return nil, fmt.Errorf("cluster %q: kubeconfig %s cannot be read: %v", t.Name, path, err)
				}
			}
			t.Kubeconfig = path
			ctx, err := contextOf(path, c.Context)
			if err != nil {
				return nil, fmt.Errorf("cluster %q: %w", t.Name, err)
			}
			t.Context = ctx
			id := path + "\x00" + ctx
			if prev, ok := seen[id]; ok {
				return nil, fmt.Errorf("cluster %q of %s is the same kubeconfig context (%s) as %s: a cluster belongs to one wave", t.Name, waveName(i, w), ctx, prev)
			}
			seen[id] = fmt.Sprintf("%q in %s", t.Name, waveName(i, w))
			out = append(out, t)
		}
	}
	return out, nil
}

// contextOf loads the kubeconfig (path, or the default loading rules) and returns the
// context to use: want, which must exist, or the current context.
func contextOf(path, want string) (string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	where := "the default kubeconfig"
	if path != "" {
		rules.ExplicitPath, where = path, "kubeconfig "+path
	}
	cfg, err := rules.Load()
	if err != nil {
		return "", fmt.Errorf("load %s: %w", where, err)
	}
	if want == "" {
		want = cfg.CurrentContext
		if want == "" {
			return "", fmt.Errorf("%s has no current context: set context for this cluster", where)
		}
	}
	if _, ok := cfg.Contexts[want]; !ok {
		return "", fmt.Errorf("context %q not found in %s: kubectl config get-contexts lists them", want, where)
	}
	return want, nil
}
