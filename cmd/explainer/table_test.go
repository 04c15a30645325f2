package main

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// parsedTable is one label's table as printed: the weight and standard
// error of each row, by reading the cells that end where their column's
// header ends.
type parsedTable struct {
	features []string
	weights  []float64
	ses      []float64 // 0 where the cell is blank
	cells    []string  // the weight cells as printed
	other    int       // KernelSHAP's "(N other features)" row: N
	more     int       // "… and N more": N
}

// parseTables reads every table in out, failing the test when a row's
// cells do not end under their headers or the bar's axis moves.
func parseTables(t *testing.T, out string) []parsedTable {
	t.Helper()
	var tables []parsedTable
	lines := strings.Split(out, "\n")
	for i := 0; i < len(lines); i++ {
		if !strings.HasPrefix(lines[i], "  feature ") {
			continue
		}
		fields := regexp.MustCompile(`\S+( \S+)*`).FindAllStringIndex(lines[i], -1)
		// fields: feature, value header, [± s.e.], [mean |∂f/∂x|], bar header
		colEnd := func(byteEnd int) int { return len([]rune(lines[i][:byteEnd])) }
		valueEnd := colEnd(fields[1][1])
		seEnd := -1
		if strings.Contains(lines[i], "± s.e.") {
			seEnd = colEnd(fields[2][1])
		}
		axis := len([]rune(lines[i][:strings.IndexRune(lines[i], '│')]))
		var tab parsedTable
		for i++; i < len(lines) && strings.HasPrefix(lines[i], "  ") && !strings.HasPrefix(lines[i], "  … and "); i++ {
			row := []rune(lines[i])
			if len(row) <= axis || row[axis] != '│' {
				t.Fatalf("the bar's axis is not at column %d in %q", axis, lines[i])
			}
			cell := func(end int) string {
				f := strings.Fields(string(row[:end]))
				if len(f) == 0 || (end < len(row) && row[end] != ' ') {
					t.Fatalf("no cell ends at column %d in %q", end, lines[i])
				}
				return f[len(f)-1]
			}
			w := cell(valueEnd)
			v, err := strconv.ParseFloat(w, 64)
			if err != nil {
				t.Fatalf("weight cell %q of %q: %v", w, lines[i], err)
			}
			name := strings.TrimSpace(string(row[:valueEnd-len([]rune(w))]))
			if n, ok := strings.CutPrefix(name, "("); ok {
				fmt.Sscanf(n, "%d other features)", &tab.other)
				continue
			}
			se := 0.0
			if seEnd > 0 {
				if s := strings.TrimSpace(string(row[valueEnd:seEnd])); s != "" {
					s, ok := strings.CutPrefix(s, "± ")
					if se, err = strconv.ParseFloat(s, 64); !ok || err != nil {
						t.Fatalf("standard error cell of %q is not '± number'", lines[i])
					}
				}
			}
			tab.features = append(tab.features, name)
			tab.weights = append(tab.weights, v)
			tab.ses = append(tab.ses, se)
			tab.cells = append(tab.cells, w)
		}
		if i < len(lines) {
			fmt.Sscanf(lines[i], "  … and %d more", &tab.more)
		}
		tables = append(tables, tab)
	}
	return tables
}

var decimals = regexp.MustCompile(`\.(\d+)(e[+-]\d+)?$`)

// checkTable checks a table's order and its weight column's one format.
func checkTable(t *testing.T, method string, tab parsedTable) {
	t.Helper()
	for i := 1; i < len(tab.weights); i++ {
		prev, cur := math.Abs(tab.weights[i-1]), math.Abs(tab.weights[i])
		if method == "permutation" {
			prev, cur = tab.weights[i-1], tab.weights[i]
		}
		if cur > prev {
			t.Errorf("%s: row %d (%s %v) after %v: not sorted", method, i, tab.features[i], tab.weights[i], tab.weights[i-1])
		}
	}
	format := ""
	for _, c := range tab.cells {
		m := decimals.FindStringSubmatch(c)
		f := "no decimals"
		if m != nil {
			f = fmt.Sprintf("%d decimals, exponent %v", len(m[1]), m[2] != "")
		}
		if format == "" {
			format = f
		} else if f != format {
			t.Errorf("%s: weight cell %q has %s, the column %s", method, c, f, format)
		}
	}
}

