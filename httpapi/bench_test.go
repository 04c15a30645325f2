package httpapi

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/explainer-sidecar/explainer/predictor/predictortest"
	"github.com/explainer-sidecar/explainer/server"
)

// BenchmarkKServeExplainRows posts 100 rows to :explain (tabular LIME,
// 500 samples each, the sidecar's default training data) against a model
// server that takes 20 ms per call and has no row cap:
//
//   - batch: the rows go as one batch job (WithBatches), sharing the
//     training statistics and the model's calls;
//   - job-per-row: each row is a job of its own, 32 at once (the
//     default --max-concurrent-jobs), as before.
//
// It reports the model calls per :explain.
func BenchmarkKServeExplainRows(b *testing.B) {
	const rows = 100
	template := methodRequests()["lime"]
	template.Instance = nil
	var body strings.Builder
	body.WriteString(`{"instances": [`)
	for i, r := range dataRows(rows) {
		if i > 0 {
			body.WriteString(", ")
		}
		body.WriteString(jsonRow(r))
	}
	body.WriteString(`]}`)
	for _, mode := range []struct {
		name  string
		batch bool
	}{{"batch", true}, {"job-per-row", false}} {
		b.Run(mode.name, func(b *testing.B) {
			cfg := stackConfig{
				model: func(f *predictortest.PredictServer) {
					f.MaxBatchSize, f.Delay = 0, 20*time.Millisecond
				},
				server: []server.Option{server.WithRequestDefaults(template)},
			}
			if !mode.batch {
				cfg.handler = []Option{WithBatches(nil)}
			}
			st := startStack(b, cfg)
			calls := st.fake.Calls()
			for b.Loop() {
				resp, err := st.client.Post(st.url+"/v1/models/model:explain", "application/json", bytes.NewReader([]byte(body.String())))
				if err != nil {
					b.Fatal(err)
				}
				out, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("HTTP %d: %.300s", resp.StatusCode, out)
				}
			}
			b.ReportMetric(float64(st.fake.Calls()-calls)/float64(b.N), "calls/op")
		})
	}
}
