package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/zstd"
)

// tarEntries reads an uncompressed tar: each entry's path, mode and content.
func tarEntries(t *testing.T, r io.Reader) []string {
	t.Helper()
	var out []string
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		must(t, err)
		b, err := io.ReadAll(tr)
		must(t, err)
		out = append(out, h.Name+" "+h.FileInfo().Mode().String()+" "+string(b))
	}
}

// A zstd layer is zstd on the wire, says so in the manifest (the OCI zstd media type),
// and decompresses to exactly the entries of the gzip build of the same files: the
// same uncompressed layer (diff ID), so both archives are the same image to a runtime.
func TestZstdLayersRoundTrip(t *testing.T) {
	src := fakeTree(t)
	dir := t.TempDir()
	args := []string{"--tag", "r.local/upgrade:v1.36.3", "--platform", "linux/amd64", "--platform", "linux/arm64",
		"--file", src + "/linux-{arch}/edgeupgrade-node:/edgeupgrade-node:0755",
		"--file", src + "/linux-{arch}/kubelet:/usr/local/bin/kubelet:0755", "--dir", src + "/etc:/etc"}
	gz, zs := filepath.Join(dir, "gzip.tar"), filepath.Join(dir, "zstd.tar")
	build(t, append([]string{"-o", gz}, args...)...)
	build(t, append([]string{"-o", zs, "--compression", "zstd", "--split-output", filepath.Join(dir, "zstd_{platform}.tar")}, args...)...)

	gzIdx, err := layout.ImageIndexFromPath(untarTo(t, gz))
	must(t, err)
	zsPath := untarTo(t, zs)
	zsIdx, err := layout.ImageIndexFromPath(zsPath)
	must(t, err)
	gzImgs, zsImgs := platformImages(t, gzIdx), platformImages(t, zsIdx)
	if len(zsImgs) != 2 || len(gzImgs) != 2 {
		t.Fatalf("%d gzip and %d zstd platform images, want 2 each", len(gzImgs), len(zsImgs))
	}
	for i, zimg := range zsImgs {
		m, err := zimg.Manifest()
		must(t, err)
		gm, err := gzImgs[i].Manifest()
		must(t, err)
		if len(m.Layers) != 3 {
			t.Fatalf("%d layers", len(m.Layers))
		}
		zl, _ := zimg.Layers()
		gl, _ := gzImgs[i].Layers()
		for j, d := range m.Layers {
			if d.MediaType != types.OCILayerZStd || gm.Layers[j].MediaType != types.OCILayer {
				t.Errorf("layer %d media types %s and %s", j, d.MediaType, gm.Layers[j].MediaType)
			}
			// The bytes on the wire are zstd: decompress them ourselves.
			rc, err := zl[j].Compressed()
			must(t, err)
			zr, err := zstd.NewReader(rc)
			must(t, err)
			got := tarEntries(t, zr)
			zr.Close()
			_ = rc.Close()
			urc, err := gl[j].Uncompressed()
			must(t, err)
			want := tarEntries(t, urc)
			_ = urc.Close()
			if diff := cmp.Diff(want, got); diff != "" || len(got) == 0 {
				t.Errorf("layer %d: zstd entries differ from gzip's (-gzip +zstd):\n%s", j, diff)
			}
			zd, _ := zl[j].DiffID()
			gd, _ := gl[j].DiffID()
			if zd != gd {
				t.Errorf("layer %d: diff IDs %s (zstd) and %s (gzip)", j, zd, gd)
			}
		}
	}
	// One platform: no Docker manifest.json (docker load would fail on zstd layers).
	ins := inspect(t, filepath.Join(dir, "zstd_linux-arm64.tar"))
	if ins.Format != "oci" || len(ins.Images) != 1 || ins.Images[0].Layers[1].MediaType != string(types.OCILayerZStd) {
		t.Errorf("split zstd archive: %+v", ins)
	}
	var errOut bytes.Buffer
	if code := run([]string{"build", "-q", "-o", filepath.Join(dir, "d.tar"), "--format", "docker", "--compression", "zstd",
		"--tag", "r.local/a:1", "--file", src + "/linux-amd64/kubelet:/kubelet"}, io.Discard, &errOut); code == 0 || !strings.Contains(errOut.String(), "docker load does not read zstd") {
		t.Errorf("--format docker --compression zstd: exit %d, %s", code, errOut.String())
	}
}

