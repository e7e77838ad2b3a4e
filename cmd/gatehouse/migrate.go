package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"gatehouse/migrations"
)

func migrateCommand(g *globalFlags) *cobra.Command {
	up := func(cmd *cobra.Command, _ []string) error {
		ctx := cmd.Context()
		if err := migrations.EnsureDatabase(ctx, g.databaseURL); err != nil {
			return err
		}
		applied, err := migrations.Up(ctx, g.databaseURL)
		if err != nil {
			return err
		}
		current, _, err := migrations.Versions(ctx, g.databaseURL)
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "applied %d migration(s); schema version %d\n", len(applied), current)
		return nil
	}
	migrate := &cobra.Command{
		Use:   "migrate",
		Short: "Create the database if missing and apply pending migrations (same as migrate up)",
		Args:  cobra.NoArgs,
		RunE:  up,
	}
	migrate.AddCommand(&cobra.Command{
		Use:   "up",
		Short: "Create the database if missing and apply pending migrations",
		Args:  cobra.NoArgs,
		RunE:  up,
	}, &cobra.Command{
		Use:   "status",
		Short: "Print the database's schema version and the newest this binary knows",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			current, latest, err := migrations.Versions(cmd.Context(), g.databaseURL)
			if err != nil {
				return err
			}
			state := "up to date"
			if current < latest {
				state = fmt.Sprintf("%d migration(s) pending", latest-current)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "schema version %d, binary knows %d: %s\n", current, latest, state)
			return nil
		},
	})
	return migrate
}
