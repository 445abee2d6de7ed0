package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/q2o/q2o/cmd/q2o-cli/internal/apiclient"
)

// startRun sends RUN or resume and, with followIt, follows the new run.
func (e *env) startRun(ctx context.Context, c *client, pid apiclient.ProjectID, resume, followIt, withLog bool) error {
	var started *apiclient.RunStarted
	var raw []byte
	var err error
	if resume {
		started, raw, err = answer(c.api.ResumeRunWithResponse(ctx, pid))
	} else {
		started, raw, err = answer(c.api.RunProjectWithResponse(ctx, pid))
	}
	if err != nil {
		return err
	}
	if !followIt {
		return e.print(raw, func() { fmt.Fprintln(e.stdout, started.ExecutionId) })
	}
	if !e.json() {
		fmt.Fprintf(e.stderr, "run %s %s\n", started.ExecutionId, started.Status)
	}
	return e.followAndExit(ctx, c, runID{project: pid, execution: started.ExecutionId}, withLog)
}

// newStartCmd is run or resume: both start a run, and follow it with --follow.
func newStartCmd(e *env, resume bool, use, short, long, example string) *cobra.Command {
	var followIt, withLog bool
	cmd := &cobra.Command{
		Use: use, Short: short, Long: long, Example: example,
		Args: cobra.ExactArgs(1),
		RunE: e.withProject(func(ctx context.Context, c *client, pid apiclient.ProjectID, _ []string) error {
			return e.startRun(ctx, c, pid, resume, followIt, withLog)
		}),
	}
	cmd.Flags().BoolVarP(&followIt, "follow", "f", false, "follow the run until it ends")
	cmd.Flags().BoolVar(&withLog, "log", false, "with --follow, show the run's log too")
	return cmd
}

func newRunCmd(e *env) *cobra.Command {
	return newStartCmd(e, false, "run PROJECT", "RUN the project; with --follow, show it live and exit with its outcome",
		`Starts a run of the project and prints its execution id. With --follow it
shows the run live (a progress bar on a terminal, timestamped lines
otherwise, JSON lines with --output json) and exits 0 when it completed, 1
when it failed, 2 when it was cancelled or paused.`,
		"  q2o-cli run $PROJECT --follow")
}

func newResumeCmd(e *env) *cobra.Command {
	return newStartCmd(e, true, "resume PROJECT", "Run a paused project again (a new run); --follow as for run", "",
		"  q2o-cli resume $PROJECT --follow")
}

func newFollowCmd(e *env) *cobra.Command {
	var eid string
	var withLog bool
	cmd := &cobra.Command{
		Use:   "follow PROJECT|EXECUTION",
		Short: "Show a run live and exit with its outcome",
		Long: `Follows a run until it ends, as run --follow does: the project's latest
run (or --execution's), or the run EXECUTION, an execution's id, of any of
the tenant's projects. A run that has already ended is shown once.`,
		Example: "  q2o-cli follow $PROJECT && echo done\n  q2o-cli follow $(q2o-cli run $PROJECT)",
		Args:    cobra.ExactArgs(1),
		RunE: e.withClient(func(ctx context.Context, c *client, args []string) error {
			id, err := parseID("a project or an execution", args[0])
			if err != nil {
				return err
			}
			var execution *apiclient.UUID
			if eid != "" {
				x, err := parseID("an execution", eid)
				if err != nil {
					return err
				}
				execution = &x
			}
			r, err := c.findRun(ctx, id, execution)
			if err != nil {
				return err
			}
			return e.followAndExit(ctx, c, r, withLog)
		}),
	}
	cmd.Flags().StringVar(&eid, "execution", "", "with PROJECT, an execution of the project (default: the latest)")
	cmd.Flags().BoolVar(&withLog, "log", false, "show the run's log too")
	return cmd
}

// findRun is the run follow names: project id's latest (or execution's),
// or, when no project has that id, the run with that id of one of the
// tenant's projects.
func (c *client) findRun(ctx context.Context, id apiclient.UUID, execution *apiclient.UUID) (runID, error) {
	p, _, err := answer(c.api.GetProjectWithResponse(ctx, id))
	var ae *apiError
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound && execution == nil {
		return c.findExecution(ctx, id)
	}
	if err != nil {
		return runID{}, err
	}
	if execution != nil {
		return runID{project: id, execution: *execution}, nil
	}
	if p.LatestExecutionId == nil {
		return runID{}, &exitError{code: exitRefused, msg: "the project has never run"}
	}
	return runID{project: id, execution: *p.LatestExecutionId}, nil
}

// findExecution is the tenant's run eid, whatever its project (deleted
// ones too): GET /api/tenant/executions/{eid}. Its 404 says that the id is
// neither a project's nor a run's.
func (c *client) findExecution(ctx context.Context, eid apiclient.UUID) (runID, error) {
	ex, _, err := answer(c.api.GetTenantExecutionWithResponse(ctx, eid))
	var ae *apiError
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
		return runID{}, &apiError{Status: http.StatusNotFound, Code: "not_found", Message: "no project, and no run of the tenant's projects, has this id"}
	}
	if err != nil {
		return runID{}, err
	}
	return runID{project: ex.ProjectId, execution: eid}, nil
}

func newCancelCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:     "cancel PROJECT",
		Short:   "Stop the project's pending or running run (the project is paused)",
		Example: "  q2o-cli cancel $PROJECT",
		Args:    cobra.ExactArgs(1),
		RunE: e.withProject(func(ctx context.Context, c *client, pid apiclient.ProjectID, _ []string) error {
			p, raw, err := answer(c.api.CancelRunWithResponse(ctx, pid))
			if err != nil {
				return err
			}
			return e.print(raw, func() {
				fmt.Fprintf(e.stdout, "Cancelled: the project is %s.\n", orDash(string(deref(p.ExecutionStatus))))
			})
		}),
	}
}

func newRunsCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "runs", Short: "The runs (executions) of a project"}
	var page int
	list := &cobra.Command{
		Use:     "list PROJECT",
		Short:   "List the project's runs, newest first (10 a page)",
		Example: "  q2o-cli runs list $PROJECT --output json | jq -r '.items[0].status'",
		Args:    cobra.ExactArgs(1),
		RunE: e.withProject(func(ctx context.Context, c *client, pid apiclient.ProjectID, _ []string) error {
			pg, raw, err := answer(c.api.ListExecutionsWithResponse(ctx, pid, &apiclient.ListExecutionsParams{Page: &page}))
			if err != nil {
				return err
			}
			return e.print(raw, func() {
				rows := make([][]string, 0, len(pg.Items))
				for _, it := range pg.Items {
					code := "-"
					if it.ExitCode != nil {
						code = strconv.Itoa(*it.ExitCode)
					}
					rows = append(rows, []string{it.Id.String(), string(it.Status), strconv.Itoa(it.Attempt),
						orDashTime(&it.QueuedAt), orDashTime(it.FinishedAt), code})
				}
				e.table([]string{"ID", "STATUS", "ATTEMPT", "QUEUED", "FINISHED", "EXIT"}, rows)
				fmt.Fprintf(e.stderr, "page %d of %d, %d runs\n", pg.Page, pg.TotalPages, pg.Total)
			})
		}),
	}
	list.Flags().IntVar(&page, "page", 1, "the page")
	cmd.AddCommand(list)
	return cmd
}
