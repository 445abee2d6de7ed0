package main

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime/debug"
	"text/tabwriter"
	"time"

	"github.com/q2o/q2o/db"
)

// commit and built are set by `make build` (-ldflags -X), since Go's own
// VCS stamping may be off (GOFLAGS=-buildvcs=false).
var commit, built string

// versionString is "q2o <module version> (commit <hash>[, modified], built
// <time>, <go version>)": from -ldflags when make built it, else from the
// build information the Go toolchain embeds.
func versionString() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "q2o (no build information)"
	}
	version := info.Main.Version
	if version == "" {
		version = "(devel)"
	}
	commit, built := commit, built
	var modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			if commit == "" {
				commit = s.Value
			}
		case "vcs.time":
			if built == "" {
				built = s.Value
			}
		case "vcs.modified":
			if s.Value == "true" {
				modified = ", modified"
			}
		}
	}
	if commit == "" {
		commit = "unknown"
	} else if len(commit) > 12 {
		commit = commit[:12]
	}
	if built == "" {
		built = "unknown"
	}
	return fmt.Sprintf("q2o %s (commit %s%s, built %s, %s)", version, commit, modified, built, info.GoVersion)
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
