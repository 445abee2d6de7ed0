package main

// q2o admin's reads and API-key management: the same service calls as the
// admin API (GET /api/admin/…), on the database directly, printed as a
// table or as the API's JSON (--output json).

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"
	"gorm.io/gorm"

	"github.com/q2o/q2o/configs"
	"github.com/q2o/q2o/db"
	"github.com/q2o/q2o/service"
)

// adminCommands builds q2o admin's read and key commands.
func adminCommands(load func() (configs.Config, error)) []*cobra.Command {
	return []*cobra.Command{tenantsCmd(load), tenantCmd(load), codesCmd(load), executionsCmd(load),
		executionCmd(load), apiKeysCmd(load), createAPIKeyCmd(load), revokeAPIKeyCmd(load)}
}

// adminRun opens the database and runs fn with a service on it, then
// prints what fn returns: as JSON, or through table.
type adminRun struct {
	load   func() (configs.Config, error)
	output string
}

func (r *adminRun) flags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&r.output, "output", "table", "how to print: table or json (the admin API's JSON)")
	cmd.Long = cmd.Short + ".\n" + cmd.Long + configs.Usage(configs.Admin)
}

// do calls fn on a service over the configured database and prints its
// value v with table (or as JSON).
func do[T any](r *adminRun, cmd *cobra.Command, fn func(ctx context.Context, svc *service.Service) (T, error),
	table func(w io.Writer, v T),
) error {
	if r.output != "table" && r.output != "json" {
		return fmt.Errorf("--output %q: use table or json", r.output)
	}
	ctx := cmd.Context()
	cfg, gdb, err := openCurrent(ctx, r.load)
	if err != nil {
		return err
	}
	defer db.Close(gdb)
	v, err := fn(ctx, service.New(service.Deps{DB: gdb, OutputRoot: cfg.OutputRoot, Log: newLogger(cfg)}))
	if err != nil {
		return describe(err)
	}
	w := cmd.OutOrStdout()
	if r.output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	table(tw, v)
	return tw.Flush()
}

// idCmd is a command of one id argument (what: "a tenant", …) whose call
// answers a value to print; its own flags go on the command it returns.
func idCmd[T any](load func() (configs.Config, error), use, short, long, what string,
	call func(ctx context.Context, svc *service.Service, id uuid.UUID) (T, error), table func(w io.Writer, v T),
) *cobra.Command {
	r := &adminRun{load: load}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Long:  long,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := idArg(what, args[0])
			if err != nil {
				return err
			}
			return do(r, cmd, func(ctx context.Context, svc *service.Service) (T, error) { return call(ctx, svc, id) }, table)
		},
	}
	r.flags(cmd)
	return cmd
}

// idArg reads a UUID argument.
func idArg(what, s string) (uuid.UUID, error) {
	id, err := uuid.Parse(s)
	if err != nil {
		return uuid.Nil, fmt.Errorf("%q is not %s id", s, what)
	}
	return id, nil
}

// cell prints an optional value; "-" for none.
func cell[T any](p *T) string {
	if p == nil {
		return "-"
	}
	switch v := any(*p).(type) {
	case time.Time:
		return v.UTC().Format(time.RFC3339)
	default:
		return fmt.Sprint(v)
	}
}

func when(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func pageLine(w io.Writer, page int, pages, total int64) {
	fmt.Fprintf(w, "\npage %d of %d, %d in all\n", page, pages, total)
}

func tenantsCmd(load func() (configs.Config, error)) *cobra.Command {
	r := &adminRun{load: load}
	var q service.TenantQuery
	cmd := &cobra.Command{
		Use:   "tenants",
		Short: "List tenants, newest first, with plan, subscription status and counts",
		Long:  "--q searches name, email and domain (plain text, any case).\n",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return do(r, cmd, func(ctx context.Context, svc *service.Service) (service.Page[service.TenantSummary], error) {
				return svc.AdminTenants(ctx, q)
			}, func(w io.Writer, p service.Page[service.TenantSummary]) {
				fmt.Fprintln(w, "ID\tNAME\tEMAIL\tDOMAIN\tPLAN\tSUBSCRIPTION\tPROJECTS\tLIVE RUNS\tCREATED")
				for _, t := range p.Items {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", t.ID, t.Name, t.Email, cell(t.Domain), t.PlanCode,
						t.SubscriptionStatus, t.Projects, t.LiveRuns, when(t.CreatedAt))
				}
				pageLine(w, p.Page, p.TotalPages, p.Total)
			})
		},
	}
	cmd.Flags().StringVar(&q.Q, "q", "", "text searched in name, email and domain")
	cmd.Flags().IntVar(&q.Page, "page", 1, "page, from 1")
	cmd.Flags().IntVar(&q.PerPage, "per-page", service.DefaultAdminPerPage, fmt.Sprintf("tenants a page, at most %d", service.MaxAdminPerPage))
	r.flags(cmd)
	return cmd
}

