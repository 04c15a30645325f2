package main

import (
	"errors"
	"flag"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/explainer-sidecar/explainer/internal/table"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// flagNames are the flags a command defines, from a fresh FlagSet.
func flagNames(t *testing.T, cmd string) []string {
	t.Helper()
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	var f explainFlags
	switch cmd {
	case "serve":
		var cfg serveConfig
		cfg.flags(fs)
	case "demo":
		fs.IntVar(&f.row, "row", 0, "")
		fs.IntVar(&f.maxBatch, "max-batch-size", 0, "")
		f.limeFlags(fs)
		f.checkFlags.register(fs)
	}
	var names []string
	fs.VisitAll(func(fl *flag.Flag) { names = append(names, fl.Name) })
	return names
}

func TestHelpOnStdout(t *testing.T) {
	for _, cmd := range []string{"explain", "serve", "demo"} {
		for _, h := range []string{"-h", "--help"} {
			t.Run(cmd+" "+h, func(t *testing.T) {
				out, stderr, err := runCLI(t, cmd, h)
				if !errors.Is(err, flag.ErrHelp) {
					t.Fatalf("err = %v, want flag.ErrHelp (exit status 0)", err)
				}
				if stderr != "" {
					t.Errorf("stderr = %q, want the help on stdout only", stderr)
				}
				for _, want := range []string{"Usage: explainer " + cmd + " [flags]", "Examples:\n  # ", "one dash or two"} {
					if !strings.Contains(out, want) {
						t.Errorf("help lacks %q:\n%s", want, out)
					}
				}
				if strings.Contains(out, "Other flags:") {
					t.Errorf("a flag has no heading:\n%s", out[strings.Index(out, "Other flags:"):])
				}
				// Every flag is listed as flag.PrintDefaults does, which is
				// what .ci/check-deploy reads.
				listed := map[string]int{}
				for _, m := range regexp.MustCompile(`(?m)^  -([a-z0-9_-]+)`).FindAllStringSubmatch(out, -1) {
					listed[m[1]]++
				}
				names := flagNames(t, cmd)
				if cmd == "explain" {
					names = []string{"server", "method", "background", "data", "png", "class-names", "feature-names", "link", "scoring", "window", "evaluate"}
				}
				for _, n := range names {
					if listed[n] != 1 {
						t.Errorf("-%s is listed %d times", n, listed[n])
					}
				}
			})
		}
	}
	// explain groups the flags under each -method of cliMethods.
	out, _, _ := runCLI(t, "explain", "-h")
	at := -1
	for _, m := range cliMethods {
		heading := "\n-method " + m.name + " (" + m.inputs + "):\n"
		i := strings.Index(out, heading)
		if i < at {
			t.Errorf("no heading %q after the previous method's", heading)
			continue
		}
		at = i
		for _, fl := range m.flags {
			if !strings.Contains(out[i:], "\n  -"+fl+" ") && !strings.Contains(out[i:], "\n  -"+fl+"\n") {
				t.Errorf("-%s is not under %q", fl, heading)
			}
		}
	}
	out, _, err := runCLI(t, "help", "serve")
	if !errors.Is(err, flag.ErrHelp) || !strings.Contains(out, "Usage: explainer serve") {
		t.Errorf("help serve: %v\n%s", err, out)
	}
	out, _, err = runCLI(t, "--help")
	if err != nil || !strings.Contains(out, "explainer explain [flags]") {
		t.Errorf("--help: %v\n%s", err, out)
	}
}

func TestVersion(t *testing.T) {
	for _, arg := range []string{"--version", "-version", "version"} {
		out, _, err := runCLI(t, arg)
		if err != nil || !strings.HasPrefix(out, "explainer ") || !strings.Contains(out, "go1") || strings.Count(out, "\n") != 1 {
			t.Errorf("%s: %v, %q", arg, err, out)
		}
	}
	info := &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.time", Value: "2026-01-02T03:04:05Z"}, {Key: "vcs.modified", Value: "true"},
	}}
	if got := formatVersion("", info, true); !strings.HasPrefix(got, "explainer v1.4.0 · commit 0123456789ab (modified) · 2026-01-02T03:04:05Z · go") {
		t.Errorf("from the build info: %q", got)
	}
	if got := formatVersion("v2.0.0-rc1", info, true); !strings.HasPrefix(got, "explainer v2.0.0-rc1 · commit") {
		t.Errorf("-ldflags -X main.version: %q", got)
	}
	if got := formatVersion("", nil, false); !strings.HasPrefix(got, "explainer (devel) · go") {
		t.Errorf("no build info: %q", got)
	}
}

