package predictor

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
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
// code for logs and metrics (see ServerCode) and, where the model server
// speaks for itself (a rejection, an exception in the model, a refusal of
// the credentials), its message: the gRPC status message or the HTTP
// error body, sanitized and cut short (see sanitizeMessage and
// serverMessage), and dropped when it quotes one of the texts sent (see
// withheld). Messages of the channel (UNAVAILABLE, deadlines, size
// limits) are not kept.
type callError struct {
	op     string     // the RPC, e.g. "ModelInfer"
	code   codes.Code // the model server's code (for HTTP, its equivalent)
	kind   error      // one of the sentinels
	why    string     // optional fixed detail, never from the server
	status int        // the HTTP status, 0 for gRPC
	msg    string     // the model server's message, sanitized
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

// translate turns the error of the model call op for model ("" for a
// server's only model), made under ctx, into one of the package's errors.
// It is the one place where gRPC codes become errors. A NOT_FOUND names the
// model; the model server's own message follows, where it lists the models
// it has.
func translate(ctx context.Context, op, model string, err error) error {
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
		// gRPC's C core (Python servers, Triton) says "Received message
		// larger than max" when the request is over its limit; grpc-go
		// says "grpc: received message larger than max" on either side,
		// so that one may be the request or the answer.
		msg := st.Message()
		switch {
		case strings.Contains(msg, "trying to send message larger than max"):
			ce.kind, ce.why = ErrRejected, "request over the message size limit"
		case strings.Contains(msg, "Received message larger than max"):
			ce.kind, ce.why = ErrRejected, "request over the model server's message size limit (lower --max-batch-bytes, or raise the server's limit)"
		case strings.Contains(msg, "larger than max"):
			ce.kind, ce.why = ErrBadOutput, "message over the size limit (the request over the model server's: lower --max-batch-bytes; or its answer over the sidecar's)"
		default:
			ce.kind, ce.why = ErrUnavailable, "overloaded"
		}
	case codes.NotFound:
		ce.kind, ce.msg = ErrRejected, sanitizeMessage(st.Message())
		if model != "" {
			ce.why = fmt.Sprintf("model %q not found", model)
		}
	case codes.InvalidArgument, codes.Unimplemented,
		codes.FailedPrecondition, codes.OutOfRange, codes.AlreadyExists:
		ce.kind, ce.msg = ErrRejected, sanitizeMessage(st.Message())
	case codes.Unauthenticated, codes.PermissionDenied:
		ce.kind, ce.msg = ErrAuth, sanitizeMessage(st.Message())
	default: // Unknown, Internal, DataLoss, and codes from the future
		ce.kind, ce.msg = ErrFailed, sanitizeMessage(st.Message())
	}
	return ce
}

// withheldMessage replaces a model server's message that quotes what the
// sidecar sent.
const withheldMessage = "(withheld: it quotes the input)"

// withheld returns err with the model server's message replaced by
// withheldMessage when the message quotes one of texts (a Python model's
// exception often repeats its input): payloads never reach an error. A
// message cut short (ending in "…") is withheld too when it ends in the
// start of a text. Texts shorter than 4 bytes are too common to tell.
func withheld(err error, texts []string) error {
	var ce *callError
	if !errors.As(err, &ce) || ce.msg == "" {
		return err
	}
	cut, isCut := strings.CutSuffix(ce.msg, "…")
	for _, t := range texts {
		t = strings.TrimSuffix(sanitizeMessage(t), "…")
		if len(t) < 4 {
			continue
		}
		if strings.Contains(ce.msg, t) {
			ce.msg = withheldMessage
			return err
		}
		for n := 4; isCut && n <= len(t); n++ {
			if strings.HasSuffix(cut, t[:n]) {
				ce.msg = withheldMessage
				return err
			}
		}
	}
	return err
}

// numberRE matches a number as Python, numpy and Go print one.
var numberRE = regexp.MustCompile(`[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?`)

// withheldRows is withheld for rows: the model server's message is replaced
// by withheldMessage when it quotes a value of rows (within a relative
// 1e-5, as numpy and pandas print fewer digits; integers below 10, which
// counts and indices share, do not count) or holds 4 or more numbers with
// a fraction (an array printed).
func withheldRows(err error, rows [][]float64) error {
	var ce *callError
	if !errors.As(err, &ce) || ce.msg == "" {
		return err
	}
	fractions := 0
	for _, tok := range numberRE.FindAllString(ce.msg, -1) {
		v, perr := strconv.ParseFloat(tok, 64)
		if perr != nil || math.IsInf(v, 0) {
			continue
		}
		if strings.ContainsAny(tok, ".eE") {
			fractions++
		}
		small := v == math.Trunc(v) && math.Abs(v) < 10
		if fractions >= 4 || (!small && quotes(rows, v)) {
			ce.msg = withheldMessage
			return err
		}
	}
	return err
}

// quotes reports whether v is one of the values of rows, within a relative
// 1e-5.
func quotes(rows [][]float64, v float64) bool {
	for _, r := range rows {
		for _, x := range r {
			if math.Abs(x-v) <= 1e-5*math.Abs(x) {
				return true
			}
		}
	}
	return false
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
