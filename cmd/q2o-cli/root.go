package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// env is what the commands read and write, and the global flags.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer

	url, apiKey, output string
}

func newRootCmd(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "q2o-cli",
		Short: "q2o's command line for tenants: projects, runs, logs and downloads",
		Long: `q2o-cli speaks q2o's public HTTP API.

Credentials: --api-key or Q2O_API_KEY (for scripts), otherwise the session
that "q2o-cli login" stored. The API: --url or Q2O_URL, otherwise the URL of
that session, otherwise ` + defaultURL + `.

Exit codes: 0 the command worked (a followed run completed), 1 a followed run
failed, 2 it was cancelled or paused, 3 the API refused the request (its
error code and message are printed), 4 a network or auth error, 64 a bad
command line, 130 interrupted (the run goes on).`,
		Example: `  export Q2O_URL=https://q2o.example Q2O_API_KEY=q2k_…
  q2o-cli projects create --name "Todo app" --description "A todo app" --objectives "CRUD, tests"
  q2o-cli assign $PROJECT ABCDE-FGHJK-LMNPQ-RSTUV
  q2o-cli run $PROJECT --follow && q2o-cli download $PROJECT -o todo.zip`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	pf := root.PersistentFlags()
	pf.StringVar(&e.url, "url", "", "the q2o API (default $Q2O_URL, the stored session's, or "+defaultURL+")")
	pf.StringVar(&e.apiKey, "api-key", "", "a tenant API key or session token (default $Q2O_API_KEY, or the stored session)")
	pf.StringVar(&e.output, "output", "table", "how read commands print: table or json")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if e.output != "table" && e.output != "json" {
			return fmt.Errorf("--output is table or json, not %q", e.output)
		}
		return nil
	}
	root.AddCommand(
		newLoginCmd(e), newLogoutCmd(e), newWhoamiCmd(e),
		newProjectsCmd(e), newCodesCmd(e), newAssignCmd(e),
		newRunCmd(e), newFollowCmd(e), newCancelCmd(e), newResumeCmd(e), newRunsCmd(e),
		newLogsCmd(e), newDownloadCmd(e),
	)
	return root
}

// baseURL is --url, $Q2O_URL, the stored session's URL, or defaultURL.
func (e *env) baseURL(stored *credentials) string {
	switch {
	case e.url != "":
		return e.url
	case os.Getenv("Q2O_URL") != "":
		return os.Getenv("Q2O_URL")
	case stored != nil && stored.URL != "":
		return stored.URL
	}
	return defaultURL
}

// client is a client with the credential the flags, the environment or the
// stored session give; none is an auth error (exit 4).
func (e *env) client() (*client, error) {
	stored, err := loadCredentials()
	if err != nil {
		return nil, err
	}
	token := e.apiKey
	if token == "" {
		token = os.Getenv("Q2O_API_KEY")
	}
	if token == "" && stored != nil {
		token = stored.Token
	}
	if token == "" {
		return nil, &exitError{code: exitNetwork, msg: "not signed in: run `q2o-cli login`, or set --api-key / Q2O_API_KEY"}
	}
	return newClient(e.baseURL(stored), token)
}

// withClient is a command's RunE that first makes the client.
func (e *env) withClient(f func(ctx context.Context, c *client, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		c, err := e.client()
		if err != nil {
			return err
		}
		return f(cmd.Context(), c, args)
	}
}

// withProject is withClient for a command whose first argument is a
// project's id.
func (e *env) withProject(f func(ctx context.Context, c *client, pid uuid.UUID, args []string) error) func(*cobra.Command, []string) error {
	return e.withClient(func(ctx context.Context, c *client, args []string) error {
		pid, err := parseID("a project", args[0])
		if err != nil {
			return err
		}
		return f(ctx, c, pid, args)
	})
}

func (e *env) json() bool { return e.output == "json" }

// print prints a read command's answer: raw, the API's JSON, with --output
// json, otherwise what table prints.
func (e *env) print(raw []byte, table func()) error {
	if e.json() {
		return e.printJSON(raw)
	}
	table()
	return nil
}

// printJSON prints the API's answer as it came, indented.
func (e *env) printJSON(raw []byte) error {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return err
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(e.stdout, "%s\n", b)
	return err
}

// table prints rows under header, aligned.
func (e *env) table(header []string, rows [][]string) {
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// orDash is s, or "-" when empty.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// deref is *p, or the zero value for nil.
func deref[T any](p *T) T {
	var v T
	if p != nil {
		v = *p
	}
	return v
}

// orDashTime is t in RFC 3339, or "-" for nil.
func orDashTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// orDashID is the id, or "-" for nil.
func orDashID(id *uuid.UUID) string {
	if id == nil {
		return "-"
	}
	return id.String()
}
