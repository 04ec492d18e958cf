package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/spf13/cobra"
)

// platform is an image platform (os/arch[/variant]).
type platform = v1.Platform

func parsePlatform(s string) (platform, error) {
	p, err := v1.ParsePlatform(s)
	if err != nil || p.OS == "" || p.Architecture == "" {
		return platform{}, fmt.Errorf("--platform %q: want OS/ARCH[/VARIANT], e.g. linux/arm64", s)
	}
	return *p, nil
}

// Archive formats.
const (
	formatOCI    = "oci"
	formatDocker = "docker"
)

type buildOptions struct {
	output, format, created, splitOutput string
	compression, layerCache              string
	tags, platforms, files, dirs         []string
	entrypoint, cmd, env, labels         []string
	workdir, user                        string
	quiet                                bool
	out                                  io.Writer
}

const buildExample = `  # The node agent image for two architectures (one multi-arch OCI archive)
  edgeupgrade-image build -o dist/images/node-preprocess.tar \
    --tag ghcr.io/edgeupgrade/node-preprocess:v0.3.0 \
    --platform linux/amd64 --platform linux/arm64 \
    --file bin/linux-{arch}/edgeupgrade-node:/edgeupgrade-node:0755 \
    --entrypoint /edgeupgrade-node

  # A control-plane image from a locally built binary, loadable by docker and ctr
  edgeupgrade-image build -o kube-apiserver.tar \
    --tag registry.k8s.io/kube-apiserver:v1.36.3 --platform linux/amd64 \
    --file ~/.cache/edgeupgrade/kube/v1.36.3/bin/kube-apiserver:/usr/local/bin/kube-apiserver:0755 \
    --entrypoint /usr/local/bin/kube-apiserver
  ctr -n k8s.io images import kube-apiserver.tar   # or: docker load -i kube-apiserver.tar`

func newCmdBuild(out io.Writer) *cobra.Command {
	o := &buildOptions{out: out}
	cmd := &cobra.Command{
		Use:   "build -o ARCHIVE --tag REF --file SRC:DST[:MODE]... [flags]",
		Short: "Assemble an image archive from local files",
		Long: `Assemble a container image from local files and write it as an archive.

Each --dir and each --file becomes one layer (all --dir layers first, then the --file
layers, each in the order given), so images that share a file (the same bytes at the
same path) share that layer. Layers are reproducible:
sorted, owned by root, time-stamped with --created. Sources may contain {os}, {arch},
{variant} and {platform} (os-arch), replaced for each --platform. Several platforms
make a multi-arch image index.

--format oci (default) writes an OCI image layout archive. With one platform the same
archive also carries Docker's manifest.json, so it loads with both
'ctr -n k8s.io images import' and 'docker load'. A multi-platform archive loads with
ctr (and pushes with 'crane push', 'skopeo copy oci-archive:'); --split-output also
writes one single-platform archive per platform for docker load.
--format docker writes the classic 'docker save' format (one platform).

--compression zstd compresses the layers with zstd (media type
application/vnd.oci.image.layer.v1.tar+zstd): smaller than gzip, read by containerd
('ctr images import', pulls from a registry) but not by a classic 'docker load', so
the archive has no Docker manifest.json. --layer-cache DIR keeps compressed layers
across builds, keyed by their content.`,
		Example: buildExample,
		Args:    cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return o.run()
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.output, "output", "o", "", "archive to write (required)")
	f.StringVar(&o.format, "format", formatOCI, "archive format: oci or docker")
	f.StringVar(&o.compression, "compression", compressGzip, "layer compression: gzip, or zstd (smaller; containerd reads it, docker load does not: --format oci only, no Docker manifest.json)")
	f.StringVar(&o.layerCache, "layer-cache", "", "directory keeping compressed layers by the SHA-256 of their content, across builds: unchanged files are not compressed again")
	f.StringArrayVarP(&o.tags, "tag", "t", nil, "image reference, e.g. ghcr.io/edgeupgrade/upgrade:v1.36.3 (repeatable; at least one)")
	f.StringArrayVar(&o.platforms, "platform", nil, "OS/ARCH[/VARIANT] (repeatable; default linux/amd64)")
	f.StringArrayVar(&o.files, "file", nil, "SRC:DST[:MODE]: add local file SRC at DST with octal MODE (default: SRC's) (repeatable)")
	f.StringArrayVar(&o.dirs, "dir", nil, "SRC:DST: add the tree under local directory SRC at DST (repeatable)")
	f.StringArrayVar(&o.entrypoint, "entrypoint", nil, "entrypoint, one argument per flag (exec form), or one JSON array")
	f.StringArrayVar(&o.cmd, "cmd", nil, "default arguments, one per flag, or one JSON array")
	f.StringArrayVar(&o.env, "env", nil, "KEY=VALUE in the image environment (repeatable; PATH defaults to the usual one)")
	f.StringArrayVar(&o.labels, "label", nil, "KEY=VALUE image label (repeatable)")
	f.StringVar(&o.workdir, "workdir", "", "working directory")
	f.StringVar(&o.user, "user", "", "user (and group) the process runs as, e.g. 65532:65532")
	f.StringVar(&o.created, "created", "", "creation time, RFC 3339 or Unix seconds (default $SOURCE_DATE_EPOCH, else 1970-01-01: reproducible)")
	f.StringVar(&o.splitOutput, "split-output", "", "also write one single-platform archive per platform; {os}, {arch}, {variant}, {platform} are replaced")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "print nothing on success")
	return cmd
}

