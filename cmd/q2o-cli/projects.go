package main

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"

	"github.com/spf13/cobra"
)

// project is the part of the API's Project the tables show.
type project struct {
	ID                string  `json:"id"`
	Name              string  `json:"name"`
	Description       string  `json:"description"`
	Objectives        string  `json:"objectives"`
	IsActive          bool    `json:"is_active"`
	ActivationCodeID  *string `json:"activation_code_id"`
	ExecutionStatus   *string `json:"execution_status"`
	ExecutionError    *string `json:"execution_error"`
	Progress          int     `json:"progress"`
	ProgressMessage   string  `json:"progress_message"`
	LatestExecutionID *string `json:"latest_execution_id"`
	QueuePosition     *int    `json:"queue_position"`
	CreatedAt         string  `json:"created_at"`
}

func (p project) status() string { return orDash(str(p.ExecutionStatus)) }

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
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			q := url.Values{"page": {strconv.Itoa(page)}}
			if status != "" {
				q.Set("status", status)
			}
			if search != "" {
				q.Set("q", search)
			}
			path := "/api/tenant/projects/status?"
			if all {
				path = "/api/tenant/projects?"
			}
			var pg struct {
				Items      []project `json:"items"`
				Page       int       `json:"page"`
				Total      int       `json:"total"`
				TotalPages int       `json:"total_pages"`
			}
			raw, err := c.getJSON(cmd.Context(), path+q.Encode(), &pg)
			if err != nil {
				return err
			}
			if e.json() {
				return e.printJSON(raw)
			}
			rows := make([][]string, 0, len(pg.Items))
			for _, p := range pg.Items {
				rows = append(rows, []string{p.ID, p.Name, p.status(), strconv.Itoa(p.Progress) + "%", orDash(p.ProgressMessage)})
			}
			e.table([]string{"ID", "NAME", "STATUS", "PROGRESS", "MESSAGE"}, rows)
			fmt.Fprintf(e.stderr, "page %d of %d, %d projects\n", pg.Page, pg.TotalPages, pg.Total)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&status, "status", "", "only projects whose run is in this status (pending, running, completed, failed, paused, cancelled)")
	f.StringVar(&search, "search", "", "search name, description and objectives (plain text)")
	f.IntVar(&page, "page", 1, "the page")
	f.BoolVar(&all, "all", false, "deleted projects too")
	return cmd
}

func newProjectsCreateCmd(e *env) *cobra.Command {
	var name, description, objectives, objectivesFile string
	cmd := &cobra.Command{
		Use:     "create",
		Short:   "Create a project",
		Example: `  q2o-cli projects create --name "Todo app" --description "A small todo app" --objectives-file objectives.md`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if objectivesFile != "" {
				b, err := os.ReadFile(objectivesFile)
				if err != nil {
					return &exitError{code: exitUsage, msg: err.Error()}
				}
				objectives = string(b)
			}
			c, err := e.client()
			if err != nil {
				return err
			}
			var p project
			raw, err := c.call(cmd.Context(), http.MethodPost, "/api/tenant/projects",
				map[string]string{"name": name, "description": description, "objectives": objectives}, &p)
			if err != nil {
				return err
			}
			if e.json() {
				return e.printJSON(raw)
			}
			fmt.Fprintln(e.stdout, p.ID)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "the project's name")
	f.StringVar(&description, "description", "", "what to build")
	f.StringVar(&objectives, "objectives", "", "what it must do")
	f.StringVar(&objectivesFile, "objectives-file", "", "read the objectives from this file")
	cmd.MarkFlagsMutuallyExclusive("objectives", "objectives-file")
	return cmd
}

func newProjectsShowCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:     "show PROJECT",
		Short:   "Show a project and its latest run",
		Example: "  q2o-cli projects show $PROJECT --output json | jq -r .execution_status",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			var p project
			raw, err := c.getJSON(cmd.Context(), "/api/tenant/projects/"+escape(args[0]), &p)
			if err != nil {
				return err
			}
			if e.json() {
				return e.printJSON(raw)
			}
			rows := [][]string{
				{"id", p.ID}, {"name", p.Name}, {"description", p.Description}, {"objectives", p.Objectives},
				{"active", strconv.FormatBool(p.IsActive)},
				{"activation code", orDash(str(p.ActivationCodeID))},
				{"status", p.status()},
				{"progress", fmt.Sprintf("%d%% %s", p.Progress, p.ProgressMessage)},
				{"latest execution", orDash(str(p.LatestExecutionID))},
			}
			if p.QueuePosition != nil {
				rows = append(rows, []string{"queue position", strconv.Itoa(*p.QueuePosition)})
			}
			if p.ExecutionError != nil {
				rows = append(rows, []string{"error", *p.ExecutionError})
			}
			e.table([]string{"FIELD", "VALUE"}, rows)
			return nil
		},
	}
}

func newCodesCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "codes", Short: "List and generate activation codes"}
	cmd.AddCommand(newCodesListCmd(e), newCodesGenerateCmd(e))
	return cmd
}

