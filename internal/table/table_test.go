package table

import (
	"os"
	"strings"
	"testing"
)

func TestReadCSV(t *testing.T) {
	tests := []struct {
		name, in, target   string
		wantRows, wantCols int
		wantTarget         []float64
		wantErr            string
	}{
		{name: "plain", in: "a,b\n1,2\n3,4\n", wantRows: 2, wantCols: 2},
		{name: "target split off", in: "a,y,b\n1,0,2\n3,1,4\n", target: "y", wantRows: 2, wantCols: 2, wantTarget: []float64{0, 1}},
		{name: "empty", in: "", wantErr: "empty file"},
		{name: "no rows", in: "a,b\n", wantErr: "no data rows"},
		{name: "ragged", in: "a,b\n1,2\n3\n", wantErr: "line 3"},
		{name: "not a number", in: "a,b\n1,x\n", wantErr: `column "b": not a finite number`},
		{name: "nan", in: "a,b\n1,NaN\n", wantErr: "not a finite number"},
		{name: "missing target", in: "a,b\n1,2\n", target: "y", wantErr: `no column named "y"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab, err := ReadCSV(strings.NewReader(tt.in), tt.target)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(tab.Rows) != tt.wantRows || len(tab.Names) != tt.wantCols || len(tab.Rows[0]) != tt.wantCols {
				t.Fatalf("got %d rows × %d names (%d values), want %d × %d", len(tab.Rows), len(tab.Names), len(tab.Rows[0]), tt.wantRows, tt.wantCols)
			}
			for i, v := range tt.wantTarget {
				if tab.Target[i] != v {
					t.Fatalf("target[%d] = %v, want %v", i, tab.Target[i], v)
				}
			}
		})
	}
}

func TestReadBreastCancer(t *testing.T) {
	f, err := os.Open("../../testdata/breast_cancer.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tab, err := ReadCSV(f, "target")
	if err != nil {
		t.Fatal(err)
	}
	if len(tab.Rows) != 569 || len(tab.Names) != 30 || len(tab.Target) != 569 {
		t.Fatalf("shape %d×%d, target %d; want 569×30, 569", len(tab.Rows), len(tab.Names), len(tab.Target))
	}
	if tab.Names[0] != "mean radius" || tab.Rows[0][0] != 17.99 {
		t.Fatalf("first name %q value %v, want \"mean radius\" 17.99", tab.Names[0], tab.Rows[0][0])
	}
}
