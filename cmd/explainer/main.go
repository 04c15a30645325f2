// Command explainer is the explanation sidecar and its client.
//
//	explainer serve    run the sidecar next to a model server
//	explainer explain  ask a running sidecar to explain an instance
//	explainer demo     run a sidecar and a demo model in-process and explain a row
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
)

const usage = `explainer: a model-agnostic explanation sidecar

Usage:
  explainer serve   [flags]   run the sidecar next to a model server
  explainer explain [flags]   explain an instance through a running sidecar
  explainer demo    [flags]   sidecar + embedded demo model: explain a breast-cancer row
  explainer version           print the version (also --version)
  explainer --model_name NAME --predictor_host HOST ...   serve, as KServe starts an explainer

Run "explainer <command> -h" for a command's flags.
`

// commands are the subcommands' names, for "did you mean".
var commands = []string{"serve", "explain", "demo", "version", "help"}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0) // -h asked for the flags, which are printed
		}
		fmt.Fprintln(os.Stderr, "explainer:", err)
		os.Exit(2)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("a command is required")
	}
	if isKServeArgs(args) {
		// KServe's arguments alone: the container runs as KServe's explainer.
		return serve(ctx, args, stdout, stderr)
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stdout, stderr)
	case "explain":
		return explainCmd(ctx, args[1:], stdout, stderr)
	case "demo":
		return demoCmd(ctx, args[1:], stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, versionLine())
		return nil
	case "help":
		if len(args) > 1 && args[1] != "help" && slices.Contains(commands, args[1]) {
			return run(ctx, []string{args[1], "-h"}, stdout, stderr) // "explainer help explain"
		}
		fmt.Fprint(stdout, usage)
		return nil
	case "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	if best := closest(strings.TrimLeft(args[0], "-"), commands); best != "" {
		return fmt.Errorf("unknown command %q: did you mean %s? (explainer -h lists the commands)", args[0], best)
	}
	return fmt.Errorf("unknown command %q (explainer -h lists the commands)", args[0])
}
