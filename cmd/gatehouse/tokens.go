package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"gatehouse/commands"
	"gatehouse/domain"
	"gatehouse/eventstore"
)

// withApp opens the database and the command handlers for a one-shot command.
func withApp(ctx context.Context, g *globalFlags, run func(*commands.App, *pgxpool.Pool) error) error {
	pool, err := pgxpool.New(ctx, g.databaseURL)
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer pool.Close()
	// Closed before the pool: what the command appended is announced to
	// the servers' subscribers before the process ends.
	store := eventstore.New(pool)
	defer store.Close()
	return run(commands.New(commands.Deps{Store: store}), pool)
}

func cliMeta(org string) commands.Meta {
	return commands.Meta{Org: domain.OrgID(org), Trigger: domain.TriggerManual,
		Actor: domain.Actor{Kind: domain.ActorSystem, ID: "cli", Name: "gatehouse command line", Role: domain.StaffAdmin}}
}

func tokensCommand(g *globalFlags) *cobra.Command {
	tokens := &cobra.Command{Use: "tokens", Short: "Manage staff API tokens"}
	var org, name, role, id string
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a staff API token and print {\"id\",\"token\"} (the token is shown once)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if org == "" || name == "" {
				return usageError{errors.New("--org and --name are required")}
			}
			return withApp(cmd.Context(), g, func(app *commands.App, _ *pgxpool.Pool) error {
				t, err := app.IssueToken(cmd.Context(), cliMeta(org), name, domain.StaffRole(role))
				if err != nil {
					return err
				}
				return json.NewEncoder(cmd.OutOrStdout()).Encode(map[string]string{"id": string(t.ID), "role": string(t.Role), "token": t.Token})
			})
		},
	}
	create.Flags().StringVar(&org, "org", "", "organization id (required)")
	create.Flags().StringVar(&name, "name", "", "what the token is for (required)")
	create.Flags().StringVar(&role, "role", "agent", "admin or agent")
	revoke := &cobra.Command{
		Use:   "revoke",
		Short: "Revoke a staff API token at once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if org == "" || id == "" {
				return usageError{errors.New("--org and --id are required")}
			}
			return withApp(cmd.Context(), g, func(app *commands.App, _ *pgxpool.Pool) error {
				return app.RevokeToken(cmd.Context(), cliMeta(org), domain.TokenID(id))
			})
		},
	}
	revoke.Flags().StringVar(&org, "org", "", "organization id (required)")
	revoke.Flags().StringVar(&id, "id", "", "token id (required)")
	tokens.AddCommand(create, revoke)
	return tokens
}
