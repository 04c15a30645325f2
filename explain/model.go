package explain

import (
	"context"
	"fmt"
)

// Model scores instances. Implementations send the rows to a model server
// (package predictor), in as many batches as they like.
type Model interface {
	// Predict returns one row of class scores per input row, in order.
	Predict(ctx context.Context, rows [][]float64) ([][]float64, error)
}

// RequestError reports a request the estimator cannot run as given. The
// message names the field and the limit, never a data value.
type RequestError struct {
	Field  string
	Reason string
	// Precondition reports a request that is valid, but that the model's
	// answer makes fail (its classes, its outputs, a non-finite fit):
	// FAILED_PRECONDITION rather than INVALID_ARGUMENT.
	Precondition bool
}

func (e *RequestError) Error() string { return "explain: " + e.Field + ": " + e.Reason }

func invalid(field, format string, args ...any) error {
	return &RequestError{Field: field, Reason: fmt.Sprintf(format, args...)}
}
