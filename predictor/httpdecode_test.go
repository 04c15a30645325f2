package predictor

import (
	"errors"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// WithHTTPBackoff shortens the first wait between attempts, for tests.
func WithHTTPBackoff(d time.Duration) HTTPOption {
	return httpOption(func(o *httpOptions) { o.backoff = d })
}

func TestDecodePredictions(t *testing.T) {
	for _, tc := range []struct {
		name   string
		body   string
		scalar bool
		want   [][]float64
		errHas string // "" for success
	}{
		{name: "rows", body: `{"predictions": [[0.25, 0.75], [1, 0]]}`, want: [][]float64{{0.25, 0.75}, {1, 0}}},
		{name: "empty", body: `{"predictions": []}`, want: [][]float64{}},
		{name: "other members", body: `{"model_name":"m","predictions":[[1]],"id":"x"}`, want: [][]float64{{1}}},
		{name: "labels refused", body: `{"predictions": [1, 0, 1]}`, errHas: "shape [N]"},
		{name: "scalars taken", body: `{"predictions": [0.5, -2e3]}`, scalar: true, want: [][]float64{{0.5}, {-2000}}},
		{name: "ragged", body: `{"predictions": [[1, 2], [3]]}`, errHas: "prediction 1 has 1 scores, prediction 0 has 2"},
		{name: "mixed", body: `{"predictions": [[1], 2]}`, scalar: true, want: [][]float64{{1}, {2}}},
		{name: "nested", body: `{"predictions": [[[1, 2]]]}`, errHas: "prediction 0 is not a list of numbers"},
		{name: "strings", body: `{"predictions": ["cat"]}`, errHas: "prediction 0 is a JSON string"},
		{name: "objects", body: `{"predictions": [{"scores": [1]}]}`, errHas: "prediction 0 is a JSON object"},
		{name: "null", body: `{"predictions": [null]}`, errHas: "JSON null"},
		{name: "no predictions", body: `{"outputs": []}`, errHas: `no "predictions"`},
		{name: "not an array", body: `{"predictions": 3}`, errHas: "want []json.RawMessage"},
		{name: "NaN", body: `{"predictions": [[0.5, NaN]]}`, errHas: "non-finite score"},
		{name: "Infinity", body: `{"predictions": [[Infinity, 0]]}`, errHas: "non-finite score"},
		{name: "-Infinity", body: `{"predictions": [[-Infinity, 0]]}`, errHas: "non-finite score"},
		{name: "out of range", body: `{"predictions": [[1e400]]}`, errHas: "not a list of numbers"},
		{name: "truncated", body: `{"predictions": [[0.5, 0.`, errHas: "not valid JSON"},
		{name: "empty rows", body: `{"predictions": [[], []]}`, errHas: "0 scores"},
		{name: "html", body: `<html>oops</html>`, errHas: "not valid JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodePredictions("v1 predict", []byte(tc.body), tc.scalar)
			if tc.errHas != "" {
				if !errors.Is(err, ErrBadOutput) || !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("got %v, want ErrBadOutput containing %q", err, tc.errHas)
				}
				if strings.Contains(err.Error(), "1e400") || strings.Contains(err.Error(), "cat") {
					t.Errorf("the error quotes the payload: %v", err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestDecodeInferReply(t *testing.T) {
	bin := func(js string, raw []byte) *httpReply {
		return &httpReply{
			header: http.Header{inferHeaderLength: {strconv.Itoa(len(js))}},
			body:   append([]byte(js), raw...),
		}
	}
	plain := func(js string) *httpReply { return &httpReply{header: http.Header{}, body: []byte(js)} }
	for _, tc := range []struct {
		name   string
		rep    *httpReply
		output string
		want   [][]float64
		errHas string
	}{
		{name: "flat FP32", rep: plain(`{"outputs":[{"name":"p","datatype":"FP32","shape":[2,2],"data":[0.25,0.75,1,0]}]}`),
			want: [][]float64{{0.25, 0.75}, {1, 0}}},
		{name: "nested FP64", rep: plain(`{"outputs":[{"name":"p","datatype":"FP64","shape":[2,2],"data":[[0.1,0.9],[0.3,0.7]]}]}`),
			want: [][]float64{{0.1, 0.9}, {0.3, 0.7}}},
		{name: "FP16 as JSON numbers", rep: plain(`{"outputs":[{"name":"p","datatype":"FP16","shape":[1,2],"data":[0.25,0.75]}]}`),
			want: [][]float64{{0.25, 0.75}}},
		{name: "[N] is one class", rep: plain(`{"outputs":[{"name":"p","datatype":"FP64","shape":[3],"data":[1,2,3]}]}`),
			want: [][]float64{{1}, {2}, {3}}},
		{name: "named output", output: "b", rep: plain(`{"outputs":[{"name":"a","datatype":"INT64","shape":[1],"data":[1]},{"name":"b","datatype":"FP64","shape":[1,2],"data":[0.5,0.5]}]}`),
			want: [][]float64{{0.5, 0.5}}},
		{name: "missing output", output: "c", rep: plain(`{"outputs":[{"name":"a","datatype":"FP64","shape":[1],"data":[1]}]}`),
			errHas: `no output named "c"`},
		{name: "labels", rep: plain(`{"outputs":[{"name":"a","datatype":"INT64","shape":[2],"data":[1,0]}]}`),
			errHas: "not FP32, FP64 or FP16"},
		{name: "shape disagrees", rep: plain(`{"outputs":[{"name":"a","datatype":"FP32","shape":[2,2],"data":[1,2,3]}]}`),
			errHas: "disagree"},
		{name: "strings in data", rep: plain(`{"outputs":[{"name":"a","datatype":"FP32","shape":[1,1],"data":["x"]}]}`),
			errHas: "not an array of numbers"},
		{name: "no shape", rep: plain(`{"outputs":[{"name":"a","datatype":"FP32","data":[1]}]}`), errHas: "no shape"},
		{name: "no outputs", rep: plain(`{"outputs":[]}`), errHas: "no output tensor"},
		{name: "NaN", rep: plain(`{"outputs":[{"name":"a","datatype":"FP32","shape":[1,1],"data":[NaN]}]}`), errHas: "non-finite"},
		{name: "binary FP32", rep: bin(`{"outputs":[{"name":"p","datatype":"FP32","shape":[2,2],"parameters":{"binary_data_size":16}}]}`, fp32Bytes(0.25, 0.75, 1, 0)),
			want: [][]float64{{0.25, 0.75}, {1, 0}}},
		{name: "binary second output", output: "b", rep: bin(
			`{"outputs":[{"name":"a","datatype":"FP64","shape":[1],"parameters":{"binary_data_size":8}},{"name":"b","datatype":"FP64","shape":[1,2],"parameters":{"binary_data_size":16}}]}`,
			append(fp64Bytes(9), fp64Bytes(0.1, 0.9)...)),
			want: [][]float64{{0.1, 0.9}}},
		{name: "binary and JSON outputs", output: "b", rep: bin(
			`{"outputs":[{"name":"a","datatype":"FP64","shape":[1],"data":[3]},{"name":"b","datatype":"FP32","shape":[1,1],"parameters":{"binary_data_size":4}}]}`,
			fp32Bytes(0.5)),
			want: [][]float64{{0.5}}},
		{name: "binary size past the end", rep: bin(`{"outputs":[{"name":"p","datatype":"FP32","shape":[1,2],"parameters":{"binary_data_size":8}}]}`, fp32Bytes(1)),
			errHas: "runs past the end"},
		{name: "negative binary size", rep: bin(`{"outputs":[{"name":"p","datatype":"FP32","shape":[1,2],"parameters":{"binary_data_size":-1}}]}`, nil),
			errHas: "runs past the end"},
		{name: "header length past the end", rep: &httpReply{header: http.Header{inferHeaderLength: {"999"}}, body: []byte(`{}`)},
			errHas: "does not fit"},
		{name: "header length not a number", rep: &httpReply{header: http.Header{inferHeaderLength: {"x"}}, body: []byte(`{}`)},
			errHas: "does not fit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeInferReply("v2 infer", tc.rep, tc.output)
			if tc.errHas != "" {
				if !errors.Is(err, ErrBadOutput) || !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("got %v, want ErrBadOutput containing %q", err, tc.errHas)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestSanitizeMessage(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"  model   not\tfound \n", "model not found"},
		{"bell\x07 and \x1b[31mred\x1b[0m", "bell and [31mred [0m"},
		{"bidi \u202eevil", "bidi evil"},
		{"bad \xff utf8", "bad \uFFFD utf8"},
		{strings.Repeat("é", 150), strings.Repeat("é", 100) + "…"},
	} {
		if got := sanitizeMessage(tc.in); got != tc.want {
			t.Errorf("sanitizeMessage(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestServerMessage(t *testing.T) {
	for _, tc := range []struct {
		body, ctype, want string
	}{
		{`{"error": "unknown model 'x'"}`, "application/json", "unknown model 'x'"},
		{`{"detail": "Not Found"}`, "application/json", "Not Found"},
		{`{"detail": [{"loc": ["body"], "input": 123}]}`, "application/json", ""},
		{`{"message": "m"}`, "", "m"},
		{"plain words\n", "text/plain", "plain words"},
		{"<html><body>502</body></html>", "text/html", ""},
		{"bad gateway", "text/html; charset=utf-8", ""},
		{"", "", ""},
	} {
		rep := &httpReply{header: http.Header{"Content-Type": {tc.ctype}}, body: []byte(tc.body)}
		if got := serverMessage(rep); got != tc.want {
			t.Errorf("serverMessage(%q) = %q, want %q", tc.body, got, tc.want)
		}
	}
}

// FuzzDecodePredictions: any body decodes to rectangular rows or fails
// with ErrBadOutput; it never panics.
func FuzzDecodePredictions(f *testing.F) {
	for _, s := range []string{
		`{"predictions": [[0.25, 0.75], [1, 0]]}`, `{"predictions": [1, 0]}`, `{"predictions": [[1], 2]}`,
		`{"predictions": [[NaN]]}`, `{"predictions": [[[1]]]}`, `{"predictions": null}`, `[]`, `{"predictions": [[]]}`,
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, scalar bool) {
		rows, err := decodePredictions("v1 predict", body, scalar)
		if err != nil {
			if !errors.Is(err, ErrBadOutput) {
				t.Fatalf("error %v is not ErrBadOutput", err)
			}
			return
		}
		for _, r := range rows {
			if len(r) == 0 || len(r) != len(rows[0]) {
				t.Fatalf("rows of %d and %d scores", len(rows[0]), len(r))
			}
		}
	})
}

// FuzzDecodeInferReply: any reply, JSON or binary, decodes to rectangular
// rows or fails with ErrBadOutput; it never panics and allocates no more
// than the body justifies.
func FuzzDecodeInferReply(f *testing.F) {
	f.Add([]byte(`{"outputs":[{"name":"p","datatype":"FP32","shape":[2,2],"data":[0.25,0.75,1,0]}]}`), -1, "")
	f.Add([]byte(`{"outputs":[{"name":"p","datatype":"FP64","shape":[1,2],"data":[[0.1,0.9]]}]}`), -1, "p")
	js := `{"outputs":[{"name":"p","datatype":"FP32","shape":[1,2],"parameters":{"binary_data_size":8}}]}`
	f.Add(append([]byte(js), fp32Bytes(1, 2)...), len(js), "")
	f.Add(append([]byte(js), fp32Bytes(1)...), len(js), "p")
	f.Add([]byte(`{"outputs":[{"name":"p","datatype":"FP32","shape":[4611686018427387904,2],"data":[1]}]}`), -1, "")
	f.Fuzz(func(t *testing.T, body []byte, headerLen int, output string) {
		rep := &httpReply{header: http.Header{}, body: body}
		if headerLen >= 0 {
			rep.header.Set(inferHeaderLength, strconv.Itoa(headerLen))
		}
		rows, err := decodeInferReply("v2 infer", rep, output)
		if err != nil {
			if !errors.Is(err, ErrBadOutput) {
				t.Fatalf("error %v is not ErrBadOutput", err)
			}
			return
		}
		for _, r := range rows {
			if len(r) == 0 || len(r) != len(rows[0]) {
				t.Fatalf("rows of %d and %d scores", len(rows[0]), len(r))
			}
		}
	})
}
