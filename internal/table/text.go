package table

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Text lays out rows of cells in aligned columns, as text/tabwriter does
// with padding 2, except that a column can be right-aligned (numbers) and
// widths count runes, so "│", "█" and "±" are one column wide each. The
// zero value left-aligns every column with no indent.
type Text struct {
	// Indent starts every line.
	Indent string
	// Right marks the right-aligned columns, by index; columns beyond it
	// are left-aligned.
	Right []bool
	rows  [][]string
}

// Row adds a row; it may have fewer cells than others.
func (t *Text) Row(cells ...string) { t.rows = append(t.rows, cells) }

// WriteTo writes the rows, each column as wide as its widest cell, two
// spaces apart, without trailing spaces.
func (t *Text) WriteTo(w io.Writer) (int64, error) {
	var widths []int
	for _, r := range t.rows {
		for i, c := range r {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	var b strings.Builder
	for _, r := range t.rows {
		var line strings.Builder
		line.WriteString(t.Indent)
		for i, c := range r {
			if i > 0 {
				line.WriteString("  ")
			}
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c))
			if i < len(t.Right) && t.Right[i] {
				line.WriteString(pad + c)
			} else {
				line.WriteString(c + pad)
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " "))
		b.WriteByte('\n')
	}
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}

// NumberFormat returns one format for a column of numbers: fixed point
// with enough decimals to give the largest |value| four significant
// digits (0.2506, 12.30, 1234) when it lies in [0.001, 1e6), scientific
// notation (2.787e-05) otherwise; with signed, positive values carry a
// "+". Non-finite values are ignored in choosing and printed as fmt does.
func NumberFormat(values []float64, signed bool) func(float64) string {
	maxAbs := 0.0
	for _, v := range values {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			maxAbs = math.Max(maxAbs, math.Abs(v))
		}
	}
	sign := ""
	if signed {
		sign = "+"
	}
	format := "%" + sign + ".4f"
	if maxAbs > 0 {
		e := int(math.Floor(math.Log10(maxAbs)))
		if e >= -3 && e < 6 {
			format = fmt.Sprintf("%%%s.%df", sign, max(0, 3-e))
		} else {
			format = "%" + sign + ".3e"
		}
	}
	return func(v float64) string { return fmt.Sprintf(format, v) }
}

// NumberFormatEvery is NumberFormat, except that when a nonzero value
// would print as zero in fixed point, as values spanning many orders of
// magnitude do, the whole column is in scientific notation.
func NumberFormatEvery(values []float64, signed bool) func(float64) string {
	f := NumberFormat(values, signed)
	for _, v := range values {
		if p, err := strconv.ParseFloat(f(v), 64); err == nil && p == 0 && v != 0 {
			sign := ""
			if signed {
				sign = "+"
			}
			return func(v float64) string { return fmt.Sprintf("%"+sign+".3e", v) }
		}
	}
	return f
}
