package precheck

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDecodeHelmRelease(t *testing.T) {
	manifest := "---\n# Source: mig/templates/m.yaml\napiVersion: storagemigration.k8s.io/v1alpha1\nkind: StorageVersionMigration\nmetadata:\n  name: m1\n" +
		"---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: ops\nspec:\n  template: {}\n---\n# empty\n"
	r := decodeHelmRelease(helmReleaseData(t, "mig", "ops", 3, manifest))
	if r.Err != "" {
		t.Fatal(r.Err)
	}
	want := []ManifestObject{
		{APIVersion: "storagemigration.k8s.io/v1alpha1", Kind: "StorageVersionMigration", Name: "m1"},
		{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "ops", Name: "web"},
	}
	if diff := cmp.Diff(want, r.Objects); diff != "" {
		t.Errorf("objects (-want +got):\n%s", diff)
	}
	if r.Name != "mig" || r.Namespace != "ops" || r.Revision != 3 || r.Status != "deployed" || r.Chart != "mig-1.0.0" {
		t.Errorf("identity = %+v", r)
	}
	if bad := decodeHelmRelease([]byte("%%%")); !strings.Contains(bad.Err, "base64") {
		t.Errorf("bad input: err %q", bad.Err)
	}
}

func TestParseMetrics(t *testing.T) {
	body := `# HELP apiserver_requested_deprecated_apis [STABLE] Gauge of deprecated APIs that have been requested, broken out by API group, version, resource, subresource, and removed_release.
# TYPE apiserver_requested_deprecated_apis gauge
apiserver_requested_deprecated_apis{group="storagemigration.k8s.io",removed_release="1.36",resource="storageversionmigrations",subresource="",version="v1alpha1"} 1
apiserver_requested_deprecated_apis{group="",removed_release="",resource="odd\"name",subresource="",version="v1"} 1
apiserver_webhooks_x509_missing_san_total 2
apiserver_request_total{code="200"} 7
`
	m := parseMetrics([]byte(body), metricDeprecatedAPIs, metricWebhookMissingSAN)
	want := map[string][]Sample{
		metricDeprecatedAPIs: {
			{Labels: map[string]string{"group": "storagemigration.k8s.io", "removed_release": "1.36", "resource": "storageversionmigrations", "subresource": "", "version": "v1alpha1"}, Value: 1},
			{Labels: map[string]string{"group": "", "removed_release": "", "resource": `odd"name`, "subresource": "", "version": "v1"}, Value: 1},
		},
		metricWebhookMissingSAN: {{Labels: map[string]string{}, Value: 2}},
	}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Errorf("samples (-want +got):\n%s", diff)
	}
}

func TestSplitYAMLDocuments(t *testing.T) {
	got := splitYAMLDocuments("a: 1\n---\nb: 2\n--- # comment\nc: 3\n---\n")
	if len(got) != 3 {
		t.Fatalf("got %d docs: %q", len(got), got)
	}
}
