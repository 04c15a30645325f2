package tlsconfig_test

import (
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/explainer-sidecar/explainer/internal/tlsconfig"
	"github.com/explainer-sidecar/explainer/internal/tlsconfig/tlsconfigtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// serveTLS accepts connections on loopback with cfg, completes each
// handshake and echoes one byte, until the test ends.
func serveTLS(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	lis, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				b := make([]byte, 1)
				if _, err := c.Read(b); err == nil {
					_, _ = c.Write(b)
				}
			}()
		}
	}()
	t.Cleanup(func() { lis.Close(); <-done })
	return lis.Addr().String()
}

// roundTrip dials addr, sends a byte and reads it back: with TLS 1.3 a
// refused client certificate only shows on the first read.
func roundTrip(addr string, cfg *tls.Config) (*tls.ConnectionState, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte{1}); err != nil {
		return nil, err
	}
	if _, err := c.Read(make([]byte, 1)); err != nil {
		return nil, err
	}
	st := c.ConnectionState()
	return &st, nil
}

type pki struct {
	dir                 string
	ca, other           *tlsconfigtest.CA
	caFile, otherCAFile string
	srvCert, srvKey     string
	goodCert, goodKey   string
	badCert, badKey     string
	serverSerial        string
}

func newPKI(t *testing.T) *pki {
	dir := t.TempDir()
	p := &pki{dir: dir, ca: tlsconfigtest.NewCA("test CA"), other: tlsconfigtest.NewCA("other CA")}
	p.caFile = p.ca.WriteCA(dir, "ca.pem")
	p.otherCAFile = p.other.WriteCA(dir, "other-ca.pem")
	srv := p.ca.Server()
	p.serverSerial = srv.Cert.SerialNumber.String()
	p.srvCert, p.srvKey = srv.Write(dir, "server")
	p.goodCert, p.goodKey = p.ca.Client("good").Write(dir, "good")
	p.badCert, p.badKey = p.other.Client("bad").Write(dir, "bad")
	return p
}

