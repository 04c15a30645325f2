package main

import (
	"bufio"
	"bytes"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// commandFlags are the flag names (without dashes) of explainer's commands.
type commandFlags map[string]map[string]bool

var flagLine = regexp.MustCompile(`^  -([a-z0-9_-]+)`)

// explainerFlags runs `explainer serve -h` and `explainer explain -h` and
// collects the flags they print.
func explainerFlags(bin string) (commandFlags, error) {
	out := commandFlags{}
	for _, cmd := range []string{"serve", "explain"} {
		var buf bytes.Buffer
		c := exec.Command(bin, cmd, "-h")
		c.Stdout, c.Stderr = &buf, &buf
		if err := c.Run(); err != nil {
			return nil, fmt.Errorf("%s %s -h: %v\n%s", bin, cmd, err, buf.String())
		}
		set := map[string]bool{"h": true, "help": true}
		sc := bufio.NewScanner(&buf)
		for sc.Scan() {
			if m := flagLine.FindStringSubmatch(sc.Text()); m != nil {
				set[m[1]] = true
			}
		}
		if len(set) < 10 {
			return nil, fmt.Errorf("%s %s -h printed %d flags: not the explainer?", bin, cmd, len(set))
		}
		out[cmd] = set
	}
	return out, nil
}

// checkArgs checks that every flag in args (after the command) is one of
// the command's, and returns the flags' values ("" for a bare flag).
func checkArgs(cmd string, args []string, flags commandFlags, where string, p *problems) map[string]string {
	set, ok := flags[cmd]
	if !ok {
		p.add("%s: unknown explainer command %q", where, cmd)
		return nil
	}
	vals := map[string]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			continue // a flag's value
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !set[name] {
			p.add("%s: explainer %s has no flag --%s (see explainer %s -h)", where, cmd, name, cmd)
			continue
		}
		if !hasVal && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") && !boolFlag(name) {
			val = args[i+1]
			i++
		}
		vals[name] = val
	}
	return vals
}

// kserveFlag are the arguments KServe starts an explainer with, which
// explainer takes without "serve".
var kserveFlag = map[string]bool{"model_name": true, "predictor_host": true, "http_port": true, "workers": true}

// boolFlag reports the flags that take no value.
func boolFlag(name string) bool {
	switch name {
	case "predictor-plaintext", "softmax", "reflection", "tls", "positional", "discretize", "sample-around-instance", "predictor_use_ssl", "h", "help":
		return true
	}
	return false
}

// checkStaticBinary fails unless bin is an ELF executable with no
// interpreter and no shared libraries: what runs on distroless/static.
func checkStaticBinary(bin string, p *problems) {
	f, err := elf.Open(bin)
	if err != nil {
		p.add("binary %s: %v", bin, err)
		return
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			p.add("binary %s: dynamically linked (has an ELF interpreter): build with CGO_ENABLED=0", bin)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		p.add("binary %s: needs shared libraries %v: build with CGO_ENABLED=0", bin, libs)
	}
}

var shellToken = regexp.MustCompile(`"[^"]*"|'[^']*'|\S+`)

// checkCommands finds every `explainer serve|explain ...` command in the
// fenced code blocks of a Markdown file (with its `\` continuation lines)
// and checks its flags.
func checkCommands(path, name string, flags commandFlags, p *problems) {
	raw, err := os.ReadFile(path)
	if err != nil {
		p.add("%s: %v", name, err)
		return
	}
	lines := strings.Split(string(raw), "\n")
	inCode := false
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			inCode = !inCode
			continue
		}
		if !inCode {
			continue
		}
		start := i
		for strings.HasSuffix(strings.TrimRight(l, " "), `\`) && i+1 < len(lines) {
			i++
			l = strings.TrimSuffix(strings.TrimRight(l, " "), `\`) + " " + lines[i]
		}
		toks := shellToken.FindAllString(l, -1)
		for j := 0; j+1 < len(toks); j++ {
			if filepath.Base(toks[j]) != "explainer" {
				continue
			}
			// explainer serve|explain ARGS, or explainer --model_name ... (KServe's
			// arguments alone, which serve takes).
			cmd, rest := toks[j+1], toks[j+2:]
			if name, _, _ := strings.Cut(strings.TrimLeft(cmd, "-"), "="); strings.HasPrefix(cmd, "-") && kserveFlag[name] {
				cmd, rest = "serve", toks[j+1:]
			}
			if cmd != "serve" && cmd != "explain" {
				continue
			}
			args := []string{}
			for _, t := range rest {
				if t == "|" || t == ">" || t == "&&" || t == ";" || t == "&" || t == "#" {
					break
				}
				args = append(args, t)
			}
			where := fmt.Sprintf("%s:%d", name, start+1)
			checkArgs(cmd, args, flags, where, p)
		}
	}
}

// fileExists reports whether path exists.
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
