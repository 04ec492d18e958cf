package precheck

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/url"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// TLSDialer fetches the certificate chain served at address, sending serverName as SNI.
type TLSDialer func(ctx context.Context, address, serverName string) ([]*x509.Certificate, error)

// certProbeTimeout bounds all webhook certificate probes together: from outside the
// cluster network most endpoints are unreachable, and that must not slow the check.
const certProbeTimeout = 3 * time.Second

// DialTLS is the default TLSDialer: a TLS handshake that reads the certificate chain.
func DialTLS(ctx context.Context, address, serverName string) ([]*x509.Certificate, error) {
	d := tls.Dialer{
		NetDialer: &net.Dialer{Timeout: certProbeTimeout},
		// Only the certificate is read (nothing is sent); the webhook-cert-san check
		// verifies it against the caBundle and the name the API server uses.
		Config: &tls.Config{ServerName: serverName, InsecureSkipVerify: true}, //nolint:gosec // see above
	}
	conn, err := d.DialContext(ctx, "tcp", address)
	if err != nil {
		return nil, err
	}
	defer func() { _ = conn.Close() }() // only the handshake's certificates are read
	return conn.(*tls.Conn).ConnectionState().PeerCertificates, nil
}

// probeWebhookCerts fetches the serving certificate of every webhook that can be
// reached from here: a URL webhook at its URL, a Service webhook at one of its ready
// endpoints (reachable when the plugin runs on the cluster network, e.g. on a master).
func probeWebhookCerts(ctx context.Context, c Clients, v *View) {
	dial := c.DialTLS
	if dial == nil {
		dial = DialTLS
	}
	ctx, cancel := context.WithTimeout(ctx, certProbeTimeout)
	defer cancel()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, w := range webhooks(v) {
		probe := CertProbe{CABundle: w.ClientConfig.CABundle}
		probe.ServerName, probe.Address = webhookAddress(v, w)
		if probe.Address == "" {
			continue
		}
		wg.Go(func() {
			chain, err := dial(ctx, probe.Address, probe.ServerName)
			if err != nil {
				probe.Err = err.Error()
			}
			probe.Chain = chain
			mu.Lock()
			v.WebhookCerts[webhookKey(w.Config, w.Name)] = probe
			mu.Unlock()
		})
	}
	wg.Wait()
}

// webhookAddress returns the TLS server name the API server verifies and an address
// to dial, or "" when no address is known.
func webhookAddress(v *View, w webhook) (serverName, address string) {
	if w.ClientConfig.URL != nil {
		u, err := url.Parse(*w.ClientConfig.URL)
		if err != nil || u.Hostname() == "" {
			return "", ""
		}
		port := u.Port()
		if port == "" {
			port = "443"
		}
		return u.Hostname(), net.JoinHostPort(u.Hostname(), port)
	}
	s := w.ClientConfig.Service
	if s == nil {
		return "", ""
	}
	serverName = s.Name + "." + s.Namespace + ".svc"
	var svc *corev1.Service
	for i := range v.Services {
		if v.Services[i].Namespace == s.Namespace && v.Services[i].Name == s.Name {
			svc = &v.Services[i]
		}
	}
	if svc == nil {
		return serverName, ""
	}
	portName := ""
	for _, p := range svc.Spec.Ports {
		if p.Port == w.port() {
			portName = p.Name
		}
	}
	for _, sl := range v.EndpointSlices[w.service()] {
		var port int32
		for _, p := range sl.Ports {
			if p.Port != nil && (p.Name == nil && portName == "" || p.Name != nil && *p.Name == portName) {
				port = *p.Port
			}
		}
		if port == 0 {
			continue
		}
		for _, ep := range sl.Endpoints {
			if endpointReady(ep.Conditions.Ready) && len(ep.Addresses) > 0 {
				return serverName, net.JoinHostPort(ep.Addresses[0], strconv.Itoa(int(port)))
			}
		}
	}
	return serverName, ""
}

// endpointReady: a nil ready condition means ready (EndpointSlice API semantics).
func endpointReady(r *bool) bool { return r == nil || *r }
