package main

import (
	"context"
	"fmt"
	"os"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/q2o/q2o/cmd/q2o-cli/internal/apiclient"
)

func newProjectsCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "projects", Short: "List, create, show, edit and delete projects"}
	cmd.AddCommand(newProjectsListCmd(e), newProjectsCreateCmd(e), newProjectsShowCmd(e), newProjectsEditCmd(e), newProjectsDeleteCmd(e))
	return cmd
}

func newProjectsListCmd(e *env) *cobra.Command {
	var status, search string
	var page int
	var all bool
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List the active projects, newest activity first (10 a page)",
		Example: "  q2o-cli projects list --status running\n  q2o-cli projects list --search todo --output json",
		Args:    cobra.NoArgs,
		RunE: e.withClient(func(ctx context.Context, c *client, _ []string) error {
			var st *apiclient.StatusFilter
			if status != "" {
				st = (*apiclient.StatusFilter)(&status)
			}
			var q *string
			if search != "" {
				q = &search
			}
			var pg *apiclient.ProjectStatusPage
			var raw []byte
			var err error
			if all {
				pg, raw, err = answer(c.api.ListProjectsWithResponse(ctx, &apiclient.ListProjectsParams{Page: &page, Status: st, Q: q}))
			} else {
				pg, raw, err = answer(c.api.ProjectStatusPageWithResponse(ctx, &apiclient.ProjectStatusPageParams{Page: &page, Status: st, Q: q}))
			}
			if err != nil {
				return err
			}
			return e.print(raw, func() {
				rows := make([][]string, 0, len(pg.Items))
				for _, p := range pg.Items {
					rows = append(rows, []string{p.Id.String(), p.Name, orDash(string(deref(p.ExecutionStatus))),
						strconv.Itoa(p.Progress) + "%", orDash(p.ProgressMessage)})
				}
				e.table([]string{"ID", "NAME", "STATUS", "PROGRESS", "MESSAGE"}, rows)
				fmt.Fprintf(e.stderr, "page %d of %d, %d projects\n", pg.Page, pg.TotalPages, pg.Total)
			})
		}),
	}
	f := cmd.Flags()
	f.StringVar(&status, "status", "", "only projects whose run is in this status (pending, running, completed, failed, paused, cancelled)")
	f.StringVar(&search, "search", "", "search name, description and objectives (plain text)")
	f.IntVar(&page, "page", 1, "the page")
	f.BoolVar(&all, "all", false, "deleted projects too")
	return cmd
}

// projectText is a project's name, description and objectives from the
// flags: only those given (--objectives-file reads the objectives).
type projectText struct {
	name, description, objectives, objectivesFile string
}

func (pt *projectText) flags(cmd *cobra.Command, what string) {
	f := cmd.Flags()
	f.StringVar(&pt.name, "name", "", what+"name")
	f.StringVar(&pt.description, "description", "", what+"description: what to build")
	f.StringVar(&pt.objectives, "objectives", "", what+"objectives: what it must do")
	f.StringVar(&pt.objectivesFile, "objectives-file", "", "read the "+what+"objectives from this file")
	cmd.MarkFlagsMutuallyExclusive("objectives", "objectives-file")
}

// changes is what the flags given set.
func (pt *projectText) changes(cmd *cobra.Command) (apiclient.ProjectChanges, error) {
	var ch apiclient.ProjectChanges
	f := cmd.Flags()
	if f.Changed("name") {
		ch.Name = &pt.name
	}
	if f.Changed("description") {
		ch.Description = &pt.description
	}
	if f.Changed("objectives") {
		ch.Objectives = &pt.objectives
	}
	if pt.objectivesFile != "" {
		b, err := os.ReadFile(pt.objectivesFile)
		if err != nil {
			return ch, &exitError{code: exitUsage, msg: err.Error()}
		}
		s := string(b)
		ch.Objectives = &s
	}
	return ch, nil
}

func newProjectsCreateCmd(e *env) *cobra.Command {
	var pt projectText
	cmd := &cobra.Command{
		Use:     "create",
		Short:   "Create a project",
		Example: `  q2o-cli projects create --name "Todo app" --description "A small todo app" --objectives-file objectives.md`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ch, err := pt.changes(cmd)
			if err != nil {
				return err
			}
			c, err := e.client()
			if err != nil {
				return err
			}
			p, raw, err := answer(c.api.CreateProjectWithResponse(cmd.Context(), apiclient.NewProject{
				Name: deref(ch.Name), Description: deref(ch.Description), Objectives: deref(ch.Objectives)}))
			if err != nil {
				return err
			}
			return e.print(raw, func() { fmt.Fprintln(e.stdout, p.Id) })
		},
	}
	pt.flags(cmd, "the project's ")
	return cmd
}

func newProjectsShowCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:     "show PROJECT",
		Short:   "Show a project and its latest run",
		Example: "  q2o-cli projects show $PROJECT --output json | jq -r .execution_status",
		Args:    cobra.ExactArgs(1),
		RunE: e.withProject(func(ctx context.Context, c *client, id apiclient.ProjectID, _ []string) error {
			p, raw, err := answer(c.api.GetProjectWithResponse(ctx, id))
			if err != nil {
				return err
			}
			return e.print(raw, func() {
				rows := [][]string{
					{"id", p.Id.String()}, {"name", p.Name}, {"description", p.Description}, {"objectives", p.Objectives},
					{"active", strconv.FormatBool(p.IsActive)},
					{"activation code", orDashID(p.ActivationCodeId)},
					{"status", orDash(string(deref(p.ExecutionStatus)))},
					{"progress", fmt.Sprintf("%d%% %s", p.Progress, p.ProgressMessage)},
					{"latest execution", orDashID(p.LatestExecutionId)},
				}
				if p.QueuePosition != nil {
					rows = append(rows, []string{"queue position", strconv.Itoa(*p.QueuePosition)})
				}
				if p.ExecutionError != nil {
					rows = append(rows, []string{"error", *p.ExecutionError})
				}
				e.table([]string{"FIELD", "VALUE"}, rows)
			})
		}),
	}
}

func newProjectsEditCmd(e *env) *cobra.Command {
	var pt projectText
	cmd := &cobra.Command{
		Use:     "edit PROJECT",
		Short:   "Change a project's name, description and/or objectives (not while it runs)",
		Example: `  q2o-cli projects edit $PROJECT --name "Todo app v2"`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ch, err := pt.changes(cmd)
			if err != nil {
				return err
			}
			if ch == (apiclient.ProjectChanges{}) {
				return &exitError{code: exitUsage, msg: "nothing to change: give --name, --description or --objectives"}
			}
			id, err := parseID("a project", args[0])
			if err != nil {
				return err
			}
			c, err := e.client()
			if err != nil {
				return err
			}
			_, raw, err := answer(c.api.UpdateProjectWithResponse(cmd.Context(), id, ch))
			if err != nil {
				return err
			}
			return e.print(raw, func() { fmt.Fprintln(e.stdout, "Saved.") })
		},
	}
	pt.flags(cmd, "the new ")
	return cmd
}

func newProjectsDeleteCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:     "delete PROJECT",
		Short:   "Delete a project (it stays listed by projects list --all); not while it runs",
		Example: "  q2o-cli projects delete $PROJECT",
		Args:    cobra.ExactArgs(1),
		RunE: e.withProject(func(ctx context.Context, c *client, id apiclient.ProjectID, _ []string) error {
			if _, err := c.api.DeleteProjectWithResponse(ctx, id); err != nil {
				return err
			}
			fmt.Fprintln(e.stdout, "Deleted.")
			return nil
		}),
	}
}
