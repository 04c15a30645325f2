package predictor

import (
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"testing"

	kservev2 "github.com/explainer-sidecar/explainer/proto/kserve/v2"
	predictv1 "github.com/explainer-sidecar/explainer/proto/predict/v1"
)

func fp32Bytes(vs ...float32) []byte {
	b := make([]byte, 4*len(vs))
	for i, v := range vs {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

func fp64Bytes(vs ...float64) []byte {
	b := make([]byte, 8*len(vs))
	for i, v := range vs {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(v))
	}
	return b
}

func tensor(datatype string, shape ...int64) *kservev2.ModelInferResponse_InferOutputTensor {
	return &kservev2.ModelInferResponse_InferOutputTensor{Name: "out", Datatype: datatype, Shape: shape}
}

func TestDecodeResponse(t *testing.T) {
	typed := func(o *kservev2.ModelInferResponse_InferOutputTensor, c *kservev2.InferTensorContents) *kservev2.ModelInferResponse_InferOutputTensor {
		o.Contents = c
		return o
	}
	outs := func(o ...*kservev2.ModelInferResponse_InferOutputTensor) []*kservev2.ModelInferResponse_InferOutputTensor {
		return o
	}
	tests := []struct {
		name string
		resp *kservev2.ModelInferResponse
		want [][]float64
		err  string // "" for success
	}{
		{"raw FP32 [2,2]", &kservev2.ModelInferResponse{Outputs: outs(tensor("FP32", 2, 2)),
			RawOutputContents: [][]byte{fp32Bytes(0.25, 0.75, 1, 0)}}, [][]float64{{0.25, 0.75}, {1, 0}}, ""},
		{"raw FP64 [3]", &kservev2.ModelInferResponse{Outputs: outs(tensor("FP64", 3)),
			RawOutputContents: [][]byte{fp64Bytes(0.1, 0.2, 0.3)}}, [][]float64{{0.1}, {0.2}, {0.3}}, ""},
		{"raw [2,1,2] flattens", &kservev2.ModelInferResponse{Outputs: outs(tensor("FP64", 2, 1, 2)),
			RawOutputContents: [][]byte{fp64Bytes(1, 2, 3, 4)}}, [][]float64{{1, 2}, {3, 4}}, ""},
		{"typed FP32", &kservev2.ModelInferResponse{Outputs: outs(typed(tensor("FP32", 1, 2),
			&kservev2.InferTensorContents{Fp32Contents: []float32{0.5, 0.5}}))}, [][]float64{{0.5, 0.5}}, ""},
		{"typed FP64", &kservev2.ModelInferResponse{Outputs: outs(typed(tensor("FP64", 1, 2),
			&kservev2.InferTensorContents{Fp64Contents: []float64{0.1, 0.9}}))}, [][]float64{{0.1, 0.9}}, ""},
		{"named output second", &kservev2.ModelInferResponse{
			Outputs:           outs(&kservev2.ModelInferResponse_InferOutputTensor{Name: "label", Datatype: "INT64", Shape: []int64{1}}, tensor("FP32", 1, 2)),
			RawOutputContents: [][]byte{make([]byte, 8), fp32Bytes(0.5, 0.5)}}, [][]float64{{0.5, 0.5}}, ""},
		{"zero rows", &kservev2.ModelInferResponse{Outputs: outs(tensor("FP32", 0, 2)), RawOutputContents: [][]byte{{}}},
			[][]float64{}, ""},
		// Halves 0.25, 0.75 (0x3400, 0x3a00), 1 and the smallest subnormal, little-endian.
		{"raw FP16 [2,2]", &kservev2.ModelInferResponse{Outputs: outs(tensor("FP16", 2, 2)),
			RawOutputContents: [][]byte{{0x00, 0x34, 0x00, 0x3a, 0x00, 0x3c, 0x01, 0x00}}}, [][]float64{{0.25, 0.75}, {1, 0x1p-24}}, ""},
		{"typed FP16", &kservev2.ModelInferResponse{Outputs: outs(typed(tensor("FP16", 1, 2),
			&kservev2.InferTensorContents{Fp32Contents: []float32{0.5, 0.5}}))}, nil, "FP16 output must come in raw_output_contents"},

		{"nil response", nil, nil, "no output tensor"},
		{"no outputs", &kservev2.ModelInferResponse{}, nil, "no output tensor"},
		{"output missing", &kservev2.ModelInferResponse{Outputs: outs(&kservev2.ModelInferResponse_InferOutputTensor{Name: "x", Datatype: "FP32", Shape: []int64{1}})},
			nil, `no output named "out"`},
		{"fewer raw than outputs", &kservev2.ModelInferResponse{
			Outputs:           outs(&kservev2.ModelInferResponse_InferOutputTensor{Name: "label"}, tensor("FP32", 1, 1)),
			RawOutputContents: [][]byte{fp32Bytes(1)}}, nil, "1 raw output contents for 2 outputs"},
		{"short raw", &kservev2.ModelInferResponse{Outputs: outs(tensor("FP32", 2, 2)),
			RawOutputContents: [][]byte{fp32Bytes(1, 2, 3)}}, nil, "contents hold 3 values"},
		{"raw not whole values", &kservev2.ModelInferResponse{Outputs: outs(tensor("FP64", 1, 1)),
			RawOutputContents: [][]byte{make([]byte, 7)}}, nil, "7 bytes is not a whole number of FP64 values"},
		{"nil typed contents", &kservev2.ModelInferResponse{Outputs: outs(tensor("FP32", 2, 2))}, nil, "contents hold 0 values"},
		{"typed in the wrong field", &kservev2.ModelInferResponse{Outputs: outs(typed(tensor("FP32", 1, 2),
			&kservev2.InferTensorContents{Fp64Contents: []float64{0.1, 0.9}}))}, nil, "contents hold 0 values"},
		{"INT64 output", &kservev2.ModelInferResponse{Outputs: outs(tensor("INT64", 1)),
			RawOutputContents: [][]byte{make([]byte, 8)}}, nil, "not FP32, FP64 or FP16"},
		{"no shape", &kservev2.ModelInferResponse{Outputs: outs(tensor("FP32")),
			RawOutputContents: [][]byte{fp32Bytes(1)}}, nil, "no shape"},
		{"negative dim", &kservev2.ModelInferResponse{Outputs: outs(tensor("FP32", -1, 2)),
			RawOutputContents: [][]byte{fp32Bytes(1, 2)}}, nil, "negative"},
		{"zero classes", &kservev2.ModelInferResponse{Outputs: outs(tensor("FP32", 4, 0)),
			RawOutputContents: [][]byte{{}}}, nil, "0 classes"},
		{"huge shape, little data", &kservev2.ModelInferResponse{Outputs: outs(tensor("FP32", 1, 1<<62, 1<<62)),
			RawOutputContents: [][]byte{fp32Bytes(1)}}, nil, "overflows"},
		{"huge rows", &kservev2.ModelInferResponse{Outputs: outs(tensor("FP32", 1<<62, 1)),
			RawOutputContents: [][]byte{fp32Bytes(1)}}, nil, "disagree"},
		{"values without rows", &kservev2.ModelInferResponse{Outputs: outs(tensor("FP32", 0, 2)),
			RawOutputContents: [][]byte{fp32Bytes(1, 2)}}, nil, "holds 0 values, contents hold 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeResponse(tt.resp, "out")
			if tt.name == "raw FP64 [3]" || tt.name == "zero rows" || tt.name == "no outputs" || tt.name == "nil response" {
				got, err = decodeResponse(tt.resp, "") // any first output
			}
			if tt.err != "" {
				if !errors.Is(err, ErrBadOutput) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want ErrBadOutput containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				for j := range got[i] {
					if got[i][j] != float64(float32(tt.want[i][j])) && got[i][j] != tt.want[i][j] {
						t.Errorf("got %v, want %v", got, tt.want)
					}
				}
			}
		})
	}
}

