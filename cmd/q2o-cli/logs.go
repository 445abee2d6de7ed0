package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/spf13/cobra"
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
run's outcome as run --follow does.`,
		Example: "  q2o-cli logs $PROJECT --tail 50\n  q2o-cli logs $PROJECT -f",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			q := url.Values{"tail": {strconv.Itoa(tail)}}
			if eid != "" {
				q.Set("execution_id", eid)
			}
			path := "/api/tenant/projects/" + escape(args[0]) + "/logs?"
			if !followIt {
				req, err := c.newRequest(cmd.Context(), http.MethodGet, path+q.Encode(), nil)
				if err != nil {
					return err
				}
				req.Header.Set("Accept", "text/plain")
				res, err := c.http.Do(req)
				if err != nil {
					return &networkError{err}
				}
				defer res.Body.Close()
				if res.StatusCode != http.StatusOK {
					b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
					return readAPIError(res.StatusCode, b)
				}
				if _, err := io.Copy(e.stdout, res.Body); err != nil {
					return &networkError{err}
				}
				return nil
			}
			return e.followLog(cmd.Context(), c, path, q)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&followIt, "follow", "f", false, "follow the log until the run ends")
	f.IntVar(&tail, "tail", 100, "how many of the last lines to start with (0-10000)")
	f.StringVar(&eid, "execution", "", "an execution of the project (default: the latest)")
	return cmd
}

// followLog prints a followed log until the run ends, and exits with its
// outcome.
func (e *env) followLog(ctx context.Context, c *client, path string, q url.Values) error {
	status, err := c.streamLog(ctx, path, q,
		func(line string) { fmt.Fprintln(e.stdout, line) },
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
func (c *client) streamLog(ctx context.Context, path string, q url.Values, emit, note func(string)) (string, error) {
	lastID := ""
	wait := reconnectFirst
	var failingSince time.Time
	for {
		s, err := c.openSSE(ctx, path+q.Encode(), lastID)
		if err != nil {
			if ctx.Err() != nil || !retryable(err) {
				return "", err
			}
			if failingSince.IsZero() {
				failingSince = time.Now()
			} else if time.Since(failingSince) > giveUp {
				return "", err
			}
			note(fmt.Sprintf("%v; reconnecting", err))
			if !backoff(ctx, &wait) {
				return "", ctx.Err()
			}
			continue
		}
		failingSince, wait = time.Time{}, reconnectFirst
		if id := s.res.Header.Get("X-Execution-Id"); id != "" {
			q.Set("execution_id", id)
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
