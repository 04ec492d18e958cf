package precheck_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/precheck"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/precheck/prechecktest"
)

// TestWebhookCertProbe dials a real TLS server (httptest's certificate has the SANs
// example.com, 127.0.0.1 and ::1) through URL webhooks: by IP the certificate fits; by
// the name "localhost" it does not. Only the test's own server is dialed.
func TestWebhookCertProbe(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the probe hangs up after the handshake
	srv.StartTLS()
	defer srv.Close()
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	hook := func(name, host string) *admissionregistrationv1.ValidatingWebhookConfiguration {
		return &admissionregistrationv1.ValidatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Webhooks: []admissionregistrationv1.ValidatingWebhook{{Name: name + ".example.com", FailurePolicy: ptr.To(admissionregistrationv1.Ignore),
				ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: ptr.To("https://" + host + ":" + u.Port() + "/validate"), CABundle: ca}}},
		}
	}
	c := prechecktest.NewCluster("v1.35.2", append(prechecktest.Healthy(), hook("by-ip", "127.0.0.1"), hook("by-name", "localhost"))...)
	clients := c.Clients()
	dialTLS := precheck.DialTLS
	clients.DialTLS = func(ctx context.Context, address, serverName string) ([]*x509.Certificate, error) {
		if address != u.Host && address != "localhost:"+u.Port() {
			return nil, fmt.Errorf("test dials only its own server, not %s", address)
		}
		return dialTLS(ctx, address, serverName)
	}
	r, err := precheck.Run(context.Background(), clients, precheck.Options{TargetVersion: "v1.36.1", Now: prechecktest.Now, ProbeWebhookTLS: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, res := range r.Results {
		if res.ID != "webhook-cert-san" {
			continue
		}
		if len(res.Findings) != 1 || res.Findings[0].Object != "ValidatingWebhookConfiguration/by-name" {
			t.Fatalf("findings %+v, want one on by-name", res.Findings)
		}
		t.Logf("%s: %s", res.Findings[0].Object, res.Findings[0].Message)
	}
}
