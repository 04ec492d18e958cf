package main

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/spf13/cobra"
)

// Inspection is what `edgeupgrade-image inspect` prints.
type Inspection struct {
	// Format: "oci", "oci+docker" (an OCI layout that docker load also reads) or "docker".
	Format string         `json:"format"`
	Images []InspectImage `json:"images"`
}

// InspectImage is one platform image of an archive.
type InspectImage struct {
	Refs       []string          `json:"refs"`
	Platform   string            `json:"platform"`
	Digest     string            `json:"digest"`
	Entrypoint []string          `json:"entrypoint,omitempty"`
	Cmd        []string          `json:"cmd,omitempty"`
	Env        []string          `json:"env,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
	Layers     []InspectLayer    `json:"layers"`
}

// InspectLayer is one layer and the files in it.
type InspectLayer struct {
	Digest    string        `json:"digest"`
	MediaType string        `json:"mediaType"`
	Size      int64         `json:"size"`
	Files     []InspectFile `json:"files"`
}

// InspectFile is one entry of a layer.
type InspectFile struct {
	Path string `json:"path"`
	Mode string `json:"mode"`
	Size int64  `json:"size,omitempty"`
	Link string `json:"link,omitempty"`
}

func newCmdInspect(out io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:     "inspect ARCHIVE",
		Short:   "Print what an image archive holds, as JSON",
		Long:    "Print the images of an archive (OCI layout or docker save format): references, platforms, entrypoint, environment, and each layer's files.",
		Example: "  edgeupgrade-image inspect dist/images/upgrade_v1.36.3.tar | jq '.images[].platform'",
		Args:    cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			ins, err := inspectArchive(args[0])
			if err != nil {
				return err
			}
			enc := json.NewEncoder(out)
			enc.SetIndent("", "  ")
			return enc.Encode(ins)
		},
	}
}

func inspectArchive(path string) (Inspection, error) {
	dir, err := os.MkdirTemp("", "edgeupgrade-inspect-")
	if err != nil {
		return Inspection{}, err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	if err := untar(path, dir); err != nil {
		return Inspection{}, fmt.Errorf("read %s: %w", path, err)
	}
	_, errIndex := os.Stat(filepath.Join(dir, "index.json"))
	_, errDocker := os.Stat(filepath.Join(dir, "manifest.json"))
	switch {
	case errIndex == nil:
		ins := Inspection{Format: "oci"}
		if errDocker == nil {
			ins.Format = "oci+docker"
		}
		ins.Images, err = inspectLayout(dir)
		return ins, err
	case errDocker == nil:
		ins := Inspection{Format: "docker"}
		ins.Images, err = inspectDocker(path, dir)
		return ins, err
	}
	return Inspection{}, fmt.Errorf("%s has neither index.json nor manifest.json: not an image archive", path)
}

func inspectLayout(dir string) ([]InspectImage, error) {
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	byDigest := map[v1.Hash]*InspectImage{}
	var order []v1.Hash
	add := func(d v1.Hash, img v1.Image, ref string) error {
		if ii, ok := byDigest[d]; ok {
			ii.Refs = append(ii.Refs, ref)
			return nil
		}
		ii, err := describe(img)
		if err != nil {
			return err
		}
		ii.Refs = []string{ref}
		byDigest[d] = &ii
		order = append(order, d)
		return nil
	}
	for _, desc := range im.Manifests {
		ref := desc.Annotations[annotationContainerdName]
		if desc.MediaType.IsIndex() {
			child, err := idx.ImageIndex(desc.Digest)
			if err != nil {
				return nil, err
			}
			cm, err := child.IndexManifest()
			if err != nil {
				return nil, err
			}
			for _, d := range cm.Manifests {
				img, err := child.Image(d.Digest)
				if err != nil {
					return nil, err
				}
				if err := add(d.Digest, img, ref); err != nil {
					return nil, err
				}
			}
			continue
		}
		img, err := idx.Image(desc.Digest)
		if err != nil {
			return nil, err
		}
		if err := add(desc.Digest, img, ref); err != nil {
			return nil, err
		}
	}
	out := make([]InspectImage, 0, len(order))
	for _, d := range order {
		out = append(out, *byDigest[d])
	}
	return out, nil
}

func inspectDocker(path, dir string) ([]InspectImage, error) {
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return nil, err
	}
	var ms []dockerManifest
	if err := json.Unmarshal(b, &ms); err != nil {
		return nil, err
	}
	var out []InspectImage
	for _, m := range ms {
		var tag *name.Tag
		if len(m.RepoTags) > 0 {
			t, err := name.NewTag(m.RepoTags[0])
			if err != nil {
				return nil, err
			}
			tag = &t
		}
		img, err := tarball.ImageFromPath(path, tag)
		if err != nil {
			return nil, err
		}
		ii, err := describe(img)
		if err != nil {
			return nil, err
		}
		ii.Refs = m.RepoTags
		out = append(out, ii)
	}
	return out, nil
}

func describe(img v1.Image) (InspectImage, error) {
	var ii InspectImage
	cf, err := img.ConfigFile()
	if err != nil {
		return ii, err
	}
	d, err := img.Digest()
	if err != nil {
		return ii, err
	}
	ii.Digest = d.String()
	ii.Platform = cf.OS + "/" + cf.Architecture
	if cf.Variant != "" {
		ii.Platform += "/" + cf.Variant
	}
	ii.Entrypoint, ii.Cmd, ii.Env, ii.Labels = cf.Config.Entrypoint, cf.Config.Cmd, cf.Config.Env, cf.Config.Labels
	layers, err := img.Layers()
	if err != nil {
		return ii, err
	}
	for _, l := range layers {
		il, err := describeLayer(l)
		if err != nil {
			return ii, err
		}
		ii.Layers = append(ii.Layers, il)
	}
	return ii, nil
}

func describeLayer(l v1.Layer) (InspectLayer, error) {
	var il InspectLayer
	d, err := l.Digest()
	if err != nil {
		return il, err
	}
	mt, _ := l.MediaType()
	size, _ := l.Size()
	il.Digest, il.MediaType, il.Size = d.String(), string(mt), size
	rc, err := l.Uncompressed()
	if err != nil {
		return il, err
	}
	defer func() { _ = rc.Close() }()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return il, nil
		}
		if err != nil {
			return il, fmt.Errorf("layer %s: %w", d, err)
		}
		il.Files = append(il.Files, InspectFile{
			Path: "/" + strings.TrimSuffix(h.Name, "/"), Mode: fmt.Sprintf("%04o", h.Mode&0o7777), Size: h.Size, Link: h.Linkname,
		})
	}
}

// untar extracts the regular files of a tar archive into dir (no links, no escapes).
func untar(path, dir string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		p := filepath.Join(dir, filepath.Clean("/"+h.Name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		out, err := os.Create(p)
		if err != nil {
			return err
		}
		_, err = io.Copy(out, tr)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
}
