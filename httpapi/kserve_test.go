package httpapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
	"github.com/explainer-sidecar/explainer/server"
)

// explainKServe posts body to /v1/models/{model}:explain as curl -d would.
func (s *stack) explainKServe(t *testing.T, model, body string, header map[string]string) (int, []byte) {
	t.Helper()
	code, _, out := s.post(t, "/v1/models/"+model+":explain", "application/json", []byte(body), header)
	return code, out
}

func (s *stack) get(t *testing.T, path string) (int, []byte) {
	t.Helper()
	resp, err := s.client.Get(s.url + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// explanations decodes {"explanations": [...]}.
func explanations(t *testing.T, raw []byte) []*explainerv1.Explanation {
	t.Helper()
	var body struct {
		Explanations []json.RawMessage `json:"explanations"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	out := make([]*explainerv1.Explanation, len(body.Explanations))
	for i, r := range body.Explanations {
		out[i] = &explainerv1.Explanation{}
		if err := protojson.Unmarshal(r, out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// pngB64 encodes an HWC RGB image of 0..255 values as a base64 PNG.
func pngB64(t *testing.T, im *explainerv1.ImageInstance) string {
	t.Helper()
	w, h := int(im.GetWidth()), int(im.GetHeight())
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			v := im.GetValues()[(y*w+x)*3:]
			img.SetNRGBA(x, y, color.NRGBA{R: uint8(v[0]), G: uint8(v[1]), B: uint8(v[2]), A: 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

// nestedHWC writes an HWC image as nested JSON arrays.
func nestedHWC(im *explainerv1.ImageInstance) string {
	var b strings.Builder
	h, w, c := int(im.GetHeight()), int(im.GetWidth()), int(im.GetChannels())
	b.WriteString("[")
	for y := range h {
		if y > 0 {
			b.WriteString(",")
		}
		b.WriteString("[")
		for x := range w {
			if x > 0 {
				b.WriteString(",")
			}
			b.WriteString("[")
			for ch := range c {
				if ch > 0 {
					b.WriteString(",")
				}
				fmt.Fprint(&b, im.GetValues()[(y*w+x)*c+ch])
			}
			b.WriteString("]")
		}
		b.WriteString("]")
	}
	b.WriteString("]")
	return b.String()
}

func jsonRow(v []float64) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestKServeExplain(t *testing.T) {
	// The sidecar's defaults: lime with the training data, as serve
	// --training-data --method lime sets them.
	template := methodRequests()["lime"]
	template.Instance = nil
	st := startStack(t, stackConfig{server: []server.Option{server.WithRequestDefaults(template)}})
	img := testImage(8, 8)

	for _, tc := range []struct {
		name string
		body string
		want []*explainerv1.ExplainRequest // the gRPC requests of the same jobs
	}{
		{"a tabular row", `{"instances": [` + jsonRow(row) + `]}`,
			[]*explainerv1.ExplainRequest{methodRequests()["lime"]}},
		// Rows go as one batch job: instance i with the seed + i, each
		// explaining its own top label as alone.
		{"rows", `{"instances": [` + jsonRow(row) + `, ` + jsonRow(dataRows(2)[1]) + `]}`,
			[]*explainerv1.ExplainRequest{methodRequests()["lime"], func() *explainerv1.ExplainRequest {
				r := methodRequests()["lime"]
				r.Instance = tabular(dataRows(2)[1])
				r.GetLime().Seed = seed(8)
				return r
			}()}},
		{"texts", `{"instances": ["` + testText + `", "bad service"], "parameters": {"method": "lime_text", "lime_text": {"num_samples": 300, "seed": 9}}}`,
			[]*explainerv1.ExplainRequest{methodRequests()["lime_text"], func() *explainerv1.ExplainRequest {
				r := methodRequests()["lime_text"]
				r.Instance = &explainerv1.Instance{Kind: &explainerv1.Instance_Text{Text: &explainerv1.TextInstance{Text: "bad service"}}}
				r.GetLimeText().Seed = seed(10)
				return r
			}()}},
		// Occlusion has no top_labels to keep each image's own label: a
		// job per image.
		{"images, occlusion", `{"instances": [{"b64": "` + pngB64(t, img) + `"}, {"b64": "` + pngB64(t, img) + `"}], "parameters": {"method": "occlusion", "occlusion": {"window": [4, 4], "strides": [2, 2]}}}`,
			[]*explainerv1.ExplainRequest{methodRequests()["occlusion"], methodRequests()["occlusion"]}},
		{"kernel_shap by parameters", `{"instances": [` + jsonRow(row) + `], "parameters": ` + mustJSON(t, methodRequests()["kernel_shap"], "kernel_shap") + `}`,
			[]*explainerv1.ExplainRequest{methodRequests()["kernel_shap"]}},
		{"a text", `{"instances": ["` + testText + `"], "parameters": {"method": "lime_text", "lime_text": {"num_samples": 300, "seed": 9}}}`,
			[]*explainerv1.ExplainRequest{methodRequests()["lime_text"]}},
		{"an image, b64 PNG", `{"instances": [{"b64": "` + pngB64(t, img) + `"}], "parameters": {"method": "occlusion", "occlusion": {"window": [4, 4], "strides": [2, 2]}}}`,
			[]*explainerv1.ExplainRequest{methodRequests()["occlusion"]}},
		{"an image, nested arrays", `{"instances": [` + nestedHWC(img) + `], "parameters": ` + mustJSON(t, methodRequests()["lime_image"], "lime_image") + `}`,
			[]*explainerv1.ExplainRequest{methodRequests()["lime_image"]}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := st.explainKServe(t, "model", tc.body, nil)
			if code != http.StatusOK {
				t.Fatalf("HTTP %d: %s", code, out)
			}
			got := explanations(t, out)
			if len(got) != len(tc.want) {
				t.Fatalf("%d explanations, want %d", len(got), len(tc.want))
			}
			for i, req := range tc.want {
				want, err := st.grpc.Explain(ctx(t), req)
				if err != nil {
					t.Fatal(err)
				}
				if !proto.Equal(withoutCalls(got[i]), withoutCalls(want.GetExplanation())) {
					t.Errorf("explanation %d:\n%v\nwant %v", i, got[i], want.GetExplanation())
				}
			}
		})
	}
}

// mustJSON is the "parameters" of req's method: its options, and
// "method".
func mustJSON(t *testing.T, req *explainerv1.ExplainRequest, method string) string {
	t.Helper()
	r := proto.Clone(req).(*explainerv1.ExplainRequest)
	r.Instance = nil
	b, err := marshalJSON.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return `{"method": "` + method + `", ` + string(b[1:])
}

func TestKServeExplainErrors(t *testing.T) {
	template := methodRequests()["lime"]
	template.Instance = nil
	st := startStack(t, stackConfig{
		server: []server.Option{server.WithRequestDefaults(template)},
		grpc:   server.AuthServerOptions(server.NewStaticTokens("s3cret")),
	})
	auth := map[string]string{"Authorization": "Bearer s3cret"}
	for _, tc := range []struct {
		name, model, body string
		header            map[string]string
		code              int
		want              kserveError
	}{
		{"no token", "model", `{"instances": [` + jsonRow(row) + `]}`, nil, 401,
			kserveError{Error: `instances[0]: missing bearer token: send metadata "authorization: Bearer <token>"`, Code: "unauthenticated"}},
		{"another model", "other", `{"instances": [[1]]}`, auth, 404, kserveError{Error: `model "other" is not served here`, Code: "not_found"}},
		{"no instances", "model", `{"inputs": [[1]]}`, auth, 400, kserveError{Error: "instances: required, one or more", Code: "invalid_argument"}},
		{"not JSON", "model", `instances`, auth, 400, kserveError{Error: `want a JSON object {"instances": [...]}: invalid character 'i' looking for beginning of value`, Code: "invalid_argument"}},
		{"a bad instance", "model", `{"instances": [[1, 2], [1, "a"]]}`, auth, 400, kserveError{Error: "instances[1]: [1]: not a number", Code: "invalid_argument"}},
		{"a ragged image", "model", `{"instances": [[[1, 2], [3]]]}`, auth, 400, kserveError{Error: "instances[0]: [1]: shape [1], [0] has [2]", Code: "invalid_argument"}},
		{"an object", "model", `{"instances": [{"x": 1}]}`, auth, 400, kserveError{Error: `instances[0]: an object must be {"b64": "<base64 PNG or JPEG>"}`, Code: "invalid_argument"}},
		{"not an image", "model", `{"instances": [{"b64": "aGVsbG8="}]}`, auth, 400, kserveError{Error: "instances[0]: b64: not a PNG or JPEG image: image: unknown format", Code: "invalid_argument"}},
		{"bad parameters", "model", `{"instances": [[1]], "parameters": {"method": "lime", "lime": {"num_samples": "many"}}}`, auth, 400,
			kserveError{Error: `parameters: lime: invalid value for uint32 field numSamples: "many"`, Code: "invalid_argument"}},
		{"bad layout", "model", `{"instances": [[1]], "parameters": {"image_layout": "nhwc"}}`, auth, 400,
			kserveError{Error: `parameters: image_layout: "nhwc": want "hwc" or "chw"`, Code: "invalid_argument"}},
		// The batch job names its instance as "batch instance 1"; :explain
		// names it as the jobs of single instances do.
		{"the server refuses an instance of a batch", "model", `{"instances": ["good food", ""], "parameters": {"method": "lime_text"}}`, auth, 400,
			kserveError{Error: "instances[1]: instance.text: has no words", Code: "invalid_argument"}},
		{"the server refuses an instance", "model", `{"instances": [` + jsonRow(row) + `, ` + jsonRow(row[:4]) + `]}`, auth, 400,
			kserveError{Error: "instances[1]: ", Code: "invalid_argument"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := st.explainKServe(t, tc.model, tc.body, tc.header)
			var got kserveError
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if tc.want.Error == "instances[1]: " {
				// The server's own message for a row of the wrong width.
				if code != tc.code || got.Code != tc.want.Code || !strings.HasPrefix(got.Error, "instances[1]: lime.") {
					t.Errorf("HTTP %d %+v", code, got)
				}
				return
			}
			if code != tc.code || got != tc.want {
				t.Errorf("HTTP %d %+v\nwant %d %+v", code, got, tc.code, tc.want)
			}
		})
	}
	code, _, out := st.post(t, "/v1/models/model:explain", "application/json", nil, nil)
	if code != http.StatusBadRequest {
		t.Errorf("empty body: HTTP %d %s", code, out)
	}
	resp, err := st.client.Get(st.url + "/v1/models/model:explain")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
		t.Errorf("GET :explain: HTTP %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

func TestKServeProbes(t *testing.T) {
	st := startStack(t, stackConfig{modelName: "my-model"})
	if code, out := st.get(t, "/"); code != http.StatusOK || strings.TrimSpace(string(out)) != `{"status":"alive"}` {
		t.Errorf("liveness: HTTP %d %s", code, out)
	}
	if code, out := st.get(t, "/v1/models"); code != http.StatusOK || strings.TrimSpace(string(out)) != `{"models":["my-model"]}` {
		t.Errorf("models: HTTP %d %s", code, out)
	}
	// Not ready until the model server's readiness has been checked.
	if code, out := st.get(t, "/v1/models/my-model"); code != http.StatusServiceUnavailable || strings.TrimSpace(string(out)) != `{"name":"my-model","ready":false}` {
		t.Errorf("readiness before the check: HTTP %d %s", code, out)
	}
	wctx, stop := context.WithCancel(ctx(t))
	done := make(chan struct{})
	go func() { defer close(done); st.srv.WatchModel(wctx, 10*time.Millisecond) }()
	defer func() { stop(); <-done }()
	var code int
	var out []byte
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if code, out = st.get(t, "/v1/models/my-model"); code == http.StatusOK {
			break
		}
	}
	if code != http.StatusOK || strings.TrimSpace(string(out)) != `{"name":"my-model","ready":true}` {
		t.Errorf("readiness: HTTP %d %s", code, out)
	}
	if code, _ := st.get(t, "/v1/models/model"); code != http.StatusNotFound {
		t.Errorf("another model's readiness: HTTP %d, want 404", code)
	}
	st.srv.Shutdown()
	if code, _ := st.get(t, "/v1/models/my-model"); code != http.StatusServiceUnavailable {
		t.Errorf("readiness while shutting down: HTTP %d, want 503", code)
	}
}

func FuzzDecodeInstance(f *testing.F) {
	for _, s := range []string{`[1, 2, 3]`, `"a text"`, `[[1, 2], [3, 4]]`, `[[[1, 2, 3]], [[4, 5, 6]]]`, `{"b64": "aGVsbG8="}`, `[]`, `[[[]]]`, `{}`, `null`, `[[1], [[2]]]`} {
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, raw []byte, chw bool) {
		layout := explainerv1.ImageLayout_IMAGE_LAYOUT_HWC
		if chw {
			layout = explainerv1.ImageLayout_IMAGE_LAYOUT_CHW
		}
		inst, err := decodeInstance(raw, layout)
		if err == nil && inst.GetKind() == nil {
			t.Fatal("an instance without a kind and no error")
		}
		if im := inst.GetImage(); im != nil && uint64(im.GetHeight())*uint64(im.GetWidth())*uint64(im.GetChannels()) != uint64(len(im.GetValues())) {
			t.Fatalf("image %d×%d×%d with %d values", im.GetHeight(), im.GetWidth(), im.GetChannels(), len(im.GetValues()))
		}
	})
}
