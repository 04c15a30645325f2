package explain

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// wideText returns a text of words distinct words.
func wideText(words int) string {
	w := make([]string, words)
	for i := range w {
		w[i] = fmt.Sprintf("w%05d", i)
	}
	return strings.Join(w, " ")
}

// TestLIMETextWideCancel (issue 14, item 2): LIMEText on 10,000 distinct
// words (MaxTextTokens) and 2,000 samples, both within the limits, used to
// spend minutes (13 on this project's machines) building and factorising a
// 10,000×10,000 Gram matrix without looking at its ctx. A model that
// cancels the ctx once it has answered must get context.Canceled back
// from the fit, not a result minutes later.
func TestLIMETextWideCancel(t *testing.T) {
	if testing.Short() {
		t.Skip("renders 2,000 texts of 10,000 words")
	}
	text := wideText(MaxTextTokens)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := textModelFunc(func(_ context.Context, texts []string) ([][]float64, error) {
		out := make([][]float64, len(texts))
		for i, s := range texts {
			p := float64(len(s)) / float64(len(text))
			out[i] = []float64{1 - p, p}
		}
		cancel() // the answer is in; the fit must notice
		return out, nil
	})
	_, _, err := LIMEText(ctx, m, LIMETextRequest{Text: text, NumSamples: 2000, Labels: []int{1}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}
