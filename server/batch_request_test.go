package server

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/explainer-sidecar/explainer/predictor"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

func TestBatchRequest(t *testing.T) {
	row := func(v ...float64) *explainerv1.Instance {
		return &explainerv1.Instance{Kind: &explainerv1.Instance_Tabular{Tabular: &explainerv1.TabularInstance{Values: v}}}
	}
	named := func(v ...float64) *explainerv1.Instance {
		in := row(v...)
		in.GetTabular().FeatureNames = []string{"a", "b"}
		return in
	}
	text := func(s, split string) *explainerv1.Instance {
		return &explainerv1.Instance{Kind: &explainerv1.Instance_Text{Text: &explainerv1.TextInstance{Text: s, SplitExpression: split}}}
	}
	image := func(h, w uint32) *explainerv1.Instance {
		return &explainerv1.Instance{Kind: &explainerv1.Instance_Image{Image: &explainerv1.ImageInstance{
			Height: h, Width: w, Channels: 1, Values: make([]float32, h*w),
		}}}
	}
	lime := &explainerv1.ExplainRequest{Method: &explainerv1.ExplainRequest_Lime{Lime: &explainerv1.LimeOptions{Seed: seedOf(3)}}}
	limeLabels := &explainerv1.ExplainRequest{Method: &explainerv1.ExplainRequest_Lime{Lime: &explainerv1.LimeOptions{Labels: []uint32{0}}}}
	limeText := &explainerv1.ExplainRequest{Method: &explainerv1.ExplainRequest_LimeText{LimeText: &explainerv1.LimeTextOptions{}}}
	limeImage := &explainerv1.ExplainRequest{Method: &explainerv1.ExplainRequest_LimeImage{LimeImage: &explainerv1.LimeImageOptions{}}}
	occlusion := &explainerv1.ExplainRequest{Method: &explainerv1.ExplainRequest_Occlusion{Occlusion: &explainerv1.OcclusionOptions{}}}
	anchors := &explainerv1.ExplainRequest{Method: &explainerv1.ExplainRequest_Anchors{Anchors: &explainerv1.AnchorOptions{}}}
	sensitivity := &explainerv1.ExplainRequest{Method: &explainerv1.ExplainRequest_Sensitivity{Sensitivity: &explainerv1.SensitivityOptions{}}}
	evaluated := proto.CloneOf(lime)
	evaluated.Evaluation = &explainerv1.Evaluation{}
	noMethod := &explainerv1.ExplainRequest{Model: "m"}

	plain := New(func(string) predictor.Client { return nil })
	withDefault := New(func(string) predictor.Client { return nil }, WithRequestDefaults(lime))

	tests := []struct {
		name      string
		s         *Server
		req       *explainerv1.ExplainRequest
		instances []*explainerv1.Instance
		want      *explainerv1.InstanceBatch // nil: no batch
		topLabels bool                       // the batch explains each instance's top label
	}{
		{"rows", plain, lime, []*explainerv1.Instance{row(1, 2), row(3, 4)},
			&explainerv1.InstanceBatch{Kind: &explainerv1.InstanceBatch_Tabular{Tabular: &explainerv1.TabularBatch{
				Rows: &explainerv1.Dataset{NumRows: 2, Values: []float64{1, 2, 3, 4}},
			}}}, true},
		{"rows with names, labels named", plain, limeLabels, []*explainerv1.Instance{named(1, 2), named(3, 4)},
			&explainerv1.InstanceBatch{Kind: &explainerv1.InstanceBatch_Tabular{Tabular: &explainerv1.TabularBatch{
				Rows: &explainerv1.Dataset{NumRows: 2, Values: []float64{1, 2, 3, 4}, FeatureNames: []string{"a", "b"}},
			}}}, false},
		{"the method from the defaults", withDefault, noMethod, []*explainerv1.Instance{row(1, 2), row(3, 4)},
			&explainerv1.InstanceBatch{Kind: &explainerv1.InstanceBatch_Tabular{Tabular: &explainerv1.TabularBatch{
				Rows: &explainerv1.Dataset{NumRows: 2, Values: []float64{1, 2, 3, 4}},
			}}}, true},
		{"texts", plain, limeText, []*explainerv1.Instance{text("a b", `\W+`), text("c", `\W+`)},
			&explainerv1.InstanceBatch{Kind: &explainerv1.InstanceBatch_Text{Text: &explainerv1.TextBatch{
				Texts: []string{"a b", "c"}, SplitExpression: `\W+`,
			}}}, true},
		{"images", plain, limeImage, []*explainerv1.Instance{image(2, 3), image(2, 3)},
			&explainerv1.InstanceBatch{Kind: &explainerv1.InstanceBatch_Image{Image: &explainerv1.ImageBatch{
				Images: []*explainerv1.ImageInstance{image(2, 3).GetImage(), image(2, 3).GetImage()},
			}}}, true},
		{"one instance", plain, lime, []*explainerv1.Instance{row(1, 2)}, nil, false},
		{"rows of two widths", plain, lime, []*explainerv1.Instance{row(1, 2), row(3)}, nil, false},
		{"rows named and not", plain, lime, []*explainerv1.Instance{named(1, 2), row(3, 4)}, nil, false},
		{"texts split otherwise", plain, limeText, []*explainerv1.Instance{text("a", ""), text("b", " ")}, nil, false},
		{"a row and a text", plain, lime, []*explainerv1.Instance{row(1), text("b", "")}, nil, false},
		{"images of two sizes", plain, limeImage, []*explainerv1.Instance{image(2, 3), image(3, 2)}, nil, false},
		{"no top_labels to keep each image's label", plain, occlusion, []*explainerv1.Instance{image(2, 3), image(2, 3)}, nil, false},
		{"anchors: each instance's own prediction, no label to keep", plain, anchors, []*explainerv1.Instance{row(1), row(2)},
			&explainerv1.InstanceBatch{Kind: &explainerv1.InstanceBatch_Tabular{Tabular: &explainerv1.TabularBatch{
				Rows: &explainerv1.Dataset{NumRows: 2, Values: []float64{1, 2}},
			}}}, false},
		{"a method without batches", plain, sensitivity, []*explainerv1.Instance{row(1), row(2)}, nil, false},
		{"an evaluation", plain, evaluated, []*explainerv1.Instance{row(1), row(2)}, nil, false},
		{"no method", plain, noMethod, []*explainerv1.Instance{row(1), row(2)}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := proto.CloneOf(tt.req)
			got := tt.s.BatchRequest(tt.req, tt.instances)
			if !proto.Equal(tt.req, before) {
				t.Errorf("the request changed: %v, was %v", tt.req, before)
			}
			if tt.want == nil {
				if got != nil {
					t.Fatalf("a batch: %v", got)
				}
				return
			}
			if got == nil {
				t.Fatal("no batch")
			}
			if !proto.Equal(got.GetBatch(), tt.want) {
				t.Errorf("batch %v\nwant %v", got.GetBatch(), tt.want)
			}
			if got.GetInstance() != nil {
				t.Errorf("instance set: %v", got.GetInstance())
			}
			o := methodOptions(got)
			var top uint64
			if f := o.Descriptor().Fields().ByName("top_labels"); f != nil {
				top = o.Get(f).Uint()
			}
			if want := map[bool]uint64{true: 1, false: 0}[tt.topLabels]; top != want {
				t.Errorf("top_labels %d, want %d", top, want)
			}
			if tt.s == withDefault && got.GetLime().GetSeed() != 3 {
				t.Errorf("the defaults' options were not applied: %v", got.GetLime())
			}
		})
	}
}
