package main

import (
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"gatehouse/commands"
	"gatehouse/projections"
)

func projectionsCommand(g *globalFlags) *cobra.Command {
	p := &cobra.Command{Use: "projections", Short: "Inspect and rebuild the read models"}
	p.AddCommand(rebuildCommand(g))
	p.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List each read model's consumer group with its position and lag",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withApp(cmd.Context(), g, func(_ *commands.App, pool *pgxpool.Pool) error {
				ps, err := projections.Positions(cmd.Context(), pool)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%-20s %12s %12s\n", "GROUP", "POSITION", "LAG")
				for _, p := range ps {
					fmt.Fprintf(cmd.OutOrStdout(), "%-20s %12d %12d\n", p.Group, p.Position, p.Lag())
				}
				return nil
			})
		},
	})
	return p
}
