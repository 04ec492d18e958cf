//go:build !linux

package hostcheck

import "errors"

// The host checks run on Linux nodes only; the plugin, built for every OS, only
// reads their results.
func statfs(string) (fsStat, error) { return fsStat{}, errors.New("statfs is only available on Linux") }
