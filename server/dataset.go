package server

import (
	"context"
	"fmt"
	"math"

	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"

	"github.com/explainer-sidecar/explainer/predictor"
)

// Limits of the global methods' data sets, named in the errors that
// enforce them.
const (
	MaxDataRows   = 1_000_000
	MaxDataValues = 20_000_000
)

// dataset is a validated data set for a global method.
type dataset struct {
	rows    [][]float64
	targets []float64
	weights []float64
	names   []string
}

// loadDataset returns the job's data set: given inline, or received in
// chunks on the stream. field names the options field in errors; the width
// comes from the model's description or the data set's feature names.
func loadDataset(ctx context.Context, field string, ds *explainerv1.Dataset, streamed bool, chunks <-chan *explainerv1.DataChunk, info predictor.ModelInfo, needTargets bool) (*dataset, error) {
	names := ds.GetFeatureNames()
	if !streamed {
		if ds == nil {
			return nil, invalidArgument("%s.data: required (or set streamed and send DataChunk messages on ExplainStream)", field)
		}
		n := int(ds.GetNumRows())
		if n < 1 || n > MaxDataRows {
			return nil, invalidArgument("%s.data.num_rows: %d is outside [1, %d]", field, n, MaxDataRows)
		}
		if len(ds.GetValues())%n != 0 || len(ds.GetValues()) == 0 {
			return nil, invalidArgument("%s.data.values: %d values do not make %d whole rows", field, len(ds.GetValues()), n)
		}
		p := len(ds.GetValues()) / n
		if err := checkWidth(field, p, names, info); err != nil {
			return nil, err
		}
		d := &dataset{names: names}
		if err := d.add(field+".data", ds.GetValues(), ds.GetTargets(), ds.GetWeights(), p, needTargets); err != nil {
			return nil, err
		}
		return d.finish(field, p)
	}
	if chunks == nil {
		return nil, invalidArgument("%s.streamed: streamed data needs ExplainStream; Explain takes the data inline", field)
	}
	p := info.NumFeatures
	if p == 0 {
		p = len(names)
	}
	if p == 0 {
		return nil, invalidArgument("%s.data.feature_names: required with streamed data when the model server does not report its feature count", field)
	}
	if err := checkWidth(field, p, names, info); err != nil {
		return nil, err
	}
	d := &dataset{names: names}
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case c, ok := <-chunks:
			if !ok {
				return nil, invalidArgument("data: the stream ended before the chunk with last set")
			}
			if err := d.add(fmt.Sprintf("data chunk %d", i), c.GetValues(), c.GetTargets(), c.GetWeights(), p, needTargets); err != nil {
				return nil, err
			}
			if c.GetLast() {
				return d.finish(field, p)
			}
		}
	}
}

func checkWidth(field string, p int, names []string, info predictor.ModelInfo) error {
	if info.NumFeatures > 0 && p != info.NumFeatures {
		return invalidArgument("%s.data: rows have %d features, model expects %d", field, p, info.NumFeatures)
	}
	if len(names) != 0 && len(names) != p {
		return invalidArgument("%s.data.feature_names: %d names for %d features", field, len(names), p)
	}
	return nil
}

// add appends whole rows (values row-major, p per row) with their targets
// and weights, checking every count and value.
func (d *dataset) add(where string, values, targets, weights []float64, p int, needTargets bool) error {
	if len(values)%p != 0 {
		return invalidArgument("%s: %d values are not whole rows of %d features", where, len(values), p)
	}
	n := len(values) / p
	if len(d.rows)+n > MaxDataRows || (len(d.rows)+n)*p > MaxDataValues {
		return invalidArgument("%s: the data set exceeds %d rows or %d values", where, MaxDataRows, MaxDataValues)
	}
	if needTargets && len(targets) != n {
		return invalidArgument("%s.targets: %d targets for %d rows", where, len(targets), n)
	}
	if len(weights) != 0 && len(weights) != n {
		return invalidArgument("%s.weights: %d weights for %d rows", where, len(weights), n)
	}
	if (len(weights) == 0) != (d.weights == nil) && len(d.rows) > 0 && n > 0 {
		return invalidArgument("%s.weights: give weights in every chunk or in none", where)
	}
	for i, v := range values {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return invalidArgument("%s.values[%d]: non-finite value", where, i)
		}
	}
	for i, v := range targets {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return invalidArgument("%s.targets[%d]: non-finite value", where, i)
		}
	}
	for i, v := range weights {
		if !(v >= 0) || math.IsInf(v, 0) {
			return invalidArgument("%s.weights[%d]: must be finite and >= 0", where, i)
		}
	}
	for i := range n {
		d.rows = append(d.rows, values[i*p:(i+1)*p:(i+1)*p])
	}
	if needTargets {
		d.targets = append(d.targets, targets...)
	}
	if len(weights) > 0 {
		d.weights = append(d.weights, weights...)
	}
	return nil
}

func (d *dataset) finish(field string, p int) (*dataset, error) {
	if len(d.rows) == 0 {
		return nil, invalidArgument("%s.data: no rows", field)
	}
	if len(d.names) == 0 {
		d.names = defaultFeatureNames(p)
	}
	return d, nil
}
