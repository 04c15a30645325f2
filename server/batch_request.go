package server

import (
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// BatchRequest returns one batch job that explains each of instances as
// req with that instance would be explained alone, or nil when they cannot
// share one: fewer than two instances, a method that takes no batch (with
// the server's defaults applied), an evaluation, or instances of different
// kinds or shapes (rows of other widths, feature names or categorical
// features; texts split otherwise; images of other sizes or layouts).
//
// What differs from the requests alone: instance i is explained with the
// seed + i (ExplainRequest.batch's rule; alone, every instance would get
// the seed), and the instances share the model's calls. When req names
// no labels, each instance explains its own top label, as alone: the
// batch gets top_labels 1 rather than a picked label. KServe's :explain
// sends its instances this way.
func (s *Server) BatchRequest(req *explainerv1.ExplainRequest, instances []*explainerv1.Instance) *explainerv1.ExplainRequest {
	if len(instances) < 2 || len(instances) > MaxBatchInstances || req.GetInstance() != nil || req.GetBatch() != nil {
		return nil
	}
	full := s.applyDefaults(req)
	_, m, err := lookupMethod(full)
	if err != nil || m.batch == nil || full.GetEvaluation() != nil {
		return nil
	}
	batch := instanceBatch(instances)
	if batch == nil {
		return nil
	}
	out := proto.CloneOf(full)
	out.Batch = batch
	if picksLabel(out) {
		o := methodOptions(out)
		f := o.Descriptor().Fields().ByName("top_labels")
		if f == nil {
			return nil // a method that cannot keep each instance's own label
		}
		o.Set(f, protoreflect.ValueOfUint32(1))
	}
	return out
}

// instanceBatch is instances as one InstanceBatch, or nil when they differ
// in more than their values, texts or pixels. The batch shares the
// instances' values, texts and images.
func instanceBatch(instances []*explainerv1.Instance) *explainerv1.InstanceBatch {
	switch first := instances[0].GetKind().(type) {
	case *explainerv1.Instance_Tabular:
		shape := without(first.Tabular, "values")
		rows := &explainerv1.Dataset{NumRows: uint32(len(instances)), FeatureNames: first.Tabular.GetFeatureNames()}
		for _, inst := range instances {
			t := inst.GetTabular()
			if t == nil || len(t.GetValues()) != len(first.Tabular.GetValues()) || !proto.Equal(without(t, "values"), shape) {
				return nil
			}
			rows.Values = append(rows.Values, t.GetValues()...)
		}
		return &explainerv1.InstanceBatch{Kind: &explainerv1.InstanceBatch_Tabular{Tabular: &explainerv1.TabularBatch{
			Rows: rows, CategoricalFeatures: first.Tabular.GetCategoricalFeatures(),
		}}}
	case *explainerv1.Instance_Text:
		shape := without(first.Text, "text")
		texts := make([]string, len(instances))
		for i, inst := range instances {
			t := inst.GetText()
			if t == nil || !proto.Equal(without(t, "text"), shape) {
				return nil
			}
			texts[i] = t.GetText()
		}
		return &explainerv1.InstanceBatch{Kind: &explainerv1.InstanceBatch_Text{Text: &explainerv1.TextBatch{
			Texts: texts, SplitExpression: first.Text.GetSplitExpression(),
		}}}
	case *explainerv1.Instance_Image:
		shape := without(first.Image, "values")
		images := make([]*explainerv1.ImageInstance, len(instances))
		for i, inst := range instances {
			im := inst.GetImage()
			if im == nil || !proto.Equal(without(im, "values"), shape) {
				return nil
			}
			images[i] = im
		}
		return &explainerv1.InstanceBatch{Kind: &explainerv1.InstanceBatch_Image{Image: &explainerv1.ImageBatch{Images: images}}}
	}
	return nil
}

// without is a shallow copy of m without the field named: its other
// fields share m's values (none is copied, nor changed), so that instances
// compare by what they have besides their values, texts or pixels.
func without(m proto.Message, field protoreflect.Name) proto.Message {
	r := m.ProtoReflect()
	c := r.New()
	r.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Name() != field {
			c.Set(fd, v)
		}
		return true
	})
	return c.Interface()
}
