package predictor

import (
	"context"
	"math"
	"unicode/utf8"

	"google.golang.org/grpc"

	predictv1 "github.com/explainer-sidecar/explainer/proto/predict/v1"
)

// PredictV1 is a Client for the predict.v1 PredictService. It is safe for
// concurrent use.
type PredictV1 struct {
	c     predictv1.PredictServiceClient
	model string
}

// NewPredictV1 returns a client of the predict.v1 service on cc for the named
// model ("" when the server hosts one model).
func NewPredictV1(cc grpc.ClientConnInterface, model string) *PredictV1 {
	return &PredictV1{c: predictv1.NewPredictServiceClient(cc), model: model}
}

// Score sends rows in one Predict call. See Client.
func (p *PredictV1) Score(ctx context.Context, rows [][]float64) ([][]float64, error) {
	return p.score(ctx, rows, nil)
}

// ScoreShaped sends rows in one Predict call with instance_shape set to
// shape (num_features is its product). See ShapedClient.
func (p *PredictV1) ScoreShaped(ctx context.Context, rows [][]float64, shape []int) ([][]float64, error) {
	width, err := checkRows(rows)
	if err != nil {
		return nil, err
	}
	if err := checkShape(shape, width); err != nil {
		return nil, err
	}
	return p.score(ctx, rows, shape)
}

func (p *PredictV1) score(ctx context.Context, rows [][]float64, shape []int) ([][]float64, error) {
	width, err := checkRows(rows)
	if err != nil {
		return nil, err
	}
	if uint64(len(rows)) > math.MaxUint32 || uint64(width) > math.MaxUint32 {
		return nil, invalidInput("batch of %d rows of %d values is too large", len(rows), width)
	}
	values := make([]float64, 0, len(rows)*width)
	for _, r := range rows {
		values = append(values, r...)
	}
	resp, err := p.c.Predict(ctx, &predictv1.PredictRequest{
		Model:         p.model,
		NumInstances:  uint32(len(rows)),
		NumFeatures:   uint32(width),
		Values:        values,
		InstanceShape: instanceShape(shape),
	})
	if err != nil {
		return nil, withheldRows(translate(ctx, "Predict", p.model, err), rows)
	}
	return decodePredict(resp)
}

// instanceShape converts a validated shape for the wire; nil stays nil.
func instanceShape(shape []int) []uint32 {
	if len(shape) == 0 {
		return nil
	}
	out := make([]uint32, len(shape))
	for i, d := range shape {
		out[i] = uint32(d)
	}
	return out
}

// ScoreText sends texts in one Predict call, in the texts field, with
// num_features 0. A text that is not valid UTF-8 (which a proto string cannot
// carry) fails the batch with ErrInvalidInput before anything is sent. See
// TextClient.
func (p *PredictV1) ScoreText(ctx context.Context, texts []string) ([][]float64, error) {
	if err := checkTexts(texts); err != nil {
		return nil, err
	}
	for i, s := range texts {
		if !utf8.ValidString(s) {
			return nil, invalidInput("text %d of the batch is not valid UTF-8", i)
		}
	}
	resp, err := p.c.Predict(ctx, &predictv1.PredictRequest{
		Model:        p.model,
		NumInstances: uint32(len(texts)),
		Texts:        texts,
	})
	if err != nil {
		return nil, withheld(translate(ctx, "Predict", p.model, err), texts)
	}
	return decodePredict(resp)
}

// decodePredict cuts a PredictResponse into rows.
func decodePredict(resp *predictv1.PredictResponse) ([][]float64, error) {
	scores, classes := resp.GetScores(), int(resp.GetNumClasses())
	switch {
	case classes == 0 && len(scores) == 0:
		return [][]float64{}, nil // no rows; the Batcher reports the count
	case classes == 0:
		return nil, badOutput("%d scores with num_classes 0", len(scores))
	case len(scores)%classes != 0:
		return nil, badOutput("%d scores, not a whole number of rows of %d classes", len(scores), classes)
	}
	return reshape(scores, classes), nil
}

// Describe calls Describe. A max_batch_size of 0 means no row cap
// (BatchNoLimit), as predict.proto says. See Client.
func (p *PredictV1) Describe(ctx context.Context) (ModelInfo, error) {
	resp, err := p.c.Describe(ctx, &predictv1.DescribeRequest{Model: p.model})
	if err != nil {
		return ModelInfo{}, translate(ctx, "Describe", p.model, err)
	}
	info := ModelInfo{
		Name:         p.model,
		NumFeatures:  int(resp.GetNumFeatures()),
		ClassNames:   resp.GetClassNames(),
		NumClasses:   len(resp.GetClassNames()),
		MaxBatchSize: int(resp.GetMaxBatchSize()),
		BatchRule:    BatchMaxBatchSize,
	}
	if info.MaxBatchSize == 0 { // predict.proto: 0 means no limit
		info.BatchRule = BatchNoLimit
	}
	switch resp.GetInputKind() {
	case predictv1.InputKind_INPUT_KIND_TABULAR:
		info.InputKind = InputTabular
	case predictv1.InputKind_INPUT_KIND_TEXT:
		info.InputKind = InputText
	case predictv1.InputKind_INPUT_KIND_IMAGE:
		info.InputKind = InputImage
	}
	return info, nil
}

// Ready reports whether Describe succeeds: predict.v1 has no readiness RPC.
func (p *PredictV1) Ready(ctx context.Context) error {
	_, err := p.Describe(ctx)
	return err
}
