package main

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// fakeTree writes small stand-ins for the agent and the kube binaries, per arch.
func fakeTree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, arch := range []string{"amd64", "arm64"} {
		for _, b := range []string{"edgeupgrade-node", "kubeadm", "kubelet", "kubectl"} {
			p := filepath.Join(dir, "linux-"+arch, b)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			content := "#!fake " + b + " for " + arch + "\n"
			if b == "edgeupgrade-node" {
				content = "#!fake agent\n" // the same bytes for both: one shared layer
			}
			if err := os.WriteFile(p, []byte(content), 0o700); err != nil {
				t.Fatal(err)
			}
		}
	}
	must(t, os.MkdirAll(filepath.Join(dir, "etc/ssl"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "etc/ssl/ca.pem"), []byte("pem"), 0o644))
	must(t, os.Symlink("ca.pem", filepath.Join(dir, "etc/ssl/cert.pem")))
	return dir
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func build(t *testing.T, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	if code := run(append([]string{"build", "-q"}, args...), &out, &errOut); code != 0 {
		t.Fatalf("build %v: exit %d: %s", args, code, errOut.String())
	}
	return out.String()
}

func inspect(t *testing.T, path string) Inspection {
	t.Helper()
	ins, err := inspectArchive(path)
	if err != nil {
		t.Fatal(err)
	}
	return ins
}

func files(l InspectLayer) []string {
	var out []string
	for _, f := range l.Files {
		out = append(out, f.Path+" "+f.Mode)
	}
	return out
}

func TestBuildUpgradeImageMultiArch(t *testing.T) {
	src := fakeTree(t)
	out := filepath.Join(t.TempDir(), "dist", "images", "upgrade.tar") // directories made as needed
	build(t, "-o", out, "--tag", "ghcr.io/edgeupgrade/upgrade:v1.36.3", "--tag", "mirror.local/edgeupgrade/upgrade:v1.36.3",
		"--platform", "linux/amd64", "--platform", "linux/arm64",
		"--file", src+"/linux-{arch}/edgeupgrade-node:/edgeupgrade-node:0755",
		"--file", src+"/{platform}/kubeadm:/usr/local/bin/kubeadm:0755",
		"--file", src+"/linux-{arch}/kubelet:/usr/local/bin/kubelet:0755",
		"--file", src+"/linux-{arch}/kubectl:/usr/local/bin/kubectl",
		"--entrypoint", "/edgeupgrade-node", "--env", "EDGEUPGRADE_BIN_DIR=/usr/local/bin", "--label", "org.opencontainers.image.version=v1.36.3")

	ins := inspect(t, out)
	if ins.Format != "oci" || len(ins.Images) != 2 {
		t.Fatalf("format %q with %d images, want oci with 2", ins.Format, len(ins.Images))
	}
	var agentLayers []string
	for i, arch := range []string{"amd64", "arm64"} {
		img := ins.Images[i]
		if img.Platform != "linux/"+arch {
			t.Errorf("image %d platform %s", i, img.Platform)
		}
		if diff := cmp.Diff([]string{"ghcr.io/edgeupgrade/upgrade:v1.36.3", "mirror.local/edgeupgrade/upgrade:v1.36.3"}, img.Refs); diff != "" {
			t.Errorf("refs:\n%s", diff)
		}
		if !slices.Equal(img.Entrypoint, []string{"/edgeupgrade-node"}) || !slices.Contains(img.Env, "EDGEUPGRADE_BIN_DIR=/usr/local/bin") ||
			!strings.HasPrefix(img.Env[0], "PATH=") || img.Labels["org.opencontainers.image.version"] != "v1.36.3" {
			t.Errorf("config: entrypoint %v env %v labels %v", img.Entrypoint, img.Env, img.Labels)
		}
		var got [][]string
		for _, l := range img.Layers {
			got = append(got, files(l))
			if l.MediaType != "application/vnd.oci.image.layer.v1.tar+gzip" {
				t.Errorf("layer media type %s", l.MediaType)
			}
		}
		want := [][]string{
			{"/edgeupgrade-node 0755"},
			{"/usr 0755", "/usr/local 0755", "/usr/local/bin 0755", "/usr/local/bin/kubeadm 0755"},
			{"/usr 0755", "/usr/local 0755", "/usr/local/bin 0755", "/usr/local/bin/kubelet 0755"},
			{"/usr 0755", "/usr/local 0755", "/usr/local/bin 0755", "/usr/local/bin/kubectl 0700"},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s layers (-want +got):\n%s", arch, diff)
		}
		agentLayers = append(agentLayers, img.Layers[0].Digest)
		if img.Layers[1].Digest == ins.Images[1-i].Layers[1].Digest {
			t.Errorf("kubeadm layers of both architectures are the same")
		}
	}
	if agentLayers[0] != agentLayers[1] {
		t.Errorf("the identical agent file gave two layers: %v", agentLayers)
	}

	// The architecture really is in each image's config, and the right binary in its layer.
	idx, err := layout.ImageIndexFromPath(untarTo(t, out))
	must(t, err)
	im, _ := idx.IndexManifest()
	if len(im.Manifests) != 2 || !im.Manifests[0].MediaType.IsIndex() {
		t.Fatalf("index.json: %+v", im.Manifests)
	}
	child, err := idx.ImageIndex(im.Manifests[0].Digest)
	must(t, err)
	cm, _ := child.IndexManifest()
	for _, d := range cm.Manifests {
		img, err := child.Image(d.Digest)
		must(t, err)
		cf, _ := img.ConfigFile()
		if cf.Architecture != d.Platform.Architecture || cf.OS != "linux" {
			t.Errorf("config says %s/%s, index says %s", cf.OS, cf.Architecture, d.Platform)
		}
		layers, _ := img.Layers()
		rc, _ := layers[2].Uncompressed()
		var b bytes.Buffer
		_, _ = b.ReadFrom(rc)
		_ = rc.Close()
		if !strings.Contains(b.String(), "#!fake kubelet for "+cf.Architecture) {
			t.Errorf("%s image carries the wrong kubelet", cf.Architecture)
		}
	}
}

