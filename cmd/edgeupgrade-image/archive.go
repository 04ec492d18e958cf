package main

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Annotations of index.json entries: containerd names imported images by the first,
// OCI tools by the second (the tag).
const (
	annotationContainerdName = "io.containerd.image.name"
	annotationRefName        = "org.opencontainers.image.ref.name"
)

// writeArchive writes imgs under refs to out (through a temporary file and a rename).
// An OCI archive of one platform also gets Docker's manifest.json, unless its layers
// are zstd, which `docker load` does not read.
func writeArchive(out, format, compress string, refs []name.Tag, imgs []platformImage, work string) error {
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	tmp := out + ".tmp"
	var err error
	if format == formatDocker {
		err = writeDocker(tmp, refs, imgs[0].image)
	} else {
		err = writeOCI(tmp, refs, imgs, work, compress != compressZstd)
	}
	if err != nil {
		_ = os.Remove(tmp) // may not exist; the write error is what matters
		return fmt.Errorf("write %s: %w", out, err)
	}
	return os.Rename(tmp, out)
}

func writeDocker(path string, refs []name.Tag, img v1.Image) error {
	m := map[name.Tag]v1.Image{}
	for _, r := range refs {
		m[r] = img
	}
	return tarball.MultiWriteToFile(path, m)
}

// dockerManifest is one entry of Docker's manifest.json (what `docker load` reads).
type dockerManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// writeOCI writes an OCI image layout as a tar archive. One platform: index.json
// points at the image manifest, and (with docker) manifest.json, Docker's format, at
// the same blobs.
// Several: index.json points at an image index of the platform manifests.
func writeOCI(path string, refs []name.Tag, imgs []platformImage, work string, docker bool) error {
	dir, err := os.MkdirTemp(work, "layout-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	lp, err := layout.Write(dir, mutate.IndexMediaType(empty.Index, types.OCIImageIndex))
	if err != nil {
		return err
	}
	var appendable interface {
		MediaType() (types.MediaType, error)
	}
	if len(imgs) == 1 {
		appendable = imgs[0].image
	} else {
		idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
		for _, pi := range imgs {
			p := pi.platform
			idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: pi.image, Descriptor: v1.Descriptor{Platform: &p}})
		}
		appendable = idx
	}
	for _, r := range refs {
		ann := layout.WithAnnotations(map[string]string{annotationContainerdName: r.Name(), annotationRefName: r.TagStr()})
		switch a := appendable.(type) {
		case v1.Image:
			err = lp.AppendImage(a, ann)
		case v1.ImageIndex:
			err = lp.AppendIndex(a, ann)
		}
		if err != nil {
			return err
		}
	}
	if len(imgs) == 1 && docker {
		if err := writeDockerManifest(dir, refs, imgs[0].image); err != nil {
			return err
		}
	}
	return tarDir(dir, path)
}

func writeDockerManifest(dir string, refs []name.Tag, img v1.Image) error {
	cfg, err := img.ConfigName()
	if err != nil {
		return err
	}
	m := dockerManifest{Config: blobPath(cfg)}
	for _, r := range refs {
		m.RepoTags = append(m.RepoTags, r.Name())
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return err
		}
		m.Layers = append(m.Layers, blobPath(d))
	}
	b, err := json.Marshal([]dockerManifest{m})
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "manifest.json"), b, 0o644)
}

func blobPath(h v1.Hash) string { return "blobs/" + h.Algorithm + "/" + h.Hex }

// tarDir writes the files under dir into a tar archive at path, sorted, with fixed
// owners and times (the archive of the same images is the same bytes).
func tarDir(dir, path string) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	tw := tar.NewWriter(f)
	var files []string
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		return err
	}
	// oci-layout and index.json first: some importers read the archive as a stream.
	rank := func(s string) int {
		switch s {
		case "oci-layout":
			return 0
		case "index.json":
			return 1
		case "manifest.json":
			return 2
		}
		return 3
	}
	sort.Slice(files, func(i, j int) bool {
		if rank(files[i]) != rank(files[j]) {
			return rank(files[i]) < rank(files[j])
		}
		return files[i] < files[j]
	})
	dirs := map[string]bool{}
	for _, name := range files {
		for _, d := range parents(name) {
			if !dirs[d] {
				dirs[d] = true
				if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: time.Unix(0, 0)}); err != nil {
					return err
				}
			}
		}
		src, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		st, _ := src.Stat()
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: st.Size(), ModTime: time.Unix(0, 0)}); err != nil {
			_ = src.Close()
			return err
		}
		_, err = io.Copy(tw, src)
		_ = src.Close() // read only
		if err != nil {
			return err
		}
	}
	return tw.Close()
}

func parents(p string) []string {
	var out []string
	parts := strings.Split(p, "/")
	for i := 1; i < len(parts); i++ {
		out = append(out, strings.Join(parts[:i], "/"))
	}
	return out
}
