package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// httpModel is a KServe model server over HTTP, v1 and v2 REST, for any
// model name: p(benign) = σ((mean radius − 14) / 3), the first feature of
// the breast-cancer rows.
type httpModel struct{ infers atomic.Int64 }

func (m *httpModel) scores(rows [][]float64) [][]float64 {
	out := make([][]float64, len(rows))
	for i, r := range rows {
		p := 1 / (1 + math.Exp(-(r[0]-14)/3))
		out[i] = []float64{1 - p, p}
	}
	return out
}

func (m *httpModel) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reply := func(v any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
	p := r.URL.Path
	switch {
	case strings.HasSuffix(p, ":predict"):
		m.infers.Add(1)
		var req struct{ Instances [][]float64 }
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, `{"error": "bad request"}`, http.StatusBadRequest)
			return
		}
		reply(map[string]any{"predictions": m.scores(req.Instances)})
	case strings.HasSuffix(p, "/infer"):
		m.infers.Add(1)
		var req struct {
			Inputs []struct {
				Shape []int
				Data  []float64
			}
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Inputs) != 1 || len(req.Inputs[0].Shape) != 2 {
			http.Error(w, `{"error": "bad request"}`, http.StatusBadRequest)
			return
		}
		in := req.Inputs[0]
		rows := make([][]float64, in.Shape[0])
		for i := range rows {
			rows[i] = in.Data[i*in.Shape[1] : (i+1)*in.Shape[1]]
		}
		var flat []float64
		for _, s := range m.scores(rows) {
			flat = append(flat, s...)
		}
		reply(map[string]any{"outputs": []any{map[string]any{"name": "p", "datatype": "FP64", "shape": []int{len(rows), 2}, "data": flat}}})
	case strings.HasPrefix(p, "/v2/models/") && strings.HasSuffix(p, "/config"):
		http.NotFound(w, r) // KServe: no model configuration
	case strings.HasPrefix(p, "/v2/models/") && !strings.HasSuffix(p, "/ready"):
		reply(map[string]any{
			"name":    "m",
			"inputs":  []any{map[string]any{"name": "x", "datatype": "FP64", "shape": []int{-1, 30}}},
			"outputs": []any{map[string]any{"name": "p", "datatype": "FP64", "shape": []int{-1, 2}}},
		})
	default: // readiness, v1 and v2
		reply(map[string]any{"ready": true})
	}
}

// TestServeOverHTTP runs `explain` against a sidecar set up as `serve
// --protocol kserve-v1-http` and `kserve-v2-http` set it up, in front of an
// HTTP model server.
func TestServeOverHTTP(t *testing.T) {
	for _, protocol := range []string{"kserve-v1-http", "kserve-v2-http"} {
		t.Run(protocol, func(t *testing.T) {
			model := &httpModel{}
			hs := httptest.NewServer(model)
			defer hs.Close()
			cfg := serveConfig{protocol: protocol, target: hs.URL, model: "breast_cancer", inFlight: 4, maxConcurrentJobs: 4,
				jobTimeout: time.Minute, healthInterval: time.Second, drainTimeout: time.Second}
			log := slog.New(slog.DiscardHandler)
			newClient, closeClients, err := cfg.modelClients(nil, log)
			if err != nil {
				t.Fatal(err)
			}
			defer closeClients()
			if !cfg.plaintext {
				t.Error("an http:// URL is not logged as plaintext")
			}
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			served := make(chan error, 1)
			go func() { served <- serveOn(ctx, lis, newClient, &cfg, log) }()
			defer func() {
				cancel()
				if err := <-served; err != nil {
					t.Errorf("serve: %v", err)
				}
			}()
			out, _, err := runCLI(t, "explain", "-server", lis.Addr().String(), "-background", breastCancerCSV,
				"-instance-file", breastCancerCSV, "-row", "3", "-seed", "5", "-num-samples", "500", "-output", "json")
			if err != nil {
				t.Fatal(err)
			}
			exp := decode(t, out)
			// v1 has no batch limit: the bytes cap alone splits, and 500
			// rows of 30 values go in one call; v2 without a model
			// configuration falls back to 64 rows.
			wantCalls := int64(1)
			if protocol == "kserve-v2-http" {
				wantCalls = (500 + 63) / 64
			}
			if exp.NumSamples != 500 || len(exp.Labels) == 0 || model.infers.Load() != wantCalls {
				t.Fatalf("%d samples, %d labels, %d model calls, want 500 samples in %d calls", exp.NumSamples, len(exp.Labels), model.infers.Load(), wantCalls)
			}
			// Only the first feature moves the model: it is the top one.
			top := &explainerv1.Attribution{}
			for _, a := range exp.Labels[0].Attributions {
				if math.Abs(a.Weight) > math.Abs(top.Weight) {
					top = a
				}
			}
			if top.Index != 0 || top.Weight == 0 {
				t.Errorf("top feature %d (%s, %v), want 0", top.Index, top.Feature, top.Weight)
			}
		})
	}
}

// TestServeHTTPConfig: the URL's scheme and the TLS flags must agree.
func TestServeHTTPConfig(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cfg    serveConfig
		errHas string // "" for success
		plain  bool
	}{
		{"http URL", serveConfig{target: "http://127.0.0.1:8080"}, "", true},
		{"https URL", serveConfig{target: "https://models.example.com/prefix"}, "", false},
		{"bare address plaintext", serveConfig{target: "127.0.0.1:8080", plaintext: true}, "", true},
		{"bare address is TLS", serveConfig{target: "127.0.0.1:8080"}, "", false},
		{"https and plaintext", serveConfig{target: "https://h:1", plaintext: true}, "conflicts", true},
		{"http and a CA", serveConfig{target: "http://h:1", predictorCA: "ca.pem"}, "need https://", false},
		{"missing CA file", serveConfig{target: "https://h:1", predictorCA: "/nonexistent/ca.pem"}, "model server TLS", false},
		{"no host", serveConfig{target: "http://"}, "no host", false},
		{"other scheme", serveConfig{target: "grpc://h:1"}, "want http:// or https://", false},
	} {
		for _, protocol := range []string{"kserve-v1-http", "kserve-v2-http"} {
			t.Run(tc.name+"/"+protocol, func(t *testing.T) {
				cfg := tc.cfg
				cfg.protocol, cfg.inFlight, cfg.maxConcurrentJobs = protocol, 4, 4
				newClient, closeClients, err := cfg.modelClients(nil, slog.New(slog.DiscardHandler))
				if tc.errHas != "" {
					if err == nil || !strings.Contains(err.Error(), tc.errHas) {
						t.Fatalf("err %v, want one containing %q", err, tc.errHas)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				defer closeClients()
				if newClient("m") == nil || cfg.plaintext != tc.plain {
					t.Errorf("client %v, plaintext %v, want %v", newClient("m"), cfg.plaintext, tc.plain)
				}
			})
		}
	}
}
