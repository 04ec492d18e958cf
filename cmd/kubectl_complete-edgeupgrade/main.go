// Command kubectl_complete-edgeupgrade provides shell completion for
// "kubectl edgeupgrade ...".
//
// kubectl (1.26 and newer) completes a plugin's arguments by running
// kubectl_complete-<plugin> from PATH with the words typed after the plugin name, the
// last one being the word to complete (possibly empty), and reading cobra-style
// candidates from its stdout. This helper hands those words to the plugin's own
// completion command, `kubectl-edgeupgrade __complete`, so both always agree.
//
// It is a small binary rather than a shell script so that it works on Windows too.
// krew installs it next to the plugin but links only the plugin into PATH; see
// docs/install.md for putting the helper on PATH.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
)

const plugin = "kubectl-edgeupgrade"

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	bin, err := findPlugin()
	if err != nil {
		fmt.Fprintf(os.Stderr, "kubectl_complete-edgeupgrade: %v\n", err)
		return 1
	}
	cmd := exec.Command(bin, append([]string{"__complete"}, args...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode()
		}
		fmt.Fprintf(os.Stderr, "kubectl_complete-edgeupgrade: run %s: %v\n", bin, err)
		return 1
	}
	return 0
}

// findPlugin prefers the plugin kubectl itself would run (the first on PATH), so the
// candidates match the binary that runs the command; it falls back to the plugin that
// sits next to this helper (the release archive or krew's install directory).
func findPlugin() (string, error) {
	name := plugin
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("%s is not on PATH and this helper's location is unknown: %w", plugin, err)
	}
	if resolved, err := filepath.EvalSymlinks(self); err == nil {
		self = resolved
	}
	sibling := filepath.Join(filepath.Dir(self), name)
	if _, err := os.Stat(sibling); err != nil {
		return "", fmt.Errorf("%s is neither on PATH nor next to this helper (%s): install the plugin or add it to PATH", plugin, filepath.Dir(self))
	}
	return sibling, nil
}
