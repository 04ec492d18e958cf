package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// countingProxy is a TLS reverse proxy on loopback between the plugin and the API
// server. The plugin's kubeconfig points at it; the proxy authenticates upstream with
// the lab admin's client certificate and records every request (verb, resource, user
// agent, status, latency). Unlike apiserver_request_total, this sees exactly the
// plugin's requests, whatever the API server's other clients do meanwhile.
type countingProxy struct {
	URL    string
	CAData []byte

	srv      *http.Server
	start    time.Time
	mu       sync.Mutex
	requests []request
	// bytes counts the response bytes sent to the plugin (as on the wire: the API
	// server gzips large responses to clients that accept it, as client-go does).
	bytes atomic.Int64
	// open counts the requests whose response has not ended (watches until closed).
	open atomic.Int64
}

// request is one API request as the proxy saw it.
type request struct {
	At        float64 `json:"at"` // seconds since the proxy started
	Verb      string  `json:"verb"`
	Resource  string  `json:"resource"`
	UserAgent string  `json:"userAgent"`
	Code      int     `json:"code"`
	Seconds   float64 `json:"seconds"` // until the response headers (watches: until the stream opened)
	// Bytes is the response as sent (gzip when the API server compressed it) and
	// Type its Content-Type and Content-Encoding: what one read costs on the wire.
	Bytes int64  `json:"bytes,omitempty"`
	Type  string `json:"type,omitempty"`
}

func startProxy(upstream *rest.Config) (*countingProxy, error) {
	target, err := url.Parse(upstream.Host)
	if err != nil {
		return nil, err
	}
	rt, err := rest.TransportFor(upstream) // TLS client cert + HTTP/2, no user agent of its own
	if err != nil {
		return nil, err
	}
	cert, caPEM, err := selfSigned()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &countingProxy{URL: "https://" + ln.Addr().String(), CAData: caPEM, start: time.Now()}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = target.Host
			r.Out.Header.Del("Authorization") // the client's placeholder token; the proxy's certificate authenticates
		},
		Transport:     rt,
		FlushInterval: -1, // stream watches event by event
		ErrorLog:      nil,
	}
	p.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			t := time.Now()
			p.open.Add(1)
			defer p.open.Add(-1)
			rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK, started: make(chan struct{}), bytes: &p.bytes}
			verb, res := classify(r.Method, r.URL)
			done, recorded := make(chan struct{}), make(chan int, 1)
			go func() { // record when the response starts, so watches count as they open
				select {
				case <-rec.started:
				case <-done:
				}
				recorded <- p.record(request{At: t.Sub(p.start).Seconds(), Verb: verb, Resource: res, UserAgent: r.UserAgent(),
					Code: rec.statusCode(), Seconds: time.Since(t).Seconds()})
			}()
			// Deferred: ReverseProxy aborts the handler (panics) when a client closes a
			// stream it was copying, as a process that exits does with its watches.
			defer func() {
				close(done)
				h := rec.Header()
				p.finish(<-recorded, rec.n.Load(), strings.TrimSuffix(h.Get("Content-Type")+" "+h.Get("Content-Encoding"), " "))
			}()
			rp.ServeHTTP(rec, r)
		}),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 30 * time.Second,
	}
	go func() { _ = p.srv.ServeTLS(ln, "", "") }() // ServeTLS enables HTTP/2, as the API server has
	return p, nil
}

// record adds a request and returns its index, for finish.
func (p *countingProxy) record(r request) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests = append(p.requests, r)
	return len(p.requests) - 1
}

// finish sets what the response of request i was once it has been sent.
func (p *countingProxy) finish(i int, bytes int64, typ string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests[i].Bytes, p.requests[i].Type = bytes, typ
}

// Requests returns the requests recorded since mark (an index from Mark).
func (p *countingProxy) Requests(from int) []request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]request(nil), p.requests[min(from, len(p.requests)):]...)
}

// Bytes returns the response bytes sent so far.
func (p *countingProxy) Bytes() int64 { return p.bytes.Load() }

// Settle waits (at most timeout) until every response has ended: a client that
// exited closes its watches, and their bytes are counted when the proxy notices.
func (p *countingProxy) Settle(timeout time.Duration) {
	for deadline := time.Now().Add(timeout); p.open.Load() > 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
}

// Mark returns the number of requests so far.
func (p *countingProxy) Mark() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.requests)
}

