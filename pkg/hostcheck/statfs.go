package hostcheck

// fsStat is the part of statfs(2) the host checks use.
type fsStat struct {
	fsid        [2]int32
	free, total uint64
	fsType      int64
}
