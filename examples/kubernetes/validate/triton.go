package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bufbuild/protocompile"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

//go:embed model_config.proto
var modelConfigProto string

// modelConfig is what the checks read of a config.pbtxt (through JSON).
type modelConfig struct {
	Name         string   `json:"name"`
	Platform     string   `json:"platform"`
	Backend      string   `json:"backend"`
	MaxBatchSize int      `json:"maxBatchSize"`
	Input        []tensor `json:"input"`
	Output       []tensor `json:"output"`
	Ensemble     *struct {
		Step []struct {
			ModelName string            `json:"modelName"`
			InputMap  map[string]string `json:"inputMap"`
			OutputMap map[string]string `json:"outputMap"`
		} `json:"step"`
	} `json:"ensembleScheduling"`
}

type tensor struct {
	Name     string   `json:"name"`
	DataType string   `json:"dataType"`
	Dims     []string `json:"dims"` // int64 is a string in protojson
}

func (t tensor) key() string { return fmt.Sprint(t.DataType, t.Dims) }

// configDescriptor compiles model_config.proto and returns ModelConfig.
func configDescriptor() (protoreflect.MessageDescriptor, error) {
	c := protocompile.Compiler{Resolver: &protocompile.SourceResolver{
		Accessor: protocompile.SourceAccessorFromMap(map[string]string{"model_config.proto": modelConfigProto}),
	}}
	files, err := c.Compile(context.Background(), "model_config.proto")
	if err != nil {
		return nil, err
	}
	return files[0].Messages().ByName("ModelConfig"), nil
}

// checkTriton parses every models/*/config.pbtxt strictly and checks the
// layout and the ensembles' wiring. It returns the configs by model name.
func checkTriton(dir string, p *problems) map[string]*modelConfig {
	md, err := configDescriptor()
	if err != nil {
		p.add("model_config.proto: %v", err)
		return nil
	}
	paths, _ := filepath.Glob(filepath.Join(dir, "*", "config.pbtxt"))
	if len(paths) == 0 {
		p.add("%s: no */config.pbtxt", dir)
	}
	models := map[string]*modelConfig{}
	for _, path := range paths {
		rel := filepath.Join("examples/triton/models", filepath.Base(filepath.Dir(path)), "config.pbtxt")
		raw, err := os.ReadFile(path)
		if err != nil {
			p.add("%s: %v", rel, err)
			continue
		}
		msg := dynamicpb.NewMessage(md)
		if err := (prototext.UnmarshalOptions{}).Unmarshal(raw, msg); err != nil {
			p.add("%s: %v", rel, err)
			continue
		}
		js, err := protojson.Marshal(msg)
		if err != nil {
			p.add("%s: %v", rel, err)
			continue
		}
		var cfg modelConfig
		if err := json.Unmarshal(js, &cfg); err != nil {
			p.add("%s: %v", rel, err)
			continue
		}
		dirName := filepath.Base(filepath.Dir(path))
		if cfg.Name != dirName {
			p.add("%s: name %q is not the directory's name %q", rel, cfg.Name, dirName)
		}
		if !fileExists(filepath.Join(filepath.Dir(path), "1")) {
			p.add("%s: no version directory 1/", rel)
		}
		if cfg.Backend == "python" && !fileExists(filepath.Join(filepath.Dir(path), "1", "model.py")) {
			p.add("%s: python backend without 1/model.py", rel)
		}
		if (cfg.Platform == "") == (cfg.Backend == "") {
			p.add("%s: give exactly one of platform and backend", rel)
		}
		if (cfg.Platform == "ensemble") != (cfg.Ensemble != nil) {
			p.add("%s: platform \"ensemble\" and ensemble_scheduling go together", rel)
		}
		if len(cfg.Input) == 0 || len(cfg.Output) == 0 {
			p.add("%s: needs inputs and outputs", rel)
		}
		if cfg.MaxBatchSize < 1 {
			p.add("%s: max_batch_size must be set: the sidecar batches", rel)
		}
		models[cfg.Name] = &cfg
	}
	for _, cfg := range models {
		if cfg.Ensemble != nil {
			checkEnsemble(cfg, models, p)
		}
	}
	return models
}

// checkEnsemble checks that every step's model exists, batches at least as
// much as the ensemble, and is wired by its own tensor names, with tensors
// of the same type and shape on both sides, and that every ensemble output
// is produced.
func checkEnsemble(e *modelConfig, models map[string]*modelConfig, p *problems) {
	where := "ensemble " + e.Name
	avail := map[string]string{} // ensemble tensor -> type and shape
	for _, in := range e.Input {
		avail[in.Name] = in.key()
	}
	for i, st := range e.Ensemble.Step {
		m := models[st.ModelName]
		if m == nil {
			p.add("%s step %d: no model %q in the repository", where, i, st.ModelName)
			continue
		}
		if m.MaxBatchSize < e.MaxBatchSize {
			p.add("%s: max_batch_size %d is above %s's %d", where, e.MaxBatchSize, m.Name, m.MaxBatchSize)
		}
		ins, outs := byName(m.Input), byName(m.Output)
		for k, v := range st.InputMap {
			t, ok := ins[k]
			switch {
			case !ok:
				p.add("%s step %d: %s has no input %q", where, i, m.Name, k)
			case avail[v] == "":
				p.add("%s step %d: tensor %q is not produced before this step", where, i, v)
			case avail[v] != t.key():
				p.add("%s step %d: tensor %q is %s, %s's input %q is %s", where, i, v, avail[v], m.Name, k, t.key())
			}
		}
		for name := range ins {
			if _, ok := st.InputMap[name]; !ok {
				p.add("%s step %d: %s's input %q is not mapped", where, i, m.Name, name)
			}
		}
		for k, v := range st.OutputMap {
			t, ok := outs[k]
			if !ok {
				p.add("%s step %d: %s has no output %q", where, i, m.Name, k)
				continue
			}
			avail[v] = t.key()
		}
	}
	for _, out := range e.Output {
		switch k := avail[out.Name]; {
		case k == "":
			p.add("%s: output %q is produced by no step", where, out.Name)
		case k != out.key():
			p.add("%s: output %q is %s, the step produces %s", where, out.Name, out.key(), k)
		}
	}
}

func byName(ts []tensor) map[string]tensor {
	m := map[string]tensor{}
	for _, t := range ts {
		m[t.Name] = t
	}
	return m
}
