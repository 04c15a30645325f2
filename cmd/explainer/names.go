package main

import (
	"encoding/csv"
	"fmt"
	"strings"

	"github.com/explainer-sidecar/explainer/internal/table"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// parseNames reads a comma-separated list of names, CSV-quoted where a
// name holds a comma ("a,\"b,c\""); names are trimmed and must not be
// empty.
func parseNames(flagName, s string) ([]string, error) {
	r := csv.NewReader(strings.NewReader(s))
	r.TrimLeadingSpace = true
	names, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: want names separated by commas: %w", flagName, err)
	}
	for i, n := range names {
		if names[i] = strings.TrimSpace(n); names[i] == "" {
			return nil, fmt.Errorf("%s: name %d is empty", flagName, i+1)
		}
	}
	return names, nil
}

// renameFeatures gives t's feature columns the -feature-names.
func (f *explainFlags) renameFeatures(t *table.Table, path string) error {
	if f.featureNames == "" {
		return nil
	}
	names, err := parseNames("-feature-names", f.featureNames)
	if err != nil {
		return err
	}
	if len(names) != len(t.Names) {
		return fmt.Errorf("-feature-names has %d names, %s has %d feature columns", len(names), path, len(t.Names))
	}
	t.Names = names
	return nil
}

// applyClassNames puts the -class-names in exp: its class names and each
// label's, as the sidecar does with the names the model server reports
// (permutation's label is not a class: it keeps none). With the
// instance's scores known, there must be a name per class.
func (f *explainFlags) applyClassNames(exp *explainerv1.Explanation) error {
	if f.classNames == "" {
		return nil
	}
	names, err := parseNames("-class-names", f.classNames)
	if err != nil {
		return err
	}
	if n := len(exp.GetInstanceScores()); n > 0 && n != len(names) {
		return fmt.Errorf("-class-names has %d names, the model has %d classes", len(names), n)
	}
	exp.ClassNames = names
	if exp.GetMethod() == "permutation" {
		return nil
	}
	for _, l := range exp.GetLabels() {
		if int(l.GetLabel()) < len(names) {
			l.ClassName = names[l.GetLabel()]
		}
	}
	return nil
}
