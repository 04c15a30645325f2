package server

import (
	"fmt"
	"strconv"

	"github.com/explainer-sidecar/explainer/predictor"
)

// batchRows is the most rows per model call for a model described by info,
// with override the --max-batch-size (0: not set), and the rule that chose
// it, for the log. In order:
//
//   - the model's cap (MaxBatchSize > 0: max_batch_size, or a fixed first
//     input dimension), lowered by override when it is smaller: the model
//     server rejects bigger batches, so override never raises it;
//   - override, when set;
//   - predictor.NoRowCap when the model takes any number of rows: only
//     --max-batch-bytes splits (5000 LIME samples of 30 features, 1.2 MB,
//     go in one call instead of 79);
//   - DefaultMaxBatchSize when the model server says nothing.
func batchRows(override int, info predictor.ModelInfo) (rows int, rule string) {
	model := info.BatchRule
	if info.MaxBatchSize > 0 && model == predictor.BatchUnknown {
		model = predictor.BatchMaxBatchSize // a Client that sets only MaxBatchSize
	}
	switch {
	case info.MaxBatchSize > 0 && override > 0 && override < info.MaxBatchSize:
		return override, fmt.Sprintf("--max-batch-size, under the model's %s %d", model, info.MaxBatchSize)
	case info.MaxBatchSize > 0:
		return info.MaxBatchSize, "the model's " + model.String()
	case override > 0:
		return override, "--max-batch-size"
	case model.Uncapped():
		return predictor.NoRowCap, "the model's " + model.String() + ": no row cap, --max-batch-bytes splits"
	}
	return DefaultMaxBatchSize, "default: the model server does not say"
}

// batchRowsText writes rows for the log.
func batchRowsText(rows int) string {
	if rows == predictor.NoRowCap {
		return "no cap"
	}
	return strconv.Itoa(rows)
}