// TestFlagErrorsAreShort: an unknown flag, a bad value and a stray word
// are one line on the error, with nothing printed around it.
func TestFlagErrorsAreShort(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"explain", "--sever", "x"}, `unknown flag --sever: did you mean --server? ("explainer explain -h" lists the flags)`},
		{[]string{"explain", "-num-featurs", "3"}, "unknown flag -num-featurs: did you mean -num-features?"},
		{[]string{"explain", "--class-name", "a,b"}, "unknown flag --class-name: did you mean --class-names?"},
		{[]string{"explain", "--frobnicate"}, `unknown flag --frobnicate ("explainer explain -h" lists the flags)`},
		{[]string{"serve", "--predictr", "x:1"}, "serve: unknown flag --predictr: did you mean --predictor?"},
		{[]string{"demo", "--rows", "3"}, "demo: unknown flag --rows: did you mean --row?"},
		{[]string{"explain", "--num-features", "many"}, `explain: invalid value "many" for flag -num-features`},
		{[]string{"explain", "--server"}, "explain: flag --server needs a value"},
		// A plain word ends Go's flag parsing: the flags after it must not
		// be dropped silently.
		{[]string{"explain", "--model", "sentiment", "good food", "--text", "good food"},
			`explain: unexpected argument "good food": a value goes right after its flag (--name value), and the flags after it were not read`},
		{[]string{"explain", "--text", "good food", "extra"}, `unexpected argument "extra"`},
		{[]string{"explain", "--", "--text", "x"}, `unexpected argument "--text"`},
		{[]string{"serve", "--softmax", "false"}, `unexpected argument "false" after --softmax: a true/false flag takes its value after =, as --softmax=false`},
		{[]string{"demo", "20"}, `demo: unexpected argument "20"`},
		{[]string{"serv"}, `unknown command "serv": did you mean serve?`},
		{[]string{"--verison"}, `unknown command "--verison": did you mean version?`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, stderr, err := runCLI(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") || out != "" || stderr != "" {
				t.Errorf("want one line and nothing else; err %q, stdout %q, stderr %q", err, out, stderr)
			}
		})
	}
}

func TestClosest(t *testing.T) {
	names := []string{"server", "model", "num-samples", "num-features", "output", "seed"}
	for in, want := range map[string]string{
		"sever": "server", "modle": "model", "num-feature": "num-features", "num-sample": "num-samples",
		"out": "output", "num": "", "xyzzy": "", "seeds": "seed", "outptu": "output",
	} {
		if got := closest(in, names); got != want {
			t.Errorf("closest(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFeatureNames(t *testing.T) {
	f := explainFlags{featureNames: ` radius, "area, mean",texture`}
	tab := &table.Table{Names: []string{"a", "b", "c"}}
	if err := f.renameFeatures(tab, "x.csv"); err != nil || strings.Join(tab.Names, "|") != "radius|area, mean|texture" {
		t.Fatalf("names %q, err %v", tab.Names, err)
	}
	tab.Names = []string{"a", "b"}
	if err := f.renameFeatures(tab, "x.csv"); err == nil || !strings.Contains(err.Error(), "-feature-names has 3 names, x.csv has 2 feature columns") {
		t.Errorf("count mismatch: %v", err)
	}
	f.featureNames = "a,,c"
	if err := f.renameFeatures(tab, "x.csv"); err == nil || !strings.Contains(err.Error(), "name 2 is empty") {
		t.Errorf("empty name: %v", err)
	}
	// Through build: the request carries the names.
	names := make([]string, 30)
	for i := range names {
		names[i] = "f" + string(rune('A'+i))
	}
	g := explainFlags{method: "kernelshap", background: breastCancerCSV, instanceFile: breastCancerCSV, targetColumn: "target",
		link: "identity", featureNames: strings.Join(names, ",")}
	req, _, err := g.build()
	if err != nil {
		t.Fatal(err)
	}
	if got := req.GetInstance().GetTabular().GetFeatureNames(); strings.Join(got, ",") != g.featureNames ||
		strings.Join(req.GetKernelShap().GetBackground().GetFeatureNames(), ",") != g.featureNames {
		t.Errorf("request names %v", got)
	}
	g = explainFlags{method: "lime", text: "good food", featureNames: "a"}
	if _, _, err := g.build(); err == nil || !strings.Contains(err.Error(), "-feature-names names the columns") {
		t.Errorf("-feature-names with -text: %v", err)
	}
}

func TestClassNames(t *testing.T) {
	exp := func(method string) *explainerv1.Explanation {
		return &explainerv1.Explanation{Method: method, InstanceScores: []float64{0.2, 0.8},
			Labels: []*explainerv1.LabelExplanation{{Label: 1, ClassName: "class 1"}}}
	}
	f := explainFlags{classNames: "negative, positive"}
	e := exp("lime")
	if err := f.applyClassNames(e); err != nil || e.Labels[0].ClassName != "positive" || strings.Join(e.ClassNames, ",") != "negative,positive" {
		t.Fatalf("lime: %v %v", err, e)
	}
	e = exp("permutation")
	if err := f.applyClassNames(e); err != nil || e.Labels[0].ClassName != "class 1" {
		t.Errorf("permutation's label is not a class: %v %v", err, e)
	}
	f.classNames = "a,b,c"
	if err := f.applyClassNames(exp("lime")); err == nil || !strings.Contains(err.Error(), "-class-names has 3 names, the model has 2 classes") {
		t.Errorf("count mismatch: %v", err)
	}
}
