package main

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// entry is one file, directory or symbolic link to put into a layer.
type entry struct {
	dst  string // absolute path in the image
	src  string // local file ("" for directories and links)
	mode fs.FileMode
	link string // target of a symbolic link
	dir  bool
}

// fileSpec is a parsed --file SRC:DST[:MODE] (SRC may hold {os}, {arch}, {variant}).
type fileSpec struct {
	src, dst string
	mode     fs.FileMode // 0: the source's mode
}

func parseFileSpec(s string) (fileSpec, error) {
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || !strings.HasPrefix(parts[1], "/") {
		return fileSpec{}, fmt.Errorf("--file %q: want SRC:DST[:MODE] with an absolute DST, e.g. bin/kubelet:/usr/local/bin/kubelet:0755", s)
	}
	f := fileSpec{src: parts[0], dst: path.Clean(parts[1])}
	if len(parts) == 3 {
		m, err := strconv.ParseUint(parts[2], 8, 32)
		if err != nil || m > 0o7777 {
			return fileSpec{}, fmt.Errorf("--file %q: mode %q is not octal such as 0755", s, parts[2])
		}
		f.mode = fs.FileMode(m)
	}
	return f, nil
}

// parseDirSpec parses --dir SRC:DST.
func parseDirSpec(s string) (fileSpec, error) {
	src, dst, ok := strings.Cut(s, ":")
	if !ok || src == "" || !strings.HasPrefix(dst, "/") {
		return fileSpec{}, fmt.Errorf("--dir %q: want SRC:DST with an absolute DST, e.g. rootfs:/", s)
	}
	return fileSpec{src: src, dst: path.Clean(dst)}, nil
}

// expand replaces the platform placeholders of a source path.
func expand(src string, p platform) string {
	r := strings.NewReplacer("{os}", p.OS, "{arch}", p.Architecture, "{variant}", p.Variant, "{platform}", p.OS+"-"+p.Architecture)
	return r.Replace(src)
}

// fileEntries returns the entries of one --file.
func fileEntries(f fileSpec, p platform) ([]entry, error) {
	src := expand(f.src, p)
	st, err := os.Stat(src)
	if err != nil {
		return nil, fmt.Errorf("--file for %s: %w", p, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("--file for %s: %s is not a regular file (use --dir for directories)", p, src)
	}
	if err := checkArch(src, p); err != nil {
		return nil, fmt.Errorf("--file for %s: %w", p, err)
	}
	mode := f.mode
	if mode == 0 {
		mode = st.Mode().Perm()
	}
	return []entry{{dst: f.dst, src: src, mode: mode}}, nil
}

// dirEntries returns the entries of one --dir: the tree under SRC, with its modes
// and symbolic links, placed at DST.
func dirEntries(f fileSpec, p platform) ([]entry, error) {
	src := expand(f.src, p)
	var out []entry
	err := filepath.WalkDir(src, func(q string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, q)
		dst := path.Join(f.dst, filepath.ToSlash(rel))
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			if rel != "." {
				out = append(out, entry{dst: dst, dir: true, mode: info.Mode().Perm()})
			}
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(q)
			if err != nil {
				return err
			}
			out = append(out, entry{dst: dst, link: target, mode: 0o777})
		case d.Type().IsRegular():
			out = append(out, entry{dst: dst, src: q, mode: info.Mode().Perm()})
		default:
			return fmt.Errorf("%s: only files, directories and symbolic links go into images", q)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("--dir for %s: %w", p, err)
	}
	return out, nil
}

// writeLayer writes entries as a compressed tar to w (compress: compressGzip or
// compressZstd), reproducibly: see writeTar.
func writeLayer(w io.Writer, entries []entry, mtime time.Time, compress string) error {
	zw, err := compressor(w, compress)
	if err != nil {
		return err
	}
	if err := writeTar(zw, entries, mtime); err != nil {
		return err
	}
	return zw.Close()
}

// writeTar writes entries as a tar to w, reproducibly: sorted, owned by root, every
// time stamp set to mtime, parent directories added (0755).
func writeTar(w io.Writer, entries []entry, mtime time.Time) error {
	tw := tar.NewWriter(w)
	byPath := map[string]entry{}
	for _, e := range entries {
		for d := path.Dir(e.dst); d != "/" && d != "."; d = path.Dir(d) {
			if _, ok := byPath[d]; !ok {
				byPath[d] = entry{dst: d, dir: true, mode: 0o755}
			}
		}
		byPath[e.dst] = e
	}
	paths := make([]string, 0, len(byPath))
	for p := range byPath {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		e := byPath[p]
		h := &tar.Header{
			Name: strings.TrimPrefix(p, "/"), Mode: int64(e.mode), ModTime: mtime,
			Format: tar.FormatPAX, Uname: "root", Gname: "root",
		}
		switch {
		case e.dir:
			h.Typeflag, h.Name = tar.TypeDir, h.Name+"/"
		case e.link != "":
			h.Typeflag, h.Linkname = tar.TypeSymlink, e.link
		default:
			st, err := os.Stat(e.src)
			if err != nil {
				return err
			}
			h.Typeflag, h.Size = tar.TypeReg, st.Size()
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if h.Typeflag == tar.TypeReg {
			f, err := os.Open(e.src)
			if err != nil {
				return err
			}
			n, err := io.Copy(tw, f)
			_ = f.Close() // read only
			if err != nil {
				return fmt.Errorf("add %s: %w", e.src, err)
			}
			if n != h.Size {
				return fmt.Errorf("add %s: it changed while being read", e.src)
			}
		}
	}
	return tw.Close()
}
