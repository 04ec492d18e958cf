package nodeagent

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

const selinuxXattr = "security.selinux"

// installFile atomically replaces dst with the content of src: it writes a temporary
// file beside dst, fsyncs it, gives it mode (or dst's current mode when mode is 0)
// and dst's SELinux label, renames it over dst and fsyncs the directory. A reader of
// dst (or a crash) sees the old file or the new one, never a mix. Both paths are as
// the agent sees them. label "" keeps dst's label; "-" sets none.
func installFile(src, dst string, mode os.FileMode, label string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("install %s: %w", dst, err)
	}
	defer func() { _ = in.Close() }()
	if mode == 0 {
		mode = 0o755
		if st, err := os.Stat(dst); err == nil {
			mode = st.Mode().Perm()
		} else if st, err := in.Stat(); err == nil {
			mode = st.Mode().Perm()
		}
	}
	if label == "" {
		label = getLabel(dst)
	}
	return writeAtomic(dst, in, mode, label)
}

// writeAtomic writes r to path through a temporary file beside it (see installFile).
func writeAtomic(path string, r io.Reader, mode os.FileMode, label string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".edgeupgrade-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	done := false
	defer func() {
		if !done { // an error is being returned: discard the temporary file
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err := io.Copy(tmp, r); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if label != "" && label != "-" {
		// Best effort: hosts without SELinux have no label to keep.
		_ = syscall.Setxattr(tmp.Name(), selinuxXattr, []byte(label), 0)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: fsync: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	done = true
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer func() { _ = d.Close() }()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}

// getLabel returns path's SELinux label, or "" where there is none.
func getLabel(path string) string {
	buf := make([]byte, 256)
	n, err := syscall.Getxattr(path, selinuxXattr, buf)
	if err != nil || n <= 0 {
		return ""
	}
	return string(buf[:n])
}

// fileSHA256 returns the hex SHA-256 of the file at path.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer func() { _ = f.Close() }()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
