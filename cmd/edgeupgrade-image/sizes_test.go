package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// TestSizes: one row per layer of each platform, named by its file, with the compressed
// size the archive holds and the files' size, and a total per platform.
func TestSizes(t *testing.T) {
	src := fakeTree(t)
	out := filepath.Join(t.TempDir(), "upgrade.tar")
	build(t, "-o", out, "--tag", "ghcr.io/edgeupgrade/upgrade:v1.36.3", "--platform", "linux/amd64", "--platform", "linux/arm64",
		"--file", src+"/linux-{arch}/edgeupgrade-node:/edgeupgrade-node:0755",
		"--file", src+"/linux-{arch}/kubelet:/usr/local/bin/kubelet:0755")
	var buf, errOut bytes.Buffer
	if code := run([]string{"sizes", out}, &buf, &errOut); code != 0 {
		t.Fatalf("sizes: exit %d: %s", code, errOut.String())
	}
	ins := inspect(t, out)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2+2*3 || lines[0] != "upgrade.tar" || !strings.HasPrefix(lines[1], "PLATFORM") {
		t.Fatalf("sizes printed:\n%s", buf.String())
	}
	for i, img := range ins.Images {
		rows := lines[2+3*i : 5+3*i]
		kubelet := img.Layers[1]
		content := kubelet.Files[len(kubelet.Files)-1]
		if content.Path != "/usr/local/bin/kubelet" || content.Size == 0 || kubelet.Size == 0 {
			t.Fatalf("%s kubelet layer %+v", img.Platform, kubelet)
		}
		want := strings.Join([]string{img.Platform, "2", "/usr/local/bin/kubelet", size(kubelet.Size), size(content.Size), "gzip"}, " ")
		if got := strings.Join(strings.Fields(rows[1]), " "); got != want {
			t.Errorf("kubelet row %q, want %q", got, want)
		}
		want = strings.Join([]string{img.Platform, "total", "2", "layers", size(img.Layers[0].Size + kubelet.Size), size(img.Layers[0].Files[0].Size + content.Size)}, " ")
		if got := strings.Join(strings.Fields(rows[2]), " "); got != want {
			t.Errorf("total row %q, want %q", got, want)
		}
	}
	if code := run([]string{"sizes", filepath.Join(t.TempDir(), "none.tar")}, &buf, &errOut); code == 0 {
		t.Error("sizes of a missing archive succeeded")
	}
}

func TestCompression(t *testing.T) {
	for mt, want := range map[string]string{
		"application/vnd.oci.image.layer.v1.tar+gzip":       "gzip",
		"application/vnd.oci.image.layer.v1.tar+zstd":       "zstd",
		"application/vnd.docker.image.rootfs.diff.tar.gzip": "gzip",
		"application/vnd.oci.image.layer.v1.tar":            "none",
	} {
		if got := compression(mt); got != want {
			t.Errorf("compression(%s) = %s, want %s", mt, got, want)
		}
	}
}

func TestSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1536: "1.5 KiB", 93 << 20: "93.0 MiB"} {
		if got := size(n); got != want {
			t.Errorf("size(%d) = %s, want %s", n, got, want)
		}
	}
}
