package main

import (
	"archive/tar"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestSplitTag(t *testing.T) {
	for ref, want := range map[string][2]string{
		"registry.k8s.io/pause:3.10":       {"registry.k8s.io/pause", "3.10"},
		"localhost:5000/app":               {"localhost:5000/app", "latest"},
		"localhost:5000/app:v1":            {"localhost:5000/app", "v1"},
		"registry.local/eulab/workload":    {"registry.local/eulab/workload", "latest"},
		"docker.io/kindest/kindnetd:v2026": {"docker.io/kindest/kindnetd", "v2026"},
	} {
		if n, tag := splitTag(ref); [2]string{n, tag} != want {
			t.Errorf("splitTag(%q) = %q, %q; want %q", ref, n, tag, want)
		}
	}
}

// Every image of an archive is in its repositories index, which comes before
// manifest.json (kind's node-image build reads the first of the two it meets).
func TestRepositoriesListsEveryImage(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "pause")
	if err := os.WriteFile(bin, []byte("#!/bin/true\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	spec := "image registry.k8s.io/pause:3.10.1\nfile " + bin + " /pause 0755\n" +
		"image registry.k8s.io/etcd:3.6.6-0 registry.k8s.io/etcd:3.6.8-0\nfile " + bin + " /etcd 0755\n"
	images, err := parse(strings.NewReader(spec))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.tar")
	if err := write(out, images); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	var order []string
	repos := map[string]map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == "repositories" || h.Name == "manifest.json" {
			order = append(order, h.Name)
		}
		if h.Name == "repositories" {
			if err := json.NewDecoder(tr).Decode(&repos); err != nil {
				t.Fatal(err)
			}
		}
	}
	if want := []string{"repositories", "manifest.json"}; !reflect.DeepEqual(order, want) {
		t.Errorf("metadata files in order %v, want %v", order, want)
	}
	var got []string
	for name, tags := range repos {
		for tag, layer := range tags {
			if layer == "" {
				t.Errorf("%s:%s has no layer", name, tag)
			}
			got = append(got, name+":"+tag)
		}
	}
	for _, want := range []string{"registry.k8s.io/pause:3.10.1", "registry.k8s.io/etcd:3.6.6-0", "registry.k8s.io/etcd:3.6.8-0"} {
		if !strings.Contains(strings.Join(got, " "), want) {
			t.Errorf("repositories %v lacks %s", got, want)
		}
	}
}
