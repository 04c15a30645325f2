// Package table reads numeric tables from CSV files with a header row, the
// format the CLI takes background data and instances in, and lays out the
// CLI's text tables (Text, NumberFormat).
package table

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Table is a dense numeric table.
type Table struct {
	// Names are the feature columns' names, in order.
	Names []string
	// Rows are the feature values, one slice per row.
	Rows [][]float64
	// Target holds the target column's values when one was named, else nil.
	Target []float64
}

// ReadCSV reads a CSV with a header row. Every cell must be a finite
// number. When target is not empty, the column of that name is split off
// into Table.Target.
func ReadCSV(r io.Reader, target string) (*Table, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("table: empty file, want a header row")
		}
		return nil, fmt.Errorf("table: header: %w", err)
	}
	header = slices.Clone(header) // ReuseRecord recycles the slice
	t := &Table{}
	targetCol := -1
	for i, h := range header {
		h = strings.TrimSpace(h)
		if target != "" && h == target {
			targetCol = i
			continue
		}
		t.Names = append(t.Names, h)
	}
	if target != "" && targetCol < 0 {
		return nil, fmt.Errorf("table: no column named %q", target)
	}
	width := len(header)
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("table: %w", err)
		}
		if len(rec) != width {
			return nil, fmt.Errorf("table: line %d has %d fields, header has %d", line, len(rec), width)
		}
		row := make([]float64, 0, len(t.Names))
		for i, cell := range rec {
			v, err := strconv.ParseFloat(strings.TrimSpace(cell), 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("table: line %d, column %q: not a finite number", line, header[i])
			}
			if i == targetCol {
				t.Target = append(t.Target, v)
				continue
			}
			row = append(row, v)
		}
		t.Rows = append(t.Rows, row)
	}
	if len(t.Rows) == 0 {
		return nil, errors.New("table: no data rows after the header")
	}
	return t, nil
}
