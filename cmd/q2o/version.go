package main

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime/debug"
	"text/tabwriter"
	"time"

	"github.com/q2o/q2o/db"
	"github.com/q2o/q2o/metrics"
)

// commit and built are set by `make build` (-ldflags -X), since Go's own
// VCS stamping may be off (GOFLAGS=-buildvcs=false).
var commit, built string

// build is what this binary knows of its build: from -ldflags when make
// built it, else from the build information the Go toolchain embeds.
type build struct {
	version, commit, built, goVersion string
	modified                          bool
}

func readBuild() (build, bool) {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return build{version: "(devel)", commit: "unknown", built: "unknown", goVersion: "unknown"}, false
	}
	b := build{version: info.Main.Version, commit: commit, built: built, goVersion: info.GoVersion}
	if b.version == "" {
		b.version = "(devel)"
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			if b.commit == "" {
				b.commit = s.Value
			}
		case "vcs.time":
			if b.built == "" {
				b.built = s.Value
			}
		case "vcs.modified":
			b.modified = s.Value == "true"
		}
	}
	if b.commit == "" {
		b.commit = "unknown"
	} else if len(b.commit) > 12 {
		b.commit = b.commit[:12]
	}
	if b.built == "" {
		b.built = "unknown"
	}
	return b, true
}

// versionString is "q2o <module version> (commit <hash>[, modified], built
// <time>, <go version>)".
func versionString() string {
	b, ok := readBuild()
	if !ok {
		return "q2o (no build information)"
	}
	var modified string
	if b.modified {
		modified = ", modified"
	}
	return fmt.Sprintf("q2o %s (commit %s%s, built %s, %s)", b.version, b.commit, modified, b.built, b.goVersion)
}

// setBuildInfo makes q2o_build_info say what `q2o version` says.
func setBuildInfo(m *metrics.Metrics) {
	b, _ := readBuild()
	m.SetBuildInfo(b.version, b.commit, b.goVersion)
}

// printMigrations writes the migrations as a table, or as JSON.
func printMigrations(w io.Writer, states []db.MigrationState, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(states)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tFILE\tSTATE\tAPPLIED AT")
	for _, s := range states {
		state, at := "pending", ""
		if s.Applied {
			state = "applied"
			if s.AppliedAt != nil {
				at = s.AppliedAt.Format(time.RFC3339)
			}
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", s.Version, s.File, state, at)
	}
	return tw.Flush()
}
