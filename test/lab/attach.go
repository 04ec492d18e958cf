package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// stateFile describes a running lab for Attach.
const stateFile = "lab.json"

type state struct {
	From     string   `json:"from"`
	Server   string   `json:"server"`
	Topology Topology `json:"topology"`
	Unready  []string `json:"unready,omitempty"`
}

func (l *Lab) writeState() error {
	b, err := json.MarshalIndent(state{From: l.cfg.From, Server: l.Server, Topology: l.Topology, Unready: l.cfg.Unready}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(l.path(stateFile), b, 0o644)
}

// Attach connects to a lab started by another process (`edgeupgrade-lab up --dir DIR`),
// for tests that reuse a running lab. The returned Lab's knob methods work; its Stop
// does nothing (use Down(dir)).
func Attach(dir string) (*Lab, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(abs, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no lab in %s: start one with `edgeupgrade-lab up --dir %s`", abs, dir)
	} else if err != nil {
		return nil, err
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("read %s: %w", filepath.Join(abs, stateFile), err)
	}
	l := &Lab{
		Dir:                abs,
		Kubeconfig:         filepath.Join(abs, "kubeconfig"),
		OperatorKubeconfig: filepath.Join(abs, "kubeconfig-operator"),
		ViewerKubeconfig:   filepath.Join(abs, "kubeconfig-viewer"),
		Topology:           st.Topology,
		Server:             st.Server,
		cfg:                Config{From: st.From, Unready: st.Unready, KeepDir: true},
	}
	l.stopOnce.Do(func() {}) // Stop is a no-op: the lab belongs to its `up`
	rc, err := clientcmd.BuildConfigFromFlags("", l.Kubeconfig)
	if err != nil {
		return nil, err
	}
	rc.QPS, rc.Burst = 1000, 2000
	rc.UserAgent = "edgeupgrade-lab"
	l.RESTConfig = rc
	if l.Client, err = kubernetes.NewForConfig(rc); err != nil {
		return nil, err
	}
	return l, nil
}
