package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct{ method, url, verb, res string }{
		{"GET", "/api/v1/nodes?limit=500", "list", "nodes"},
		{"GET", "/api/v1/nodes?watch=true&resourceVersion=1", "watch", "nodes"},
		{"GET", "/api/v1/nodes/edge-a-001", "get", "nodes"},
		{"GET", "/api/v1/namespaces/kube-upgrade", "get", "namespaces"},
		{"POST", "/api/v1/namespaces", "create", "namespaces"},
		{"GET", "/api/v1/namespaces/kube-upgrade/configmaps/edgeupgrade", "get", "configmaps"},
		{"PUT", "/api/v1/namespaces/kube-upgrade/configmaps/edgeupgrade", "update", "configmaps"},
		{"POST", "/apis/batch/v1/namespaces/kube-upgrade/jobs", "create", "jobs.batch"},
		{"DELETE", "/apis/batch/v1/namespaces/kube-upgrade/jobs?labelSelector=x", "deletecollection", "jobs.batch"},
		{"DELETE", "/apis/batch/v1/namespaces/kube-upgrade/jobs/j1", "delete", "jobs.batch"},
		{"PATCH", "/api/v1/nodes/n1/status", "patch", "nodes/status"},
		{"GET", "/api/v1/namespaces/kube-upgrade/pods/p1/log", "get", "pods/log"},
		{"GET", "/version", "get", "nonresource /version"},
		{"GET", "/apis/batch/v1", "get", "nonresource discovery"},
		{"GET", "/api", "get", "nonresource discovery"},
		{"GET", "/openapi/v3", "get", "nonresource /openapi"},
	} {
		u, err := url.Parse(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		if verb, res := classify(tc.method, u); verb != tc.verb || res != tc.res {
			t.Errorf("%s %s: got %q %q, want %q %q", tc.method, tc.url, verb, res, tc.verb, tc.res)
		}
	}
}

// TestProxyCountsClientGoRequests sends client-go requests through the proxy to a
// fake TLS API server.
func TestProxyCountsClientGoRequests(t *testing.T) {
	upstream := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/version":
			_, _ = w.Write([]byte(`{"major":"1","minor":"36","gitVersion":"v1.36.3"}`))
		case "/api/v1/nodes":
			_, _ = w.Write([]byte(`{"kind":"NodeList","apiVersion":"v1","metadata":{},"items":[]}`))
		default:
			http.NotFound(w, r)
		}
	}))
	upstream.EnableHTTP2 = true
	upstream.StartTLS()
	defer upstream.Close()
	up := &rest.Config{Host: upstream.URL, TLSClientConfig: rest.TLSClientConfig{Insecure: true}}
	p, err := startProxy(up)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := p.Kubeconfig(kc); err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kc)
	if err != nil {
		t.Fatal(err)
	}
	cfg.UserAgent = "kubectl-edgeupgrade/test"
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.Discovery().ServerVersion(); err != nil {
		t.Fatalf("version through the proxy: %v", err)
	}
	if _, err := cs.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{}); err != nil {
		t.Fatalf("list nodes through the proxy: %v", err)
	}
	reqs := p.Requests(0)
	got := countByVerbResource(reqs)
	if len(reqs) != 2 || got[0].Count != 1 || got[1].Count != 1 {
		t.Fatalf("recorded %+v", reqs)
	}
	for _, r := range reqs {
		if r.UserAgent != "kubectl-edgeupgrade/test" || r.Code != 200 {
			t.Errorf("request %+v: want the client's user agent and 200", r)
		}
	}
}
