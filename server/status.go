package server

import (
	"context"
	"errors"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/explainer-sidecar/explainer/explain"
	"github.com/explainer-sidecar/explainer/internal/group"
	"github.com/explainer-sidecar/explainer/predictor"
)

// errShuttingDown ends jobs still running when the server stops.
var errShuttingDown = status.Error(codes.Unavailable, "server shutting down")

// toStatus is the one place errors become gRPC statuses. Messages from
// the model server are translated, never forwarded; unexpected errors are
// logged and reach the client as a bare "internal error".
func toStatus(log *slog.Logger, err error) *status.Status {
	if err == nil {
		return nil
	}
	if s, ok := status.FromError(err); ok {
		return s // already a status built by this package
	}
	if code, ok := predictor.ServerCode(err); ok {
		// The model server's code and its own message (sanitized by the
		// predictor package), which the client may not see in full (a
		// refusal of the credentials).
		log.Warn("model call failed", "model_code", code.String(), "error", err.Error())
	}
	var reqErr *explain.RequestError
	var panicErr *group.PanicError
	switch {
	case errors.As(err, &panicErr):
		// A bug, not the client's doing: the stack goes to the log only.
		log.Error("panic recovered in job", "panic", panicErr.Error(), "stack", string(panicErr.Stack))
		return status.New(codes.Internal, "internal error")
	case errors.As(err, &reqErr) && reqErr.Precondition:
		return status.New(codes.FailedPrecondition, reqErr.Error())
	case errors.As(err, &reqErr):
		return status.New(codes.InvalidArgument, reqErr.Error())
	case errors.Is(err, context.Canceled):
		return status.New(codes.Canceled, "job cancelled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.New(codes.DeadlineExceeded, "job deadline exceeded before the model server answered")
	case errors.Is(err, predictor.ErrUnavailable):
		return status.New(codes.Unavailable, err.Error())
	case errors.Is(err, predictor.ErrAuth):
		return status.New(codes.FailedPrecondition, "model server refused the sidecar's credentials")
	case errors.Is(err, predictor.ErrRejected):
		return status.New(codes.FailedPrecondition, err.Error())
	case errors.Is(err, predictor.ErrFailed):
		// An exception in the model server on this input: retrying the same
		// request is unlikely to help.
		return status.New(codes.FailedPrecondition, err.Error())
	case errors.Is(err, predictor.ErrInvalidInput):
		return status.New(codes.InvalidArgument, err.Error())
	case errors.Is(err, predictor.ErrBadOutput):
		return status.New(codes.Internal, err.Error())
	}
	log.Error("job failed", "error", err)
	return status.New(codes.Internal, "internal error")
}

func invalidArgument(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

// requestError is the one place explain's request errors become statuses:
// INVALID_ARGUMENT "<method>.<field>: <reason>", or FAILED_PRECONDITION
// when the request is valid but the model's answer makes it fail. Other
// errors pass through.
func requestError(method string, err error) error {
	var re *explain.RequestError
	if !errors.As(err, &re) {
		return err
	}
	code := codes.InvalidArgument
	if re.Precondition {
		code = codes.FailedPrecondition
	}
	return status.Errorf(code, "%s.%s: %s", method, re.Field, re.Reason)
}