// platformImages are the platform images of a multi-arch layout, in index order.
func platformImages(t *testing.T, idx v1.ImageIndex) []v1.Image {
	t.Helper()
	im, err := idx.IndexManifest()
	must(t, err)
	child, err := idx.ImageIndex(im.Manifests[0].Digest)
	must(t, err)
	cm, err := child.IndexManifest()
	must(t, err)
	var out []v1.Image
	for _, d := range cm.Manifests {
		img, err := child.Image(d.Digest)
		must(t, err)
		out = append(out, img)
	}
	return out
}

// The upgrade image's two variants (make images): the base image and the one with
// containerd share every layer, the base's are the first of the other's (one snapshot
// chain on a node), and with a --layer-cache each distinct layer is compressed once,
// whichever build needs it first; a rebuild compresses nothing.
func TestVariantsShareLayersThroughTheCache(t *testing.T) {
	src := fakeTree(t)
	must(t, os.WriteFile(filepath.Join(src, "containerd"), []byte("#!fake containerd\n"), 0o755))
	dir, cache := t.TempDir(), filepath.Join(t.TempDir(), "layers")
	common := []string{"--platform", "linux/amd64", "--layer-cache", cache, "--compression", "zstd",
		"--file", src + "/linux-{arch}/edgeupgrade-node:/edgeupgrade-node:0755",
		"--file", src + "/linux-{arch}/kubelet:/usr/local/bin/kubelet:0755"}
	base, rt := filepath.Join(dir, "base.tar"), filepath.Join(dir, "rt.tar")
	build(t, append([]string{"-o", base, "--tag", "r.local/upgrade:v1.36.3"}, common...)...)
	build(t, append(append([]string{"-o", rt, "--tag", "r.local/upgrade:v1.36.3-containerd-v2.2.9"}, common...),
		"--file", src+"/containerd:/usr/local/containerd/bin/containerd:0755")...)
	bl, rl := inspect(t, base).Images[0].Layers, inspect(t, rt).Images[0].Layers
	if len(bl) != 2 || len(rl) != 3 || bl[0].Digest != rl[0].Digest || bl[1].Digest != rl[1].Digest {
		t.Fatalf("base layers %v are not the first of the runtime variant's %v", bl, rl)
	}
	cached, err := filepath.Glob(filepath.Join(cache, "*.tar.zstd"))
	must(t, err)
	if len(cached) != 3 {
		t.Errorf("%d compressed layers in the cache, want 3 (one per distinct file): %v", len(cached), cached)
	}
	before := map[string]time.Time{}
	for _, p := range cached {
		st, err := os.Stat(p)
		must(t, err)
		before[p] = st.ModTime()
	}
	time.Sleep(10 * time.Millisecond)
	build(t, append([]string{"-o", filepath.Join(dir, "again.tar"), "--tag", "r.local/upgrade:v1.36.3"}, common...)...)
	again, _ := os.ReadFile(filepath.Join(dir, "again.tar"))
	first, _ := os.ReadFile(base)
	after, _ := filepath.Glob(filepath.Join(cache, "*"))
	if !bytes.Equal(again, first) || len(after) != 3 {
		t.Errorf("a rebuild from the cache: same bytes %v, %d cache entries (want 3)", bytes.Equal(again, first), len(after))
	}
	for _, l := range bl {
		hit := false
		for p, t0 := range before {
			st, err := os.Stat(p)
			must(t, err)
			hit = hit || st.ModTime().After(t0)
		}
		if !hit {
			t.Errorf("layer %s: no cache entry touched by the rebuild", l.Digest)
		}
	}
}
