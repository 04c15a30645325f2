package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// version, when set at link time (go build -ldflags "-X main.version=v1.2.0"),
// overrides the module version of the build information.
var version string

// versionLine is what --version prints: the version (the -X override, else
// the module's version, "(devel)" for a build from a checkout), the VCS
// revision and time the go command stamped, and the Go version and
// platform.
func versionLine() string {
	info, ok := debug.ReadBuildInfo()
	return formatVersion(version, info, ok)
}

func formatVersion(override string, info *debug.BuildInfo, ok bool) string {
	v := override
	if v == "" && ok {
		v = info.Main.Version
	}
	if v == "" {
		v = "(devel)"
	}
	var parts []string
	if ok {
		var rev, at string
		dirty := false
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				at = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if rev != "" {
			rev = "commit " + rev[:min(12, len(rev))]
			if dirty {
				rev += " (modified)"
			}
			parts = append(parts, rev)
		}
		if at != "" {
			parts = append(parts, at)
		}
	}
	parts = append(parts, runtime.Version(), runtime.GOOS+"/"+runtime.GOARCH)
	return fmt.Sprintf("explainer %s · %s", v, strings.Join(parts, " · "))
}