func newCodesListCmd(e *env) *cobra.Command {
	var status string
	var page int
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List the tenant's codes, masked, newest first",
		Example: "  q2o-cli codes list --status available",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			q := url.Values{"page": {strconv.Itoa(page)}}
			if status != "" {
				q.Set("status", status)
			}
			var pg struct {
				Items []struct {
					ID        string  `json:"id"`
					Hint      string  `json:"hint"`
					Status    string  `json:"status"`
					MaxUses   int     `json:"max_uses"`
					UseCount  int     `json:"use_count"`
					ExpiresAt *string `json:"expires_at"`
				} `json:"items"`
			}
			raw, err := c.getJSON(cmd.Context(), "/api/tenant/activation-codes?"+q.Encode(), &pg)
			if err != nil {
				return err
			}
			if e.json() {
				return e.printJSON(raw)
			}
			rows := make([][]string, 0, len(pg.Items))
			for _, it := range pg.Items {
				rows = append(rows, []string{it.ID, it.Hint, it.Status, fmt.Sprintf("%d/%d", it.UseCount, it.MaxUses), orDash(str(it.ExpiresAt))})
			}
			e.table([]string{"ID", "HINT", "STATUS", "USES", "EXPIRES"}, rows)
			return nil
		},
	}
	cmd.Flags().StringVar(&status, "status", "", "available, assigned, used_up, expired or revoked")
	cmd.Flags().IntVar(&page, "page", 1, "the page (20 a page)")
	return cmd
}

func newCodesGenerateCmd(e *env) *cobra.Command {
	var count, maxUses, days int
	cmd := &cobra.Command{
		Use:   "generate",
		Short: "Make activation codes within the plan's monthly quota",
		Long: `Makes codes and prints them, one a line: their plaintext is shown only
now.`,
		Example: "  q2o-cli codes generate --count 3 --expires-in-days 30",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			body := map[string]int{"count": count, "max_uses": maxUses}
			if days > 0 {
				body["expires_in_days"] = days
			}
			var out struct {
				Codes []struct {
					Code string `json:"code"`
				} `json:"codes"`
			}
			raw, err := c.call(cmd.Context(), http.MethodPost, "/api/tenant/activation-codes/generate", body, &out)
			if err != nil {
				return err
			}
			if e.json() {
				return e.printJSON(raw)
			}
			for _, cd := range out.Codes {
				fmt.Fprintln(e.stdout, cd.Code)
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&count, "count", 1, "how many codes")
	cmd.Flags().IntVar(&maxUses, "max-uses", 1, "how many projects each may be assigned to")
	cmd.Flags().IntVar(&days, "expires-in-days", 0, "expire after this many days (never when 0)")
	return cmd
}

func newAssignCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:     "assign PROJECT CODE",
		Short:   "Assign an activation code to a project (once)",
		Example: "  q2o-cli assign $PROJECT ABCDE-FGHJK-LMNPQ-RSTUV",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			raw, err := c.call(cmd.Context(), http.MethodPost, "/api/tenant/projects/"+escape(args[0])+"/assign-activation-code",
				map[string]string{"code": args[1]}, nil)
			if err != nil {
				return err
			}
			if e.json() {
				return e.printJSON(raw)
			}
			fmt.Fprintln(e.stdout, "Assigned.")
			return nil
		},
	}
}

func newProjectsEditCmd(e *env) *cobra.Command {
	var name, description, objectives, objectivesFile string
	cmd := &cobra.Command{
		Use:     "edit PROJECT",
		Short:   "Change a project's name, description and/or objectives (not while it runs)",
		Example: `  q2o-cli projects edit $PROJECT --name "Todo app v2"`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			changes := map[string]string{}
			f := cmd.Flags()
			if f.Changed("name") {
				changes["name"] = name
			}
			if f.Changed("description") {
				changes["description"] = description
			}
			if f.Changed("objectives") {
				changes["objectives"] = objectives
			}
			if objectivesFile != "" {
				b, err := os.ReadFile(objectivesFile)
				if err != nil {
					return &exitError{code: exitUsage, msg: err.Error()}
				}
				changes["objectives"] = string(b)
			}
			if len(changes) == 0 {
				return &exitError{code: exitUsage, msg: "nothing to change: give --name, --description or --objectives"}
			}
			c, err := e.client()
			if err != nil {
				return err
			}
			raw, err := c.call(cmd.Context(), http.MethodPatch, "/api/tenant/projects/"+escape(args[0]), changes, nil)
			if err != nil {
				return err
			}
			if e.json() {
				return e.printJSON(raw)
			}
			fmt.Fprintln(e.stdout, "Saved.")
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "the new name")
	f.StringVar(&description, "description", "", "the new description")
	f.StringVar(&objectives, "objectives", "", "the new objectives")
	f.StringVar(&objectivesFile, "objectives-file", "", "read the new objectives from this file")
	cmd.MarkFlagsMutuallyExclusive("objectives", "objectives-file")
	return cmd
}

func newProjectsDeleteCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:     "delete PROJECT",
		Short:   "Delete a project (it stays listed by projects list --all); not while it runs",
		Example: "  q2o-cli projects delete $PROJECT",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			if _, err := c.do(cmd.Context(), http.MethodDelete, "/api/tenant/projects/"+escape(args[0]), nil); err != nil {
				return err
			}
			fmt.Fprintln(e.stdout, "Deleted.")
			return nil
		},
	}
}
