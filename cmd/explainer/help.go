package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
)

// command is one subcommand's help: what -h prints above the flags, and
// the headings the flags are grouped under. A flag no group names is
// listed under "Other flags", so a new flag shows in -h before it is
// given a heading.
type command struct {
	name     string // "explain"
	summary  string // the paragraph under the usage line
	examples string // shell lines, each preceded by a "# what it does" comment
	groups   []flagGroup
}

// flagGroup is a heading of -h and the flags under it, in order.
type flagGroup struct {
	title string
	flags []string
}

// parseFlags parses args into fs the way every command does:
//   - -h, -help (one or two dashes) print the help on stdout and return
//     flag.ErrHelp, which main turns into exit status 0;
//   - an unknown flag, a bad value or a missing value is a one-line error
//     naming the flag as it was typed (and, for an unknown flag, the
//     closest one), not the whole usage;
//   - an argument that is not a flag is an error: Go's flag package stops
//     at the first one, and the flags after it would be ignored silently.
func (c *command) parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		c.writeHelp(stdout, fs)
		return flag.ErrHelp
	}
	if err != nil {
		return c.flagError(fs, args, err)
	}
	if fs.NArg() > 0 {
		return c.strayArgument(fs, args)
	}
	return nil
}

// moreHelp is appended to every flag error.
func (c *command) moreHelp() string { return fmt.Sprintf(`"explainer %s -h" lists the flags`, c.name) }

// flagError rewrites the flag package's errors ("flag provided but not
// defined: -sever") with the flag as typed and the closest match.
func (c *command) flagError(fs *flag.FlagSet, args []string, err error) error {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		typed := asTyped(args, name)
		dashes := typed[:len(typed)-len(name)]
		if best := closestFlag(fs, name); best != "" {
			return fmt.Errorf("%s: unknown flag %s: did you mean %s%s? (%s)", c.name, typed, dashes, best, c.moreHelp())
		}
		return fmt.Errorf("%s: unknown flag %s (%s)", c.name, typed, c.moreHelp())
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		return fmt.Errorf("%s: flag %s needs a value (%s)", c.name, asTyped(args, name), c.moreHelp())
	}
	return fmt.Errorf("%s: %s (%s)", c.name, msg, c.moreHelp())
}

// strayArgument explains the first argument that is not a flag.
func (c *command) strayArgument(fs *flag.FlagSet, args []string) error {
	stray := fs.Arg(0)
	at := len(args) - fs.NArg() // stray's index in args
	if at > 0 {
		prev := args[at-1]
		name, _, hasValue := strings.Cut(strings.TrimLeft(prev, "-"), "=")
		if f := fs.Lookup(name); f != nil && strings.HasPrefix(prev, "-") && !hasValue && isBoolFlag(f) {
			return fmt.Errorf("%s: unexpected argument %q after %s: a true/false flag takes its value after =, as %s=%s (%s)",
				c.name, stray, prev, prev, stray, c.moreHelp())
		}
	}
	return fmt.Errorf("%s: unexpected argument %q: a value goes right after its flag (--name value), and the flags after it were not read (%s)",
		c.name, stray, c.moreHelp())
}

// asTyped finds how name was written in args ("--sever" or "-sever").
func asTyped(args []string, name string) string {
	for _, a := range args {
		if a == "--" {
			break
		}
		if n, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "="); n == name && strings.HasPrefix(a, "-") {
			return a[:len(a)-len(strings.TrimLeft(a, "-"))] + name
		}
	}
	return "-" + name
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// closestFlag is the defined flag nearest to name: the only one name is a
// prefix of, else the one at the smallest edit distance if that is small
// (at most 2, or a third of the name). "" when none is close.
func closestFlag(fs *flag.FlagSet, name string) string {
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	return closest(name, names)
}