func TestServerAndClient(t *testing.T) {
	p := newPKI(t)
	tlsAddr := func(t *testing.T, clientCA string) string {
		cfg, err := tlsconfig.Server(tlsconfig.ServerFiles{Cert: p.srvCert, Key: p.srvKey, ClientCA: clientCA}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return serveTLS(t, cfg)
	}
	tests := []struct {
		name     string
		clientCA string
		client   tlsconfig.ClientFiles
		wantErr  bool
	}{
		{"tls", "", tlsconfig.ClientFiles{CA: p.caFile}, false},
		{"tls server name", "", tlsconfig.ClientFiles{CA: p.caFile, ServerName: "localhost"}, false},
		{"tls wrong CA", "", tlsconfig.ClientFiles{CA: p.otherCAFile}, true},
		{"tls wrong name", "", tlsconfig.ClientFiles{CA: p.caFile, ServerName: "example.com"}, true},
		{"mtls good cert", p.caFile, tlsconfig.ClientFiles{CA: p.caFile, Cert: p.goodCert, Key: p.goodKey}, false},
		{"mtls no cert", p.caFile, tlsconfig.ClientFiles{CA: p.caFile}, true},
		{"mtls other CA's cert", p.caFile, tlsconfig.ClientFiles{CA: p.caFile, Cert: p.badCert, Key: p.badKey}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := tlsAddr(t, tt.clientCA)
			cfg, err := tlsconfig.Client(tt.client, nil)
			if err != nil {
				t.Fatal(err)
			}
			st, err := roundTrip(addr, cfg)
			if tt.wantErr {
				if err == nil {
					t.Fatal("connected, want a handshake failure")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if st.Version < tls.VersionTLS12 || st.NegotiatedProtocol != "" && st.NegotiatedProtocol != "h2" {
				t.Errorf("version %x, ALPN %q", st.Version, st.NegotiatedProtocol)
			}
		})
	}
}

func TestServerOffersH2AndRefusesOldTLS(t *testing.T) {
	p := newPKI(t)
	cfg, err := tlsconfig.Server(tlsconfig.ServerFiles{Cert: p.srvCert, Key: p.srvKey}, nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := serveTLS(t, cfg)
	client, err := tlsconfig.Client(tlsconfig.ClientFiles{CA: p.caFile}, nil)
	if err != nil {
		t.Fatal(err)
	}
	client.NextProtos = []string{"h2"}
	st, err := roundTrip(addr, client)
	if err != nil {
		t.Fatal(err)
	}
	if st.NegotiatedProtocol != "h2" {
		t.Errorf("ALPN %q, want h2 (gRPC needs it)", st.NegotiatedProtocol)
	}
	old := client.Clone()
	old.MinVersion, old.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
	if _, err := roundTrip(addr, old); err == nil {
		t.Error("TLS 1.1 accepted")
	}
}

func TestReload(t *testing.T) {
	p := newPKI(t)
	cfg, err := tlsconfig.Server(tlsconfig.ServerFiles{Cert: p.srvCert, Key: p.srvKey, ClientCA: p.caFile}, nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := serveTLS(t, cfg)
	client, err := tlsconfig.Client(tlsconfig.ClientFiles{CA: p.caFile, Cert: p.goodCert, Key: p.goodKey}, nil)
	if err != nil {
		t.Fatal(err)
	}
	serial := func() string {
		t.Helper()
		st, err := roundTrip(addr, client)
		if err != nil {
			t.Fatal(err)
		}
		return st.PeerCertificates[0].SerialNumber.String()
	}
	if got := serial(); got != p.serverSerial {
		t.Fatalf("serial %s, want %s", got, p.serverSerial)
	}

	// A broken pair (new certificate, key not yet written) keeps the old one.
	next := p.ca.Server()
	if err := os.WriteFile(p.srvCert, next.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := serial(); got != p.serverSerial {
		t.Fatalf("mismatched pair: serial %s, want the old %s", got, p.serverSerial)
	}
	// The key arrives: the new certificate is served.
	if err := os.WriteFile(p.srvKey, next.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if got, want := serial(), next.Cert.SerialNumber.String(); got != want {
		t.Fatalf("after reload: serial %s, want %s", got, want)
	}

	// The client CA is reloaded too: trust the other CA only.
	if err := os.WriteFile(p.caFile+".new", p.other.PEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(p.caFile+".new", filepath.Join(p.dir, "ca.pem")); err != nil {
		t.Fatal(err)
	}
	if _, err := roundTrip(addr, client); err == nil {
		t.Fatal("client certificate of a CA no longer trusted was accepted")
	}
}

func TestErrors(t *testing.T) {
	p := newPKI(t)
	garbage := filepath.Join(p.dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(p.dir, "missing.pem")
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"server without key", serverErr(tlsconfig.ServerFiles{Cert: p.srvCert}), "both a certificate and a key"},
		{"server missing cert", serverErr(tlsconfig.ServerFiles{Cert: missing, Key: p.srvKey}), "missing.pem"},
		{"server mismatched key", serverErr(tlsconfig.ServerFiles{Cert: p.srvCert, Key: p.goodKey}), "private key does not match"},
		{"server garbage CA", serverErr(tlsconfig.ServerFiles{Cert: p.srvCert, Key: p.srvKey, ClientCA: garbage}), "garbage.pem: no PEM certificate"},
		{"client missing CA", clientErr(tlsconfig.ClientFiles{CA: missing}), "missing.pem"},
		{"client cert without key", clientErr(tlsconfig.ClientFiles{Cert: p.goodCert}), "both a certificate and a key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err == nil || !strings.Contains(tt.err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", tt.err, tt.want)
			}
		})
	}
}

func serverErr(f tlsconfig.ServerFiles) error {
	_, err := tlsconfig.Server(f, nil)
	return err
}

func clientErr(f tlsconfig.ClientFiles) error {
	_, err := tlsconfig.Client(f, nil)
	return err
}
