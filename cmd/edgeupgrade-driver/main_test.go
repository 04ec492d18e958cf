package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// Bad arguments exit 2 with one line saying what is wrong; version prints itself.
func TestArguments(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "") // not in a pod
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "usage: edgeupgrade-driver drive"},
		{[]string{"status"}, 2, "usage: edgeupgrade-driver drive"},
		{[]string{"drive", "--bogus"}, 2, "flag provided but not defined: -bogus"},
		{[]string{"drive", "extra"}, 2, `unexpected arguments ["extra"]`},
		{[]string{"drive", "--once", "--run", "r1"}, 2, "--once needs --driver-image"},
		{[]string{"drive", "--kubeconfig", "/nonexistent/kubeconfig"}, 1, "error: connect to the cluster:"},
		{[]string{"drive"}, 1, "error: connect to the cluster: not in a pod: pass --kubeconfig"},
		{[]string{"version"}, 0, "edgeupgrade-driver "},
	} {
		var out, errOut bytes.Buffer
		code := run(context.Background(), tc.args, &out, &errOut)
		if code != tc.code || !strings.Contains(out.String()+errOut.String(), tc.want) {
			t.Errorf("%v: exit %d (want %d), output %q (want %q)", tc.args, code, tc.code, out.String()+errOut.String(), tc.want)
		}
	}
}