// argList reads a repeatable exec-form flag: one argument per flag or a JSON array.
func argList(flag string, vals []string) ([]string, error) {
	if len(vals) == 1 && strings.HasPrefix(strings.TrimSpace(vals[0]), "[") {
		var out []string
		if err := json.Unmarshal([]byte(vals[0]), &out); err != nil {
			return nil, fmt.Errorf("--%s %q: not a JSON array of strings: %w", flag, vals[0], err)
		}
		return out, nil
	}
	return vals, nil
}

func createdTime(s string) (time.Time, error) {
	if s == "" {
		s = os.Getenv("SOURCE_DATE_EPOCH")
	}
	if s == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--created %q: want RFC 3339 or Unix seconds", s)
	}
	return t.UTC(), nil
}

// layerSpec is one --file or --dir, in command-line order.
type layerSpec struct {
	spec fileSpec
	dir  bool
	flag string
}

func (o *buildOptions) run() error {
	refs, plats, err := o.targets()
	if err != nil {
		return err
	}
	specs, err := o.layerSpecs()
	if err != nil {
		return err
	}
	cfg, created, err := o.config()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(o.output), 0o755); err != nil {
		return err
	}
	work, err := os.MkdirTemp(filepath.Dir(o.output), ".edgeupgrade-image-")
	if err != nil {
		return fmt.Errorf("create a work directory beside %s: %w", o.output, err)
	}
	defer func() { _ = os.RemoveAll(work) }()

	b := &builder{work: work, created: created, format: o.format, compress: o.compression, cache: o.layerCache, layers: map[string]v1.Layer{}}
	var imgs []platformImage
	for _, p := range plats {
		img, err := b.image(p, specs, cfg)
		if err != nil {
			return err
		}
		imgs = append(imgs, platformImage{p, img})
	}
	if err := writeArchive(o.output, o.format, o.compression, refs, imgs, work); err != nil {
		return err
	}
	if err := o.report(o.output, imgs); err != nil {
		return err
	}
	return o.writeSplit(refs, imgs, work)
}

// targets checks where the image goes: the output, its tags, the format and the
// platforms (linux/amd64 when none is given).
func (o *buildOptions) targets() ([]name.Tag, []platform, error) {
	if o.output == "" {
		return nil, nil, fmt.Errorf("--output is required")
	}
	if len(o.tags) == 0 {
		return nil, nil, fmt.Errorf("at least one --tag is required")
	}
	refs := make([]name.Tag, 0, len(o.tags))
	for _, t := range o.tags {
		ref, err := name.NewTag(t)
		if err != nil {
			return nil, nil, fmt.Errorf("--tag %q: %w", t, err)
		}
		refs = append(refs, ref)
	}
	if o.format != formatOCI && o.format != formatDocker {
		return nil, nil, fmt.Errorf("--format %q: want oci or docker", o.format)
	}
	if len(o.platforms) == 0 {
		o.platforms = []string{"linux/amd64"}
	}
	var plats []platform
	for _, s := range o.platforms {
		p, err := parsePlatform(s)
		if err != nil {
			return nil, nil, err
		}
		plats = append(plats, p)
	}
	if o.compression != compressGzip && o.compression != compressZstd {
		return nil, nil, fmt.Errorf("--compression %q: want gzip or zstd", o.compression)
	}
	if o.format == formatDocker && o.compression == compressZstd {
		return nil, nil, fmt.Errorf("--compression zstd needs --format oci: docker load does not read zstd layers")
	}
	if o.format == formatDocker && len(plats) > 1 {
		return nil, nil, fmt.Errorf("--format docker holds one platform; use --format oci for %d platforms (or --split-output)", len(plats))
	}
	return refs, plats, nil
}

// config is the image configuration the flags describe, and its creation time.
func (o *buildOptions) config() (v1.Config, time.Time, error) {
	entrypoint, err := argList("entrypoint", o.entrypoint)
	if err != nil {
		return v1.Config{}, time.Time{}, err
	}
	cmdArgs, err := argList("cmd", o.cmd)
	if err != nil {
		return v1.Config{}, time.Time{}, err
	}
	created, err := createdTime(o.created)
	if err != nil {
		return v1.Config{}, time.Time{}, err
	}
	cfg := v1.Config{Entrypoint: entrypoint, Cmd: cmdArgs, WorkingDir: o.workdir, User: o.user, Env: defaultEnv(o.env)}
	if len(o.labels) > 0 {
		cfg.Labels = map[string]string{}
		for _, l := range o.labels {
			k, v, ok := strings.Cut(l, "=")
			if !ok || k == "" {
				return v1.Config{}, time.Time{}, fmt.Errorf("--label %q: want KEY=VALUE", l)
			}
			cfg.Labels[k] = v
		}
	}
	for _, e := range o.env {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
			return v1.Config{}, time.Time{}, fmt.Errorf("--env %q: want KEY=VALUE", e)
		}
	}
	return cfg, created, nil
}

