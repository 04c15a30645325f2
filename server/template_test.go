package server

import (
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

func mustRequest(t *testing.T, s string) *explainerv1.ExplainRequest {
	t.Helper()
	req := &explainerv1.ExplainRequest{}
	if err := protojson.Unmarshal([]byte(s), req); err != nil {
		t.Fatal(err)
	}
	return req
}

func TestParseParameters(t *testing.T) {
	for _, tc := range []struct {
		name, in, want, err string
	}{
		{"method and options", `{"method":"kernel_shap","kernel_shap":{"num_samples":500}}`, `{"kernel_shap":{"num_samples":500}}`, ""},
		{"JSON names", `{"method":"kernelShap","kernelShap":{"numSamples":500},"autoSampling":{"tolerance":0.01}}`, `{"kernel_shap":{"num_samples":500},"auto_sampling":{"tolerance":0.01}}`, ""},
		{"method alone", `{"method":"lime_text"}`, `{"lime_text":{}}`, ""},
		{"options alone", `{"lime":{"seed":"7"},"model":"m"}`, `{"model":"m","lime":{"seed":"7"}}`, ""},
		{"empty", `{}`, `{}`, ""},
		{"method disagrees", `{"method":"lime","kernel_shap":{}}`, "", "method is lime but the options are kernel_shap's"},
		{"two methods", `{"lime":{},"kernel_shap":{}}`, "", "options of 2 methods (kernel_shap, lime): give one"},
		{"unknown method", `{"method":"shap"}`, "", `method: "shap" is not one of ` + joinNames(caseNames())},
		{"method not a string", `{"method":3}`, "", "method: want a string"},
		{"unknown option", `{"lime":{"num_sample":5}}`, "", `lime: unknown field "num_sample"`},
		{"unknown field", `{"lime":{},"seed":5}`, "", `unknown field "seed"`},
		{"instance", `{"instance":{}}`, "", "instance: not a default, each request brings its own"},
		{"not an object", `[1]`, "", "want a JSON object: json: cannot unmarshal array into Go value of type map[string]json.RawMessage"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseParameters([]byte(tc.in))
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := mustRequest(t, tc.want); !proto.Equal(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}

func TestParseDefaults(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"the named method first, with the request-wide fields",
			`{"method":"lime","kernel_shap":{"seed":"1"},"lime":{"seed":"2"},"evaluation":{"stability_runs":3}}`,
			[]string{`{"lime":{"seed":"2"},"evaluation":{"stability_runs":3}}`, `{"kernel_shap":{"seed":"1"}}`}},
		{"a named method without options", `{"method":"occlusion","lime":{"seed":"2"}}`,
			[]string{`{"occlusion":{}}`, `{"lime":{"seed":"2"}}`}},
		{"one method: the default", `{"lime_text":{"mask_string":"[MASK]"}}`, []string{`{"lime_text":{"mask_string":"[MASK]"}}`}},
		{"several methods, none named: no default", `{"model":"m","lime":{},"permutation":{}}`,
			[]string{`{"model":"m"}`, `{"lime":{}}`, `{"permutation":{}}`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseDefaults([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("%d templates %v, want %d", len(got), got, len(tc.want))
			}
			for i, w := range tc.want {
				if want := mustRequest(t, w); !proto.Equal(got[i], want) {
					t.Errorf("template %d = %v, want %v", i, got[i], want)
				}
			}
		})
	}
}

func FuzzParseParameters(f *testing.F) {
	for _, s := range []string{`{"method":"lime","lime":{"num_samples":5}}`, `{}`, `{"kernel_shap":{"background":{"num_rows":1,"values":[1]}}}`, `null`, `{"method":null}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		req, err := ParseParameters(raw)
		if err == nil && req == nil {
			t.Fatal("nil request without an error")
		}
		_, _ = ParseDefaults(raw)
	})
}
