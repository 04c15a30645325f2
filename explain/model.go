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
	// Precondition reports that the request is valid, but the model's
	// answer makes it fail: FAILED_PRECONDITION rather than
	// INVALID_ARGUMENT. Examples: a label beyond the classes the model
	// returned, a regression output it does not have, or scores so large
	// that the fit's weighted sums overflow.
	Precondition bool
}

func (e *RequestError) Error() string { return "explain: " + e.Field + ": " + e.Reason }

func invalid(field, format string, args ...any) error {
	return &RequestError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// precondition is invalid for a valid request that the model's answer
// makes fail (RequestError.Precondition).
func precondition(field, format string, args ...any) error {
	return &RequestError{Field: field, Reason: fmt.Sprintf(format, args...), Precondition: true}
}
