package predictor

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Sentinel errors. Every error the package returns either wraps exactly one
// of these, or wraps context.Canceled or context.DeadlineExceeded. Test with
// errors.Is. None of them carries a gRPC status: a caller that maps errors to
// codes cannot forward the model server's code by accident.
var (
	// ErrUnavailable: the model server could not be reached or is not
	// ready (UNAVAILABLE after the channel's retries, connection refused,
	// ABORTED, CANCELLED by the server) or is overloaded (RESOURCE_EXHAUSTED).
	ErrUnavailable = errors.New("model server unavailable")
	// ErrRejected: the model server rejected the request, which means the
	// model or its configuration does not match what the sidecar sends
	// (INVALID_ARGUMENT, NOT_FOUND, UNIMPLEMENTED, FAILED_PRECONDITION,
	// OUT_OF_RANGE, ALREADY_EXISTS), or the model's metadata describes
	// tensors the sidecar cannot use.
	ErrRejected = errors.New("model server rejected the request")
	// ErrAuth: the model server refused the sidecar's own credentials
	// (UNAUTHENTICATED, PERMISSION_DENIED).
	ErrAuth = errors.New("model server refused the sidecar's credentials")
	// ErrFailed: the model server failed while handling the request
	// (UNKNOWN, which Python servers return for an exception in the model,
	// INTERNAL, DATA_LOSS).
	ErrFailed = errors.New("model server failed")
	// ErrBadOutput: the model server answered, but the answer is unusable:
	// wrong row count, wrong or inconsistent class count, NaN or ±Inf, a
	// tensor whose shape and contents disagree, a reply over the size limit.
	// Not worth retrying.
	ErrBadOutput = errors.New("model server returned bad output")
	// ErrInvalidInput: the rows given to Predict or Score, or the texts given
	// to PredictText or ScoreText, cannot be sent: rows of different
	// lengths, values an INT64 input cannot hold, a text that is not valid
	// UTF-8 for predict.v1. Nothing was sent in the failing batch.
	ErrInvalidInput = errors.New("invalid input rows")
)

// callError is a failed model call, translated. It keeps the model server's
// code for logs and metrics (see ServerCode). It keeps no gRPC message,
// which may echo the payload; an HTTP model server's message is kept
// sanitized and cut short (see serverMessage).
type callError struct {
	op     string     // the RPC, e.g. "ModelInfer"
	code   codes.Code // the model server's code (for HTTP, its equivalent)
	kind   error      // one of the sentinels
	why    string     // optional fixed detail, never from the server
	status int        // the HTTP status, 0 for gRPC
	msg    string     // the HTTP model server's message, sanitized
}

func (e *callError) Error() string {
	var b strings.Builder
	b.WriteString("predictor: ")
	b.WriteString(e.op)
	b.WriteString(": ")
	b.WriteString(e.kind.Error())
	if e.why != "" {
		b.WriteString(": ")
		b.WriteString(e.why)
	}
	if e.msg != "" {
		b.WriteString(": model server says: ")
		b.WriteString(e.msg)
	}
	b.WriteString(" (")
	if e.status != 0 {
		b.WriteString("HTTP ")
		b.WriteString(strconv.Itoa(e.status))
	} else {
		b.WriteString(e.code.String())
	}
	b.WriteString(")")
	return b.String()
}

func (e *callError) Unwrap() error { return e.kind }

// ServerCode returns the gRPC code the model server (or the channel) returned
// for a failed call, for logs and metrics; for an HTTP model server, the
// code its status stands for (see KServeV2HTTP: 404 NotFound, 503
// Unavailable, ...), and Unavailable when no reply came. ok is false when
// err does not come from a failed call (a validation error, a context
// error).
//
// Do not forward this code to the sidecar's own clients: map the sentinel
// errors instead.
func ServerCode(err error) (code codes.Code, ok bool) {
	var ce *callError
	if errors.As(err, &ce) {
		return ce.code, true
	}
	return codes.OK, false
}

// translate turns the error of the model call op, made under ctx, into one of
// the package's errors. It is the one place where gRPC codes become errors.
func translate(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("predictor: %s: %w", op, cerr)
	}
	st, _ := status.FromError(err) // not a status: codes.Unknown
	ce := &callError{op: op, code: st.Code()}
	switch st.Code() {
	case codes.Unavailable, codes.Aborted:
		ce.kind = ErrUnavailable
	case codes.Canceled:
		// Our context is live, so the server (or a proxy) cancelled.
		ce.kind = ErrUnavailable
	case codes.DeadlineExceeded:
		// Our context is not done yet. With a deadline of ours, the server
		// saw it expire a moment early (clock skew, the timeout rounded):
		// report it as our deadline. Without one, the server timed out on
		// its own.
		if _, ok := ctx.Deadline(); ok {
			return fmt.Errorf("predictor: %s: %w", op, context.DeadlineExceeded)
		}
		ce.kind, ce.why = ErrUnavailable, "timed out"
	case codes.ResourceExhausted:
		// grpc-go reports a message over the size limit with this code too,
		// on either side; those are not overload and retrying cannot help.
		msg := st.Message()
		switch {
		case strings.Contains(msg, "trying to send message larger than max"):
			ce.kind, ce.why = ErrRejected, "request over the message size limit"
		case strings.Contains(msg, "larger than max"):
			ce.kind, ce.why = ErrBadOutput, "message over the size limit"
		default:
			ce.kind, ce.why = ErrUnavailable, "overloaded"
		}
	case codes.InvalidArgument, codes.NotFound, codes.Unimplemented,
		codes.FailedPrecondition, codes.OutOfRange, codes.AlreadyExists:
		ce.kind = ErrRejected
	case codes.Unauthenticated, codes.PermissionDenied:
		ce.kind = ErrAuth
	default: // Unknown, Internal, DataLoss, and codes from the future
		ce.kind = ErrFailed
	}
	return ce
}

// badOutput returns an ErrBadOutput with a detail that must not contain
// payload values.
func badOutput(format string, args ...any) error {
	return fmt.Errorf("predictor: %w: "+format, append([]any{ErrBadOutput}, args...)...)
}

// invalidInput returns an ErrInvalidInput with a detail that must not contain
// payload values.
func invalidInput(format string, args ...any) error {
	return fmt.Errorf("predictor: %w: "+format, append([]any{ErrInvalidInput}, args...)...)
}

// checkRows checks that rows is rectangular and returns its width.
func checkRows(rows [][]float64) (width int, err error) {
	if len(rows) == 0 {
		return 0, nil
	}
	width = len(rows[0])
	for i, r := range rows {
		if len(r) != width {
			return 0, invalidInput("row %d has %d values, row 0 has %d", i, len(r), width)
		}
	}
	return width, nil
}
