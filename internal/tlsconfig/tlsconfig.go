// Package tlsconfig builds TLS configurations from PEM files and reloads
// them when the files change.
//
// Server and Client return a *tls.Config whose certificate (and, for a
// server, client CA pool) is re-read on a handshake after the files change:
// every handshake stats the files (a few stat calls, no reads) and reloads
// when a file's modification time or size differs from the last attempt. A
// file that fails to load on reload is logged and the previous contents stay
// in use, so replacing a certificate never takes the listener down; the same
// bad files are not retried until they change again. Both are TLS 1.2 or
// later.
//
// The returned configurations are safe for concurrent handshakes.
package tlsconfig

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// MinVersion is the lowest TLS version accepted or offered: TLS 1.2.
const MinVersion = tls.VersionTLS12

// ServerFiles names the PEM files of a server.
type ServerFiles struct {
	// Cert and Key are the server's certificate chain and private key.
	// Both are required.
	Cert, Key string
	// ClientCA, when set, turns on mutual TLS: clients must present a
	// certificate signed by one of its CAs (tls.RequireAndVerifyClientCert).
	ClientCA string
}

// ClientFiles names the PEM files of a client.
type ClientFiles struct {
	// CA verifies the server; empty means the system's roots.
	CA string
	// Cert and Key are the client's certificate for mutual TLS: both or
	// neither.
	Cert, Key string
	// ServerName overrides the name checked in the server's certificate
	// (default: the host of the address dialled).
	ServerName string
}

// Server returns a server configuration that serves the certificate in
// files.Cert/files.Key and, when files.ClientCA is set, requires and
// verifies client certificates against it. The files are loaded now (an
// error names the file) and reloaded when they change. log receives reload
// failures; nil discards them.
func Server(files ServerFiles, log *slog.Logger) (*tls.Config, error) {
	if files.Cert == "" || files.Key == "" {
		return nil, errors.New("tlsconfig: server needs both a certificate and a key file")
	}
	kp, err := newKeyPair(files.Cert, files.Key, log)
	if err != nil {
		return nil, err
	}
	var ca *certPool
	if files.ClientCA != "" {
		if ca, err = newCertPool(files.ClientCA, log); err != nil {
			return nil, err
		}
	}
	current := func() *tls.Config {
		c := &tls.Config{
			MinVersion:   MinVersion,
			Certificates: []tls.Certificate{*kp.get()},
			// gRPC requires ALPN h2; a config returned by
			// GetConfigForClient replaces the base, so it must say so too.
			NextProtos: []string{"h2"},
		}
		if ca != nil {
			c.ClientAuth = tls.RequireAndVerifyClientCert
			c.ClientCAs = ca.get()
		}
		return c
	}
	base := current()
	base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) { return current(), nil }
	return base, nil
}

// Client returns a client configuration that verifies the server against
// files.CA (or the system's roots) and, when files.Cert/files.Key are set,
// presents that certificate (reloaded when the files change). The CA file
// is read once. log receives reload failures; nil discards them.
func Client(files ClientFiles, log *slog.Logger) (*tls.Config, error) {
	c := &tls.Config{MinVersion: MinVersion, ServerName: files.ServerName}
	if files.CA != "" {
		pool, err := readPool(files.CA)
		if err != nil {
			return nil, err
		}
		c.RootCAs = pool
	}
	switch {
	case files.Cert != "" && files.Key != "":
		kp, err := newKeyPair(files.Cert, files.Key, log)
		if err != nil {
			return nil, err
		}
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return kp.get(), nil }
	case files.Cert != "" || files.Key != "":
		return nil, errors.New("tlsconfig: a client certificate needs both a certificate and a key file")
	}
	return c, nil
}

// stamp identifies a version of a file without reading it.
type stamp struct {
	mod  time.Time
	size int64
}

func stat(path string) stamp {
	fi, err := os.Stat(path)
	if err != nil {
		return stamp{}
	}
	return stamp{fi.ModTime(), fi.Size()}
}

// watched holds a value loaded from files, reloaded when their stamps
// change.
type watched[T any] struct {
	paths []string
	load  func() (T, error)
	log   *slog.Logger

	mu     sync.Mutex
	value  T
	stamps []stamp // of the last load attempt, good or bad
}

func newWatched[T any](paths []string, load func() (T, error), log *slog.Logger) (*watched[T], error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &watched[T]{paths: paths, load: load, log: log, stamps: stamps(paths)}
	v, err := load()
	if err != nil {
		return nil, err
	}
	w.value = v
	return w, nil
}

func stamps(paths []string) []stamp {
	s := make([]stamp, len(paths))
	for i, p := range paths {
		s[i] = stat(p)
	}
	return s
}

// get returns the current value, reloading it first if a file changed.
func (w *watched[T]) get() T {
	now := stamps(w.paths)
	w.mu.Lock()
	defer w.mu.Unlock()
	changed := false
	for i := range now {
		if now[i] != w.stamps[i] {
			changed = true
		}
	}
	if !changed {
		return w.value
	}
	w.stamps = now
	v, err := w.load()
	if err != nil {
		w.log.Error("tls: reload failed; keeping the previous contents", "files", w.paths, "err", err)
		return w.value
	}
	w.value = v
	w.log.Info("tls: reloaded", "files", w.paths)
	return w.value
}

type keyPair = watched[*tls.Certificate]

func newKeyPair(certFile, keyFile string, log *slog.Logger) (*keyPair, error) {
	return newWatched([]string{certFile, keyFile}, func() (*tls.Certificate, error) {
		c, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("tlsconfig: load key pair %s, %s: %w", certFile, keyFile, err)
		}
		return &c, nil
	}, log)
}

type certPool = watched[*x509.CertPool]

func newCertPool(file string, log *slog.Logger) (*certPool, error) {
	return newWatched([]string{file}, func() (*x509.CertPool, error) { return readPool(file) }, log)
}

// readPool reads the PEM certificates in file.
func readPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("tlsconfig: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("tlsconfig: %s: no PEM certificate", file)
	}
	return pool, nil
}