// writeSplit writes one archive per platform as well, with --split-output.
func (o *buildOptions) writeSplit(refs []name.Tag, imgs []platformImage, work string) error {
	if o.splitOutput == "" {
		return nil
	}
	for _, pi := range imgs {
		out := expand(o.splitOutput, pi.platform)
		if out == o.splitOutput && len(imgs) > 1 {
			return fmt.Errorf("--split-output %q: needs {arch} or {platform} to name %d archives", o.splitOutput, len(imgs))
		}
		if err := writeArchive(out, o.format, o.compression, refs, []platformImage{pi}, work); err != nil {
			return err
		}
		if err := o.report(out, []platformImage{pi}); err != nil {
			return err
		}
	}
	return nil
}

func (o *buildOptions) report(out string, imgs []platformImage) error {
	if o.quiet {
		return nil
	}
	st, _ := os.Stat(out)
	var ps []string
	for _, pi := range imgs {
		ps = append(ps, pi.platform.String())
	}
	size := int64(0)
	if st != nil {
		size = st.Size()
	}
	_, err := fmt.Fprintf(o.out, "wrote %s (%s, %s, %.1f MiB)\n", out, strings.Join(o.tags, ", "), strings.Join(ps, ", "), float64(size)/(1<<20))
	return err
}

// layerSpecs returns the --dir flags, then the --file flags, each in command-line order.
func (o *buildOptions) layerSpecs() ([]layerSpec, error) {
	var out []layerSpec
	for _, s := range o.dirs {
		f, err := parseDirSpec(s)
		if err != nil {
			return nil, err
		}
		out = append(out, layerSpec{spec: f, dir: true, flag: "--dir " + s})
	}
	for _, s := range o.files {
		f, err := parseFileSpec(s)
		if err != nil {
			return nil, err
		}
		out = append(out, layerSpec{spec: f, flag: "--file " + s})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("nothing to put in the image: give at least one --file or --dir")
	}
	return out, nil
}

func defaultEnv(env []string) []string {
	for _, e := range env {
		if strings.HasPrefix(e, "PATH=") {
			return env
		}
	}
	return append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, env...)
}

type platformImage struct {
	platform platform
	image    v1.Image
}

// builder makes images; it compresses each distinct layer once (and, with a cache,
// once across builds).
type builder struct {
	work     string
	created  time.Time
	format   string
	compress string              // compressGzip or compressZstd
	cache    string              // --layer-cache ("": none)
	layers   map[string]v1.Layer // by the sources and destinations it holds
	n        int
}

func (b *builder) layer(entries []entry) (v1.Layer, error) {
	var key strings.Builder
	for _, e := range entries {
		fmt.Fprintf(&key, "%s|%s|%o|%s|%v\n", e.dst, e.src, e.mode, e.link, e.dir)
	}
	if l, ok := b.layers[key.String()]; ok {
		return l, nil
	}
	b.n++
	dir := b.cache
	if dir == "" {
		dir = filepath.Join(b.work, fmt.Sprintf("layer-%d", b.n)) // a cache of one build
	}
	p, err := layerCache{dir: dir}.path(entries, b.created, b.compress)
	if err != nil {
		return nil, err
	}
	l, err := tarball.LayerFromFile(p, tarball.WithMediaType(layerMediaType(b.compress, b.format)),
		tarball.WithCompression(layerCompression(b.compress)))
	if err != nil {
		return nil, err
	}
	b.layers[key.String()] = l
	return l, nil
}

func (b *builder) image(p platform, specs []layerSpec, cfg v1.Config) (v1.Image, error) {
	img := empty.Image
	if b.format == formatOCI {
		img = mutate.MediaType(img, types.OCIManifestSchema1)
		img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	}
	for _, s := range specs {
		var entries []entry
		var err error
		if s.dir {
			entries, err = dirEntries(s.spec, p)
		} else {
			entries, err = fileEntries(s.spec, p)
		}
		if err != nil {
			return nil, err
		}
		l, err := b.layer(entries)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.flag, err)
		}
		img, err = mutate.Append(img, mutate.Addendum{
			Layer:   l,
			History: v1.History{Created: v1.Time{Time: b.created}, CreatedBy: "edgeupgrade-image " + s.flag, Comment: "edgeupgrade-image"},
		})
		if err != nil {
			return nil, err
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant, cf.OSVersion = p.OS, p.Architecture, p.Variant, p.OSVersion
	cf.Created = v1.Time{Time: b.created}
	cf.Config = cfg
	return mutate.ConfigFile(img, cf)
}
