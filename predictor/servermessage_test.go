package predictor_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/explainer-sidecar/explainer/predictor"
	"github.com/explainer-sidecar/explainer/predictor/predictortest"
)

// A model the server does not have is named, with the models the server
// lists (KServe v2: RepositoryIndex, which Triton implements), and the
// server's message, which lists them where it can (predict.v1), follows.
func TestModelNotFoundNamesTheModel(t *testing.T) {
	pf := predictortest.NewPredictServer(firstAndSum)
	pf.Name = "sentiment"
	kf := predictortest.NewKServeServer(firstAndSum)
	kf.Name, kf.OtherModels = "sentiment", []string{"digits_cnn"}
	kserve := predictortest.NewKServeServer(firstAndSum) // no RepositoryIndex
	kserve.Name, kserve.NoRepositoryIndex = "sentiment", true
	ctx := context.Background()
	rows := table(2, 3)
	for _, tc := range []struct {
		name string
		call func() error
		want string
	}{
		{"predict.v1 Predict", func() error {
			_, err := predictor.NewPredictV1(serve(t, pf).Conn, "sentimnet").Score(ctx, rows)
			return err
		}, `predictor: Predict: model server rejected the request: model "sentimnet" not found: ` +
			`model server says: unknown model 'sentimnet'; this server hosts ['sentiment'] (NotFound)`},
		{"predict.v1 Describe", func() error {
			_, err := predictor.NewPredictV1(serve(t, pf).Conn, "sentimnet").Describe(ctx)
			return err
		}, `predictor: Describe: model server rejected the request: model "sentimnet" not found: ` +
			`model server says: unknown model 'sentimnet'; this server hosts ['sentiment'] (NotFound)`},
		{"KServe v2 Score", func() error {
			_, err := predictor.NewKServeV2(serve(t, kf).Conn, "sentimnet").Score(ctx, rows)
			return err
		}, `predictor: ModelMetadata: model server rejected the request: model "sentimnet" not found; ` +
			`the model server has "sentiment", "digits_cnn": model server says: Request for unknown model: 'sentimnet' is not found (NotFound)`},
		{"KServe v2 Ready", func() error {
			return predictor.NewKServeV2(serve(t, kf).Conn, "sentimnet").Ready(ctx)
		}, `predictor: ModelReady: model server rejected the request: model "sentimnet" not found; ` +
			`the model server has "sentiment", "digits_cnn": model server says: Request for unknown model: 'sentimnet' is not found (NotFound)`},
		{"KServe v2 without RepositoryIndex", func() error {
			_, err := predictor.NewKServeV2(serve(t, kserve).Conn, "sentimnet").Describe(ctx)
			return err
		}, `predictor: ModelMetadata: model server rejected the request: model "sentimnet" not found: ` +
			`model server says: Request for unknown model: 'sentimnet' is not found (NotFound)`},
	} {
		err := tc.call()
		if !errors.Is(err, predictor.ErrRejected) {
			t.Errorf("%s: %v, want ErrRejected", tc.name, err)
			continue
		}
		if err.Error() != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, err, tc.want)
		}
		if code, ok := predictor.ServerCode(err); !ok || code != codes.NotFound {
			t.Errorf("%s: ServerCode = %v, %v; want NotFound", tc.name, code, ok)
		}
	}
}

// The model server's own gRPC message reaches the error, sanitized and
// cut, for the codes where the server speaks for itself; the channel's
// messages do not.
func TestServerMessageInError(t *testing.T) {
	long := "this model takes tabular rows, not texts\x1b[31m\n\t" + strings.Repeat("x", 300)
	for _, tc := range []struct {
		code codes.Code
		msg  string
		want string // "" when the message must not appear
	}{
		{codes.InvalidArgument, "this model takes tabular rows, not texts", "model server says: this model takes tabular rows, not texts (InvalidArgument)"},
		{codes.Unknown, "Exception calling application: division by zero", "model server failed: model server says: Exception calling application: division by zero (Unknown)"},
		{codes.FailedPrecondition, "model\u202e not loaded\x00", "model server says: model not loaded (FailedPrecondition)"},
		{codes.Internal, long, "model server says: this model takes tabular rows, not texts [31m " + strings.Repeat("x", 200-len("this model takes tabular rows, not texts [31m ")) + "… (Internal)"},
		{codes.Unavailable, "connection error: desc = dial tcp 10.1.2.3:8081", ""},
		{codes.ResourceExhausted, "queue full at 10.1.2.3", ""},
	} {
		for _, proto := range []string{"predict.v1", "KServe v2"} {
			fault := func(int, [][]float64) ([][]float64, error) { return nil, status.Error(tc.code, tc.msg) }
			var c predictor.Client
			if proto == "predict.v1" {
				f := predictortest.NewPredictServer(firstAndSum)
				f.Fault = fault
				c = predictor.NewPredictV1(serve(t, f).Conn, "")
			} else {
				f := predictortest.NewKServeServer(firstAndSum)
				f.Fault = fault
				c = predictor.NewKServeV2(serve(t, f).Conn, "model")
			}
			_, err := c.Score(context.Background(), table(2, 3))
			if err == nil {
				t.Fatalf("%s %v: no error", proto, tc.code)
			}
			switch {
			case tc.want == "" && strings.Contains(err.Error(), "model server says"):
				t.Errorf("%s %v: %v; want no message of the channel", proto, tc.code, err)
			case tc.want != "" && !strings.HasSuffix(err.Error(), tc.want):
				t.Errorf("%s %v:\n got %v\nwant …%s", proto, tc.code, err, tc.want)
			}
		}
	}
}

