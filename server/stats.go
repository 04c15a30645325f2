package server

import (
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
	"github.com/explainer-sidecar/explainer/sampler"
)

// statsFromProto turns client-supplied training statistics into the
// sampler's, checking every field's shape; sampler.Stats.Validate checks
// the values.
func statsFromProto(ts *explainerv1.TrainingStatistics, p int, categorical []int, discretize bool) (*sampler.Stats, error) {
	const field = "lime.training.statistics"
	s := &sampler.Stats{Means: ts.GetMeans(), Stds: ts.GetStds()}
	isCat := make([]bool, p)
	for _, c := range categorical {
		isCat[c] = true
	}
	if len(ts.GetCategorical()) > 0 {
		s.Categorical = map[int]sampler.Frequencies{}
	}
	for i, c := range ts.GetCategorical() {
		f := int(c.GetFeature())
		if f >= p || !isCat[f] {
			return nil, invalidArgument("%s.categorical[%d].feature: %d is not one of the instance's categorical features", field, i, f)
		}
		if _, dup := s.Categorical[f]; dup {
			return nil, invalidArgument("%s.categorical[%d].feature: feature %d listed twice", field, i, f)
		}
		if len(c.GetValues()) == 0 || len(c.GetValues()) != len(c.GetFrequencies()) {
			return nil, invalidArgument("%s.categorical[%d]: %d values and %d frequencies, want the same non-zero count", field, i, len(c.GetValues()), len(c.GetFrequencies()))
		}
		s.Categorical[f] = sampler.Frequencies{Values: c.GetValues(), Freqs: c.GetFrequencies()}
	}
	for _, c := range categorical {
		if _, ok := s.Categorical[c]; !ok {
			return nil, invalidArgument("%s.categorical: no distribution for categorical feature %d", field, c)
		}
	}
	if discretize {
		d := &sampler.Discretizer{
			Boundaries: make([][]float64, p), Means: make([][]float64, p), Stds: make([][]float64, p),
			Mins: make([][]float64, p), Maxs: make([][]float64, p),
		}
		s.BinFrequencies = make([][]float64, p)
		seen := make([]bool, p)
		for i, b := range ts.GetBins() {
			f := int(b.GetFeature())
			if f >= p || isCat[f] {
				return nil, invalidArgument("%s.bins[%d].feature: %d is not a continuous feature of the instance", field, i, f)
			}
			if seen[f] {
				return nil, invalidArgument("%s.bins[%d].feature: feature %d listed twice", field, i, f)
			}
			seen[f] = true
			k := len(b.GetBoundaries()) + 1
			perBin := []struct {
				name   string
				values []float64
			}{{"means", b.GetMeans()}, {"stds", b.GetStds()}, {"mins", b.GetMins()}, {"maxs", b.GetMaxs()}, {"frequencies", b.GetFrequencies()}}
			for _, pb := range perBin {
				if len(pb.values) != k {
					return nil, invalidArgument("%s.bins[%d].%s: %d values for %d bins (boundaries + 1)", field, i, pb.name, len(pb.values), k)
				}
			}
			d.Boundaries[f], d.Means[f], d.Stds[f] = b.GetBoundaries(), b.GetMeans(), b.GetStds()
			d.Mins[f], d.Maxs[f], s.BinFrequencies[f] = b.GetMins(), b.GetMaxs(), b.GetFrequencies()
		}
		for f := range p {
			if !isCat[f] && !seen[f] {
				return nil, invalidArgument("%s.bins: no bins for continuous feature %d; give bins for every continuous feature or set discretize_continuous to false", field, f)
			}
		}
		s.Discretizer = d
	} else if len(s.Means) != p || len(s.Stds) != p {
		return nil, invalidArgument("%s: means and stds need %d values each (one per feature), got %d and %d", field, p, len(s.Means), len(s.Stds))
	}
	if err := s.Validate(p); err != nil {
		return nil, invalidArgument("%s: %v", field, err)
	}
	return s, nil
}
