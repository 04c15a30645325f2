// Command validate is the offline static check of the deployment files:
// the Kubernetes manifests in examples/kubernetes, the KServe
// InferenceService in examples/kserve (also started as KServe would start
// it, on loopback), the Triton model
// repository in examples/triton/models, the Dockerfile at the repository
// root, the explainer binary the Dockerfile's build makes, and every
// `explainer serve` / `explainer explain` command in the READMEs. It needs
// no cluster, no Docker engine and no network once its modules are
// downloaded. .ci/check-deploy runs it:
//
//	go run . -root ../../.. -explainer /path/to/static/explainer
//
// It lives in its own module so that the explainer module gains no
// Kubernetes or BuildKit dependency.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// problems collects every failure, so that one run reports them all.
type problems []string

func (p *problems) add(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

func main() {
	root := flag.String("root", "../../..", "repository root")
	bin := flag.String("explainer", "", "the explainer binary, built as the Dockerfile builds it (its flags are the reference, and it must be static)")
	flag.Parse()
	if *bin == "" {
		fmt.Fprintln(os.Stderr, "validate: -explainer is required")
		os.Exit(2)
	}
	var p problems
	flags, err := explainerFlags(*bin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "validate:", err)
		os.Exit(2)
	}
	checkStaticBinary(*bin, &p)
	models := checkTriton(filepath.Join(*root, "examples", "triton", "models"), &p)
	checkManifests(filepath.Join(*root, "examples", "kubernetes"), flags, models, &p)
	checkKServe(filepath.Join(*root, "examples", "kserve"), *bin, flags, &p)
	checkDockerfile(*root, flags, &p)
	for _, f := range []string{"README.md", "examples/triton/README.md", "examples/kubernetes/README.md", "examples/kserve/README.md"} {
		checkCommands(filepath.Join(*root, f), f, flags, &p)
	}
	if len(p) > 0 {
		sort.Strings(p)
		for _, s := range p {
			fmt.Fprintln(os.Stderr, "FAIL:", s)
		}
		fmt.Fprintf(os.Stderr, "validate: %d problems\n", len(p))
		os.Exit(1)
	}
	fmt.Println("validate: manifests, model repository, Dockerfile, binary and README commands are consistent")
}
