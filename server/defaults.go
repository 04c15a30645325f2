package server

import (
	"google.golang.org/protobuf/reflect/protoreflect"

	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// Request defaults are what the operator sets once at start-up (serve's
// --training-data, --method, --explain-config) for requests that leave it
// unset: KServe's :explain carries only instances. They are applied in one
// place, before a request is looked at (Explain, ExplainJob, every job of
// ExplainStream), so that gRPC, the JSON API and :explain all get them.

// WithRequestDefaults sets defaults for what requests leave unset, from
// templates: ExplainRequests set once at start-up (their instance is
// ignored). The precedence is the request's own fields, then the
// template's:
//
//   - The first template's method, when set, is the default method: a
//     request that sets none runs it.
//   - Each template's method options are the defaults of that method (the
//     first template of a method counts, later ones are ignored): an option
//     the request leaves unset (a zero scalar, an empty list, an unset
//     message or optional field) takes the template's. Messages are taken
//     whole, never mixed: a request's own training data, background,
//     segmentation or fill replaces the template's.
//   - The first template's model, auto_sampling and evaluation are the
//     defaults of every request.
//   - A tabular instance, or a batch of rows, without feature names takes
//     those of the method's data set (lime's training data set,
//     kernel_shap's background) when their numbers match.
//
// A proto3 field without presence cannot tell "unset" from its zero value,
// so a request cannot set such an option back to zero when a template sets
// it. Templates are shared by every request, not copied: the caller must not
// change them afterwards. Default: no templates.
func WithRequestDefaults(templates ...*explainerv1.ExplainRequest) Option {
	return func(o *options) { o.defaults = newRequestDefaults(templates) }
}

// WithClassNames names the default model's output columns when its model
// server reports no names (a KServe v1 model server, for one): they fill
// Explanation.class_names and each label's class_name. Requests for other
// models are not affected. Default: none.
func WithClassNames(names ...string) Option {
	return func(o *options) { o.classNames = names }
}

// requestDefaults are the parsed templates of WithRequestDefaults.
type requestDefaults struct {
	base    protoreflect.Message                       // the first template; nil when none
	method  protoreflect.FieldDescriptor               // the default method's case; nil when none
	options map[protoreflect.Name]protoreflect.Message // per case, its default options
}

func newRequestDefaults(templates []*explainerv1.ExplainRequest) *requestDefaults {
	d := &requestDefaults{options: map[protoreflect.Name]protoreflect.Message{}}
	for i, t := range templates {
		if t == nil {
			continue
		}
		m := t.ProtoReflect()
		fd := m.WhichOneof(methodOneof)
		if i == 0 {
			d.base, d.method = m, fd
		}
		if fd == nil {
			continue
		}
		if _, dup := d.options[fd.Name()]; !dup {
			d.options[fd.Name()] = m.Get(fd).Message()
		}
	}
	if d.base == nil && len(d.options) == 0 {
		return nil
	}
	return d
}

// applyDefaults returns req with the server's defaults filled in: req itself
// when there are none, else a new request that shares req's and the
// templates' fields (neither is changed).
func (s *Server) applyDefaults(req *explainerv1.ExplainRequest) *explainerv1.ExplainRequest {
	d := s.opts.defaults
	if d == nil || req == nil {
		return req
	}
	out := &explainerv1.ExplainRequest{}
	om := out.ProtoReflect()
	req.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		om.Set(fd, v)
		return true
	})
	if d.base != nil {
		instance := om.Descriptor().Fields().ByName("instance")
		d.base.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			if fd.ContainingOneof() != methodOneof && fd != instance && !om.Has(fd) {
				om.Set(fd, v)
			}
			return true
		})
	}
	fd := om.WhichOneof(methodOneof)
	if fd == nil {
		if d.method == nil {
			return out
		}
		fd = d.method
	}
	if tmpl, ok := d.options[fd.Name()]; ok {
		merged := tmpl.New()
		if om.Has(fd) {
			om.Get(fd).Message().Range(func(f protoreflect.FieldDescriptor, v protoreflect.Value) bool {
				merged.Set(f, v)
				return true
			})
		}
		tmpl.Range(func(f protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			if !merged.Has(f) {
				merged.Set(f, v)
			}
			return true
		})
		om.Set(fd, protoreflect.ValueOfMessage(merged))
	}
	nameInstance(out)
	return out
}

// nameInstance gives a tabular instance, or a batch's rows, without
// feature names those of the method's data set, when their numbers match.
// It replaces the instance or the batch rather than changing it.
func nameInstance(req *explainerv1.ExplainRequest) {
	var names []string
	switch {
	case req.GetLime() != nil:
		names = req.GetLime().GetTraining().GetDataset().GetFeatureNames()
	case req.GetKernelShap() != nil:
		names = req.GetKernelShap().GetBackground().GetFeatureNames()
	}
	if len(names) == 0 {
		return
	}
	if tab := req.GetInstance().GetTabular(); tab != nil && len(tab.GetFeatureNames()) == 0 && len(names) == len(tab.GetValues()) {
		req.Instance = &explainerv1.Instance{Kind: &explainerv1.Instance_Tabular{Tabular: &explainerv1.TabularInstance{
			Values:              tab.GetValues(),
			FeatureNames:        names,
			CategoricalFeatures: tab.GetCategoricalFeatures(),
		}}}
	}
	// A batch's rows, alike (KServe's :explain sends its rows as a batch).
	b := req.GetBatch().GetTabular()
	rows := b.GetRows()
	if b == nil || len(rows.GetFeatureNames()) > 0 || rows.GetNumRows() == 0 || len(rows.GetValues()) != int(rows.GetNumRows())*len(names) {
		return
	}
	named := &explainerv1.Dataset{NumRows: rows.GetNumRows(), Values: rows.GetValues(), FeatureNames: names}
	req.Batch = &explainerv1.InstanceBatch{
		Kind: &explainerv1.InstanceBatch_Tabular{Tabular: &explainerv1.TabularBatch{
			Rows: named, Streamed: b.GetStreamed(), CategoricalFeatures: b.GetCategoricalFeatures(),
		}},
		SubmodularPick: req.GetBatch().GetSubmodularPick(),
	}
}
