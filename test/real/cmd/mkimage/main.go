// Command mkimage writes a docker-archive tarball (the `docker save` format, which
// `ctr images import` reads) holding one or more single-layer images assembled from
// local files. It is the real-cluster lab's image builder for the Kubernetes
// control-plane images (no registry can be reached here). Dependency-free on purpose:
// the lab module stays tiny and builds in seconds.
//
//	mkimage -o out.tar < spec
//
// The spec is line based; an `image` line starts a new image:
//
//	image NAME:TAG [NAME:TAG ...]      tags (full references, e.g. registry.k8s.io/pause:3.10)
//	entrypoint ARG [ARG ...]           image ENTRYPOINT
//	cmd ARG [ARG ...]                  image CMD
//	env KEY=VALUE                      image environment (repeatable)
//	file SRC DST [MODE]                copy a local file (MODE octal; default: SRC's mode)
//	dir DST                            an empty directory (mode 1777 for /tmp, else 0755)
//	link TARGET DST                    a symlink DST -> TARGET
//
// Blank lines and lines starting with # are ignored. Output is reproducible: fixed
// timestamps and ordering, so the same inputs give the same image IDs.
package main

import (
	"archive/tar"
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

type entry struct {
	kind     string // file, dir, link
	src, dst string
	mode     int64
}

type image struct {
	tags       []string
	entrypoint []string
	cmd        []string
	env        []string
	entries    []entry
}

func main() {
	out := flag.String("o", "", "output tarball")
	flag.Parse()
	if *out == "" {
		fail(fmt.Errorf("usage: mkimage -o out.tar < spec"))
	}
	images, err := parse(os.Stdin)
	if err != nil {
		fail(err)
	}
	if err := write(*out, images); err != nil {
		os.Remove(*out)
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "mkimage:", err)
	os.Exit(1)
}

func parse(r io.Reader) ([]*image, error) {
	var images []*image
	var cur *image
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if f[0] == "image" {
			if len(f) < 2 {
				return nil, fmt.Errorf("line %d: image needs a tag", n)
			}
			cur = &image{tags: f[1:]}
			images = append(images, cur)
			continue
		}
		if cur == nil {
			return nil, fmt.Errorf("line %d: %q before the first image line", n, f[0])
		}
		switch f[0] {
		case "entrypoint":
			cur.entrypoint = f[1:]
		case "cmd":
			cur.cmd = f[1:]
		case "env":
			cur.env = append(cur.env, strings.TrimSpace(strings.TrimPrefix(line, "env")))
		case "file":
			if len(f) < 3 || len(f) > 4 {
				return nil, fmt.Errorf("line %d: file SRC DST [MODE]", n)
			}
			e := entry{kind: "file", src: f[1], dst: f[2], mode: -1}
			if len(f) == 4 {
				m, err := strconv.ParseInt(f[3], 8, 32)
				if err != nil {
					return nil, fmt.Errorf("line %d: mode: %w", n, err)
				}
				e.mode = m
			}
			cur.entries = append(cur.entries, e)
		case "dir":
			if len(f) != 2 {
				return nil, fmt.Errorf("line %d: dir DST", n)
			}
			cur.entries = append(cur.entries, entry{kind: "dir", dst: f[1]})
		case "link":
			if len(f) != 3 {
				return nil, fmt.Errorf("line %d: link TARGET DST", n)
			}
			cur.entries = append(cur.entries, entry{kind: "link", src: f[1], dst: f[2]})
		default:
			return nil, fmt.Errorf("line %d: unknown directive %q", n, f[0])
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(images) == 0 {
		return nil, fmt.Errorf("no image in spec")
	}
	return images, nil
}

// buildLayer writes the image's layer tar to a temp file and returns it with its digest.
func buildLayer(img *image) (*os.File, string, int64, error) {
	tmp, err := os.CreateTemp("", "mkimage-layer-*.tar")
	if err != nil {
		return nil, "", 0, err
	}
	os.Remove(tmp.Name()) // anonymous: gone when closed
	h := sha256.New()
	tw := tar.NewWriter(io.MultiWriter(tmp, h))
	seen := map[string]bool{}
	mkdirs := func(p string) error {
		var parents []string
		for d := path.Dir(p); d != "/" && d != "."; d = path.Dir(d) {
			parents = append([]string{d}, parents...)
		}
		for _, d := range parents {
			if seen[d] {
				continue
			}
			seen[d] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(d, "/") + "/", Mode: 0o755, ModTime: epoch}); err != nil {
				return err
			}
		}
		return nil
	}
	entries := append([]entry(nil), img.entries...)
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].dst < entries[j].dst })
	for _, e := range entries {
		if !path.IsAbs(e.dst) {
			return nil, "", 0, fmt.Errorf("%s: destination must be absolute", e.dst)
		}
		if err := mkdirs(e.dst); err != nil {
			return nil, "", 0, err
		}
		name := strings.TrimPrefix(path.Clean(e.dst), "/")
		switch e.kind {
		case "dir":
			if seen[path.Clean(e.dst)] {
				continue
			}
			seen[path.Clean(e.dst)] = true
			mode := int64(0o755)
			if e.dst == "/tmp" || e.dst == "/var/tmp" {
				mode = 0o1777
			}
			err = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, ModTime: epoch})
		case "link":
			err = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: e.src, Mode: 0o777, ModTime: epoch})
		case "file":
			err = addFile(tw, e, name)
		}
		if err != nil {
			return nil, "", 0, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, "", 0, err
	}
	size, err := tmp.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, "", 0, err
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return nil, "", 0, err
	}
	return tmp, hex.EncodeToString(h.Sum(nil)), size, nil
}

