package server

import (
	"context"
	"io"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/explainer-sidecar/explainer/predictor/predictortest"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

func tabRow(values []float64) *explainerv1.Instance {
	return &explainerv1.Instance{Kind: &explainerv1.Instance_Tabular{Tabular: &explainerv1.TabularInstance{Values: values}}}
}

func TestRequestDefaultsFillWhatTheRequestLeavesUnset(t *testing.T) {
	full := limeRequest(testInstance, nil) // seed 11, 1000 samples, 3 features, label 1, training rows
	names := []string{"a", "b", "c", "d", "e"}
	full.GetLime().GetTraining().GetDataset().FeatureNames = names
	template := proto.Clone(full).(*explainerv1.ExplainRequest)
	full.GetInstance().GetTabular().FeatureNames = names
	template.Instance = tabRow([]float64{9, 9, 9, 9, 9}) // ignored
	kept := proto.Clone(template)

	_, newClient := predictV1Model(t, nil)
	plain := startSidecar(t, newClient)
	withDefaults := startSidecar(t, newClient, WithRequestDefaults(template))

	want, err := plain.client.Explain(context.Background(), full)
	if err != nil {
		t.Fatal(err)
	}
	if a := want.GetExplanation().GetLabels()[0].GetAttributions()[0]; !strings.Contains(a.GetFeature(), " d ") {
		t.Fatalf("top attribution %q, want one on feature d", a.GetFeature())
	}
	for _, tc := range []struct {
		name string
		req  *explainerv1.ExplainRequest
	}{
		// The instance without names takes the training data's.
		{"instance only: the default method", &explainerv1.ExplainRequest{Instance: tabRow(testInstance)}},
		{"empty lime options", &explainerv1.ExplainRequest{Instance: tabRow(testInstance), Method: &explainerv1.ExplainRequest_Lime{Lime: &explainerv1.LimeOptions{}}}},
		{"the whole request", full},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := withDefaults.client.Explain(context.Background(), tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(withoutElapsed(got.GetExplanation()), withoutElapsed(want.GetExplanation())) {
				t.Errorf("got %v\nwant %v", got.GetExplanation(), want.GetExplanation())
			}
		})
	}
	t.Run("the request's options win", func(t *testing.T) {
		seed := uint64(5)
		got, err := withDefaults.client.Explain(context.Background(), &explainerv1.ExplainRequest{
			Instance: tabRow(testInstance),
			Method:   &explainerv1.ExplainRequest_Lime{Lime: &explainerv1.LimeOptions{NumSamples: 400, Seed: &seed, Labels: []uint32{0}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		e := got.GetExplanation()
		if e.GetNumSamples() != 400 || e.GetSeed() != 5 || len(e.GetLabels()) != 1 || e.GetLabels()[0].GetLabel() != 0 {
			t.Errorf("samples %d, seed %d, labels %v: want the request's 400, 5 and [0]", e.GetNumSamples(), e.GetSeed(), e.GetLabels())
		}
		if n := len(e.GetLabels()[0].GetAttributions()); n != 3 {
			t.Errorf("%d attributions, want the template's num_features 3", n)
		}
	})
	t.Run("a batch's rows take the names too", func(t *testing.T) {
		// As KServe's :explain sends rows: a batch, labels left to each row.
		one := uint32(1)
		got, err := withDefaults.client.Explain(context.Background(), &explainerv1.ExplainRequest{
			Method: &explainerv1.ExplainRequest_Lime{Lime: &explainerv1.LimeOptions{TopLabels: one}},
			Batch: &explainerv1.InstanceBatch{Kind: &explainerv1.InstanceBatch_Tabular{Tabular: &explainerv1.TabularBatch{
				Rows: &explainerv1.Dataset{NumRows: 2, Values: append(slices.Clone(testInstance), testInstance...)},
			}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		exps := got.GetExplanation().GetBatch().GetExplanations()
		if len(exps) != 2 {
			t.Fatalf("%d explanations, want 2", len(exps))
		}
		// Instance 0 has the seed, as the single request: the same numbers
		// and the same named features.
		sameExplanation(t, "instance 0", exps[0], want.GetExplanation())
	})
	t.Run("ExplainStream", func(t *testing.T) {
		stream, err := withDefaults.client.ExplainStream(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if err := stream.Send(startJob("j", &explainerv1.ExplainRequest{Instance: tabRow(testInstance)})); err != nil {
			t.Fatal(err)
		}
		if err := stream.CloseSend(); err != nil {
			t.Fatal(err)
		}
		var got *explainerv1.Explanation
		for {
			msg, err := stream.Recv()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if msg.GetError() != nil {
				t.Fatalf("job error %v", msg.GetError())
			}
			if r := msg.GetResult(); r != nil {
				got = r
			}
		}
		if !proto.Equal(withoutElapsed(got), withoutElapsed(want.GetExplanation())) {
			t.Errorf("got %v\nwant %v", got, want.GetExplanation())
		}
	})
	if !proto.Equal(template, kept) {
		t.Error("the template changed")
	}
}

func TestRequestDefaultsPerMethod(t *testing.T) {
	bg := trainingRows()[:10]
	lime := limeRequest(nil, nil)
	lime.Instance, lime.Model = nil, ""
	shap := kernelSHAPRequest(nil, bg, nil)
	shap.Instance, shap.Model = nil, ""
	shap.GetKernelShap().GetBackground().FeatureNames = []string{"a", "b", "c", "d", "e"}
	// The first template also gives every request its model.
	lime.Model = "model"
	_, newClient := predictV1Model(t, nil)
	sc := startSidecar(t, newClient, WithRequestDefaults(lime, shap))

	resp, err := sc.client.Explain(context.Background(), &explainerv1.ExplainRequest{
		Instance: tabRow(testInstance),
		Method:   &explainerv1.ExplainRequest_KernelShap{KernelShap: &explainerv1.KernelShapOptions{}},
	})
	if err != nil {
		t.Fatal(err)
	}
	e := resp.GetExplanation()
	if e.GetMethod() != "kernelshap" || e.GetSeed() != 3 || e.GetModel() != "model" {
		t.Fatalf("method %q, seed %d, model %q: want kernel_shap with its template's seed 3 and the first template's model", e.GetMethod(), e.GetSeed(), e.GetModel())
	}
	if n := len(e.GetLabels()[0].GetAttributions()); n != testFeatures {
		t.Errorf("%d attributions, want %d", n, testFeatures)
	}
	for _, a := range e.GetLabels()[0].GetAttributions() {
		if a.GetFeature() != []string{"a", "b", "c", "d", "e"}[a.GetIndex()] {
			t.Errorf("attribution %d named %q, want the background's name", a.GetIndex(), a.GetFeature())
		}
	}
	// A method with no template runs on the request alone.
	_, err = sc.client.Explain(context.Background(), &explainerv1.ExplainRequest{
		Method: &explainerv1.ExplainRequest_Sensitivity{Sensitivity: &explainerv1.SensitivityOptions{
			Data: &explainerv1.Dataset{NumRows: 10, Values: flat(bg)},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestClassNamesForTheDefaultModel(t *testing.T) {
	_, newClient := predictV1Model(t, func(s *predictortest.PredictServer) { s.ClassNames = nil })
	sc := startSidecar(t, newClient, WithDefaultModel("model"), WithClassNames("neg", "pos"))
	resp, err := sc.client.Explain(context.Background(), limeRequest(testInstance, nil))
	if err != nil {
		t.Fatal(err)
	}
	e := resp.GetExplanation()
	if len(e.GetClassNames()) != 2 || e.GetLabels()[0].GetClassName() != "pos" {
		t.Errorf("class names %v, label 1 named %q: want [neg pos] and pos", e.GetClassNames(), e.GetLabels()[0].GetClassName())
	}
	// Another model is not named by them.
	req := limeRequest(testInstance, nil)
	req.Model = "other"
	resp, err = sc.client.Explain(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if n := resp.GetExplanation().GetClassNames(); len(n) != 0 {
		t.Errorf("model other got class names %v", n)
	}
}