// TestTableAlignment renders made-up explanations of each kind: columns
// end under their headers whatever the standard errors (a 0 leaves a blank
// cell), rows are sorted, and tiny sensitivities share one format.
func TestTableAlignment(t *testing.T) {
	attrs := func(ws, ses []float64) []*explainerv1.Attribution {
		var out []*explainerv1.Attribution
		for i, w := range ws {
			out = append(out, &explainerv1.Attribution{Index: uint32(i), Feature: fmt.Sprintf("feature number %d", i), Weight: w, StdError: ses[i], MeanAbs: math.Abs(w) * 2})
		}
		return out
	}
	tests := []struct {
		method  string
		ws, ses []float64
		top     int
		rows    int
	}{
		{"lime", []float64{0.25, -0.3, 0.01}, []float64{0.0097, 0, 0.012}, 0, 3},
		{"kernelshap", []float64{0.1, -0.5, 0.2, 0.05, -0.01}, []float64{0, 0, 0.001, 0.2, 0}, 3, 3},
		{"permutation", []float64{0.01, 0.2, -0.003, 0.05}, []float64{0.001, 0.004, 0.002, 0}, 2, 2},
		{"sensitivity", []float64{2.787e-05, -1.2e-06, 3.1e-04}, []float64{1e-06, 0, 2e-05}, 0, 3},
		{"lime_text", []float64{12.5, -130, 0.5}, []float64{0, 0, 0}, 10, 3},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			exp := &explainerv1.Explanation{Method: tt.method, Model: "m", Labels: []*explainerv1.LabelExplanation{{Label: 1, Attributions: attrs(tt.ws, tt.ses)}}}
			var buf bytes.Buffer
			if err := render(&buf, "table", exp, view{top: tt.top}); err != nil {
				t.Fatal(err)
			}
			tabs := parseTables(t, buf.String())
			if len(tabs) != 1 {
				t.Fatalf("%d tables:\n%s", len(tabs), buf.String())
			}
			tab := tabs[0]
			checkTable(t, tt.method, tab)
			if len(tab.weights) != tt.rows {
				t.Errorf("%d rows, want %d:\n%s", len(tab.weights), tt.rows, buf.String())
			}
			if rest := len(tt.ws) - tt.rows; tt.method == "kernelshap" && tab.other != rest || tt.method == "permutation" && tab.more != rest {
				t.Errorf("other %d, more %d, want %d left out:\n%s", tab.other, tab.more, rest, buf.String())
			}
			for i, f := range tab.features {
				var j int
				fmt.Sscanf(f, "feature number %d", &j)
				tol := math.Abs(tt.ws[j]) * 1e-3 // 4 significant digits
				if m := decimals.FindStringSubmatch(tab.cells[i]); m != nil && m[2] == "" {
					tol = 0.5*math.Pow(10, -float64(len(m[1]))) + 1e-12
				}
				if tab.weights[i] == 0 || math.Abs(tab.weights[i]-tt.ws[j]) > tol || math.Abs(tab.ses[i]-tt.ses[j]) > tt.ses[j]*0.05+1e-12 {
					t.Errorf("row %q: %v ± %v, want %v ± %v", f, tab.weights[i], tab.ses[i], tt.ws[j], tt.ses[j])
				}
			}
			if tt.method == "sensitivity" && !strings.Contains(buf.String(), "mean |∂f/∂x|") {
				t.Errorf("no mean |∂f/∂x| column:\n%s", buf.String())
			}
			if regexp.MustCompile(`± 0\.0+\b`).MatchString(buf.String()) {
				t.Errorf("a standard error printed as 0:\n%s", buf.String())
			}
		})
	}
}

// TestTablesThroughServe runs every tabular method through a sidecar in
// front of the demo model: each table is sorted, aligned and honours
// -num-features.
func TestTablesThroughServe(t *testing.T) {
	addr, _ := startServe(t)
	bg := backgroundCSV(t, 10)
	tests := []struct {
		method string
		args   []string
		labels int
		rows   int
	}{
		{"lime", []string{"-instance-file", breastCancerCSV, "-row", "3", "-background", breastCancerCSV, "-num-samples", "1000", "-num-features", "4"}, 1, 4},
		{"kernelshap", []string{"-instance-file", breastCancerCSV, "-row", "3", "-background", bg, "-num-samples", "300", "-num-features", "6"}, 1, 6},
		{"permutation", []string{"-data", breastCancerCSV, "-repeats", "2", "-num-features", "7"}, 1, 7},
		{"permutation", []string{"-data", breastCancerCSV, "-repeats", "1"}, 1, 10},
		{"sensitivity", []string{"-data", breastCancerCSV, "-num-features", "5"}, 2, 5},
		{"sensitivity", []string{"-data", breastCancerCSV, "-num-features", "0"}, 2, 30},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+strings.Join(tt.args[len(tt.args)-2:], " "), func(t *testing.T) {
			out, _, err := runCLI(t, append([]string{"explain", "-server", addr, "-method", tt.method, "-seed", "1"}, tt.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			tabs := parseTables(t, out)
			if len(tabs) != tt.labels {
				t.Fatalf("%d tables, want %d:\n%s", len(tabs), tt.labels, out)
			}
			for _, tab := range tabs {
				checkTable(t, tt.method, tab)
				if len(tab.weights) != tt.rows {
					t.Errorf("%d rows, want %d:\n%s", len(tab.weights), tt.rows, out)
				}
				switch {
				case tt.method == "kernelshap" && tab.other != 30-tt.rows:
					t.Errorf("kernelshap: other features %d, want %d:\n%s", tab.other, 30-tt.rows, out)
				case (tt.method == "permutation" || tt.method == "sensitivity") && tab.more != 30-tt.rows:
					t.Errorf("%s: %d more, want %d:\n%s", tt.method, tab.more, 30-tt.rows, out)
				}
			}
		})
	}
}

// backgroundCSV writes the first n rows of the breast-cancer CSV.
func backgroundCSV(t *testing.T, n int) string {
	t.Helper()
	raw, err := os.ReadFile(breastCancerCSV)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(raw), "\n")
	return writeFile(t, "bg.csv", strings.Join(lines[:n+1], ""))
}