func tenantCmd(load func() (configs.Config, error)) *cobra.Command {
	return idCmd(load, "tenant TENANT_ID", "Show one tenant with its plan, subscription status and counts", "", "a tenant",
		func(ctx context.Context, svc *service.Service, id uuid.UUID) (service.TenantSummary, error) {
			return svc.AdminTenant(ctx, id)
		}, func(w io.Writer, t service.TenantSummary) {
			for _, row := range [][2]string{{"id", t.ID.String()}, {"name", t.Name}, {"email", t.Email},
				{"domain", cell(t.Domain)}, {"phone", cell(t.Phone)}, {"plan", t.PlanCode},
				{"subscription", string(t.SubscriptionStatus)}, {"projects", fmt.Sprint(t.Projects)},
				{"live runs", fmt.Sprint(t.LiveRuns)}, {"created", when(t.CreatedAt)}} {
				fmt.Fprintf(w, "%s\t%s\n", row[0], row[1])
			}
		})
}

func codesCmd(load func() (configs.Config, error)) *cobra.Command {
	var q service.CodeListQuery
	cmd := idCmd(load, "codes TENANT_ID", "List a tenant's activation codes, masked, newest first",
		"--status keeps one state: "+strings.Join(service.CodeStatuses(), ", ")+".\n", "a tenant",
		func(ctx context.Context, svc *service.Service, id uuid.UUID) (service.CodePage, error) {
			return svc.AdminTenantCodes(ctx, id, q)
		}, func(w io.Writer, p service.CodePage) {
			fmt.Fprintln(w, "ID\tHINT\tSTATUS\tUSES\tEXPIRES\tPROJECTS\tCREATED")
			for _, c := range p.Items {
				names := make([]string, len(c.Projects))
				for i, pr := range c.Projects {
					names[i] = pr.Name
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%d/%d\t%s\t%s\t%s\n", c.ID, c.Hint, c.Status, c.UseCount, c.MaxUses,
					cell(c.ExpiresAt), strings.Join(names, ", "), when(c.CreatedAt))
			}
			pageLine(w, p.Page, p.TotalPages, p.Total)
		})
	cmd.Flags().StringVar(&q.Status, "status", "", "only the codes in this state")
	cmd.Flags().IntVar(&q.Page, "page", 1, "page, from 1")
	cmd.Flags().IntVar(&q.PerPage, "per-page", 20, "codes a page, at most 100")
	return cmd
}

func executionsCmd(load func() (configs.Config, error)) *cobra.Command {
	r := &adminRun{load: load}
	var q service.ExecutionQuery
	var tenant, from, to string
	cmd := &cobra.Command{
		Use:   "executions",
		Short: "List the executions of every tenant, newest first",
		Long:  "--from and --to are RFC 3339 times (created at or after --from, before --to).\n",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if tenant != "" {
				id, err := idArg("a tenant", tenant)
				if err != nil {
					return err
				}
				q.TenantID = &id
			}
			for _, f := range []struct {
				name, v string
				dst     **time.Time
			}{{"from", from, &q.From}, {"to", to, &q.To}} {
				if f.v == "" {
					continue
				}
				t, err := time.Parse(time.RFC3339, f.v)
				if err != nil {
					return fmt.Errorf("--%s %q is not an RFC 3339 time, such as 2026-12-31T23:59:59Z", f.name, f.v)
				}
				*f.dst = &t
			}
			return do(r, cmd, func(ctx context.Context, svc *service.Service) (service.Page[service.AdminExecution], error) {
				return svc.AdminExecutions(ctx, q)
			}, func(w io.Writer, p service.Page[service.AdminExecution]) {
				fmt.Fprintln(w, "ID\tTENANT\tPROJECT\tSTATUS\tATTEMPT\tEXIT\tQUEUED\tFINISHED")
				for _, e := range p.Items {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", e.ID, e.TenantName, e.ProjectName, e.Status, e.Attempt,
						cell(e.ExitCode), when(e.QueuedAt), cell(e.FinishedAt))
				}
				pageLine(w, p.Page, p.TotalPages, p.Total)
			})
		},
	}
	cmd.Flags().StringVar(&q.Status, "status", "", "only executions in this status (pending, running, completed, failed, paused, cancelled)")
	cmd.Flags().StringVar(&tenant, "tenant", "", "only this tenant's (its id)")
	cmd.Flags().StringVar(&from, "from", "", "only those created at or after this time")
	cmd.Flags().StringVar(&to, "to", "", "only those created before this time")
	cmd.Flags().IntVar(&q.Page, "page", 1, "page, from 1")
	cmd.Flags().IntVar(&q.PerPage, "per-page", service.DefaultAdminPerPage, fmt.Sprintf("executions a page, at most %d", service.MaxAdminPerPage))
	r.flags(cmd)
	return cmd
}

