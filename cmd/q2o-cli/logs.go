package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/q2o/q2o/cmd/q2o-cli/internal/apiclient"
)

func newLogsCmd(e *env) *cobra.Command {
	var followIt bool
	var tail int
	var eid string
	cmd := &cobra.Command{
		Use:   "logs PROJECT",
		Short: "Print the run log of the project's latest run; -f follows it live",
		Long: `Prints the last --tail lines of the log of the project's latest run (or
--execution's). With -f it follows the log live until the run ends,
resuming after a dropped connection where it left off, and exits with the
run's outcome as run --follow does. With --output json each line is a JSON
line, {"kind": "log", "message": LINE}.`,
		Example: "  q2o-cli logs $PROJECT --tail 50\n  q2o-cli logs $PROJECT -f\n  q2o-cli logs $PROJECT --output json | jq -r .message",
		Args:    cobra.ExactArgs(1),
		RunE: e.withProject(func(ctx context.Context, c *client, pid apiclient.ProjectID, _ []string) error {
			params := apiclient.ProjectLogsParams{Tail: &tail}
			if eid != "" {
				id, err := parseID("an execution", eid)
				if err != nil {
					return err
				}
				params.ExecutionId = &id
			}
			if followIt {
				return e.followLog(ctx, c, pid, &params)
			}
			accept := apiclient.Textplain
			params.Accept = &accept
			res, err := c.raw.ProjectLogs(ctx, pid, &params)
			if err != nil {
				return err
			}
			defer res.Body.Close()
			if res.StatusCode != http.StatusOK {
				return readRefusal(res)
			}
			if !e.json() {
				_, err = io.Copy(e.stdout, res.Body)
			} else {
				sc := bufio.NewScanner(res.Body)
				sc.Buffer(make([]byte, 64<<10), 16<<20)
				for sc.Scan() {
					e.logLine(sc.Text())
				}
				err = sc.Err()
			}
			if err != nil {
				return &networkError{err}
			}
			return nil
		}),
	}
	f := cmd.Flags()
	f.BoolVarP(&followIt, "follow", "f", false, "follow the log until the run ends")
	f.IntVar(&tail, "tail", 100, "how many of the last lines to start with (0-10000)")
	f.StringVar(&eid, "execution", "", "an execution of the project (default: the latest)")
	return cmd
}

// logLine prints a line of a run's log: as it is, or with --output json as
// a JSON line, {"kind": "log", "message": line}, as run --follow --log does.
func (e *env) logLine(line string) {
	if !e.json() {
		fmt.Fprintln(e.stdout, line)
		return
	}
	b, _ := json.Marshal(logEntry{Kind: "log", Message: line})
	fmt.Fprintf(e.stdout, "%s\n", b)
}

// logEntry is a line of a run's log with --output json.
type logEntry struct {
	Kind    string `json:"kind"`
	Message string `json:"message"`
}

// followLog prints a followed log until the run ends, and exits with its
// outcome.
func (e *env) followLog(ctx context.Context, c *client, pid apiclient.ProjectID, params *apiclient.ProjectLogsParams) error {
	status, err := c.streamLog(ctx, pid, params, e.logLine,
		func(note string) { fmt.Fprintln(e.stderr, "q2o-cli:", note) })
	if err != nil {
		return err
	}
	return outcome(status)
}

// streamLog passes each line of a followed log to emit until its "end"
// event, and returns the run's final status (the end's data). After a
// dropped connection it reconnects with Last-Event-ID (the execution and
// byte offset of the last line), pinned to the execution first served, so
// no line is missed or repeated.
func (c *client) streamLog(ctx context.Context, pid apiclient.ProjectID, params *apiclient.ProjectLogsParams, emit, note func(string)) (string, error) {
	p := *params
	accept := apiclient.TexteventStream
	p.Accept = &accept
	lastID := ""
	rc := newReconnecting(ctx, note)
	for {
		p.LastEventID = orNil(lastID)
		s, err := c.openSSE(func() (*http.Response, error) { return c.raw.ProjectLogs(ctx, pid, &p) })
		if err != nil {
			if err := rc.retry(err); err != nil {
				return "", err
			}
			continue
		}
		rc.connected()
		if id, err := uuid.Parse(s.res.Header.Get("X-Execution-Id")); err == nil {
			p.ExecutionId = &id
		}
		for {
			ev, err := s.next()
			if err != nil {
				break
			}
			if ev.Event == "end" {
				s.Close()
				return ev.Data, nil
			}
			if ev.ID != "" {
				lastID = ev.ID
			}
			emit(ev.Data)
		}
		s.Close()
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		note("the log's connection dropped; resuming it")
	}
}
