package kindlab

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
)

func TestConfig(t *testing.T) {
	c := Config(2)
	var roles []v1alpha4.NodeRole
	for _, n := range c.Nodes {
		roles = append(roles, n.Role)
	}
	if want := []v1alpha4.NodeRole{v1alpha4.ControlPlaneRole, v1alpha4.WorkerRole, v1alpha4.WorkerRole}; !reflect.DeepEqual(roles, want) {
		t.Errorf("roles %v, want %v", roles, want)
	}
	// kindnetd and local-path are not built offline: the lab's own CNI replaces them.
	if !c.Networking.DisableDefaultCNI || c.Networking.PodSubnet != PodSubnet {
		t.Errorf("networking %+v: want the default CNI disabled and pod subnet %s", c.Networking, PodSubnet)
	}
	if len(c.KubeadmConfigPatches) != 1 || !strings.Contains(c.KubeadmConfigPatches[0], "failCgroupV1: false") {
		t.Errorf("kubeadm patches %q: want failCgroupV1: false (cgroup v1 host)", c.KubeadmConfigPatches)
	}
}

func TestCNIConfig(t *testing.T) {
	var conf struct {
		Plugins []struct {
			Type string `json:"type"`
			IPAM struct {
				Ranges [][]struct {
					Subnet string `json:"subnet"`
				} `json:"ranges"`
			} `json:"ipam"`
		} `json:"plugins"`
	}
	if err := json.Unmarshal([]byte(CNIConfig("10.244.2.0/24")), &conf); err != nil {
		t.Fatal(err)
	}
	if len(conf.Plugins) != 2 || conf.Plugins[0].Type != "bridge" || conf.Plugins[1].Type != "portmap" {
		t.Fatalf("plugins %+v", conf.Plugins)
	}
	if got := conf.Plugins[0].IPAM.Ranges[0][0].Subnet; got != "10.244.2.0/24" {
		t.Errorf("subnet %q", got)
	}
}

func TestRoutes(t *testing.T) {
	got := Routes(
		map[string]string{"a": "10.244.0.0/24", "b": "10.244.1.0/24", "c": "10.244.2.0/24"},
		map[string]string{"a": "172.31.251.2", "b": "172.31.251.3", "c": "172.31.251.4"},
	)
	want := map[string][][]string{
		"a": {{"route", "replace", "10.244.1.0/24", "via", "172.31.251.3"}, {"route", "replace", "10.244.2.0/24", "via", "172.31.251.4"}},
		"b": {{"route", "replace", "10.244.0.0/24", "via", "172.31.251.2"}, {"route", "replace", "10.244.2.0/24", "via", "172.31.251.4"}},
		"c": {{"route", "replace", "10.244.0.0/24", "via", "172.31.251.2"}, {"route", "replace", "10.244.1.0/24", "via", "172.31.251.3"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("routes\n%v\nwant\n%v", got, want)
	}
}

func TestBreakUnit(t *testing.T) {
	u := breakUnit("v1.36.3")
	for _, s := range []string{"[Service]", "grep -qaF v1.36.3 /usr/bin/kubelet", "EnvironmentFile=-/run/eukind-break.env"} {
		if !strings.Contains(u, s) {
			t.Errorf("drop-in lacks %q:\n%s", s, u)
		}
	}
}
