package predictor_test

import (
	"context"
	"testing"

	"go.uber.org/goleak"

	"github.com/explainer-sidecar/explainer/predictor"
	"github.com/explainer-sidecar/explainer/predictor/predictortest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// serve starts svc on bufconn and closes it when the test ends.
func serve(t testing.TB, svc predictortest.Service) *predictortest.Server {
	t.Helper()
	s := predictortest.NewBufconnServer(svc)
	t.Cleanup(s.Close)
	return s
}

// table returns n rows of width values; row i is [i, i+0.25, i+0.5, ...], so
// that a score can name its row.
func table(n, width int) [][]float64 {
	flat := make([]float64, n*width)
	rows := make([][]float64, n)
	for i := range rows {
		rows[i] = flat[i*width : (i+1)*width]
		for j := range rows[i] {
			rows[i][j] = float64(i) + 0.25*float64(j)
		}
	}
	return rows
}

// firstAndSum scores a row as [x_0, Σ x_j].
func firstAndSum(rows [][]float64) [][]float64 {
	out := make([][]float64, len(rows))
	for i, r := range rows {
		var s float64
		for _, v := range r {
			s += v
		}
		out[i] = []float64{r[0], s}
	}
	return out
}

// funcClient is an in-process Client whose Score is a function.
type funcClient func(ctx context.Context, rows [][]float64) ([][]float64, error)

func (f funcClient) Score(ctx context.Context, rows [][]float64) ([][]float64, error) {
	return f(ctx, rows)
}
func (funcClient) Describe(context.Context) (predictor.ModelInfo, error) {
	return predictor.ModelInfo{}, nil
}
func (funcClient) Ready(context.Context) error { return nil }
