package predictor_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/explainer-sidecar/explainer/predictor"
	"github.com/explainer-sidecar/explainer/predictor/predictortest"
)

func TestBatcherSplitsInOrder(t *testing.T) {
	tests := []struct {
		name        string
		rows, cols  int
		maxBatch    int
		maxBytes    int // 0: default
		wantCalls   int
		wantBiggest int
	}{
		{"empty", 0, 3, 8, 0, 0, 0},
		{"one row", 1, 3, 8, 0, 1, 1},
		{"exactly one batch", 8, 3, 8, 0, 1, 8},
		{"one over", 9, 3, 8, 0, 2, 8},
		{"many", 1000, 3, 64, 0, 16, 64},
		{"batch of one", 5, 3, 1, 0, 5, 1},
		{"bytes cap", 100, 100, 64, 10 * 8 * 100, 10, 10},
		{"bytes cap below one row", 3, 100, 64, 10, 3, 1},
		{"bytes cap above rows cap", 100, 2, 8, 1 << 20, 13, 8},
		// A model that takes any number of rows: the bytes cap alone splits
		// (5000 × 30 float64 is 1.2 MB, under the default 3 MiB).
		{"no row cap", 5000, 30, predictor.NoRowCap, 0, 1, 5000},
		{"no row cap, bytes cap", 5000, 30, predictor.NoRowCap, 1000 * 8 * 30, 5, 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := predictortest.NewPredictServer(firstAndSum)
			fake.MaxBatchSize = tt.maxBatch // the fake rejects bigger batches
			s := serve(t, fake)
			b := predictor.NewBatcher(predictor.NewPredictV1(s.Conn, ""),
				predictor.WithMaxBatchSize(tt.maxBatch), predictor.WithMaxBatchBytes(tt.maxBytes))
			rows := table(tt.rows, tt.cols)
			got, err := b.Predict(context.Background(), rows)
			if err != nil {
				t.Fatalf("Predict: %v", err)
			}
			if len(got) != tt.rows {
				t.Fatalf("got %d rows, want %d", len(got), tt.rows)
			}
			for i, r := range got {
				want := firstAndSum(rows[i : i+1])[0]
				if len(r) != 2 || r[0] != want[0] || r[1] != want[1] {
					t.Fatalf("row %d = %v, want %v", i, r, want)
				}
			}
			if c := fake.Calls(); c != tt.wantCalls || b.Calls() != int64(tt.wantCalls) {
				t.Errorf("calls: fake %d, batcher %d, want %d", c, b.Calls(), tt.wantCalls)
			}
			if m := fake.MaxBatch(); m != tt.wantBiggest {
				t.Errorf("biggest batch %d, want %d", m, tt.wantBiggest)
			}
			if r := fake.Rows(); r != tt.rows {
				t.Errorf("fake saw %d rows, want %d", r, tt.rows)
			}
		})
	}
}

func TestBatcherInFlightCap(t *testing.T) {
	for _, inFlight := range []int{1, 3, 8} {
		fake := predictortest.NewPredictServer(firstAndSum)
		fake.Delay = 20 * time.Millisecond
		s := serve(t, fake)
		b := predictor.NewBatcher(predictor.NewPredictV1(s.Conn, ""),
			predictor.WithMaxBatchSize(4), predictor.WithInFlight(inFlight))
		if _, err := b.Predict(context.Background(), table(4*3*inFlight, 2)); err != nil {
			t.Fatal(err)
		}
		if got := fake.MaxConcurrent(); got != inFlight {
			t.Errorf("InFlight %d: max concurrent calls %d", inFlight, got)
		}
	}
}

