package e2e

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// TestGRPCErrors: over gRPC too, an unknown model reaches the client as
// FAILED_PRECONDITION naming it, with the model server's own message, which
// lists the models it hosts; a text sent to the image model is refused
// (by the sidecar, from the model's metadata) without quoting the text.
func TestGRPCErrors(t *testing.T) {
	t.Parallel()
	c := kserveStack(t).sidecar.client
	text := &explainerv1.Instance{Kind: &explainerv1.Instance_Text{Text: &explainerv1.TextInstance{Text: "good food"}}}
	method := &explainerv1.ExplainRequest_LimeText{LimeText: &explainerv1.LimeTextOptions{NumSamples: 50}}
	_, err := c.Explain(ctxTimeout(t), &explainerv1.ExplainRequest{Model: "sentimnet", Instance: text, Method: method})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), `model "sentimnet" not found`) ||
		!strings.Contains(err.Error(), "model server says: unknown model 'sentimnet'; this server hosts") {
		t.Errorf("unknown model: %v, want FAILED_PRECONDITION naming the model and the server's models", err)
	}
	_, err = c.Explain(ctxTimeout(t), &explainerv1.ExplainRequest{Model: "digits_cnn", Instance: text, Method: method})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "model server rejected the request") {
		t.Errorf("text to the image model: %v, want FAILED_PRECONDITION", err)
	}
	if strings.Contains(err.Error(), "good food") {
		t.Errorf("the error quotes the text sent: %v", err)
	}
}
