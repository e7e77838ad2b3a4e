package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"gatehouse/commands"
	"gatehouse/domain"
	"gatehouse/eventstore"
	"gatehouse/projections"
)

func auditCommand(g *globalFlags) *cobra.Command {
	audit := &cobra.Command{Use: "audit", Short: "Replay and verify the history (like the /audit routes)"}
	var org, at, user string
	var from int64
	events := &cobra.Command{
		Use:   "events",
		Short: "Stream an organization's events in commit order as JSON lines, after --from",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !domain.ValidID(org) {
				return usageError{errors.New("--org must be an organization id")}
			}
			return withApp(cmd.Context(), g, func(_ *commands.App, pool *pgxpool.Pool) error {
				store := eventstore.New(pool)
				enc := json.NewEncoder(cmd.OutOrStdout())
				pos := from
				for {
					items, last, err := projections.AuditEvents(cmd.Context(), store, domain.OrgID(org), pos, 1000, nil)
					if err != nil {
						return err
					}
					for _, it := range items {
						if err := enc.Encode(it); err != nil {
							return err
						}
					}
					if len(items) < 1000 {
						return nil
					}
					pos = last
				}
			})
		},
	}
	events.Flags().StringVar(&org, "org", "", "organization id (required)")
	events.Flags().Int64Var(&from, "from", 0, "position of the last event already read (0: from the start)")
	access := &cobra.Command{
		Use:   "access",
		Short: "Print who had portal access at --at (RFC 3339), with their permissions then, as JSON",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := time.Parse(time.RFC3339Nano, at)
			if err != nil || !domain.ValidID(org) || (user != "" && !domain.ValidID(user)) {
				return usageError{errors.New("--org must be an organization id, --at an RFC 3339 time, --user (optional) a user id")}
			}
			return withApp(cmd.Context(), g, func(_ *commands.App, pool *pgxpool.Pool) error {
				items, err := projections.AccessAtAnswer(cmd.Context(), eventstore.New(pool), domain.OrgID(org), t, domain.UserID(user))
				if err != nil {
					return err
				}
				return json.NewEncoder(cmd.OutOrStdout()).Encode(map[string]any{"at": t.UTC(), "items": items})
			})
		},
	}
	access.Flags().StringVar(&org, "org", "", "organization id (required)")
	access.Flags().StringVar(&at, "at", "", "the instant, RFC 3339 (required)")
	access.Flags().StringVar(&user, "user", "", "only this user")
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Re-compute an organization's hash chain; exit 1 and name the first bad event if it does not hold",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !domain.ValidID(org) {
				return usageError{errors.New("--org must be an organization id")}
			}
			return withApp(cmd.Context(), g, func(_ *commands.App, pool *pgxpool.Pool) error {
				v, err := projections.Verify(cmd.Context(), eventstore.New(pool), domain.OrgID(org))
				if err != nil {
					return err
				}
				if err := json.NewEncoder(cmd.OutOrStdout()).Encode(v); err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "verified %d events in %s (%.0f events/s)\n", v.Events, v.Duration.Round(time.Millisecond),
					float64(v.Events)/v.Duration.Seconds())
				if !v.OK {
					return fmt.Errorf("chain broken at position %d: %s", v.Problem.Position, v.Problem.Kind)
				}
				return nil
			})
		},
	}
	verify.Flags().StringVar(&org, "org", "", "organization id (required)")
	audit.AddCommand(events, access, verify)
	return audit
}
