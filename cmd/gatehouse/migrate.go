package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"gatehouse/migrations"
)

func migrateCommand(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Create the database if missing and apply pending migrations",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
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
		},
	}
}
