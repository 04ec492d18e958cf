package main

import (
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	ggcrcompression "github.com/google/go-containerregistry/pkg/compression"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/zstd"
)

// Layer compressions (--compression).
const (
	// compressGzip: what every runtime and `docker load` read.
	compressGzip = "gzip"
	// compressZstd: smaller (the Kubernetes binaries by ~18%) and faster to unpack;
	// containerd reads it (1.5 and later: ctr images import, pulls), `docker load` of
	// a classic Docker does not.
	compressZstd = "zstd"
)

// compressor wraps w in the compression's writer. zstd runs at its best compression
// on one goroutine: a layer is compressed once and pulled by every node, and one
// encoder goroutine keeps the output the same bytes on every machine.
func compressor(w io.Writer, compress string) (io.WriteCloser, error) {
	switch compress {
	case compressGzip:
		return gzip.NewWriterLevel(w, gzip.DefaultCompression)
	case compressZstd:
		return zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedBestCompression), zstd.WithEncoderConcurrency(1))
	}
	return nil, fmt.Errorf("--compression %q: want gzip or zstd", compress)
}

// layerMediaType is the media type of a layer in the compression and format.
func layerMediaType(compress, format string) types.MediaType {
	switch {
	case compress == compressZstd:
		return types.OCILayerZStd
	case format == formatDocker:
		return types.DockerLayer
	}
	return types.OCILayer
}

// layerCompression is go-containerregistry's name of the compression.
func layerCompression(compress string) ggcrcompression.Compression {
	if compress == compressZstd {
		return ggcrcompression.ZStd
	}
	return ggcrcompression.GZip
}

// layerCache keeps compressed layers across builds (--layer-cache): the key is the
// SHA-256 of the layer's uncompressed tar, so a file that did not change is never
// compressed again (the Kubernetes binaries, when only the agent changed), and two
// images with the same file (the upgrade image's variants) compress it once.
type layerCache struct{ dir string }

// path returns where the compressed layer of entries is, compressing it first when
// the cache lacks it. A hit is touched, so that pruning by age keeps what is used.
func (c layerCache) path(entries []entry, mtime time.Time, compress string) (string, error) {
	h := sha256.New()
	if err := writeTar(h, entries, mtime); err != nil {
		return "", err
	}
	p := filepath.Join(c.dir, hex.EncodeToString(h.Sum(nil))+".tar."+compress)
	if _, err := os.Stat(p); err == nil {
		now := time.Now()
		return p, os.Chtimes(p, now, now)
	}
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(c.dir, ".layer-")
	if err != nil {
		return "", err
	}
	defer func() { _ = os.Remove(f.Name()) }() // gone after the rename; left by a failure
	if err := writeLayer(f, entries, mtime, compress); err != nil {
		_ = f.Close() // the write error wins
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return p, os.Rename(f.Name(), p)
}
