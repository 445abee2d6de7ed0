package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/q2o/q2o/configs"
	"github.com/q2o/q2o/db"
	"github.com/q2o/q2o/models"
	"github.com/q2o/q2o/service"
)

func newRootCmd() *cobra.Command {
	var configPath string
	root := &cobra.Command{
		Use:   "q2o",
		Short: "q2o runs tenants' projects (main.py) on a worker fleet",
		Long: "q2o runs tenants' projects on a worker fleet: an HTTP API takes RUN requests and puts\n" +
			"tasks on Redis (asynq); workers run main.py for each project and record status in Postgres.\n" +
			configs.Usage(configs.API|configs.Worker),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&configPath, "config", "", "YAML settings file (environment variables override it)")
	load := func() (configs.Config, error) { return configs.Load(configPath) }

	var createDB bool
	migrate := &cobra.Command{
		Use:   "migrate",
		Short: "Apply the database migrations (safe to run again)",
		Long:  "Apply every pending migration embedded in this binary. Running it again does nothing.\n" + configs.Usage(configs.Admin),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load()
			if err != nil {
				return err
			}
			log := newLogger(cfg)
			if createDB {
				created, err := db.CreateDatabase(cmd.Context(), cfg.DatabaseURL)
				if err != nil {
					return err
				}
				if created {
					log.Info("database created", "url", db.Redact(cfg.DatabaseURL))
				}
			}
			gdb, err := db.Open(cmd.Context(), cfg.DatabaseURL)
			if err != nil {
				return err
			}
			defer db.Close(gdb)
			return db.Migrate(cmd.Context(), gdb, log)
		},
	}
	migrate.Flags().BoolVar(&createDB, "create-database", false, "create the database named in Q2O_DATABASE_URL first if it does not exist")

	// serve builds api, worker and all: the same start, with one side, the
	// other or both.
	serve := func(use, short, long string, cmds configs.Commands, withAPI, withWorker bool) *cobra.Command {
		return &cobra.Command{
			Use: use, Short: short, Long: long + "\n" + configs.Usage(cmds), Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				cfg, err := load()
				if err != nil {
					return err
				}
				return run(cmd.Context(), cfg, withAPI, withWorker)
			},
		}
	}
	api := serve("api", "Serve the HTTP API and the web portal (and relay the outbox)",
		"Serve the HTTP API and the web portal (the tenant portal at /, the client dashboard at /status) on Q2O_HTTP_ADDR. Refuses to start on a database that needs `q2o migrate`.",
		configs.API, true, false)
	worker := serve("worker", "Run tasks: main.py for each project run, zips, pauses",
		"Take tasks from Redis and run them. Start as many as you like, on any machine that reaches\nPostgres, Redis and the output folder. Refuses to start on a database that needs `q2o migrate`.",
		configs.Worker, false, true)
	all := serve("all", "Run the API and a worker in one process (for a laptop)",
		"Run the API and a worker in one process.", configs.API|configs.Worker, true, true)

	admin := &cobra.Command{Use: "admin", Short: "Operator helpers that work on the database directly"}
	var nt service.NewTenant
	var codes, maxUses int
	var reuse bool
	createTenant := &cobra.Command{
		Use:   "create-tenant",
		Short: "Create a tenant (and optionally activation codes); prints its API key once, as JSON",
		Long:  "Create a tenant with its subscription and API key, and --codes activation codes.\nPrints the same JSON as POST /api/admin/tenants, plus \"codes\".\n" + configs.Usage(configs.Admin),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, gdb, err := openCurrent(cmd.Context(), load)
			if err != nil {
				return err
			}
			defer db.Close(gdb)
			svc := service.New(service.Deps{DB: gdb, OutputRoot: cfg.OutputRoot, Log: newLogger(cfg)})
			t, err := svc.CreateTenant(cmd.Context(), nt)
			reused := false
			if models.ErrorCode(err) == "email_taken" && reuse {
				// The tenant exists (make run restarted): a new API key for it,
				// since the first one was shown only once.
				existing, lerr := svc.TenantByEmail(cmd.Context(), nt.Email)
				if lerr != nil {
					return describe(lerr)
				}
				prof, perr := svc.Profile(cmd.Context(), existing.ID)
				if perr != nil {
					return describe(perr)
				}
				key, kerr := svc.NewAPIKey(cmd.Context(), existing, "admin create-tenant --reuse")
				if kerr != nil {
					return describe(kerr)
				}
				t, err, reused = service.CreatedTenant{Tenant: existing, SubscriptionStatus: prof.Subscription.Status, APIKey: key}, nil, true
			}
			if err != nil {
				return describe(err)
			}
			out := struct {
				service.CreatedTenant
				Reused bool                 `json:"reused"`
				Codes  []service.IssuedCode `json:"codes"`
			}{CreatedTenant: t, Reused: reused, Codes: []service.IssuedCode{}}
			if codes > 0 {
				out.Codes, err = svc.IssueActivationCodes(cmd.Context(), t.ID, service.NewCodes{Count: codes, MaxUses: maxUses})
				if err != nil {
					return describe(err)
				}
			}
			enc := json.NewEncoder(os.Stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(out)
		},
	}
	createTenant.Flags().StringVar(&nt.Name, "name", "", "company name (required)")
	createTenant.Flags().StringVar(&nt.Email, "email", "", "contact email (required, unique)")
	createTenant.Flags().StringVar(&nt.Plan, "plan", "trial", "plan code: trial, starter or pro")
	createTenant.Flags().StringVar(&nt.SubscriptionStatus, "status", "trialing", "subscription status: active, trialing, past_due, …")
	createTenant.Flags().IntVar(&codes, "codes", 0, "activation codes to make")
	createTenant.Flags().IntVar(&maxUses, "max-uses", 1, "uses of each activation code")
	createTenant.Flags().BoolVar(&reuse, "reuse", false, "when a tenant with this email exists, print it with a new API key (and new codes) instead of failing")
	admin.AddCommand(createTenant, stripeEventCmd(load))
	admin.AddCommand(adminCommands(load)...)

	var statusJSON bool
	migrateStatus := &cobra.Command{
		Use:   "status",
		Short: "List the migrations this binary holds, applied and pending",
		Long:  "List every migration embedded in this binary with whether the database has it (and since when).\n" + configs.Usage(configs.Admin),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load()
			if err != nil {
				return err
			}
			gdb, err := db.Open(cmd.Context(), cfg.DatabaseURL)
			if err != nil {
				return err
			}
			defer db.Close(gdb)
			states, err := db.MigrationStatus(cmd.Context(), gdb)
			if err != nil {
				return err
			}
			return printMigrations(cmd.OutOrStdout(), states, statusJSON)
		},
	}
	migrateStatus.Flags().BoolVar(&statusJSON, "json", false, "print JSON instead of a table")
	migrate.AddCommand(migrateStatus)

	version := &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and build time of this binary",
		Args:  cobra.NoArgs,
		Run:   func(cmd *cobra.Command, _ []string) { fmt.Fprintln(cmd.OutOrStdout(), versionString()) },
	}
	root.Version = versionString()
	root.SetVersionTemplate("{{.Version}}\n")

	root.AddCommand(migrate, api, worker, all, admin, version)
	return root
}

// describe turns an application error into a message for the shell.
func describe(err error) error {
	if e, ok := models.AsError(err); ok {
		if e.Field != "" {
			return fmt.Errorf("%s (--%s): %s", e.Code, strings.ReplaceAll(e.Field, "_", "-"), e.Message)
		}
		return fmt.Errorf("%s: %s", e.Code, e.Message)
	}
	return err
}
