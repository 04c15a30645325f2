package table

import (
	"strings"
	"testing"
)

func TestTextAligns(t *testing.T) {
	tab := Text{Indent: "  ", Right: []bool{false, true, true}}
	tab.Row("feature", "weight", "± SE", "bar")
	tab.Row("radius error > 0.48", "+0.2506", "0.0097", "│██")
	tab.Row("area", "-0.0100", "", "█│")
	tab.Row("φ sum")
	var b strings.Builder
	if _, err := tab.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines:\n%s", len(lines), b.String())
	}
	// Right-aligned columns end at the same rune column; an empty cell
	// does not shift the next one.
	end := func(line, cell string) int {
		i := strings.Index(line, cell)
		if i < 0 {
			t.Fatalf("%q lacks %q", line, cell)
		}
		return len([]rune(line[:i])) + len([]rune(cell))
	}
	if a, b := end(lines[0], "weight"), end(lines[1], "+0.2506"); a != b {
		t.Errorf("weight header ends at %d, its values at %d:\n%s", a, b, strings.Join(lines, "\n"))
	}
	if a, b := end(lines[1], "│██")-3, end(lines[2], "█│")-2; a != b {
		t.Errorf("the bar column starts at %d and %d:\n%s", a, b, strings.Join(lines, "\n"))
	}
	if lines[3] != "  φ sum" {
		t.Errorf("short row %q: want no trailing spaces", lines[3])
	}
}

func TestNumberFormat(t *testing.T) {
	tests := []struct {
		values []float64
		signed bool
		v      float64
		want   string
	}{
		{[]float64{0.2506, -0.0097}, true, 0.2506, "+0.2506"},
		{[]float64{0.2506, -0.0097}, true, -0.0097, "-0.0097"},
		{[]float64{12.3, 1}, false, 1, "1.00"},
		{[]float64{12.3, 1}, false, 12.3, "12.30"},
		{[]float64{1234.5}, false, 1234.5, "1234"},
		{[]float64{2.787e-05, 1e-06}, true, 2.787e-05, "+2.787e-05"},
		{[]float64{2.787e-05, 1e-06}, true, 1e-06, "+1.000e-06"},
		{[]float64{3e7}, false, 3e7, "3.000e+07"},
		{[]float64{0.0031, 0.00001}, false, 0.00001, "0.000010"},
		{[]float64{0.00031}, true, 0.00031, "+3.100e-04"},
		{[]float64{0, 0}, true, 0, "+0.0000"},
		{nil, false, 0.5, "0.5000"},
	}
	for _, tt := range tests {
		if got := NumberFormat(tt.values, tt.signed)(tt.v); got != tt.want {
			t.Errorf("NumberFormat(%v, %v)(%v) = %q, want %q", tt.values, tt.signed, tt.v, got, tt.want)
		}
	}
}

func TestNumberFormatEvery(t *testing.T) {
	values := []float64{5.794, -0.926, 1.2e-5}
	f := NumberFormatEvery(values, true)
	for v, want := range map[float64]string{5.794: "+5.794e+00", 1.2e-5: "+1.200e-05"} {
		if got := f(v); got != want {
			t.Errorf("f(%v) = %q, want %q", v, got, want)
		}
	}
	if got := NumberFormatEvery([]float64{5.794, 0.01, 0}, false)(0.01); got != "0.010" {
		t.Errorf("every value shows: %q, want fixed point", got)
	}
}
