package e2e

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/explainer-sidecar/explainer/internal/table"
	kservev2 "github.com/explainer-sidecar/explainer/proto/kserve/v2"
	predictv1 "github.com/explainer-sidecar/explainer/proto/predict/v1"
)

// The tests' own calls to the model servers, without the sidecar's
// predictor package, so that what they compare against does not share the
// sidecar's encoding and decoding.

// predictRows scores rows on the predict.v1 server, in batches it accepts.
func predictRows(t *testing.T, s *stack, rows [][]float64) [][]float64 {
	t.Helper()
	c := predictv1.NewPredictServiceClient(s.sidecar.model)
	var out [][]float64
	for lo := 0; lo < len(rows); lo += sklearnMaxBatch {
		batch := rows[lo:min(lo+sklearnMaxBatch, len(rows))]
		req := &predictv1.PredictRequest{NumInstances: uint32(len(batch)), NumFeatures: uint32(len(batch[0]))}
		for _, r := range batch {
			req.Values = append(req.Values, r...)
		}
		resp, err := c.Predict(ctxTimeout(t), req)
		if err != nil {
			t.Fatalf("Predict on the model server: %v", err)
		}
		k := int(resp.GetNumClasses())
		if k == 0 || len(resp.GetScores()) != k*len(batch) {
			t.Fatalf("Predict on the model server: %d scores in %d classes for %d rows", len(resp.GetScores()), k, len(batch))
		}
		for i := range batch {
			out = append(out, resp.GetScores()[i*k:(i+1)*k])
		}
	}
	return out
}

// inferImages scores 8×8 one-channel images (values in [0, 1]) on
// digits_cnn as an FP32 [N, 1, 8, 8] tensor in raw contents.
func inferImages(t *testing.T, s *stack, images [][]float64) [][]float64 {
	t.Helper()
	raw := make([]byte, 0, 4*64*len(images))
	for _, img := range images {
		for _, v := range img {
			raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(float32(v)))
		}
	}
	return infer(t, s, &kservev2.ModelInferRequest{
		ModelName: "digits_cnn",
		Inputs: []*kservev2.ModelInferRequest_InferInputTensor{{
			Name: "input__0", Datatype: "FP32", Shape: []int64{int64(len(images)), 1, 8, 8},
		}},
		RawInputContents: [][]byte{raw},
	}, len(images))
}

// inferTexts scores texts on sentiment as a BYTES [N, 1] tensor: each
// element a 4-byte little-endian length and its bytes.
func inferTexts(t *testing.T, s *stack, texts ...string) [][]float64 {
	t.Helper()
	var raw []byte
	for _, x := range texts {
		raw = binary.LittleEndian.AppendUint32(raw, uint32(len(x)))
		raw = append(raw, x...)
	}
	return infer(t, s, &kservev2.ModelInferRequest{
		ModelName: "sentiment",
		Inputs: []*kservev2.ModelInferRequest_InferInputTensor{{
			Name: "text", Datatype: "BYTES", Shape: []int64{int64(len(texts)), 1},
		}},
		RawInputContents: [][]byte{raw},
	}, len(texts))
}

// infer sends one ModelInfer call and decodes its first output, FP32 or
// FP64, raw or typed, as n rows.
func infer(t *testing.T, s *stack, req *kservev2.ModelInferRequest, n int) [][]float64 {
	t.Helper()
	resp, err := kservev2.NewGRPCInferenceServiceClient(s.sidecar.model).ModelInfer(ctxTimeout(t), req)
	if err != nil {
		t.Fatalf("ModelInfer %s on the model server: %v", req.GetModelName(), err)
	}
	if len(resp.GetOutputs()) == 0 {
		t.Fatalf("ModelInfer %s: no outputs", req.GetModelName())
	}
	out := resp.GetOutputs()[0]
	var flat []float64
	switch raw := resp.GetRawOutputContents(); {
	case len(raw) > 0 && out.GetDatatype() == "FP32":
		for i := 0; i+4 <= len(raw[0]); i += 4 {
			flat = append(flat, float64(math.Float32frombits(binary.LittleEndian.Uint32(raw[0][i:]))))
		}
	case len(raw) > 0 && out.GetDatatype() == "FP64":
		for i := 0; i+8 <= len(raw[0]); i += 8 {
			flat = append(flat, math.Float64frombits(binary.LittleEndian.Uint64(raw[0][i:])))
		}
	case out.GetDatatype() == "FP32":
		for _, v := range out.GetContents().GetFp32Contents() {
			flat = append(flat, float64(v))
		}
	default:
		flat = out.GetContents().GetFp64Contents()
	}
	if len(flat) == 0 || len(flat)%n != 0 {
		t.Fatalf("ModelInfer %s: %d output values for %d items", req.GetModelName(), len(flat), n)
	}
	k := len(flat) / n
	rows := make([][]float64, n)
	for i := range rows {
		rows[i] = flat[i*k : (i+1)*k]
	}
	return rows
}

// breastCancer is testdata/breast_cancer.csv: scikit-learn's
// load_breast_cancer(), the data the predict.v1 server trains on, with its
// target column (0 malignant, 1 benign).
var breastCancer = sync.OnceValues(func() (*table.Table, error) {
	f, err := os.Open(filepath.Join("..", "..", "testdata", "breast_cancer.csv"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return table.ReadCSV(f, "target")
})

func loadBreastCancer(t *testing.T) *table.Table {
	t.Helper()
	tab, err := breastCancer()
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

// digit is one image of testdata/digits.json: scikit-learn's
// load_digits() image number index, pixels / 16, row-major 8×8.
type digit struct {
	Index  int       `json:"index"`
	Label  int       `json:"label"`
	Height int       `json:"height"`
	Width  int       `json:"width"`
	Pixels []float64 `json:"pixels"`
}

func loadDigits(t *testing.T) []digit {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "digits.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Images []digit `json:"images"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	for _, d := range f.Images {
		if d.Height*d.Width != len(d.Pixels) || d.Height != 8 || d.Width != 8 {
			t.Fatalf("digit %d: %d pixels for %d×%d", d.Index, len(d.Pixels), d.Height, d.Width)
		}
	}
	return f.Images
}
