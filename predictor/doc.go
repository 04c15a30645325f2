// Package predictor scores rows on a user's model server over gRPC or
// HTTP: the implementations of the explain.Model interface.
//
// A Client (PredictV1 for the project's predict.v1 service, KServeV2 for
// KServe v2 and Triton) sends one batch per call. A Batcher turns a Client
// into a Model: it splits the rows of a Predict call into batches of at most
// the model's max batch size and at most a payload size, keeps several
// batches in flight, validates every answer (row count, class count, finite
// scores) and returns the rows in order. Its PredictText does the same for
// text models (the explain.TextModel interface) over a TextClient: predict.v1
// sends the texts field, KServe v2 a BYTES tensor of shape [N, 1] or [N].
// Dial opens a channel with the
// sidecar's defaults: round_robin, retries of UNAVAILABLE only, message size
// limits, keepalive.
//
// Model servers over HTTP have two more Clients, both TextClients and
// ShapedClients, with the same Batcher on top: KServeV1HTTP for KServe's v1
// protocol (POST /v1/models/{model}:predict, {"instances": [...]}) and
// KServeV2HTTP for the Open Inference Protocol's REST API (POST
// /v2/models/{model}/infer, JSON tensors, and the binary tensor data
// extension). They keep connections alive in a pool, retry as the gRPC
// channel does (502, 503, 504 and failed connections, at most 5 attempts,
// waits of about 0.1 s doubling to 1 s; never a 4xx, never past the
// caller's deadline), bound the size of a reply, and translate statuses into
// the same errors:
//
//	c, err := predictor.NewKServeV1HTTP("http://sklearn-iris-predictor.models", "sklearn-iris")
//	...
//	model := predictor.NewBatcher(c)
//
//	cc, err := predictor.Dial("dns:///model:8001")
//	...
//	c := predictor.NewKServeV2(cc, "iris")
//	info, err := c.Describe(ctx)
//	...
//	rows := info.MaxBatchSize // 0 keeps the Batcher's default, 64
//	if info.BatchRule.Uncapped() {
//		rows = predictor.NoRowCap // only the payload size splits
//	}
//	model := predictor.NewBatcher(c, predictor.WithMaxBatchSize(rows))
//	scores, err := model.Predict(ctx, rows)
//
// # Concurrency
//
// Clients and Batchers are safe for concurrent use; a Batcher's InFlight cap
// holds across all its concurrent Predict calls. Every model call runs under
// the caller's context. When it is done, no new batch is sent, the calls in
// flight are cancelled and Predict returns the context's error, after every
// goroutine it started has ended. The observer set with WithObserver is
// called from the Batcher's goroutines, concurrently.
//
// # Errors
//
// The model server's gRPC codes and HTTP statuses are translated here, in
// one place. The model server's own message, where it speaks for itself (the
// gRPC status message of a rejection, an exception in the model or a
// refusal of the credentials; the "error" member of KServe's and Triton's
// JSON errors), is kept in the error, after "model server says: ", stripped
// of control and invisible characters and cut to 200 bytes, since it is
// often the only clue ("this model takes tabular rows, not texts"); it is
// withheld when it quotes one of the texts sent. The channel's own messages
// (UNAVAILABLE, deadlines, size limits) are not kept. A model the server
// does not have is named, with the models a KServe v2 server lists in
// RepositoryIndex (Triton): model "sentimnet" not found; the model server
// has "sentiment", followed by the server's message, which lists the
// models it has where it can (the example Python servers do). Every error wraps one of
// the sentinels below or a context error; test with errors.Is. A caller
// serving gRPC maps them, for example:
//
//	sentinel              model server outcome                          sidecar code
//	context.DeadlineExceeded  the caller's deadline hit                 DEADLINE_EXCEEDED
//	context.Canceled      the caller cancelled                          CANCELLED
//	ErrUnavailable        UNAVAILABLE after retries, connection refused,
//	                      RESOURCE_EXHAUSTED (overloaded), ABORTED,
//	                      CANCELLED by the server, not ready             UNAVAILABLE
//	ErrRejected           INVALID_ARGUMENT, NOT_FOUND, UNIMPLEMENTED,
//	                      FAILED_PRECONDITION, OUT_OF_RANGE,
//	                      ALREADY_EXISTS; unusable model metadata;
//	                      PredictText on a Client that is no TextClient  FAILED_PRECONDITION
//	ErrAuth               UNAUTHENTICATED, PERMISSION_DENIED             FAILED_PRECONDITION
//	ErrFailed             UNKNOWN (an exception in a Python model),
//	                      INTERNAL, DATA_LOSS                            UNAVAILABLE or FAILED_PRECONDITION
//	ErrBadOutput          wrong row or class count, NaN or ±Inf,
//	                      malformed tensor, reply over the size limit    INTERNAL, not retried
//	ErrInvalidInput       ragged rows, a value an INT64 input cannot hold,
//	                      a text that is not UTF-8 for predict.v1
//	                      (nothing was sent)                             INVALID_ARGUMENT
//
// Over HTTP, by status (KServeV1HTTP, KServeV2HTTP; retried: 502, 503,
// 504 and connection failures, TLS failures excepted):
//
//	ErrUnavailable        connection refused or broken, TLS failure, 502, 503,
//	                      504 (a gateway timed out), 408, 429 (overloaded)
//	ErrRejected           400, 422, 404 (names the model), 405, 501, 409,
//	                      412, 413 (request over the server's limit), a
//	                      redirect, other 4xx
//	ErrAuth               401, 403
//	ErrFailed             500 and other 5xx
//	ErrBadOutput          malformed JSON, NaN or Infinity tokens, a bare
//	                      number per instance (v1, see WithScalarPredictions),
//	                      a reply over WithHTTPMaxResponseBytes
//
// ServerCode gives each status's gRPC equivalent (404 NotFound, 503
// Unavailable, 429 ResourceExhausted, ...).
//
// A RESOURCE_EXHAUSTED that grpc-go raises for a message over the size limit
// is not overload: a reply over the limit is ErrBadOutput, a request over it
// ErrRejected. ServerCode returns the model server's code of a failed call,
// for logs and metrics only.
//
// A panic in a Client or in the observer is a bug, not a model server
// outcome, and wraps no sentinel: the Batcher recovers it on the goroutine
// it happens on (where no caller's recovery reaches) and Predict returns an
// error wrapping a *group.PanicError of this module's internal/group, with
// the message "predictor: predict: group: panic: <value>" and the stack
// kept in the error for the log; a server maps it to INTERNAL.
//
// Error messages start with "predictor: ", name the RPC and never contain
// feature values or scores.
package predictor