func addFile(tw *tar.Writer, e entry, name string) error {
	f, err := os.Open(e.src) // follows symlinks: the image gets the file itself
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.IsDir() {
		return fmt.Errorf("%s is a directory (use dir and file lines)", e.src)
	}
	mode := int64(st.Mode().Perm())
	if e.mode >= 0 {
		mode = e.mode
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: st.Size(), ModTime: epoch}); err != nil {
		return err
	}
	_, err = io.Copy(tw, f)
	return err
}

type manifestEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
}

func write(out string, images []*image) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	var manifest []manifestEntry
	// repositories (docker save's legacy index: name -> tag -> layer) lists every image;
	// tools that read only the first metadata file of an archive (kind's node-image
	// build) then see all of them, not just the first manifest entry.
	repositories := map[string]map[string]string{}
	written := map[string]bool{}
	add := func(name string, r io.Reader, size int64) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: size, ModTime: epoch}); err != nil {
			return err
		}
		_, err := io.Copy(tw, r)
		return err
	}
	for _, img := range images {
		layer, digest, size, err := buildLayer(img)
		if err != nil {
			return fmt.Errorf("%s: %w", img.tags[0], err)
		}
		layerName := digest + "/layer.tar"
		if !written[layerName] {
			if err := add(layerName, layer, size); err != nil {
				layer.Close()
				return err
			}
			written[layerName] = true
		}
		layer.Close()
		env := img.env
		if len(env) == 0 {
			env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
		}
		cfg := map[string]any{
			"architecture": "amd64",
			"os":           "linux",
			"created":      epoch.Format(time.RFC3339),
			"config": map[string]any{
				"Entrypoint": img.entrypoint,
				"Cmd":        img.cmd,
				"Env":        env,
			},
			"rootfs":  map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + digest}},
			"history": []map[string]any{{"created": epoch.Format(time.RFC3339), "created_by": "mkimage (edgeupgrade real-cluster lab)"}},
		}
		cb, err := json.Marshal(cfg)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(cb)
		cfgName := hex.EncodeToString(sum[:]) + ".json"
		if !written[cfgName] {
			if err := add(cfgName, strings.NewReader(string(cb)), int64(len(cb))); err != nil {
				return err
			}
			written[cfgName] = true
		}
		manifest = append(manifest, manifestEntry{Config: cfgName, RepoTags: img.tags, Layers: []string{layerName}})
		for _, t := range img.tags {
			name, tag := splitTag(t)
			if repositories[name] == nil {
				repositories[name] = map[string]string{}
			}
			repositories[name][tag] = digest
		}
	}
	rb, err := json.Marshal(repositories) // map keys are sorted: reproducible
	if err != nil {
		return err
	}
	if err := add("repositories", strings.NewReader(string(rb)), int64(len(rb))); err != nil {
		return err
	}
	mb, err := json.Marshal(manifest)
	if err != nil {
		return err
	}
	if err := add("manifest.json", strings.NewReader(string(mb)), int64(len(mb))); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return f.Close()
}

// splitTag splits registry.k8s.io/pause:3.10 into the name and the tag ("latest" when
// there is none; a port in the registry is not a tag).
func splitTag(ref string) (string, string) {
	i := strings.LastIndex(ref, ":")
	if i < 0 || strings.Contains(ref[i:], "/") {
		return ref, "latest"
	}
	return ref[:i], ref[i+1:]
}
