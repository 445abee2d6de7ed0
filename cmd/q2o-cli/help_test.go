package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestEveryCommandHasHelpWithExamples walks the commands: each one that
// runs has examples, and its --help prints them and exits 0.
func TestEveryCommandHasHelpWithExamples(t *testing.T) {
	t.Parallel()
	var walk func(*cobra.Command)
	walk = func(cmd *cobra.Command) {
		for _, sub := range cmd.Commands() {
			walk(sub)
		}
		if !cmd.Runnable() {
			return
		}
		args := append(strings.Fields(cmd.CommandPath())[1:], "--help")
		if cmd.Example == "" {
			t.Errorf("%s has no examples", cmd.CommandPath())
		}
		var out bytes.Buffer
		if code := run(context.Background(), args, nil, &out, &out); code != 0 {
			t.Errorf("%s: exit %d\n%s", strings.Join(args, " "), code, out.String())
		}
		if !strings.Contains(out.String(), "Examples:") || !strings.Contains(out.String(), "Usage:") {
			t.Errorf("%s printed no usage and examples:\n%s", strings.Join(args, " "), out.String())
		}
	}
	walk(newRootCmd(&env{}))
}

func TestCompletion(t *testing.T) {
	t.Parallel()
	for shell, want := range map[string]string{
		"bash": "__start_q2o-cli",
		"zsh":  "#compdef q2o-cli",
		"fish": "complete -c q2o-cli",
	} {
		var out, errs bytes.Buffer
		if code := run(context.Background(), []string{"completion", shell}, nil, &out, &errs); code != 0 {
			t.Errorf("completion %s: exit %d: %s", shell, code, errs.String())
		}
		if !strings.Contains(out.String(), want) {
			t.Errorf("completion %s lacks %q", shell, want)
		}
	}
}
