package precheck

import (
	"crypto/x509"
	"fmt"
	"time"
)

// WebhookCertSAN: webhook and aggregated API serving certificates carry a subject
// alternative name for the host the API server connects to (Go has ignored the common
// name since 1.15), are valid now, and chain to the configured caBundle.
func (checks) WebhookCertSAN() Check {
	return Check{
		ID:          "webhook-cert-san",
		Title:       "Webhook and aggregated API serving certificates have a SAN for their host",
		Severity:    SeverityError,
		Category:    CategoryAdmission,
		Needs:       []Source{SourceWebhooks, SourceMetrics},
		Remediation: "reissue the serving certificate with the service DNS name (<service>.<namespace>.svc) as a SAN",
		Run:         runWebhookCertSAN,
	}
}

func runWebhookCertSAN(v *View) []Finding {
	var out []Finding
	for _, m := range []struct{ name, what string }{
		{metricWebhookMissingSAN, "admission webhooks"},
		{metricAggregatorMissingSAN, "aggregated API servers"},
	} {
		total := 0.0
		for _, s := range v.Metrics[m.name] {
			total += s.Value
		}
		if total > 0 {
			out = append(out, Finding{Object: "metric/" + m.name, Source: "api server metrics",
				Message: fmt.Sprintf("the API server saw %.0f connections to %s whose certificate has no SAN", total, m.what)})
		}
	}
	for _, w := range webhooks(v) {
		p, ok := v.WebhookCerts[webhookKey(w.Config, w.Name)]
		if !ok || len(p.Chain) == 0 {
			continue // not reachable from here: the metric above still covers it
		}
		leaf := p.Chain[0]
		f := Finding{Object: w.object(), Source: "TLS handshake with " + p.Address}
		chained := len(p.CABundle) == 0 || chainsTo(p.Chain, p.CABundle)
		sanOK := leaf.VerifyHostname(p.ServerName) == nil
		switch {
		case !chained && !sanOK:
			continue // neither the webhook's CA nor its name: something else answered (a proxy)
		case len(leaf.DNSNames) == 0 && len(leaf.IPAddresses) == 0:
			f.Message = fmt.Sprintf("webhook %s: the certificate (CN %q) has no subject alternative name", w.Name, leaf.Subject.CommonName)
		case !sanOK:
			f.Message = fmt.Sprintf("webhook %s: the certificate's SANs %v do not cover %s", w.Name, leaf.DNSNames, p.ServerName)
		case v.Now.After(leaf.NotAfter):
			f.Message = fmt.Sprintf("webhook %s: the certificate expired on %s", w.Name, leaf.NotAfter.UTC().Format("2006-01-02"))
			f.Remediation = "renew the webhook's serving certificate"
		case !chained:
			f.Message = fmt.Sprintf("webhook %s: the certificate does not chain to the webhook's caBundle", w.Name)
			f.Remediation = "update clientConfig.caBundle to the CA that signed the serving certificate"
		default:
			continue
		}
		out = append(out, f)
	}
	return out
}

// chainsTo verifies the chain against caBundle, ignoring validity dates (expiry is
// reported on its own).
func chainsTo(chain []*x509.Certificate, caBundle []byte) bool {
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caBundle) {
		return false
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: chain[0].NotBefore.Add(time.Second),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	return err == nil
}