func (p *countingProxy) Close() { _ = p.srv.Close() }

// Kubeconfig writes a kubeconfig that reaches the API server through the proxy.
func (p *countingProxy) Kubeconfig(path string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["bench"] = &clientcmdapi.Cluster{Server: p.URL, CertificateAuthorityData: p.CAData}
	// A placeholder token: without any credentials kubectl-style clients prompt for a
	// user name. The proxy drops it and authenticates upstream with its certificate.
	cfg.AuthInfos["bench"] = &clientcmdapi.AuthInfo{Token: "edgeupgrade-bench-proxy"}
	cfg.Contexts["bench"] = &clientcmdapi.Context{Cluster: "bench", AuthInfo: "bench"}
	cfg.CurrentContext = "bench"
	return clientcmd.WriteToFile(*cfg, path)
}

type statusRecorder struct {
	http.ResponseWriter
	mu      sync.Mutex
	code    int
	started chan struct{}
	once    sync.Once
	bytes   *atomic.Int64 // the proxy's total
	n       atomic.Int64  // this response's
}

func (s *statusRecorder) WriteHeader(code int) {
	s.mu.Lock()
	s.code = code
	s.mu.Unlock()
	s.once.Do(func() { close(s.started) })
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	s.once.Do(func() { close(s.started) })
	n, err := s.ResponseWriter.Write(b)
	if s.bytes != nil {
		s.bytes.Add(int64(n))
	}
	s.n.Add(int64(n))
	return n, err
}

func (s *statusRecorder) statusCode() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.code
}

// Flush keeps watch streams flowing through the recorder.
func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the real writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// classify returns the Kubernetes verb and resource ("jobs.batch", "pods/status",
// "nonresource /version") of a request, as the API server's RequestInfo would.
func classify(method string, u *url.URL) (verb, resource string) {
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	var rest []string
	group := ""
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		rest = parts[2:] // api/v1/...
	case len(parts) >= 3 && parts[0] == "apis":
		group, rest = parts[1], parts[3:] // apis/group/version/...
	}
	if len(rest) == 0 {
		return strings.ToLower(method), "nonresource " + nonResource(u.Path)
	}
	// namespaces/{ns}/{resource}/... or a namespaces request itself.
	if rest[0] == "namespaces" && len(rest) >= 3 {
		rest = rest[2:]
	}
	res, name, sub := rest[0], "", ""
	if len(rest) > 1 {
		name = rest[1]
	}
	if len(rest) > 2 {
		sub = rest[2]
	}
	if group != "" {
		res += "." + group
	}
	if sub != "" {
		res += "/" + sub
	}
	q := u.Query()
	switch method {
	case http.MethodGet:
		switch {
		case q.Get("watch") == "true" || q.Get("watch") == "1":
			verb = "watch"
		case name == "":
			verb = "list"
		default:
			verb = "get"
		}
	case http.MethodPost:
		verb = "create"
	case http.MethodPut:
		verb = "update"
	case http.MethodPatch:
		verb = "patch"
	case http.MethodDelete:
		verb = "delete"
		if name == "" {
			verb = "deletecollection"
		}
	default:
		verb = strings.ToLower(method)
	}
	return verb, res
}

// nonResource folds discovery paths (/api, /apis/g/v, /openapi/...) into families.
func nonResource(p string) string {
	switch {
	case p == "/api" || p == "/apis" || strings.HasPrefix(p, "/api/") || strings.HasPrefix(p, "/apis/"):
		return "discovery"
	case strings.HasPrefix(p, "/openapi"):
		return "/openapi"
	}
	return p
}

// tally counts requests by "verb resource".
type tally struct {
	Key   string `json:"key"`
	Count int    `json:"count"`
}

func countByVerbResource(reqs []request) []tally {
	m := map[string]int{}
	for _, r := range reqs {
		m[r.Verb+" "+r.Resource]++
	}
	out := make([]tally, 0, len(m))
	for k, v := range m {
		out = append(out, tally{k, v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Key < out[j].Key
	})
	return out
}

// selfSigned returns a serving certificate for 127.0.0.1 and its PEM (its own CA).
func selfSigned() (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "edgeupgrade-bench-proxy"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(48 * time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	cert, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("proxy certificate: %w", err)
	}
	return cert, certPEM, nil
}
