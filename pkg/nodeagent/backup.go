package nodeagent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Manifest describes one backup: /var/lib/edgeupgrade/backup/<from>/manifest.json,
// with the saved files under files/<host path>. The manifest is written last and
// the directory renamed into place, so a backup either has a manifest that matches
// its files or does not exist.
type Manifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	FromVersion   string       `json:"fromVersion"`
	Node          string       `json:"node,omitempty"`
	Role          string       `json:"role,omitempty"`
	RunID         string       `json:"runID,omitempty"`
	CreatedAt     time.Time    `json:"createdAt"`
	Files         []BackupFile `json:"files"`
	// Dirs are host directories restored exactly: files not in the backup are removed.
	Dirs []string `json:"dirs,omitempty"`
}

// BackupFile is one saved host file.
type BackupFile struct {
	Path string `json:"path"`
	// Absent: the file did not exist; a restore removes it.
	Absent  bool   `json:"absent,omitempty"`
	Mode    string `json:"mode,omitempty"` // octal permission bits, e.g. "0755"
	Size    int64  `json:"size,omitempty"`
	SHA256  string `json:"sha256,omitempty"`
	SELinux string `json:"selinux,omitempty"`
}

const manifestSchema = 1

// backupSet is what a backup holds.
type backupSet struct {
	files []string // host paths; missing ones are recorded as absent
	dirs  []string // host directories saved and restored as a whole
}

// backupRoot is the host directory of the backup of version from.
func backupRoot(stateDir, from string) string {
	return filepath.Join(stateDir, "backup", from)
}

