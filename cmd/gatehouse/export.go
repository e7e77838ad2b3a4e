package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"gatehouse/commands"
	"gatehouse/domain"
	"gatehouse/eventstore"
	"gatehouse/projections"
)

func exportCommand(g *globalFlags) *cobra.Command {
	export := &cobra.Command{Use: "export", Short: "Export read models"}
	var org, ids, status, company, q string
	users := &cobra.Command{
		Use:   "users",
		Short: "Write an organization's users as CSV to standard output (like GET /users/export.csv)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !domain.ValidID(org) {
				return usageError{errors.New("--org must be an organization id")}
			}
			sel := projections.ExportSelection{Filter: projections.UserFilter{Status: domain.UserStatus(status), CompanyID: domain.CompanyID(company), Query: q}}
			for _, id := range strings.Split(ids, ",") {
				if id = strings.TrimSpace(id); id == "" {
					continue
				}
				if !domain.ValidID(id) {
					return usageError{fmt.Errorf("--ids: %q is not a user id", id)}
				}
				sel.IDs = append(sel.IDs, domain.UserID(id))
			}
			return withApp(cmd.Context(), g, func(_ *commands.App, pool *pgxpool.Pool) error {
				n, err := projections.NewUsers(eventstore.New(pool)).WriteCSV(cmd.Context(), cmd.OutOrStdout(), domain.OrgID(org), sel)
				if err != nil {
					return err
				}
				fmt.Fprintf(os.Stderr, "exported %d users\n", n)
				return nil
			})
		},
	}
	f := users.Flags()
	f.StringVar(&org, "org", "", "organization id (required)")
	f.StringVar(&ids, "ids", "", "comma-separated user ids (instead of the filters)")
	f.StringVar(&status, "status", "", "only users with this status")
	f.StringVar(&company, "company-id", "", "only users of this company")
	f.StringVar(&q, "q", "", "only users whose name or email contains this (case-insensitive)")
	export.AddCommand(users)
	return export
}
