package predictor

import (
	"context"
	"math"
)

// Input kinds reported in ModelInfo.InputKind.
const (
	InputTabular = "tabular"
	InputText    = "text"
	InputImage   = "image"
)

// ModelInfo describes a model as its server reports it. Zero values mean the
// server did not say.
type ModelInfo struct {
	// Name is the model's name as the client was given it.
	Name string
	// NumFeatures is the number of values per row; 0 when not fixed.
	NumFeatures int
	// ClassNames names the output columns in order; nil when the server has
	// no names (KServe v2).
	ClassNames []string
	// NumClasses is the number of output columns: len(ClassNames) when names
	// are known, else from the output tensor's shape; 0 when unknown.
	NumClasses int
	// MaxBatchSize is the most rows the model accepts in one call; 0 when
	// unknown or unlimited (BatchRule says which).
	MaxBatchSize int
	// BatchRule is how Describe found MaxBatchSize: the zero value,
	// BatchUnknown, when the server said nothing about it.
	BatchRule BatchRule
	// InputKind is what one instance is: InputTabular, InputText,
	// InputImage, or "" when unknown.
	InputKind string
}

// BatchRule says how a model's batch limit was found. The rules, in the
// order Describe applies them:
//
//	BatchMaxBatchSize   max_batch_size > 0 (KServe's ModelConfig, predict.v1's Describe): the cap
//	BatchFixedDim       KServe: the input's first dimension in ModelMetadata is fixed: the cap
//	BatchVariableDim    KServe: ModelConfig's max_batch_size is 0 and the first dimension −1: no cap
//	BatchNoLimit        predict.v1: Describe's max_batch_size is 0: no cap
//	BatchUnknown        nothing said (KServe without ModelConfig, first dimension −1 or absent)
//
// A Triton model with max_batch_size 0 lists its batch dimension in its
// input's dims, so the first dimension is then the batch: −1 takes any
// number of rows.
type BatchRule int

// The batch rules; see BatchRule.
const (
	BatchUnknown BatchRule = iota
	BatchMaxBatchSize
	BatchFixedDim
	BatchVariableDim
	BatchNoLimit
)

// String names the rule for logs.
func (r BatchRule) String() string {
	switch r {
	case BatchMaxBatchSize:
		return "max_batch_size"
	case BatchFixedDim:
		return "fixed first input dimension"
	case BatchVariableDim:
		return "max_batch_size 0, variable first input dimension"
	case BatchNoLimit:
		return "max_batch_size 0"
	default:
		return "unknown"
	}
}

// Uncapped reports whether the model takes any number of rows in one call:
// only the payload size then limits a batch.
func (r BatchRule) Uncapped() bool { return r == BatchVariableDim || r == BatchNoLimit }

// Client scores one batch per call, without splitting it. It is implemented
// by *PredictV1 and *KServeV2 (gRPC), *KServeV1HTTP and *KServeV2HTTP
// (HTTP); a Batcher turns it into a Model. A Client is safe for concurrent
// use.
type Client interface {
	// Score sends rows as one batch and returns the scores as the server
	// sent them, one row per instance. Output rows share one backing array.
	// The row count, the class count and finiteness are not checked here
	// (the Batcher does); the shape of the reply is. Errors are translated
	// (see the package doc).
	Score(ctx context.Context, rows [][]float64) ([][]float64, error)
	// Describe asks the server what the model takes and returns.
	Describe(ctx context.Context) (ModelInfo, error)
	// Ready returns nil when the model server and the model are ready.
	Ready(ctx context.Context) error
}

// TextClient is a Client that can also score text, one string per instance.
// It is implemented by *PredictV1 (the texts field of PredictRequest) and
// *KServeV2 (a BYTES input tensor); Batcher.PredictText needs it.
type TextClient interface {
	Client
	// ScoreText sends texts as one batch and returns the scores as the
	// server sent them, one row per text, with the guarantees of Score.
	ScoreText(ctx context.Context, texts []string) ([][]float64, error)
}

// ShapedClient is a Client that can also send each instance as a tensor
// of a given shape, the batch being the leading dimension: a CHW image as
// [N, C, H, W] rather than [N, C·H·W]. It is implemented by *PredictV1
// (PredictRequest.instance_shape) and *KServeV2 (the input tensor's
// shape); a Batcher made WithInstanceShape uses it.
type ShapedClient interface {
	Client
	// ScoreShaped sends rows as one batch of instances of the given shape,
	// with the guarantees of Score. Each row holds the product of shape's
	// dimensions values, in row-major order of the shape; else it fails
	// with ErrInvalidInput before anything is sent.
	ScoreShaped(ctx context.Context, rows [][]float64, shape []int) ([][]float64, error)
}

// Compile-time checks.
var (
	_ TextClient   = (*PredictV1)(nil)
	_ TextClient   = (*KServeV2)(nil)
	_ ShapedClient = (*PredictV1)(nil)
	_ ShapedClient = (*KServeV2)(nil)
)

// checkShape validates an instance shape against the rows' width.
func checkShape(shape []int, width int) error {
	if len(shape) == 0 {
		return invalidInput("empty instance shape")
	}
	size := 1
	for _, d := range shape {
		if d < 1 || d > math.MaxUint32 || size > math.MaxInt32/d {
			return invalidInput("instance shape %v is not valid", shape)
		}
		size *= d
	}
	if size != width {
		return invalidInput("rows of %d values for instance shape %v (%d values)", width, shape, size)
	}
	return nil
}

// reshape cuts flat into rows of width columns; the rows share flat and
// cannot grow into each other. width must be positive and divide len(flat).
func reshape(flat []float64, width int) [][]float64 {
	rows := make([][]float64, len(flat)/width)
	for i := range rows {
		rows[i] = flat[i*width : (i+1)*width : (i+1)*width]
	}
	return rows
}