// A message that quotes a text sent is withheld: payloads never reach an
// error.
func TestServerMessageQuotingTextWithheld(t *testing.T) {
	texts := []string{"the food was awful", "ok"}
	for _, tc := range []struct{ msg, want string }{
		{"could not parse 'the food was awful'", "model server says: (withheld: it quotes the input) (InvalidArgument)"},
		{strings.Repeat("y ", 95) + "'the food was awful'", "model server says: (withheld: it quotes the input) (InvalidArgument)"},
		{"this model takes tabular rows, not texts; ok?", "model server says: this model takes tabular rows, not texts; ok? (InvalidArgument)"},
	} {
		fault := func(int, [][]float64) ([][]float64, error) { return nil, status.Error(codes.InvalidArgument, tc.msg) }
		pf := predictortest.NewPredictServer(firstAndSum)
		pf.TextScore, pf.Fault = lenAndHash, fault
		kf := predictortest.NewKServeServer(firstAndSum)
		kf.TextScore, kf.Fault = lenAndHash, fault
		for name, c := range map[string]predictor.TextClient{
			"predict.v1": predictor.NewPredictV1(serve(t, pf).Conn, ""),
			"KServe v2":  predictor.NewKServeV2(serve(t, kf).Conn, "model"),
		} {
			_, err := c.ScoreText(context.Background(), texts)
			if err == nil || !strings.HasSuffix(err.Error(), tc.want) {
				t.Errorf("%s %q:\n got %v\nwant …%s", name, tc.msg, err, tc.want)
			}
		}
	}
}

// A message that quotes a value of the rows sent, or prints an array, is
// withheld; one that only counts is kept.
func TestServerMessageQuotingRowsWithheld(t *testing.T) {
	rows := [][]float64{{0.123456789, 45000, 3}, {1.5, -2.75e-7, 0}}
	const withheld = "model server says: (withheld: it quotes the input) (InvalidArgument)"
	for _, tc := range []struct{ msg, want string }{
		{"feature 0 = 0.123457 is out of range", withheld},
		{"income 45000 above the cap", withheld},
		{"bad value -2.75e-07", withheld},
		{"X = [[0.1 0.2 0.3 0.4]]", withheld},
		{"expected 4 features, got 3", "model server says: expected 4 features, got 3 (InvalidArgument)"},
		{"inference request batch-size must be <= 128", "model server says: inference request batch-size must be <= 128 (InvalidArgument)"},
	} {
		fault := func(int, [][]float64) ([][]float64, error) { return nil, status.Error(codes.InvalidArgument, tc.msg) }
		pf := predictortest.NewPredictServer(firstAndSum)
		pf.Fault = fault
		kf := predictortest.NewKServeServer(firstAndSum)
		kf.Fault, kf.InputDatatype = fault, predictor.FP64
		for name, c := range map[string]predictor.Client{
			"predict.v1": predictor.NewPredictV1(serve(t, pf).Conn, ""),
			"KServe v2":  predictor.NewKServeV2(serve(t, kf).Conn, "model"),
		} {
			_, err := c.Score(context.Background(), rows)
			if err == nil || !strings.HasSuffix(err.Error(), tc.want) {
				t.Errorf("%s %q:\n got %v\nwant …%s", name, tc.msg, err, tc.want)
			}
		}
	}
}
