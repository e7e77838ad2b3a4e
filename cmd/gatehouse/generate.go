package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"gatehouse/commands"
	"gatehouse/migrations"
)

func generateCommand(g *globalFlags) *cobra.Command {
	var spec commands.GenerateSpec
	cmd := &cobra.Command{
		Use:   "generate",
		Short: "Write a realistic generated history (about 10 events per user) for benchmarks and demos",
		Long: "Writes organizations, companies and users with their invitations, acceptances, edits and\n" +
			"deactivations straight into the event log, and prints each organization's id, slug and admin\n" +
			"token as JSON lines. Read models are not touched: run `gatehouse projections rebuild` after.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if spec.Orgs < 1 || spec.UsersPerOrg < 0 || spec.CompaniesPerOrg < 0 {
				return usageError{fmt.Errorf("--orgs must be at least 1, --users and --companies not negative")}
			}
			ctx := cmd.Context()
			if err := migrations.EnsureDatabase(ctx, g.databaseURL); err != nil {
				return err
			}
			if _, err := migrations.Up(ctx, g.databaseURL); err != nil {
				return err
			}
			start := time.Now()
			spec.Progress = func(n int64) { fmt.Fprintf(os.Stderr, "\rgenerated %d events", n) }
			return withApp(ctx, g, func(app *commands.App, _ *pgxpool.Pool) error {
				orgs, total, err := app.GenerateHistory(ctx, spec)
				fmt.Fprintln(os.Stderr)
				if err != nil {
					return err
				}
				enc := json.NewEncoder(cmd.OutOrStdout())
				for _, o := range orgs {
					if err := enc.Encode(o); err != nil {
						return err
					}
				}
				fmt.Fprintf(os.Stderr, "%d events in %s\n", total, time.Since(start).Round(time.Millisecond))
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.IntVar(&spec.Orgs, "orgs", 1, "organizations")
	f.IntVar(&spec.CompaniesPerOrg, "companies", 100, "companies per organization")
	f.IntVar(&spec.UsersPerOrg, "users", 1000, "users per organization")
	f.Uint64Var(&spec.Seed, "seed", 1, "random seed (the same seed gives the same history)")
	return cmd
}