// The InFlight cap holds across concurrent Predict calls on one Batcher.
func TestBatcherInFlightSharedByCalls(t *testing.T) {
	fake := predictortest.NewPredictServer(firstAndSum)
	fake.Delay = 20 * time.Millisecond
	s := serve(t, fake)
	b := predictor.NewBatcher(predictor.NewPredictV1(s.Conn, ""),
		predictor.WithMaxBatchSize(2), predictor.WithInFlight(3))
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { _, errs[i] = b.Predict(context.Background(), table(12, 2)) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if got := fake.MaxConcurrent(); got != 3 {
		t.Errorf("max concurrent calls %d, want 3", got)
	}
	if b.Calls() != 24 {
		t.Errorf("Calls() = %d, want 24", b.Calls())
	}
}

// Batchers that share one's allowance keep its InFlight cap together and
// count their calls apart.
func TestBatcherSharedInFlight(t *testing.T) {
	fake := predictortest.NewPredictServer(firstAndSum)
	fake.Delay = 20 * time.Millisecond
	s := serve(t, fake)
	c := predictor.NewPredictV1(s.Conn, "")
	first := predictor.NewBatcher(c, predictor.WithMaxBatchSize(2), predictor.WithInFlight(3))
	batchers := []*predictor.Batcher{first,
		predictor.NewBatcher(c, predictor.WithMaxBatchSize(2), predictor.WithInFlight(8), predictor.WithSharedInFlight(first)),
		predictor.NewBatcher(c, predictor.WithMaxBatchSize(2), predictor.WithSharedInFlight(first)),
	}
	var wg sync.WaitGroup
	errs := make([]error, len(batchers))
	for i, b := range batchers {
		wg.Go(func() { _, errs[i] = b.Predict(context.Background(), table(12, 2)) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if got := fake.MaxConcurrent(); got != 3 {
		t.Errorf("max concurrent calls %d over three batchers sharing 3, want 3", got)
	}
	for i, b := range batchers {
		if b.Calls() != 6 {
			t.Errorf("batcher %d: Calls() = %d, want its own 6", i, b.Calls())
		}
	}
}

func TestBatcherObserver(t *testing.T) {
	fake := predictortest.NewPredictServer(firstAndSum)
	s := serve(t, fake)
	var total, calls atomic.Int64
	b := predictor.NewBatcher(predictor.NewPredictV1(s.Conn, ""),
		predictor.WithMaxBatchSize(7), predictor.WithInFlight(3),
		predictor.WithObserver(func(n int) { total.Add(int64(n)); calls.Add(1) }))
	if _, err := b.Predict(context.Background(), table(100, 3)); err != nil {
		t.Fatal(err)
	}
	if total.Load() != 100 || calls.Load() != 15 {
		t.Errorf("observer saw %d rows in %d calls, want 100 in 15", total.Load(), calls.Load())
	}
}

func TestBatcherValidation(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	tests := []struct {
		name  string
		fault predictortest.FaultFunc
		opts  []predictor.BatcherOption
		want  string
	}{
		{
			name: "too few rows",
			fault: func(_ int, rows [][]float64) ([][]float64, error) {
				if rows[0][0] == 0 { // only the first batch, whenever it runs
					return firstAndSum(rows[:60]), nil
				}
				return nil, nil
			},
			want: "model server returned bad output: 60 rows for a batch of 64",
		},
		{
			name: "too many rows",
			fault: func(_ int, rows [][]float64) ([][]float64, error) {
				if rows[0][0] == 0 {
					return firstAndSum(append(rows, rows[0])), nil
				}
				return nil, nil
			},
			want: "model server returned bad output: 65 rows for a batch of 64",
		},
		{
			name: "NaN",
			fault: func(_ int, rows [][]float64) ([][]float64, error) {
				out := firstAndSum(rows)
				if rows[0][0] == 0 {
					out[17][1] = nan
				}
				return out, nil
			},
			want: "non-finite score at row 17",
		},
		{
			name: "Inf in the second batch",
			fault: func(call int, rows [][]float64) ([][]float64, error) {
				out := firstAndSum(rows)
				if rows[0][0] == 64 { // the second batch, whatever order calls come in
					out[3][0] = -inf
				}
				return out, nil
			},
			opts: []predictor.BatcherOption{predictor.WithInFlight(1)},
			want: "non-finite score at row 67",
		},
		{
			name: "class count changes between batches",
			fault: func(call int, rows [][]float64) ([][]float64, error) {
				if rows[0][0] == 64 {
					out := make([][]float64, len(rows))
					for i := range out {
						out[i] = []float64{0.1, 0.2, 0.7}
					}
					return out, nil
				}
				return nil, nil
			},
			opts: []predictor.BatcherOption{predictor.WithInFlight(1)},
			want: "model server returned bad output: 2 classes in one batch and 3 in another",
		},
		{
			name:  "class count not the one asserted",
			fault: nil,
			opts:  []predictor.BatcherOption{predictor.WithNumClasses(3)},
			want:  "model server returned bad output: 2 classes, want 3",
		},
		{
			name: "zero classes",
			fault: func(_ int, rows [][]float64) ([][]float64, error) {
				return make([][]float64, len(rows)), nil // rows of no scores
			},
			want: "model server returned bad output: 0 rows for a batch of 64", // num_classes 0, no scores: no rows
		},
		{
			name: "scores not a whole number of rows",
			fault: func(_ int, rows [][]float64) ([][]float64, error) {
				out := firstAndSum(rows)
				if rows[0][0] == 0 {
					out[5] = []float64{1, 2, 3}
				}
				return out, nil
			},
			want: "129 scores, not a whole number of rows of 2 classes",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := predictortest.NewPredictServer(firstAndSum)
			fake.Fault = tt.fault
			s := serve(t, fake)
			b := predictor.NewBatcher(predictor.NewPredictV1(s.Conn, ""), tt.opts...)
			out, err := b.Predict(context.Background(), table(3*64, 3))
			if !errors.Is(err, predictor.ErrBadOutput) {
				t.Fatalf("err = %v, want ErrBadOutput", err)
			}
			if out != nil {
				t.Errorf("got rows with an error")
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "predictor: ") {
				t.Errorf("err = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

// Checks a gRPC reply cannot express: rows of different widths in a batch.
func TestBatcherValidationInProcess(t *testing.T) {
	tests := []struct {
		name  string
		score func(rows [][]float64) [][]float64
		want  string
	}{
		{"ragged scores", func(rows [][]float64) [][]float64 {
			out := firstAndSum(rows)
			out[3] = out[3][:1]
			return out
		}, "model server returned bad output: 2 scores at row 0 and 1 at row 3"},
		{"empty rows", func(rows [][]float64) [][]float64 {
			return make([][]float64, len(rows))
		}, "model server returned bad output: 0 scores at row 0"},
		{"nil reply", func([][]float64) [][]float64 { return nil }, "model server returned bad output: 0 rows for a batch of 10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := funcClient(func(_ context.Context, rows [][]float64) ([][]float64, error) {
				return tt.score(rows), nil
			})
			_, err := predictor.NewBatcher(c).Predict(context.Background(), table(10, 2))
			if !errors.Is(err, predictor.ErrBadOutput) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want ErrBadOutput containing %q", err, tt.want)
			}
		})
	}
}

func TestBatcherRejectsRaggedInput(t *testing.T) {
	fake := predictortest.NewPredictServer(firstAndSum)
	s := serve(t, fake)
	rows := table(10, 3)
	rows[4] = rows[4][:2]
	_, err := predictor.NewBatcher(predictor.NewPredictV1(s.Conn, "")).Predict(context.Background(), rows)
	if !errors.Is(err, predictor.ErrInvalidInput) || !strings.Contains(err.Error(), "row 4 has 2 values, row 0 has 3") {
		t.Errorf("err = %v", err)
	}
	if fake.Calls() != 0 {
		t.Errorf("%d calls, want 0", fake.Calls())
	}
}

// statusTable is the translation of every code a model server can return.
var statusTable = []struct {
	code codes.Code
	want error
}{
	{codes.Unavailable, predictor.ErrUnavailable},
	{codes.ResourceExhausted, predictor.ErrUnavailable},
	{codes.Aborted, predictor.ErrUnavailable},
	{codes.Canceled, predictor.ErrUnavailable}, // cancelled by the server, not by us
	{codes.DeadlineExceeded, predictor.ErrUnavailable},
	{codes.InvalidArgument, predictor.ErrRejected},
	{codes.NotFound, predictor.ErrRejected},
	{codes.Unimplemented, predictor.ErrRejected},
	{codes.FailedPrecondition, predictor.ErrRejected},
	{codes.OutOfRange, predictor.ErrRejected},
	{codes.AlreadyExists, predictor.ErrRejected},
	{codes.Unauthenticated, predictor.ErrAuth},
	{codes.PermissionDenied, predictor.ErrAuth},
	{codes.Unknown, predictor.ErrFailed},
	{codes.Internal, predictor.ErrFailed},
	{codes.DataLoss, predictor.ErrFailed},
}

func TestStatusTranslation(t *testing.T) {
	sentinels := []error{predictor.ErrUnavailable, predictor.ErrRejected, predictor.ErrAuth,
		predictor.ErrFailed, predictor.ErrBadOutput, predictor.ErrInvalidInput, context.Canceled, context.DeadlineExceeded}
	for _, tt := range statusTable {
		t.Run(tt.code.String(), func(t *testing.T) {
			fake := predictortest.NewPredictServer(firstAndSum)
			fake.Fault = func(int, [][]float64) ([][]float64, error) {
				// Row 2 of table(5, 3) is [2, 2.25, 2.5]: a message
				// that quotes a value sent is withheld.
				return nil, status.Error(tt.code, "feature 1 = 2.25 is secret")
			}
			s := serve(t, fake)
			_, err := predictor.NewBatcher(predictor.NewPredictV1(s.Conn, "")).Predict(context.Background(), table(5, 3))
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			for _, other := range sentinels {
				if other != tt.want && errors.Is(err, other) {
					t.Errorf("err = %v is also %v", err, other)
				}
			}
			msg := err.Error()
			if strings.Contains(msg, "secret") || strings.Contains(msg, "2.25") || !strings.HasPrefix(msg, "predictor: ") {
				t.Errorf("message %q forwards a message quoting the payload or lacks the prefix", msg)
			}
			if _, ok := status.FromError(err); ok {
				t.Errorf("err carries a gRPC status: %v", err)
			}
			if code, ok := predictor.ServerCode(err); !ok || code != tt.code {
				t.Errorf("ServerCode = %v, %v; want %v", code, ok, tt.code)
			}
		})
	}
}

// A DEADLINE_EXCEEDED from the server while the caller has a deadline is
// the caller's deadline seen a moment early.
func TestStatusDeadlineWithCallerDeadline(t *testing.T) {
	fake := predictortest.NewPredictServer(firstAndSum)
	fake.Fault = func(int, [][]float64) ([][]float64, error) {
		return nil, status.Error(codes.DeadlineExceeded, "late")
	}
	s := serve(t, fake)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := predictor.NewBatcher(predictor.NewPredictV1(s.Conn, "")).Predict(ctx, table(5, 3))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want context.DeadlineExceeded", err)
	}
}

func TestStatusMessageSize(t *testing.T) {
	tests := []struct {
		msg  string
		want error
	}{
		{"grpc: received message larger than max (5000 vs. 4000)", predictor.ErrBadOutput},
		{"trying to send message larger than max (5000 vs. 4000)", predictor.ErrRejected},
		// gRPC's C core (a Python model server, Triton) refusing the request.
		{"Received message larger than max (38535218 vs. 16777216)", predictor.ErrRejected},
		{"too many requests in the queue", predictor.ErrUnavailable},
	}
	for _, tt := range tests {
		fake := predictortest.NewPredictServer(firstAndSum)
		fake.Fault = func(int, [][]float64) ([][]float64, error) {
			return nil, status.Error(codes.ResourceExhausted, tt.msg)
		}
		s := serve(t, fake)
		_, err := predictor.NewPredictV1(s.Conn, "").Score(context.Background(), table(2, 2))
		if !errors.Is(err, tt.want) {
			t.Errorf("%q: err = %v, want %v", tt.msg, err, tt.want)
		}
	}
}

func TestBatcherFirstFailureCancelsOthers(t *testing.T) {
	fake := predictortest.NewPredictServer(firstAndSum)
	fake.Fault = func(call int, rows [][]float64) ([][]float64, error) {
		if rows[0][0] == 3*64 { // the fourth batch fails once all four run, the others hang
			if err := fake.Await(bound(t), func() bool { return fake.InFlight() == 4 }); err != nil {
				return nil, status.Error(codes.Internal, "the other calls never started")
			}
			return nil, status.Error(codes.InvalidArgument, "bad")
		}
		return nil, predictortest.ErrHang
	}
	s := serve(t, fake)
	b := predictor.NewBatcher(predictor.NewPredictV1(s.Conn, ""), predictor.WithInFlight(4))
	// The hanging calls end only when cancelled: Predict returning at all
	// shows that the failure cancelled them.
	_, err := b.Predict(context.Background(), table(64*10, 2))
	if !errors.Is(err, predictor.ErrRejected) {
		t.Fatalf("err = %v, want ErrRejected", err)
	}
	if b.Calls() != 4 || fake.Sending() != 0 {
		t.Errorf("%d batches sent, %d not returned; want 4 (no new batch after the failure), 0", b.Calls(), fake.Sending())
	}
	waitFor(t, fake, func() bool { return fake.InFlight() == 0 && fake.Cancelled() == 3 },
		"the 3 hanging calls to be cancelled")
}

func TestBatcherCancel(t *testing.T) {
	fake := predictortest.NewPredictServer(firstAndSum)
	fake.Delay = time.Hour
	s := serve(t, fake)
	b := predictor.NewBatcher(predictor.NewPredictV1(s.Conn, ""), predictor.WithInFlight(4))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := b.Predict(ctx, table(64*20, 2))
		done <- err
	}()
	waitFor(t, fake, func() bool { return fake.InFlight() == 4 }, "4 calls in flight")
	cancel()
	// The calls wait an hour: Predict returning shows it did not wait.
	var err error
	select {
	case err = <-done:
	case <-bound(t).Done():
		t.Fatal("Predict did not return after the cancel")
	}
	if !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "predictor: ") {
		t.Errorf("err = %v, want a wrapped context.Canceled", err)
	}
	// Every call Predict started had returned when it did, and none
	// started after the cancel: 4 sent, 4 arrived.
	if fake.Sending() != 0 || b.Calls() != 4 || fake.Sent() != 4 {
		t.Errorf("%d calls not returned, %d sent by the batcher, %d by the client; want 0, 4, 4", fake.Sending(), b.Calls(), fake.Sent())
	}
	waitFor(t, fake, func() bool { return fake.InFlight() == 0 }, "the calls to end")
	if fake.Calls() != 4 {
		t.Errorf("the fake saw %d calls, want 4", fake.Calls())
	}
	if fake.Cancelled() != 4 {
		t.Errorf("the fake saw %d calls cancelled, want 4", fake.Cancelled())
	}
}

func TestBatcherContextDoneBeforeStart(t *testing.T) {
	fake := predictortest.NewPredictServer(firstAndSum)
	s := serve(t, fake)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := predictor.NewBatcher(predictor.NewPredictV1(s.Conn, "")).Predict(ctx, table(10, 2))
	if !errors.Is(err, context.Canceled) || fake.Calls() != 0 {
		t.Errorf("err = %v, %d calls; want context.Canceled and no call", err, fake.Calls())
	}
}

func TestBatcherDeadline(t *testing.T) {
	t.Run("propagated", func(t *testing.T) {
		fake := predictortest.NewPredictServer(firstAndSum)
		s := serve(t, fake)
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		deadline, _ := ctx.Deadline()
		if _, err := predictor.NewBatcher(predictor.NewPredictV1(s.Conn, "")).Predict(ctx, table(300, 2)); err != nil {
			t.Fatal(err)
		}
		if n := fake.CallsWithoutDeadline(); n != 0 {
			t.Errorf("%d of %d calls without a deadline", n, fake.Calls())
		}
		// gRPC sends the remaining time; the server adds it to its clock,
		// so the deadlines differ by the transit time. Any other deadline
		// (a default of seconds or minutes) would differ by far more than
		// a minute from the caller's hour.
		if diff := fake.LatestDeadline().Sub(deadline); diff.Abs() > time.Minute {
			t.Errorf("a call's deadline is %v from the caller's: not the caller's", diff)
		}
	})
	t.Run("expires", func(t *testing.T) {
		fake := predictortest.NewPredictServer(firstAndSum)
		fake.Delay = 2 * time.Second
		s := serve(t, fake)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, err := predictor.NewBatcher(predictor.NewPredictV1(s.Conn, "")).Predict(ctx, table(300, 2))
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want context.DeadlineExceeded", err)
		}
		// No call waited out its 2 s delay: each saw its context end.
		waitFor(t, fake, func() bool { return fake.InFlight() == 0 && fake.Cancelled() == fake.Calls() },
			"every call to see its context done")
	})
}

// waitFor waits until cond holds, checking it as the fake's counters
// change, for up to a generous bound (not a timing check).
func waitFor(t *testing.T, fake *predictortest.PredictServer, cond func() bool, what string) {
	t.Helper()
	if err := fake.Await(bound(t), cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// bound is a context that ends with the test, or after 30 s: a bound on
// waits that would otherwise hang, not a timing check.
func bound(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// FuzzBatcherValidate: whatever shape a Client returns, Predict does not
// panic, and either fails with ErrBadOutput or returns one finite row of the
// same width per input row.
func FuzzBatcherValidate(f *testing.F) {
	f.Add(10, 3, 10, 2, -1, -1)
	f.Add(10, 3, 9, 2, -1, -1)
	f.Add(10, 3, 10, 2, 4, -1)
	f.Add(10, 3, 10, 2, -1, 7)
	f.Add(10, 3, 10, 0, -1, -1)
	f.Add(0, 3, 5, 2, -1, -1)
	f.Fuzz(func(t *testing.T, n, maxBatch, returned, width, raggedAt, nanAt int) {
		n, maxBatch = max(0, min(n, 200)), max(1, min(maxBatch, 50))
		c := funcClient(func(_ context.Context, rows [][]float64) ([][]float64, error) {
			m := len(rows) + returned - maxBatch // more, fewer or as many rows
			m = max(0, min(m, 100))
			out := make([][]float64, m)
			for i := range out {
				w := max(0, min(width, 10))
				if i == raggedAt {
					w++
				}
				out[i] = make([]float64, w)
				if i == nanAt && w > 0 {
					out[i][0] = math.NaN()
				}
			}
			return out, nil
		})
		got, err := predictor.NewBatcher(c, predictor.WithMaxBatchSize(maxBatch)).Predict(context.Background(), table(n, 2))
		if err != nil {
			if !errors.Is(err, predictor.ErrBadOutput) {
				t.Fatal(err)
			}
			return
		}
		if len(got) != n {
			t.Fatalf("%d rows for %d", len(got), n)
		}
		for _, r := range got {
			if len(r) != len(got[0]) || len(r) == 0 {
				t.Fatal("ragged or empty rows")
			}
			for _, v := range r {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					t.Fatal("non-finite score")
				}
			}
		}
	})
}

// No goroutine started by Predict outlives it, whether it ends by success,
// failure or the context.
func TestBatcherNoGoroutineOutlivesPredict(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	hang := funcClient(func(ctx context.Context, rows [][]float64) ([][]float64, error) {
		if rows[0][0] == 0 {
			return firstAndSum(rows), nil
		}
		<-ctx.Done()
		return nil, ctx.Err()
	})
	fail := funcClient(func(_ context.Context, rows [][]float64) ([][]float64, error) {
		if rows[0][0] == 64 {
			return nil, errors.New("predictor: boom")
		}
		return firstAndSum(rows), nil
	})
	for name, c := range map[string]funcClient{"hang": hang, "fail": fail} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		_, err := predictor.NewBatcher(c, predictor.WithInFlight(8)).Predict(ctx, table(64*20, 2))
		cancel()
		if err == nil {
			t.Errorf("%s: no error", name)
		}
		goleak.VerifyNone(t, ignore)
	}
}
