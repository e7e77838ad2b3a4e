package main

import (
	"encoding/json"
	"errors"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"gatehouse/commands"
	"gatehouse/domain"
	"gatehouse/eventstore"
	"gatehouse/migrations"
)

func orgCommand(g *globalFlags) *cobra.Command {
	org := &cobra.Command{Use: "org", Short: "Manage organizations"}
	var name, slug, adminEmail string
	create := &cobra.Command{
		Use:   "create",
		Short: "Create an organization and print its id, slug and admin token as JSON",
		Long: "Creates an organization (a helpdesk operator) with its first admin API token.\n" +
			"The token is printed once and stored only as a hash.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if name == "" || adminEmail == "" {
				return usageError{errors.New("--name and --admin-email are required")}
			}
			ctx := cmd.Context()
			if err := migrations.EnsureDatabase(ctx, g.databaseURL); err != nil {
				return err
			}
			if _, err := migrations.Up(ctx, g.databaseURL); err != nil {
				return err
			}
			pool, err := pgxpool.New(ctx, g.databaseURL)
			if err != nil {
				return err
			}
			defer pool.Close()
			// Closed before the pool: the new organization is announced to
			// the servers' subscribers before the process ends.
			store := eventstore.New(pool)
			defer store.Close()
			app := commands.New(commands.Deps{Store: store})
			res, err := app.CreateOrganization(ctx, commands.Meta{
				Actor:   domain.Actor{Kind: domain.ActorSystem, ID: "cli", Name: "gatehouse org create"},
				Trigger: domain.TriggerBootstrap,
			}, commands.CreateOrganization{Name: name, Slug: slug, AdminEmail: adminEmail})
			if err != nil {
				return err
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			return enc.Encode(res)
		},
	}
	create.Flags().StringVar(&name, "name", "", "organization name (required)")
	create.Flags().StringVar(&slug, "slug", "", "portal URL slug (derived from the name when empty)")
	create.Flags().StringVar(&adminEmail, "admin-email", "", "email of the first admin (required)")
	org.AddCommand(create)
	return org
}
