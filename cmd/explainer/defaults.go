package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/explainer-sidecar/explainer/internal/table"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
	"github.com/explainer-sidecar/explainer/server"
)

// defaultBackgroundRows is the most rows of --training-data that become
// KernelSHAP's default background: every coalition is scored on each
// background row, so shap's advice is to summarise the data (it suggests
// 100 rows, by k-means or sampling).
const defaultBackgroundRows = 100

// defaultsConfig are serve's request defaults: KServe's :explain carries
// only instances, so the method and its data are set once at start-up.
type defaultsConfig struct {
	trainingData  string
	method        string
	classNames    string
	explainConfig string
}

func (d *defaultsConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&d.trainingData, "training-data", "", "CSV with a header row (the feature names; a column named target is ignored): the training data of lime requests and the background of kernel_shap requests (at most 100 rows, evenly spaced) that bring none, and the feature names of rows without them; makes lime the default method unless --method or the config names one")
	fs.StringVar(&d.method, "method", "", "the method of requests that set none (:explain without parameters): lime, kernel_shap, lime_text, lime_image, occlusion, permutation or sensitivity; default: --explain-config's, else lime with --training-data, else none (requests must choose)")
	fs.StringVar(&d.classNames, "class-names", "", "comma-separated names of the default model's output columns, for a model server that reports none (KServe v1)")
	fs.StringVar(&d.explainConfig, "explain-config", "", `JSON or YAML file of request defaults: an ExplainRequest's fields in protojson, the options of any number of methods, and "method", e.g. {"method": "kernel_shap", "kernel_shap": {"num_samples": 500}, "lime": {"num_features": 5}}; a request's own fields win, then the flags, then this file`)
}

// serverOptions reads the defaults' files into the server's options.
func (d *defaultsConfig) serverOptions() ([]server.Option, error) {
	var opts []server.Option
	if names := strings.TrimSpace(d.classNames); names != "" {
		list := strings.Split(names, ",")
		for i := range list {
			list[i] = strings.TrimSpace(list[i])
		}
		opts = append(opts, server.WithClassNames(list...))
	}
	templates, err := d.templates()
	if err != nil {
		return nil, err
	}
	if len(templates) > 0 {
		opts = append(opts, server.WithRequestDefaults(templates...))
	}
	return opts, nil
}

// templates builds the request templates from --explain-config, --method
// and --training-data.
func (d *defaultsConfig) templates() ([]*explainerv1.ExplainRequest, error) {
	fields := map[string]json.RawMessage{}
	if d.explainConfig != "" {
		raw, err := os.ReadFile(d.explainConfig)
		if err != nil {
			return nil, fmt.Errorf("--explain-config: %w", err)
		}
		js, err := yaml.YAMLToJSON(raw) // JSON is YAML too
		if err != nil {
			return nil, fmt.Errorf("--explain-config %s: %w", d.explainConfig, err)
		}
		if err := json.Unmarshal(js, &fields); err != nil {
			return nil, fmt.Errorf("--explain-config %s: want an object of request fields: %w", d.explainConfig, err)
		}
		if fields == nil {
			fields = map[string]json.RawMessage{}
		}
	}
	if d.method != "" {
		fields["method"], _ = json.Marshal(d.method)
	}
	if len(fields) == 0 && d.trainingData == "" {
		return nil, nil
	}
	raw, _ := json.Marshal(fields)
	templates, err := server.ParseDefaults(raw)
	if err != nil {
		where := "--explain-config " + d.explainConfig
		if d.explainConfig == "" {
			where = "--method"
		}
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	if d.trainingData == "" {
		return templates, nil
	}
	data, err := readTable(d.trainingData, "target")
	if err != nil {
		return nil, fmt.Errorf("--training-data: %w", err)
	}
	if len(data.Rows) == 0 {
		return nil, fmt.Errorf("--training-data %s: no rows", d.trainingData)
	}
	return withTrainingData(templates, data, d.method == ""), nil
}

// withTrainingData makes data lime's training data and, at most
// defaultBackgroundRows of its rows evenly spaced, kernel_shap's
// background; with limeByDefault, lime is the default method when the
// first template has none.
func withTrainingData(templates []*explainerv1.ExplainRequest, data *table.Table, limeByDefault bool) []*explainerv1.ExplainRequest {
	if len(templates) == 0 {
		templates = []*explainerv1.ExplainRequest{{}}
	}
	if templates[0].GetMethod() == nil && limeByDefault {
		lime := &explainerv1.LimeOptions{}
		for i, t := range templates {
			if t.GetLime() != nil {
				lime = t.GetLime()
				templates = append(templates[:i], templates[i+1:]...)
				break
			}
		}
		templates[0].Method = &explainerv1.ExplainRequest_Lime{Lime: lime}
	}
	lime := methodTemplate(&templates, func(t *explainerv1.ExplainRequest) bool { return t.GetLime() != nil },
		func() *explainerv1.ExplainRequest {
			return &explainerv1.ExplainRequest{Method: &explainerv1.ExplainRequest_Lime{Lime: &explainerv1.LimeOptions{}}}
		})
	lime.GetLime().Training = &explainerv1.TrainingData{Source: &explainerv1.TrainingData_Dataset{Dataset: rowsDataset(data, false)}}
	shap := methodTemplate(&templates, func(t *explainerv1.ExplainRequest) bool { return t.GetKernelShap() != nil },
		func() *explainerv1.ExplainRequest {
			return &explainerv1.ExplainRequest{Method: &explainerv1.ExplainRequest_KernelShap{KernelShap: &explainerv1.KernelShapOptions{}}}
		})
	bg := *data
	if n := len(data.Rows); n > defaultBackgroundRows {
		bg.Rows = make([][]float64, defaultBackgroundRows)
		for i := range bg.Rows {
			bg.Rows[i] = data.Rows[i*n/defaultBackgroundRows]
		}
	}
	shap.GetKernelShap().Background = rowsDataset(&bg, false)
	return templates
}

// methodTemplate returns the template that is, appending a new one when
// none is.
func methodTemplate(templates *[]*explainerv1.ExplainRequest, is func(*explainerv1.ExplainRequest) bool, newTemplate func() *explainerv1.ExplainRequest) *explainerv1.ExplainRequest {
	for _, t := range *templates {
		if is(t) {
			return t
		}
	}
	t := newTemplate()
	*templates = append(*templates, t)
	return t
}