func TestDecodePredict(t *testing.T) {
	tests := []struct {
		name    string
		resp    *predictv1.PredictResponse
		rows    int
		wantErr string
	}{
		{"ok", &predictv1.PredictResponse{NumClasses: 2, Scores: []float64{1, 2, 3, 4}}, 2, ""},
		{"empty", &predictv1.PredictResponse{}, 0, ""},
		{"nil", nil, 0, ""},
		{"no classes", &predictv1.PredictResponse{Scores: []float64{1}}, 0, "num_classes 0"},
		{"ragged", &predictv1.PredictResponse{NumClasses: 3, Scores: []float64{1, 2, 3, 4}}, 0, "not a whole number"},
	}
	for _, tt := range tests {
		got, err := decodePredict(tt.resp)
		if tt.wantErr != "" {
			if !errors.Is(err, ErrBadOutput) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: err = %v, want %q", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil || len(got) != tt.rows {
			t.Errorf("%s: got %d rows, %v; want %d", tt.name, len(got), err, tt.rows)
		}
	}
}

func TestSoftmax(t *testing.T) {
	tests := []struct {
		z, want []float64
	}{
		{[]float64{0, math.Log(2), math.Log(3)}, []float64{1.0 / 6, 2.0 / 6, 3.0 / 6}},
		{[]float64{1000, 1000}, []float64{0.5, 0.5}}, // no overflow: max is subtracted
		{[]float64{-1000, 0}, []float64{0, 1}},
		{[]float64{7}, []float64{1}},
	}
	for _, tt := range tests {
		z := append([]float64(nil), tt.z...)
		softmax(z)
		for i := range z {
			if math.Abs(z[i]-tt.want[i]) > 1e-15 {
				t.Errorf("softmax(%v) = %v, want %v", tt.z, z, tt.want)
				break
			}
		}
	}
	z := []float64{math.NaN(), 1}
	softmax(z)
	if !math.IsNaN(z[0]) && !math.IsNaN(z[1]) {
		t.Errorf("softmax of a NaN logit = %v, want NaN for the Batcher to catch", z)
	}
}

