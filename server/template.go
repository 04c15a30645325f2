package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"

	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// The JSON form of request templates, shared by serve's --explain-config
// and the "parameters" of KServe's :explain: a JSON object holding an
// ExplainRequest's fields in protojson (either the proto names, such as
// "auto_sampling", or the JSON names, such as "autoSampling"), and besides
// them "method", the name of a case of ExplainRequest.method ("lime",
// "kernel_shap", ...). For example
//
//	{"method": "kernel_shap", "kernel_shap": {"num_samples": 500, "seed": 7}}
//
// "instance" is refused: instances come from elsewhere.

// ParseDefaults decodes the JSON form of request defaults (serve's
// --explain-config) into templates for WithRequestDefaults. Besides the
// request-wide fields it may hold the options of any number of methods,
// each the defaults of its method. The method named by "method" comes
// first, so it is the default method; without "method", the one method
// whose options are given is the default, and with several there is none.
func ParseDefaults(raw []byte) ([]*explainerv1.ExplainRequest, error) {
	base, cases, method, err := splitTemplate(raw)
	if err != nil {
		return nil, err
	}
	if method == nil && len(cases) == 1 {
		for _, c := range cases {
			method = c.fd
		}
	}
	var out []*explainerv1.ExplainRequest
	first := base
	if method != nil {
		if c, ok := cases[method.Name()]; ok {
			first = c.req
		} else {
			first = &explainerv1.ExplainRequest{}
			m := first.ProtoReflect()
			m.Set(method, protoreflect.ValueOfMessage(m.NewField(method).Message()))
		}
	}
	// The request-wide fields go with the first template.
	fm := first.ProtoReflect()
	base.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		fm.Set(fd, v)
		return true
	})
	out = append(out, first)
	for _, name := range slices.Sorted(maps.Keys(cases)) {
		if c := cases[name]; c.req != first {
			out = append(out, c.req)
		}
	}
	return out, nil
}

// ParseParameters decodes the JSON form of one request's fields (the
// "parameters" of KServe's :explain): the request-wide fields and at most
// one method's options; "method" names the method when no options are
// given, and must agree with them when they are.
func ParseParameters(raw []byte) (*explainerv1.ExplainRequest, error) {
	base, cases, method, err := splitTemplate(raw)
	if err != nil {
		return nil, err
	}
	if len(cases) > 1 {
		names := slices.Sorted(maps.Keys(cases))
		return nil, fmt.Errorf("options of %d methods (%s): give one", len(names), joinNames(names))
	}
	m := base.ProtoReflect()
	for name, c := range cases {
		if method != nil && method.Name() != name {
			return nil, fmt.Errorf("method is %s but the options are %s's", method.Name(), name)
		}
		m.Set(c.fd, c.req.ProtoReflect().Get(c.fd))
	}
	if method != nil && !m.Has(method) {
		m.Set(method, protoreflect.ValueOfMessage(m.NewField(method).Message()))
	}
	return base, nil
}

// templateCase is one method's options in a template.
type templateCase struct {
	fd  protoreflect.FieldDescriptor
	req *explainerv1.ExplainRequest // holding only those options
}

// splitTemplate decodes raw into the request-wide fields, each method's
// options and the method "method" names.
func splitTemplate(raw []byte) (base *explainerv1.ExplainRequest, cases map[protoreflect.Name]templateCase, method protoreflect.FieldDescriptor, err error) {
	var fields map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&fields); err != nil {
		return nil, nil, nil, fmt.Errorf("want a JSON object: %w", err)
	}
	if fields == nil {
		fields = map[string]json.RawMessage{}
	}
	if v, ok := fields["method"]; ok {
		delete(fields, "method")
		var name string
		if err := json.Unmarshal(v, &name); err != nil {
			return nil, nil, nil, errors.New("method: want a string")
		}
		if method = methodCase(name); method == nil {
			return nil, nil, nil, fmt.Errorf("method: %q is not one of %s", name, joinNames(caseNames()))
		}
	}
	if _, ok := fields["instance"]; ok {
		return nil, nil, nil, errors.New("instance: not a default, each request brings its own")
	}
	cases = map[protoreflect.Name]templateCase{}
	for key, v := range fields {
		fd := methodCase(key)
		if fd == nil {
			continue
		}
		delete(fields, key)
		req := &explainerv1.ExplainRequest{}
		obj, _ := json.Marshal(map[string]json.RawMessage{key: v})
		if err := protojson.Unmarshal(obj, req); err != nil {
			return nil, nil, nil, fmt.Errorf("%s: %w", fd.Name(), JSONError(err))
		}
		if _, dup := cases[fd.Name()]; dup {
			return nil, nil, nil, fmt.Errorf("%s: given twice", fd.Name())
		}
		cases[fd.Name()] = templateCase{fd: fd, req: req}
	}
	base = &explainerv1.ExplainRequest{}
	obj, _ := json.Marshal(fields)
	if err := protojson.Unmarshal(obj, base); err != nil {
		return nil, nil, nil, JSONError(err)
	}
	return base, cases, method, nil
}

// methodCase is the case of ExplainRequest.method named name (its proto
// or its JSON name); nil when there is none.
func methodCase(name string) protoreflect.FieldDescriptor {
	fields := methodOneof.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if string(fd.Name()) == name || fd.JSONName() == name {
			return fd
		}
	}
	return nil
}

func caseNames() []protoreflect.Name {
	fields := methodOneof.Fields()
	names := make([]protoreflect.Name, fields.Len())
	for i := range names {
		names[i] = fields.Get(i).Name()
	}
	slices.Sort(names)
	return names
}

func joinNames(names []protoreflect.Name) string {
	s := make([]string, len(names))
	for i, n := range names {
		s[i] = string(n)
	}
	return strings.Join(s, ", ")
}

// protojsonPrefix is what protojson puts before its messages: "proto:",
// a space or a non-breaking one (chosen at random, so that no one matches
// on it), and the position in the JSON, which here is a re-encoded piece of
// the input rather than the user's text.
var protojsonPrefix = regexp.MustCompile(`^proto:[\s\x{00a0}]+(\(line \d+:\d+\):[\s\x{00a0}]+)?`)

// JSONError is a protojson error without its prefix ("proto:" and the
// position), for messages to clients.
func JSONError(err error) error {
	return errors.New(protojsonPrefix.ReplaceAllString(err.Error(), ""))
}
