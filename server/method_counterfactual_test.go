package server

import (
	"context"
	"math"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/explainer-sidecar/explainer/predictor/predictortest"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// counterfactualRequest asks for counterfactuals of instance over
// trainingRows, edited by edit.
func counterfactualRequest(instance []float64, edit func(*explainerv1.CounterfactualOptions)) *explainerv1.ExplainRequest {
	rows := trainingRows()
	seed, class := uint64(5), uint32(1)
	o := &explainerv1.CounterfactualOptions{
		Data:           &explainerv1.Dataset{NumRows: uint32(len(rows)), Values: flat(rows), FeatureNames: []string{"a", "b", "c", "d", "e"}},
		DesiredClass:   &class,
		MinProbability: 0.6,
		Count:          3,
		Population:     64,
		Seed:           &seed,
	}
	if edit != nil {
		edit(o)
	}
	return &explainerv1.ExplainRequest{
		Model:    "model",
		Instance: &explainerv1.Instance{Kind: &explainerv1.Instance_Tabular{Tabular: &explainerv1.TabularInstance{Values: instance}}},
		Method:   &explainerv1.ExplainRequest_Counterfactual{Counterfactual: o},
	}
}

// cfInstance is a row the test model puts in class 0 (z = −3.78).
var cfInstance = []float64{0.5, 1.2, -0.3, -0.8, 2}

// TestCounterfactualOverBothProtocols: over predict.v1 and KServe v2 the
// counterfactuals are valid by the model's own scores (recomputed here),
// keep the immutable feature, name the features from the data set, and
// report sparsity and proximity consistently with their changes.
func TestCounterfactualOverBothProtocols(t *testing.T) {
	model := predictortest.Logistic(testWeights, testBias)
	if model([][]float64{cfInstance})[0][1] > 0.5 {
		t.Fatal("the instance must be in class 0")
	}
	for _, tc := range []struct {
		name      string
		newClient func(t *testing.T) ClientFunc
	}{
		{"predict.v1", func(t *testing.T) ClientFunc { _, c := predictV1Model(t, nil); return c }},
		{"kserve.v2", func(t *testing.T) ClientFunc { _, c := kserveModel(t, nil); return c }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := startSidecar(t, tc.newClient(t))
			resp, err := sc.client.Explain(context.Background(), counterfactualRequest(cfInstance, func(o *explainerv1.CounterfactualOptions) {
				o.ImmutableFeatures = []uint32{3}
			}))
			if err != nil {
				t.Fatal(err)
			}
			exp := resp.GetExplanation()
			if exp.GetMethod() != "counterfactual" || exp.GetSeed() != 5 || exp.GetRounds() == 0 || len(exp.GetInstanceScores()) != 2 {
				t.Errorf("method %q seed %d rounds %d instance scores %v", exp.GetMethod(), exp.GetSeed(), exp.GetRounds(), exp.GetInstanceScores())
			}
			cfs := exp.GetCounterfactuals()
			if len(cfs) != 3 {
				t.Fatalf("%d counterfactuals, want 3", len(cfs))
			}
			for k, cf := range cfs {
				p := model([][]float64{cf.GetValues()})[0][1]
				if !cf.GetValid() || cf.GetLabel() != 1 || p < 0.6-1e-6 || math.Abs(cf.GetScores()[1]-p) > 1e-6 {
					t.Errorf("cf %d: valid %v label %d score %v, the model's %v", k, cf.GetValid(), cf.GetLabel(), cf.GetScores(), p)
				}
				if cf.GetValues()[3] != cfInstance[3] {
					t.Errorf("cf %d changed the immutable feature 3", k)
				}
				sum := 0.0
				for _, ch := range cf.GetChanges() {
					sum += math.Abs(ch.GetScaled())
					if want := []string{"a", "b", "c", "d", "e"}[ch.GetIndex()]; ch.GetFeature() != want || ch.GetFrom() != cfInstance[ch.GetIndex()] || ch.GetTo() != cf.GetValues()[ch.GetIndex()] {
						t.Errorf("cf %d: change %v, want feature %q from the instance's value to the row's", k, ch, want)
					}
				}
				if int(cf.GetSparsity()) != len(cf.GetChanges()) || math.Abs(sum-cf.GetProximity()) > 1e-9 {
					t.Errorf("cf %d: sparsity %d for %d changes, proximity %v for Σ|scaled| %v", k, cf.GetSparsity(), len(cf.GetChanges()), cf.GetProximity(), sum)
				}
			}
		})
	}
}