func mustHash(t *testing.T, s string) v1.Hash {
	t.Helper()
	h, err := v1.NewHash(s)
	must(t, err)
	return h
}

func untarTo(t *testing.T, archive string) string {
	t.Helper()
	dir := t.TempDir()
	must(t, untar(archive, dir))
	return dir
}

func TestSinglePlatformArchiveLoadsAsDockerAndOCI(t *testing.T) {
	src := fakeTree(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "node-preprocess.tar")
	build(t, "-o", out, "--tag", "ghcr.io/edgeupgrade/node-preprocess:v0.3.0", "--platform", "linux/arm64",
		"--file", src+"/linux-arm64/edgeupgrade-node:/edgeupgrade-node:0755", "--dir", src+"/etc:/etc",
		"--entrypoint", `["/edgeupgrade-node","check"]`)
	ins := inspect(t, out)
	if ins.Format != "oci+docker" || len(ins.Images) != 1 {
		t.Fatalf("format %q, %d images", ins.Format, len(ins.Images))
	}
	img := ins.Images[0]
	if !slices.Equal(img.Entrypoint, []string{"/edgeupgrade-node", "check"}) {
		t.Errorf("entrypoint %v", img.Entrypoint)
	}
	// --dir layers come first.
	if diff := cmp.Diff([]string{"/etc 0755", "/etc/ssl 0755", "/etc/ssl/ca.pem 0644", "/etc/ssl/cert.pem 0777"}, files(img.Layers[0])); diff != "" {
		t.Errorf("--dir layer:\n%s", diff)
	}
	if l := img.Layers[0].Files[3].Link; l != "ca.pem" {
		t.Errorf("symlink target %q", l)
	}
	// What docker load reads: manifest.json with the tag.
	tag, _ := name.NewTag("ghcr.io/edgeupgrade/node-preprocess:v0.3.0")
	dimg, err := tarball.ImageFromPath(out, &tag)
	must(t, err)
	cf, err := dimg.ConfigFile()
	must(t, err)
	if cf.Architecture != "arm64" || cf.Config.Entrypoint[0] != "/edgeupgrade-node" {
		t.Errorf("docker view: %s %v", cf.Architecture, cf.Config.Entrypoint)
	}
	// The same config and layers as the OCI view (the manifests differ in media types).
	oimg, err := layout.Path(untarTo(t, out)).Image(mustHash(t, img.Digest))
	must(t, err)
	c1, _ := dimg.ConfigName()
	c2, _ := oimg.ConfigName()
	if c1 != c2 {
		t.Errorf("docker and OCI views differ: config %s vs %s", c1, c2)
	}
}