// createBackup copies set into a new backup of version from and returns its manifest.
// It replaces an existing backup of the same version only once the new one is complete.
func createBackup(h *Host, stateDir, from string, set backupSet, meta Manifest, now time.Time) (Manifest, error) {
	final := h.Path(backupRoot(stateDir, from))
	if err := os.MkdirAll(filepath.Dir(final), 0o700); err != nil {
		return Manifest{}, fmt.Errorf("create backup directory: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(final), "."+from+".tmp-")
	if err != nil {
		return Manifest{}, fmt.Errorf("create backup directory: %w", err)
	}
	defer func() { _ = os.RemoveAll(tmp) }() // gone after the rename below; left over on errors

	m := meta
	m.SchemaVersion, m.FromVersion, m.CreatedAt = manifestSchema, from, now.UTC()
	m.Dirs = append([]string(nil), set.dirs...)
	paths := append([]string(nil), set.files...)
	for _, d := range set.dirs {
		err := filepath.WalkDir(h.Path(d), func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if e.Type().IsRegular() {
				rel, _ := filepath.Rel(h.Path(d), p)
				paths = append(paths, filepath.Join(d, rel))
			}
			return nil
		})
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return Manifest{}, fmt.Errorf("back up %s: %w", d, err)
		}
	}
	sort.Strings(paths)
	for _, p := range paths {
		src := h.Path(p)
		st, err := os.Stat(src)
		if errors.Is(err, os.ErrNotExist) {
			m.Files = append(m.Files, BackupFile{Path: p, Absent: true})
			continue
		}
		if err != nil {
			return Manifest{}, fmt.Errorf("back up %s: %w", p, err)
		}
		if err := installFile(src, filepath.Join(tmp, "files", p), st.Mode().Perm(), "-"); err != nil {
			return Manifest{}, fmt.Errorf("back up %s: %w", p, err)
		}
		sum, err := fileSHA256(filepath.Join(tmp, "files", p))
		if err != nil {
			return Manifest{}, fmt.Errorf("back up %s: %w", p, err)
		}
		m.Files = append(m.Files, BackupFile{
			Path: p, Mode: fmt.Sprintf("%04o", st.Mode().Perm()), Size: st.Size(), SHA256: sum, SELinux: getLabel(src),
		})
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return Manifest{}, err
	}
	if err := writeAtomic(filepath.Join(tmp, "manifest.json"), strings.NewReader(string(b)+"\n"), 0o600, ""); err != nil {
		return Manifest{}, err
	}
	old := final + ".old"
	_ = os.RemoveAll(old) // a leftover of an interrupted replace; if it stays, the Rename below fails
	if err := os.Rename(final, old); err != nil && !errors.Is(err, os.ErrNotExist) {
		return Manifest{}, fmt.Errorf("replace backup %s: %w", final, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return Manifest{}, fmt.Errorf("replace backup %s: %w", final, err)
	}
	_ = os.RemoveAll(old) // best effort: the new backup is in place
	return m, syncDir(filepath.Dir(final))
}

// loadBackup reads the backup of version from and checks every saved file against
// its checksum. An error means there is no usable backup.
func loadBackup(h *Host, stateDir, from string) (Manifest, error) {
	root := h.Path(backupRoot(stateDir, from))
	b, err := os.ReadFile(filepath.Join(root, "manifest.json"))
	if err != nil {
		return Manifest{}, fmt.Errorf("no backup of %s under %s: %w", from, backupRoot(stateDir, from), err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return Manifest{}, fmt.Errorf("backup of %s: corrupt manifest: %w", from, err)
	}
	if m.SchemaVersion != manifestSchema || m.FromVersion != from {
		return Manifest{}, fmt.Errorf("backup of %s: manifest is for %s (schema %d)", from, m.FromVersion, m.SchemaVersion)
	}
	for _, f := range m.Files {
		if f.Absent {
			continue
		}
		sum, err := fileSHA256(filepath.Join(root, "files", f.Path))
		if err != nil {
			return Manifest{}, fmt.Errorf("backup of %s: %w", from, err)
		}
		if sum != f.SHA256 {
			return Manifest{}, fmt.Errorf("backup of %s: %s does not match its checksum", from, f.Path)
		}
	}
	return m, nil
}

// verifyTree compares the host's files with a manifest: every file has its checksum
// and mode, absent files are absent, and the restored directories hold nothing else.
func verifyTree(h *Host, m Manifest) error {
	var bad []string
	want := map[string]bool{}
	for _, f := range m.Files {
		want[f.Path] = true
		p := h.Path(f.Path)
		st, err := os.Stat(p)
		switch {
		case f.Absent && err == nil:
			bad = append(bad, f.Path+" exists (it did not before)")
		case f.Absent:
		case err != nil:
			bad = append(bad, f.Path+" is missing")
		default:
			sum, err := fileSHA256(p)
			if err != nil || sum != f.SHA256 {
				bad = append(bad, f.Path+" differs")
			} else if mode, _ := strconv.ParseUint(f.Mode, 8, 32); os.FileMode(mode) != st.Mode().Perm() {
				bad = append(bad, fmt.Sprintf("%s has mode %04o, not %s", f.Path, st.Mode().Perm(), f.Mode))
			}
		}
	}
	for _, d := range m.Dirs {
		_ = filepath.WalkDir(h.Path(d), func(p string, e fs.DirEntry, err error) error {
			if err == nil && e.Type().IsRegular() {
				rel, _ := filepath.Rel(h.Path(d), p)
				if hp := filepath.Join(d, rel); !want[hp] {
					bad = append(bad, hp+" is not in the backup")
				}
			}
			return nil
		})
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return fmt.Errorf("%d files differ from the backup of %s: %s", len(bad), m.FromVersion, strings.Join(bad, "; "))
	}
	return nil
}

// restoreBackup puts the files of a backup back in place (each one atomically), removes
// files that the backup says were absent or that appeared in restored directories,
// and then checks the result against the manifest's checksums.
func restoreBackup(h *Host, stateDir string, m Manifest) error {
	root := h.Path(backupRoot(stateDir, m.FromVersion))
	var errs []error
	want := map[string]bool{}
	for _, f := range m.Files {
		want[f.Path] = true
		if f.Absent {
			if err := os.Remove(h.Path(f.Path)); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
			continue
		}
		mode, _ := strconv.ParseUint(f.Mode, 8, 32)
		if err := installFile(filepath.Join(root, "files", f.Path), h.Path(f.Path), os.FileMode(mode), f.SELinux); err != nil {
			errs = append(errs, err)
		}
	}
	for _, d := range m.Dirs {
		_ = filepath.WalkDir(h.Path(d), func(p string, e fs.DirEntry, err error) error {
			if err == nil && e.Type().IsRegular() {
				rel, _ := filepath.Rel(h.Path(d), p)
				if !want[filepath.Join(d, rel)] {
					if err := os.Remove(p); err != nil {
						errs = append(errs, err)
					}
				}
			}
			return nil
		})
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("restore the backup of %s: %w", m.FromVersion, err)
	}
	return verifyTree(h, m)
}
