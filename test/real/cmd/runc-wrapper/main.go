// Command runc-wrapper is LAB-ONLY test infrastructure for the real-cluster lab
// (test/real). It is never part of the product.
//
// The machines this lab runs on lack CAP_SYS_RESOURCE in the bounding set of every
// process, so runc fails to start a container whose OCI spec asks for that capability
// (every privileged container) or for a negative oom_score_adj (static pods, the pause
// sandbox of critical pods). containerd runs this wrapper instead of runc (BinaryName in
// the runc options); before exec'ing the real runc it rewrites the spec of `create`/`run`
// (bundle/config.json) and the process file of `exec --process FILE`:
//   - removes CAP_SYS_RESOURCE from every capability set;
//   - clamps a negative oomScoreAdj to 0.
//
// Every other argument and command passes through unchanged.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

const dropCap = "CAP_SYS_RESOURCE"

func main() {
	real := os.Getenv("LAB_REAL_RUNC")
	if real == "" {
		real = "/usr/sbin/runc"
	}
	args := os.Args[1:]
	if err := rewrite(args); err != nil {
		fmt.Fprintf(os.Stderr, "runc-wrapper (lab only): %v\n", err)
		os.Exit(1)
	}
	argv := append([]string{real}, args...)
	if err := syscall.Exec(real, argv, os.Environ()); err != nil {
		fmt.Fprintf(os.Stderr, "runc-wrapper (lab only): exec %s: %v\n", real, err)
		os.Exit(127)
	}
}

// globalsWithValue are runc's global flags that take a separate value.
var globalsWithValue = map[string]bool{
	"--root": true, "--log": true, "--log-format": true, "--criu": true, "--rootless": true,
}

func rewrite(args []string) error {
	i := 0
	for i < len(args) && strings.HasPrefix(args[i], "-") {
		if globalsWithValue[args[i]] && !strings.Contains(args[i], "=") {
			i++
		}
		i++
	}
	if i >= len(args) {
		return nil
	}
	cmd, rest := args[i], args[i+1:]
	switch cmd {
	case "create", "run":
		bundle := flagValue(rest, "--bundle", "-b")
		if bundle == "" {
			bundle = "."
		}
		return editFile(filepath.Join(bundle, "config.json"), func(spec map[string]any) {
			if p, ok := spec["process"].(map[string]any); ok {
				fixProcess(p)
			}
		})
	case "exec":
		if f := flagValue(rest, "--process", "-p"); f != "" {
			return editFile(f, fixProcess)
		}
	}
	return nil
}

func flagValue(args []string, long, short string) string {
	for j := 0; j < len(args); j++ {
		a := args[j]
		switch {
		case a == long || a == short:
			if j+1 < len(args) {
				return args[j+1]
			}
		case strings.HasPrefix(a, long+"="):
			return strings.TrimPrefix(a, long+"=")
		case strings.HasPrefix(a, short+"="):
			return strings.TrimPrefix(a, short+"=")
		}
	}
	return ""
}

func fixProcess(p map[string]any) {
	if caps, ok := p["capabilities"].(map[string]any); ok {
		for set, v := range caps {
			list, ok := v.([]any)
			if !ok {
				continue
			}
			kept := list[:0:0]
			for _, c := range list {
				if c != dropCap {
					kept = append(kept, c)
				}
			}
			caps[set] = kept
		}
	}
	if v, ok := p["oomScoreAdj"].(float64); ok && v < 0 {
		p["oomScoreAdj"] = 0
	}
}

func editFile(path string, fix func(map[string]any)) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	fix(doc)
	out, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	tmp := path + ".lab-tmp"
	if err := os.WriteFile(tmp, out, st.Mode().Perm()); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
