package sampler

import (
	"encoding/csv"
	"encoding/json"
	"math"
	"os"
	"strconv"
	"testing"
)

// breastCancer loads ../testdata/breast_cancer.csv: 569 rows of 30 features
// (the target column is dropped) and the 30 feature names.
func breastCancer(tb testing.TB) ([][]float64, []string) {
	tb.Helper()
	f, err := os.Open("../testdata/breast_cancer.csv")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		tb.Fatal(err)
	}
	header := recs[0]
	if len(header) != 31 || header[30] != "target" {
		tb.Fatalf("unexpected header %q", header)
	}
	data := make([][]float64, 0, len(recs)-1)
	for i, rec := range recs[1:] {
		row := make([]float64, 30)
		for j := range row {
			if row[j], err = strconv.ParseFloat(rec[j], 64); err != nil {
				tb.Fatalf("row %d col %d: %v", i, j, err)
			}
		}
		data = append(data, row)
	}
	if len(data) != 569 {
		tb.Fatalf("got %d rows, want 569", len(data))
	}
	return data, header[:30]
}

func readJSON(tb testing.TB, path string, v any) {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
}

// close reports |got − want| ≤ rel·|want| + rel, the fixtures' "relative rel"
// with an absolute floor of the same size for values at or near zero.
func closeTo(got, want, rel float64) bool {
	return math.Abs(got-want) <= rel*math.Abs(want)+rel
}

func assertClose(t *testing.T, what string, got, want []float64, rel float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: got %d values, want %d", what, len(got), len(want))
		return
	}
	for i := range want {
		if !closeTo(got[i], want[i], rel) {
			t.Errorf("%s[%d] = %v, want %v (rel %g)", what, i, got[i], want[i], rel)
		}
	}
}

// meanStd returns the sample mean and population std of x (two passes).
func meanStd(x []float64) (float64, float64) {
	m := 0.0
	for _, v := range x {
		m += v
	}
	m /= float64(len(x))
	ss := 0.0
	for _, v := range x {
		ss += (v - m) * (v - m)
	}
	return m, math.Sqrt(ss / float64(len(x)))
}

func column(rows [][]float64, f int) []float64 {
	c := make([]float64, len(rows))
	for i, r := range rows {
		c[i] = r[f]
	}
	return c
}
