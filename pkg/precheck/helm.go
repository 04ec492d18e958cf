package precheck

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

// maxReleaseSize bounds a decompressed Helm release (etcd objects are at most 1.5 MiB;
// compression rarely exceeds 10x).
const maxReleaseSize = 32 << 20

var gzipMagic = []byte{0x1f, 0x8b, 0x08}

// decodeHelmRelease decodes the "release" field of a Helm v3 storage Secret (already
// base64-decoded once by the API) or ConfigMap: base64, then gzip, then JSON. The
// manifest is split into its YAML documents.
func decodeHelmRelease(data []byte) HelmRelease {
	var r HelmRelease
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
	if err != nil {
		r.Err = fmt.Sprintf("release is not base64: %v", err)
		return r
	}
	if bytes.HasPrefix(raw, gzipMagic) {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			r.Err = fmt.Sprintf("release is not gzip: %v", err)
			return r
		}
		raw, err = io.ReadAll(io.LimitReader(zr, maxReleaseSize))
		if err != nil {
			r.Err = fmt.Sprintf("decompress release: %v", err)
			return r
		}
	}
	var rel struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
		Version   int    `json:"version"`
		Manifest  string `json:"manifest"`
		Info      struct {
			Status string `json:"status"`
		} `json:"info"`
		Chart struct {
			Metadata struct {
				Name    string `json:"name"`
				Version string `json:"version"`
			} `json:"metadata"`
		} `json:"chart"`
	}
	if err := json.Unmarshal(raw, &rel); err != nil {
		r.Err = fmt.Sprintf("release is not JSON: %v", err)
		return r
	}
	r.Name, r.Namespace, r.Revision, r.Status = rel.Name, rel.Namespace, rel.Version, rel.Info.Status
	if rel.Chart.Metadata.Name != "" {
		r.Chart = rel.Chart.Metadata.Name + "-" + rel.Chart.Metadata.Version
	}
	r.Objects = splitManifest(rel.Manifest)
	return r
}

// splitManifest returns apiVersion, kind and name of each YAML document of a manifest.
func splitManifest(m string) []ManifestObject {
	var out []ManifestObject
	for _, doc := range splitYAMLDocuments(m) {
		var o struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil || o.Kind == "" {
			continue
		}
		out = append(out, ManifestObject{APIVersion: o.APIVersion, Kind: o.Kind, Namespace: o.Metadata.Namespace, Name: o.Metadata.Name})
	}
	return out
}

// splitYAMLDocuments splits on lines that are exactly "---" (optionally followed by a
// comment), as Helm's releaseutil.SplitManifests does.
func splitYAMLDocuments(m string) []string {
	var docs []string
	var cur strings.Builder
	for _, line := range strings.Split(m, "\n") {
		t := strings.TrimRight(line, " \t\r")
		if t == "---" || strings.HasPrefix(t, "--- ") || strings.HasPrefix(t, "---#") {
			docs = append(docs, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
	}
	docs = append(docs, cur.String())
	var out []string
	for _, d := range docs {
		if strings.TrimSpace(d) != "" {
			out = append(out, d)
		}
	}
	return out
}

// fillHelmIdentity completes name, namespace and revision from the storage object's
// labels when the release JSON lacks them.
func fillHelmIdentity(r *HelmRelease, namespace string, labels map[string]string) {
	if r.Name == "" {
		r.Name = labels["name"]
	}
	if r.Namespace == "" {
		r.Namespace = namespace
	}
	if r.Revision == 0 {
		r.Revision, _ = strconv.Atoi(labels["version"])
	}
	if r.Status == "" {
		r.Status = labels["status"]
	}
}
