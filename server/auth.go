package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/selector"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// TokenSource says whether a bearer token is accepted. Implementations
// must be safe for concurrent use and compare in constant time.
type TokenSource interface {
	Valid(token string) bool
}

// AuthServerOptions require a bearer token ("authorization: Bearer <token>"
// metadata) accepted by tokens on every RPC except the health service
// (grpc.health.v1.Health), which load balancers and kubelets probe without
// credentials. Reflection, when registered, needs a token like the
// explainer service. A missing or malformed authorization header, or a
// token tokens refuses, is UNAUTHENTICATED; the message never contains the
// token.
//
// The options add interceptors with grpc.ChainUnaryInterceptor and
// grpc.ChainStreamInterceptor, so they can be appended after
// GRPCServerOptions: panics are still recovered first.
func AuthServerOptions(tokens TokenSource) []grpc.ServerOption {
	authFunc := func(ctx context.Context) (context.Context, error) {
		if len(metadata.ValueFromIncomingContext(ctx, "authorization")) == 0 {
			return nil, status.Error(codes.Unauthenticated, "missing bearer token: send metadata \"authorization: Bearer <token>\"")
		}
		token, err := auth.AuthFromMD(ctx, "bearer")
		if err != nil {
			return nil, status.Error(codes.Unauthenticated, "malformed authorization metadata: want \"Bearer <token>\"")
		}
		if !tokens.Valid(token) {
			return nil, status.Error(codes.Unauthenticated, "invalid bearer token")
		}
		return ctx, nil
	}
	needsAuth := selector.MatchFunc(func(_ context.Context, c interceptors.CallMeta) bool {
		return c.Service != healthpb.Health_ServiceDesc.ServiceName
	})
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(selector.UnaryServerInterceptor(auth.UnaryServerInterceptor(authFunc), needsAuth)),
		grpc.ChainStreamInterceptor(selector.StreamServerInterceptor(auth.StreamServerInterceptor(authFunc), needsAuth)),
	}
}

// tokenSet holds SHA-256 digests of tokens: comparing digests takes the
// same time whatever the token's length and content.
type tokenSet [][sha256.Size]byte

func newTokenSet(tokens []string) tokenSet {
	s := make(tokenSet, 0, len(tokens))
	for _, t := range tokens {
		s = append(s, sha256.Sum256([]byte(t)))
	}
	return s
}

// valid compares token with every entry, without stopping early.
func (s tokenSet) valid(token string) bool {
	d := sha256.Sum256([]byte(token))
	ok := 0
	for i := range s {
		ok |= subtle.ConstantTimeCompare(d[:], s[i][:])
	}
	return ok == 1
}

// StaticTokens is a fixed set of accepted tokens.
type StaticTokens struct{ set tokenSet }

// NewStaticTokens accepts exactly tokens; empty strings are ignored.
func NewStaticTokens(tokens ...string) *StaticTokens {
	var keep []string
	for _, t := range tokens {
		if t != "" {
			keep = append(keep, t)
		}
	}
	return &StaticTokens{set: newTokenSet(keep)}
}

// Valid reports whether token is one of the set, in constant time.
func (s *StaticTokens) Valid(token string) bool { return token != "" && s.set.valid(token) }

// TokenFileCheckInterval is how often a TokenFile looks for changes to its
// file: at most once per interval, on an RPC.
const TokenFileCheckInterval = 2 * time.Second

// TokenFile accepts the tokens listed in a file, one per line (surrounding
// white space trimmed; blank lines and lines starting with '#' ignored). The
// file is re-read when its modification time or size changes, checked at
// most every TokenFileCheckInterval. It fails closed: a file that is
// deleted, cannot be read, lists no token or is malformed on reload is
// logged and accepts no token, so every call is UNAUTHENTICATED until the
// file lists tokens again (removing every token revokes them all).
type TokenFile struct {
	path string
	log  *slog.Logger

	mu      sync.Mutex
	set     tokenSet
	mod     time.Time
	size    int64
	checked time.Time
}

// LoadTokenFile reads path. It fails if the file cannot be read or lists
// no token. log receives reload failures; nil discards them.
func LoadTokenFile(path string, log *slog.Logger) (*TokenFile, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &TokenFile{path: path, log: log}
	if err := f.reload(); err != nil {
		return nil, err
	}
	f.checked = time.Now()
	return f, nil
}

// Valid reports whether token is listed in the file, in constant time.
func (f *TokenFile) Valid(token string) bool {
	if token == "" {
		return false
	}
	f.mu.Lock()
	if time.Since(f.checked) >= TokenFileCheckInterval {
		f.checked = time.Now()
		f.check()
	}
	set := f.set
	f.mu.Unlock()
	return set.valid(token)
}

// check reloads the file if it changed since the last load, and fails
// closed when it cannot; f.mu is held.
func (f *TokenFile) check() {
	fi, err := os.Stat(f.path)
	if err == nil && fi.ModTime().Equal(f.mod) && fi.Size() == f.size {
		return
	}
	if err == nil {
		closed := f.set == nil
		if err = f.reload(); err == nil {
			if closed {
				f.log.Info("auth: token file lists tokens again", "tokens", len(f.set))
			}
			return
		}
	}
	if f.set != nil {
		f.log.Error("auth: token file reload failed: refusing every call with UNAUTHENTICATED until it lists tokens again", "err", err)
	}
	f.set = nil
	if !errors.As(err, new(tokenContentError)) {
		// Deleted or unreadable: whatever file appears next is read.
		f.mod, f.size = time.Time{}, -1
	}
}

// tokenContentError is a token file that was read but lists no usable
// token.
type tokenContentError struct{ err error }

func (e tokenContentError) Error() string { return e.err.Error() }
func (e tokenContentError) Unwrap() error { return e.err }

// reload reads the file; f.mu must be held (or f not yet shared).
func (f *TokenFile) reload() error {
	fi, err := os.Stat(f.path)
	if err != nil {
		return fmt.Errorf("server: token file: %w", err)
	}
	// Remember the stamp even on failure, so a bad file is read once.
	f.mod, f.size = fi.ModTime(), fi.Size()
	raw, err := os.ReadFile(f.path)
	if err != nil {
		return fmt.Errorf("server: token file: %w", err)
	}
	tokens, err := parseTokens(raw)
	if err != nil {
		return fmt.Errorf("server: token file %s: %w", f.path, tokenContentError{err})
	}
	f.set = newTokenSet(tokens)
	return nil
}

func parseTokens(raw []byte) ([]string, error) {
	var tokens []string
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.ContainsAny(line, " \t") {
			return nil, errors.New("a line holds white space inside a token (one token per line)")
		}
		tokens = append(tokens, line)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(tokens) == 0 {
		return nil, errors.New("no token")
	}
	return tokens, nil
}