func closest(name string, names []string) string {
	var prefixed []string
	for _, n := range names {
		if strings.HasPrefix(n, name) {
			prefixed = append(prefixed, n)
		}
	}
	if len(prefixed) == 1 {
		return prefixed[0]
	}
	best, bestD := "", max(2, len(name)/3)+1
	for _, n := range names {
		if d := editDistance(name, n); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// writeHelp prints the usage line, the summary, the examples and the
// flags by group, in flag.PrintDefaults' format ("  -name type" then the
// usage indented), so that tools reading -h find every flag.
func (c *command) writeHelp(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: explainer %s [flags]\n\n%s\n", c.name, strings.TrimSpace(c.summary))
	fmt.Fprintln(w, "\nFlags take one dash or two (-name and --name are the same); a true/false flag\ntakes its value after = (--discretize=false).")
	if c.examples != "" {
		fmt.Fprintln(w, "\nExamples:")
		for _, l := range strings.Split(strings.TrimSpace(c.examples), "\n") {
			fmt.Fprintf(w, "  %s\n", strings.TrimSpace(l))
		}
	}
	printed := map[string]bool{}
	group := func(title string, names []string) {
		var flags []*flag.Flag
		for _, n := range names {
			if f := fs.Lookup(n); f != nil && !printed[n] {
				flags = append(flags, f)
				printed[n] = true
			}
		}
		if len(flags) == 0 {
			return
		}
		fmt.Fprintf(w, "\n%s:\n", title)
		for _, f := range flags {
			printFlag(w, f)
		}
	}
	for _, g := range c.groups {
		group(g.title, g.flags)
	}
	var rest []string
	fs.VisitAll(func(f *flag.Flag) { rest = append(rest, f.Name) })
	group("Other flags", rest)
}

// printFlag prints one flag as flag.PrintDefaults does.
func printFlag(w io.Writer, f *flag.Flag) {
	var b strings.Builder
	fmt.Fprintf(&b, "  -%s", f.Name)
	typ, usage := flag.UnquoteUsage(f)
	if typ != "" {
		b.WriteString(" " + typ)
	}
	b.WriteString("\n    \t")
	b.WriteString(strings.ReplaceAll(usage, "\n", "\n    \t"))
	if !slices.Contains([]string{"", "0", "false", "0s", "[]"}, f.DefValue) {
		if typ == "string" {
			fmt.Fprintf(&b, " (default %q)", f.DefValue)
		} else {
			fmt.Fprintf(&b, " (default %v)", f.DefValue)
		}
	}
	fmt.Fprintln(w, b.String())
}

// explainCommand is explain's help: the flags of every method under its
// name, from cliMethods.
func explainCommand() *command {
	c := &command{
		name: "explain",
		summary: `Ask a running sidecar (explainer serve) to explain one prediction (lime,
kernelshap, occlusion, anchors, counterfactual), many in one batch job
(--rows, --texts, several --image), or a model over a data set
(permutation, sensitivity, pdp, ale), and print the result as a table,
JSON, HTML or a PNG chart.`,
		examples: `# LIME of row 0 of a CSV (header row first), the CSV as training data
explainer explain --server 127.0.0.1:50051 --instance-file train.csv --row 0 --background train.csv
# KernelSHAP of the same row against 50 background rows, with a bar chart and a waterfall
explainer explain --method kernelshap --instance-file train.csv --row 0 --background bg50.csv --png shap.png
# which words drove a text model, as an HTML page
explainer explain --model sentiment --text "the food was great" --output html > explained.html
# permutation importance over held-out data
explainer explain --method permutation --data held_out.csv --target-column target --repeats 10 --png importance.png
# an occlusion heatmap of an image
explainer explain --method occlusion --image cat.png --window 16 --stride 8 --png heatmap.png
# partial dependence with ICE curves of two features, as a chart
explainer explain --method pdp --data held_out.csv --features "0,worst area" --kind both --png pdp.png
# rows 0 to 99 in one batch job, one JSON object a row
explainer explain --instance-file held_out.csv --rows 0:100 --background train.csv --output jsonl`,
	}
	c.groups = []flagGroup{
		{"The sidecar", []string{"server", "model", "timeout", "tls", "tls-ca", "tls-cert", "tls-key", "tls-server-name", "token", "token-file"}},
		{"What to explain", []string{"method", "instance", "instance-file", "row", "background", "data", "target-column", "feature-names",
			"text", "split", "mask-string", "positional", "image", "image-layout", "layout"}},
		{"Output", []string{"output", "num-features", "png", "class-names", "progress"}},
		{"Batches: many instances in one job", []string{"rows", "texts", "submodular-pick", "skip-failed"}},
		{"Sampling (lime, kernelshap, permutation)", []string{"num-samples", "seed", "labels", "top-labels"}},
	}
	for _, m := range cliMethods {
		c.groups = append(c.groups, flagGroup{fmt.Sprintf("-method %s (%s)", m.name, m.inputs), m.flags})
	}
	c.groups = append(c.groups, checkGroup)
	return c
}

// checkGroup are the flags of auto sampling and -evaluate.
var checkGroup = flagGroup{"Auto sampling and checks", []string{"tolerance", "stable-ranking", "budget", "top-k", "evaluate", "stability-runs", "curves-png"}}

// demoCommand is demo's help.
func demoCommand() *command {
	c := explainCommand()
	c.name = "demo"
	c.summary = `Train a logistic regression on the breast-cancer data set the binary embeds,
serve it over predict.v1 on loopback, start a sidecar in front of it and
explain one row with LIME through the sidecar, as explain would. Every LIME
flag of explain works.`
	c.examples = `# the README's quick start
explainer demo
# row 20, as JSON
explainer demo --row 20 --output json
# the three top features with a bar chart
explainer demo --num-features 3 --png demo.png`
	groups := []flagGroup{{"The demo", []string{"row", "max-batch-size", "http-listen"}}}
	for _, g := range c.groups {
		switch {
		case strings.HasPrefix(g.title, "Sampling"):
			g.title = "Sampling"
		case strings.HasPrefix(g.title, "-method lime "):
			g.title = "LIME"
		}
		groups = append(groups, g)
	}
	c.groups = groups
	return c
}

// serveCommand is serve's help.
func serveCommand() *command {
	return &command{
		name: "serve",
		summary: `Run the explanation sidecar next to a model server (Triton, KServe or a
predict.v1 server): it serves explainer.v1.ExplainerService and the gRPC
health service, and sends the perturbed samples to the model server.`,
		examples: `# next to Triton on the same host
explainer serve --listen 0.0.0.0:50051 --predictor 127.0.0.1:8001 --predictor-plaintext --protocol kserve-v2 --model my_model
# next to a predict.v1 server, with metrics
explainer serve --predictor 127.0.0.1:8500 --predictor-plaintext --protocol predict-v1 --metrics-listen 127.0.0.1:9090`,
		groups: []flagGroup{
			{"Listener", []string{"listen", "reflection", "health-listen", "metrics-listen"}},
			{"Model server", []string{"predictor", "protocol", "model", "predictor-plaintext", "health-interval", "startup-timeout",
				"softmax", "input-name", "output-name", "input-datatype", "model-version"}},
			{"Batching and limits", []string{"max-batch-size", "max-batch-bytes", "in-flight", "batch-linger", "max-concurrent-jobs", "max-queued-jobs", "batch-concurrency", "max-jobs-per-stream", "data-idle-timeout", "job-timeout", "drain-timeout"}},
			{"TLS and tokens", []string{"tls-cert", "tls-key", "tls-client-ca", "auth-tokens", "predictor-ca", "predictor-cert", "predictor-key", "predictor-server-name"}},
			{"HTTP API and KServe", []string{"http-listen", "model_name", "predictor_host", "predictor_protocol", "predictor_use_ssl", "http_port", "workers"}},
			{"Request defaults", []string{"training-data", "method", "class-names", "explain-config"}},
		},
	}
}
