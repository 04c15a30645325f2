package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

const distroless = "gcr.io/distroless/static-debian12:nonroot"

var goLine = regexp.MustCompile(`(?m)^go (\S+)$`)

// checkDockerfile parses the root Dockerfile with BuildKit's own parser and
// checks: a golang builder of go.mod's version; a static, trimmed build of
// ./cmd/explainer; a distroless/static final stage running as a non-root
// user; ENTRYPOINT ["/explainer"]; CMD flags that serve has.
func checkDockerfile(root string, flags commandFlags, p *problems) {
	raw, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		p.add("Dockerfile: %v", err)
		return
	}
	res, err := parser.Parse(bytes.NewReader(raw))
	if err != nil {
		p.add("Dockerfile: %v", err)
		return
	}
	stages, _, err := instructions.Parse(res.AST, nil)
	if err != nil {
		p.add("Dockerfile: %v", err)
		return
	}
	if len(stages) < 2 {
		p.add("Dockerfile: want a builder stage and a final stage, got %d stages", len(stages))
		return
	}
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if m := goLine.FindSubmatch(mod); err != nil || m == nil {
		p.add("go.mod: no go line")
	} else if want := "golang:" + string(m[1]); stages[0].BaseName != want && !strings.HasPrefix(stages[0].BaseName, want+"-") {
		p.add("Dockerfile: builder is FROM %s, want %s (go.mod's go line)", stages[0].BaseName, want)
	}
	static := false
	for _, c := range stages[0].Commands {
		if r, ok := c.(*instructions.RunCommand); ok {
			line := strings.Join(r.CmdLine, " ")
			if strings.Contains(line, "go build") && strings.Contains(line, "CGO_ENABLED=0") &&
				strings.Contains(line, "-trimpath") && strings.Contains(line, `-ldflags "-s -w"`) &&
				strings.Contains(line, "./cmd/explainer") {
				static = true
			}
		}
	}
	if !static {
		p.add(`Dockerfile: the builder has no RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" ... ./cmd/explainer`)
	}
	final := stages[len(stages)-1]
	if final.BaseName != distroless {
		p.add("Dockerfile: final stage is FROM %s, want %s", final.BaseName, distroless)
	}
	var user string
	var entry, cmd []string
	copied := false
	for _, c := range final.Commands {
		switch c := c.(type) {
		case *instructions.UserCommand:
			user = c.User
		case *instructions.EntrypointCommand:
			if c.PrependShell {
				p.add("Dockerfile: ENTRYPOINT in shell form: distroless has no shell")
			}
			entry = c.CmdLine
		case *instructions.CmdCommand:
			if c.PrependShell {
				p.add("Dockerfile: CMD in shell form: distroless has no shell")
			}
			cmd = c.CmdLine
		case *instructions.CopyCommand:
			if c.From == stages[0].Name && c.DestPath == "/explainer" {
				copied = true
			}
		case *instructions.RunCommand:
			p.add("Dockerfile: RUN in the final stage: distroless has no shell")
		}
	}
	if !copied {
		p.add("Dockerfile: the final stage does not COPY --from=%s the binary to /explainer", stages[0].Name)
	}
	uid, _, _ := strings.Cut(user, ":")
	switch {
	case user == "":
		p.add("Dockerfile: no USER in the final stage: it would run as root")
	case uid == "0" || uid == "root":
		p.add("Dockerfile: USER %s is root", user)
	case !regexp.MustCompile(`^[1-9][0-9]*$`).MatchString(uid):
		p.add("Dockerfile: USER %s is not numeric: Kubernetes' runAsNonRoot cannot verify a user name", user)
	}
	if strings.Join(entry, " ") != "/explainer" {
		p.add(`Dockerfile: ENTRYPOINT is %q, want ["/explainer"]`, entry)
	}
	if len(cmd) == 0 || cmd[0] != "serve" {
		p.add("Dockerfile: CMD %q does not start with serve", cmd)
		return
	}
	vals := checkArgs("serve", cmd[1:], flags, "Dockerfile CMD", p)
	if l := vals["listen"]; !strings.HasPrefix(l, "0.0.0.0:") && !strings.HasPrefix(l, ":") {
		p.add("Dockerfile CMD: --listen %q: in a container, listen on every interface", l)
	}
}