func TestDockerFormatAndSplitOutput(t *testing.T) {
	src := fakeTree(t)
	dir := t.TempDir()
	build(t, "-o", filepath.Join(dir, "multi.tar"), "--tag", "example.com/kube-apiserver:v1.36.3",
		"--platform", "linux/amd64", "--platform", "linux/arm64",
		"--file", src+"/linux-{arch}/kubelet:/usr/local/bin/kube-apiserver:0755", "--entrypoint", "/usr/local/bin/kube-apiserver",
		"--split-output", filepath.Join(dir, "kube-apiserver_{os}-{arch}.tar"))
	for _, arch := range []string{"amd64", "arm64"} {
		ins := inspect(t, filepath.Join(dir, "kube-apiserver_linux-"+arch+".tar"))
		if ins.Format != "oci+docker" || ins.Images[0].Platform != "linux/"+arch {
			t.Errorf("split %s: %s %v", arch, ins.Format, ins.Images)
		}
	}
	docker := filepath.Join(dir, "docker.tar")
	build(t, "-o", docker, "--format", "docker", "--tag", "example.com/kube-apiserver:v1.36.3",
		"--file", src+"/linux-amd64/kubelet:/usr/local/bin/kube-apiserver:0755", "--entrypoint", "/usr/local/bin/kube-apiserver")
	ins := inspect(t, docker)
	if ins.Format != "docker" || ins.Images[0].Platform != "linux/amd64" || ins.Images[0].Layers[0].MediaType != "application/vnd.docker.image.rootfs.diff.tar.gzip" {
		t.Errorf("docker format: %+v", ins)
	}
}

func TestBuildIsReproducible(t *testing.T) {
	src := fakeTree(t)
	dir := t.TempDir()
	args := []string{"--tag", "r.local/a:1", "--platform", "linux/amd64", "--platform", "linux/arm64",
		"--file", src + "/linux-{arch}/kubelet:/kubelet", "--dir", src + "/etc:/etc"}
	build(t, append([]string{"-o", filepath.Join(dir, "a.tar")}, args...)...)
	build(t, append([]string{"-o", filepath.Join(dir, "b.tar")}, args...)...)
	a, _ := os.ReadFile(filepath.Join(dir, "a.tar"))
	b, _ := os.ReadFile(filepath.Join(dir, "b.tar"))
	if !bytes.Equal(a, b) {
		t.Errorf("two builds of the same inputs differ")
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".edgeupgrade-image-*"))
	if len(left) > 0 {
		t.Errorf("work directories left behind: %v", left)
	}
}

func TestBuildErrors(t *testing.T) {
	src := fakeTree(t)
	dir := t.TempDir()
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"no tag":         {[]string{"--file", src + "/linux-amd64/kubelet:/kubelet"}, "at least one --tag is required"},
		"bad tag":        {[]string{"--tag", "UPPER/case:x", "--file", src + "/linux-amd64/kubelet:/kubelet"}, `--tag "UPPER/case:x"`},
		"relative dst":   {[]string{"--tag", "a/b:c", "--file", "x:kubelet"}, "want SRC:DST[:MODE] with an absolute DST"},
		"bad mode":       {[]string{"--tag", "a/b:c", "--file", "x:/kubelet:rwx"}, `mode "rwx" is not octal`},
		"missing source": {[]string{"--tag", "a/b:c", "--file", src + "/{arch}/nope:/nope"}, "--file for linux/amd64: stat " + src + "/amd64/nope"},
		"no content":     {[]string{"--tag", "a/b:c"}, "give at least one --file or --dir"},
		"docker multi":   {[]string{"--tag", "a/b:c", "--format", "docker", "--platform", "linux/amd64", "--platform", "linux/arm64", "--file", src + "/linux-amd64/kubelet:/k"}, "--format docker holds one platform"},
		"bad platform":   {[]string{"--tag", "a/b:c", "--platform", "arm64", "--file", src + "/linux-amd64/kubelet:/k"}, `--platform "arm64": want OS/ARCH`},
	} {
		t.Run(name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			args := append([]string{"build", "-o", filepath.Join(dir, name+".tar")}, tc.args...)
			if code := run(args, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), tc.want) {
				t.Errorf("exit %d, stderr %q, want it to contain %q", code, errOut.String(), tc.want)
			}
			if _, err := os.Stat(filepath.Join(dir, name+".tar")); err == nil {
				t.Errorf("wrote an archive despite the error")
			}
		})
	}
}

// An ELF binary of another architecture is refused (a mixed-up cache directory must
// not ship an arm64 image holding amd64 binaries).
func TestBuildRefusesBinaryOfAnotherArch(t *testing.T) {
	self, err := os.Executable()
	must(t, err)
	other := map[string]string{"amd64": "arm64", "arm64": "amd64"}[runtime.GOARCH]
	if other == "" {
		t.Fatalf("no other architecture known for %s", runtime.GOARCH)
	}
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	code := run([]string{"build", "-o", filepath.Join(dir, "x.tar"), "--tag", "a/b:c", "--platform", "linux/" + runtime.GOARCH,
		"--platform", "linux/" + other, "--file", self + ":/bin/x"}, &out, &errOut)
	want := "--file for linux/" + other + ": " + self + " is an " + runtime.GOARCH
	if code != 1 || !strings.Contains(errOut.String(), want) {
		t.Errorf("exit %d: %s", code, errOut.String())
	}
}