// FuzzDecodeOutput feeds arbitrary tensors to the KServe output decoder: it
// must never panic, and what it accepts must be a rectangle whose values
// the contents hold.
func FuzzDecodeOutput(f *testing.F) {
	f.Add(fp32Bytes(0.25, 0.75, 1, 0), "FP32", uint8(2), int64(2), int64(2), int64(1), true)
	f.Add(fp64Bytes(0.1, 0.2, 0.3), "FP64", uint8(1), int64(3), int64(0), int64(0), true)
	f.Add(fp32Bytes(1, 2, 3), "FP32", uint8(2), int64(2), int64(2), int64(1), true)
	f.Add(make([]byte, 7), "FP64", uint8(2), int64(1), int64(1), int64(1), true)
	f.Add(fp64Bytes(1, 2, 3, 4), "FP64", uint8(3), int64(2), int64(1), int64(2), true)
	f.Add([]byte{}, "FP32", uint8(2), int64(4), int64(0), int64(1), true)
	f.Add(fp32Bytes(1), "FP32", uint8(2), int64(1<<62), int64(1<<62), int64(1), true)
	f.Add(fp32Bytes(1, 2), "FP32", uint8(2), int64(-1), int64(2), int64(1), true)
	f.Add(fp32Bytes(1, 2), "FP32", uint8(2), int64(1), int64(2), int64(1), false)
	f.Add(fp64Bytes(1, 2), "FP64", uint8(2), int64(1), int64(2), int64(1), false)
	f.Add(make([]byte, 8), "INT64", uint8(1), int64(1), int64(0), int64(0), true)
	f.Add([]byte{}, "FP32", uint8(0), int64(0), int64(0), int64(0), true)
	f.Add([]byte{0x00, 0x3c, 0x00, 0x38}, "FP16", uint8(2), int64(1), int64(2), int64(1), true)
	f.Fuzz(func(t *testing.T, data []byte, datatype string, rank uint8, d0, d1, d2 int64, raw bool) {
		shape := []int64{d0, d1, d2}[:min(int(rank), 3)]
		o := tensor(datatype, shape...)
		var c int
		if raw {
			c = len(data)
		} else {
			// The same bytes as typed contents.
			o.Contents = &kservev2.InferTensorContents{}
			for i := 0; i+4 <= len(data); i += 4 {
				o.Contents.Fp32Contents = append(o.Contents.Fp32Contents, math.Float32frombits(binary.LittleEndian.Uint32(data[i:])))
			}
			for i := 0; i+8 <= len(data); i += 8 {
				o.Contents.Fp64Contents = append(o.Contents.Fp64Contents, math.Float64frombits(binary.LittleEndian.Uint64(data[i:])))
			}
		}
		rows, err := decodeOutput(o, data, raw)
		if err != nil {
			if !errors.Is(err, ErrBadOutput) {
				t.Fatalf("error %v is not ErrBadOutput", err)
			}
			return
		}
		if int64(len(rows)) != shape[0] {
			t.Fatalf("%d rows for shape %v", len(rows), shape)
		}
		n := 0
		for _, r := range rows {
			if len(r) != len(rows[0]) || len(r) == 0 {
				t.Fatalf("ragged or empty rows for shape %v", shape)
			}
			n += len(r)
		}
		if raw {
			if size := valueSize(datatype); n*size != c {
				t.Fatalf("%d values from %d bytes of %s", n, c, datatype)
			}
		}
		// The whole response path must not panic either.
		resp := &kservev2.ModelInferResponse{Outputs: []*kservev2.ModelInferResponse_InferOutputTensor{o}}
		if raw {
			resp.RawOutputContents = [][]byte{data}
		}
		if _, err := decodeResponse(resp, "out"); err != nil {
			t.Fatalf("decodeOutput accepted what decodeResponse rejects: %v", err)
		}
	})
}

// FuzzDecodePredict: a predict.v1 reply of any class count and score count
// decodes into whole rows or fails with ErrBadOutput.
func FuzzDecodePredict(f *testing.F) {
	f.Add(uint32(2), 4)
	f.Add(uint32(0), 1)
	f.Add(uint32(3), 4)
	f.Add(uint32(1<<31), 3)
	f.Fuzz(func(t *testing.T, classes uint32, n int) {
		n = max(0, min(n, 1<<12))
		got, err := decodePredict(&predictv1.PredictResponse{NumClasses: classes, Scores: make([]float64, n)})
		if err != nil {
			if !errors.Is(err, ErrBadOutput) {
				t.Fatal(err)
			}
			return
		}
		for _, r := range got {
			if len(r) != int(classes) {
				t.Fatalf("row of %d for %d classes", len(r), classes)
			}
		}
		if len(got)*int(classes) != n {
			t.Fatalf("%d rows × %d classes from %d scores", len(got), classes, n)
		}
	})
}