func executionCmd(load func() (configs.Config, error)) *cobra.Command {
	var tail int
	cmd := idCmd(load, "execution EXECUTION_ID", "Show one execution of any tenant, with its events and the end of its log", "",
		"an execution", func(ctx context.Context, svc *service.Service, id uuid.UUID) (service.AdminExecutionDetail, error) {
			return svc.AdminExecution(ctx, id, tail)
		}, func(w io.Writer, d service.AdminExecutionDetail) {
			for _, row := range [][2]string{{"id", d.ID.String()}, {"tenant", d.TenantName + " (" + d.TenantID.String() + ")"},
				{"project", d.ProjectName + " (" + d.ProjectID.String() + ")"}, {"status", string(d.Status)},
				{"attempt", fmt.Sprint(d.Attempt)}, {"exit code", cell(d.ExitCode)}, {"error", cell(d.Error)},
				{"worker", cell(d.WorkerID)}, {"queued", when(d.QueuedAt)}, {"started", cell(d.StartedAt)},
				{"finished", cell(d.FinishedAt)}, {"zip size", cell(d.ZipSize)}} {
				fmt.Fprintf(w, "%s\t%s\n", row[0], row[1])
			}
			fmt.Fprintln(w, "\nEVENT\tATTEMPT\tAT\tMESSAGE")
			for _, ev := range d.Events {
				fmt.Fprintf(w, "%s\t%d\t%s\t%s\n", ev.Kind, ev.Attempt, when(ev.CreatedAt), ev.Message)
			}
			if len(d.LogTail) > 0 {
				fmt.Fprintln(w, "\nLOG (last lines)")
				for _, l := range d.LogTail {
					fmt.Fprintln(w, l)
				}
			}
		})
	cmd.Flags().IntVar(&tail, "tail", service.DefaultLogTail, fmt.Sprintf("log lines to show, 0 to %d", service.MaxAdminLogTail))
	return cmd
}

func keysTable(w io.Writer, keys ...service.APIKeyView) {
	fmt.Fprintln(w, "ID\tNAME\tPREFIX\tCREATED\tLAST USED\tREVOKED")
	for _, k := range keys {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, k.Prefix, when(k.CreatedAt), cell(k.LastUsedAt), cell(k.RevokedAt))
	}
}

func apiKeysCmd(load func() (configs.Config, error)) *cobra.Command {
	return idCmd(load, "api-keys TENANT_ID", "List a tenant's API keys, revoked ones too (prefixes, never the keys)", "", "a tenant",
		func(ctx context.Context, svc *service.Service, id uuid.UUID) ([]service.APIKeyView, error) {
			return svc.APIKeys(ctx, id)
		}, func(w io.Writer, keys []service.APIKeyView) { keysTable(w, keys...) })
}

func createAPIKeyCmd(load func() (configs.Config, error)) *cobra.Command {
	var name string
	cmd := idCmd(load, "create-api-key TENANT_ID", "Make another API key for a tenant and print it, this once",
		"The tenant's other keys keep working: revoke the old one (revoke-api-key) once the new one is in use.\n", "a tenant",
		func(ctx context.Context, svc *service.Service, id uuid.UUID) (service.CreatedAPIKey, error) {
			return svc.CreateAPIKey(ctx, id, name)
		}, func(w io.Writer, k service.CreatedAPIKey) {
			keysTable(w, k.APIKeyView)
			fmt.Fprintf(w, "\nAPI key (shown only this once): %s\n", k.Key)
		})
	cmd.Flags().StringVar(&name, "name", "admin", "what the key is for")
	return cmd
}

func revokeAPIKeyCmd(load func() (configs.Config, error)) *cobra.Command {
	r := &adminRun{load: load}
	cmd := &cobra.Command{
		Use:   "revoke-api-key TENANT_ID KEY_ID",
		Short: "Revoke one of a tenant's API keys at once",
		Long:  "Requests and streams opened with it end; revoking twice is not an error.\n",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			tid, err := idArg("a tenant", args[0])
			if err != nil {
				return err
			}
			kid, err := idArg("an API key", args[1])
			if err != nil {
				return err
			}
			return do(r, cmd, func(ctx context.Context, svc *service.Service) (service.APIKeyView, error) {
				return svc.RevokeAPIKey(ctx, tid, kid)
			}, func(w io.Writer, k service.APIKeyView) { keysTable(w, k) })
		},
	}
	r.flags(cmd)
	return cmd
}

// openCurrent opens the configured database and checks that its schema is
// this binary's; close it with db.Close.
func openCurrent(ctx context.Context, load func() (configs.Config, error)) (configs.Config, *gorm.DB, error) {
	cfg, err := load()
	if err != nil {
		return cfg, nil, err
	}
	gdb, err := db.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return cfg, nil, err
	}
	if err := db.CheckCurrent(ctx, gdb); err != nil {
		db.Close(gdb)
		return cfg, nil, err
	}
	return cfg, gdb, nil
}
