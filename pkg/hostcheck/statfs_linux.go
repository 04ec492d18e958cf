//go:build linux

package hostcheck

import "syscall"

func statfs(path string) (fsStat, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return fsStat{}, err
	}
	return fsStat{fsid: st.Fsid.X__val, free: st.Bavail * uint64(st.Bsize), total: st.Blocks * uint64(st.Bsize), fsType: int64(st.Type)}, nil
}