// TestCounterfactualStreamsGenerations: on ExplainStream generations
// arrive as partial results counting them in rounds, in order (a slow
// reader may miss some: the server keeps only the latest), and the final
// result counts them all.
func TestCounterfactualStreamsGenerations(t *testing.T) {
	_, newClient := predictV1Model(t, nil)
	sc := startSidecar(t, newClient)
	stream, err := sc.client.ExplainStream(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(startJob("cf", counterfactualRequest(cfInstance, nil))); err != nil {
		t.Fatal(err)
	}
	var rounds []uint32
	for {
		msg, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if p := msg.GetPartial(); p != nil {
			rounds = append(rounds, p.GetRounds())
			if p.GetMethod() != "counterfactual" {
				t.Errorf("partial of method %q", p.GetMethod())
			}
		}
		if r := msg.GetResult(); r != nil {
			if len(rounds) == 0 || r.GetRounds() < rounds[len(rounds)-1] {
				t.Errorf("final rounds %d, partial rounds %v", r.GetRounds(), rounds)
			}
			break
		}
		if e := msg.GetError(); e != nil {
			t.Fatal(e.GetMessage())
		}
	}
	for i, r := range rounds {
		if r == 0 || i > 0 && r <= rounds[i-1] {
			t.Fatalf("partial rounds %v, want increasing from 1", rounds)
		}
	}
}

func TestCounterfactualRejects(t *testing.T) {
	_, newClient := predictV1Model(t, nil)
	sc := startSidecar(t, newClient)
	u := func(v uint32) *uint32 { return &v }
	cases := []struct {
		name string
		edit func(*explainerv1.CounterfactualOptions)
		inst []float64
		code codes.Code
		msg  string
	}{
		{"no data", func(o *explainerv1.CounterfactualOptions) { o.Data = nil }, nil, codes.InvalidArgument, "counterfactual.data: required"},
		{"one row", func(o *explainerv1.CounterfactualOptions) {
			o.Data = &explainerv1.Dataset{NumRows: 1, Values: cfInstance}
		}, nil, codes.InvalidArgument, "counterfactual.data.num_rows: 1 is outside [2, 1000000]"},
		{"count", func(o *explainerv1.CounterfactualOptions) { o.Count = 101 }, nil, codes.InvalidArgument, "counterfactual.count: 101 is outside [1, 100]"},
		{"population", func(o *explainerv1.CounterfactualOptions) { o.Population = 7 }, nil, codes.InvalidArgument, "counterfactual.population: 7 is outside [8, 100000]"},
		{"generations", func(o *explainerv1.CounterfactualOptions) { o.MaxGenerations = 10001 }, nil, codes.InvalidArgument, "counterfactual.max_generations: 10001 is outside [1, 10000]"},
		{"desired class", func(o *explainerv1.CounterfactualOptions) { o.DesiredClass = u(2) }, nil, codes.InvalidArgument, "counterfactual.desired_class: 2 is out of range [0,2)"},
		{"min probability", func(o *explainerv1.CounterfactualOptions) { o.MinProbability = 1 }, nil, codes.InvalidArgument, "counterfactual.min_probability: must be in [0, 1)"},
		{"immutable", func(o *explainerv1.CounterfactualOptions) { o.ImmutableFeatures = []uint32{5} }, nil, codes.InvalidArgument, "counterfactual.immutable_features: [0]: feature 5 is out of range [0,5)"},
		{"range feature", func(o *explainerv1.CounterfactualOptions) {
			o.Ranges = []*explainerv1.FeatureRange{{Feature: 9}}
		}, nil, codes.InvalidArgument, "counterfactual.ranges[0].feature: 9 is out of range [0,5)"},
		{"range min > max", func(o *explainerv1.CounterfactualOptions) {
			o.Ranges = []*explainerv1.FeatureRange{{Feature: 1, Min: 2, Max: 1}}
		}, nil, codes.InvalidArgument, "counterfactual.ranges[0]: min must be finite and <= max"},
		{"instance outside range", func(o *explainerv1.CounterfactualOptions) {
			o.Ranges = []*explainerv1.FeatureRange{{Feature: 1, Min: 2, Max: 3}}
		}, nil, codes.InvalidArgument, "counterfactual.ranges[0]: the instance's value of feature 1 is outside [min, max]"},
		{"categorical index", nil, nil, codes.InvalidArgument, "instance.tabular.categorical_features[0].index: 7 is out of range [0,5)"},
		{"width", nil, []float64{1, 2, 3}, codes.InvalidArgument, "instance has 3 features, model expects 5"},
		{"stability", nil, nil, codes.InvalidArgument, "evaluation: counterfactuals have no attributions: stability and fidelity curves do not apply"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			inst := cfInstance
			if c.inst != nil {
				inst = c.inst
			}
			req := counterfactualRequest(inst, c.edit)
			switch c.name {
			case "categorical index":
				req.GetInstance().GetTabular().CategoricalFeatures = []*explainerv1.CategoricalFeature{{Index: 7}}
			case "stability":
				req.Evaluation = &explainerv1.Evaluation{StabilityRuns: 2}
			}
			_, err := sc.client.Explain(context.Background(), req)
			if st := status.Convert(err); st.Code() != c.code || !strings.Contains(st.Message(), c.msg) {
				t.Errorf("got %v: %q, want %v containing %q", st.Code(), st.Message(), c.code, c.msg)
			}
		})
	}
}
