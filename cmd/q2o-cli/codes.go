package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/q2o/q2o/cmd/q2o-cli/internal/apiclient"
)

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
		RunE: e.withClient(func(ctx context.Context, c *client, _ []string) error {
			params := apiclient.ListActivationCodesParams{Page: &page}
			if status != "" {
				params.Status = (*apiclient.ListActivationCodesParamsStatus)(&status)
			}
			pg, raw, err := answer(c.api.ListActivationCodesWithResponse(ctx, &params))
			if err != nil {
				return err
			}
			return e.print(raw, func() {
				rows := make([][]string, 0, len(pg.Items))
				for _, it := range pg.Items {
					rows = append(rows, []string{it.Id.String(), it.Hint, string(it.Status),
						fmt.Sprintf("%d/%d", it.UseCount, it.MaxUses), orDashTime(it.ExpiresAt)})
				}
				e.table([]string{"ID", "HINT", "STATUS", "USES", "EXPIRES"}, rows)
			})
		}),
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
		RunE: e.withClient(func(ctx context.Context, c *client, _ []string) error {
			body := apiclient.CodeRequest{Count: &count, MaxUses: &maxUses}
			if days > 0 {
				body.ExpiresInDays = &days
			}
			out, raw, err := answer(c.api.GenerateActivationCodesWithResponse(ctx, body))
			if err != nil {
				return err
			}
			return e.print(raw, func() {
				for _, cd := range out.Codes {
					fmt.Fprintln(e.stdout, cd.Code)
				}
			})
		}),
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
		RunE: e.withProject(func(ctx context.Context, c *client, id apiclient.ProjectID, args []string) error {
			_, raw, err := answer(c.api.AssignActivationCodeWithResponse(ctx, id, apiclient.AssignActivationCodeJSONRequestBody{Code: args[1]}))
			if err != nil {
				return err
			}
			return e.print(raw, func() { fmt.Fprintln(e.stdout, "Assigned.") })
		}),
	}
}
