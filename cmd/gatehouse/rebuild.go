package main

import (
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/mattn/go-isatty"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"gatehouse/commands"
	"gatehouse/eventstore"
	"gatehouse/projections"
)

func rebuildCommand(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "rebuild [NAME...]",
		Short: "Rebuild read models from the events beside the live ones, then switch over (all when no NAME)",
		Long: "Builds each read model afresh from the event log into new tables while the live tables keep\n" +
			"answering, then swaps them in atomically and moves the read model's position, so a running\n" +
			"server goes on from there. The named read models are rebuilt together, from one read of the\n" +
			"log. Shows a progress bar on a terminal, log lines otherwise.\n" +
			"Names: users, companies, roles, orgs, chain, access.",
		RunE: func(cmd *cobra.Command, names []string) error {
			log, err := g.logger()
			if err != nil {
				return err
			}
			// A rebuild allocates a lot that lives briefly and holds its
			// read models in memory until the write; collecting less often
			// saves CPU. 200, not more: rebuilding every read model at once
			// holds them all (peak RSS 1.7 GB for a million events; 2.5 GB
			// at 400, no faster).
			debug.SetGCPercent(200)
			return withApp(cmd.Context(), g, func(_ *commands.App, pool *pgxpool.Pool) error {
				store := eventstore.New(pool)
				ps, err := projections.ByName(store, names...)
				if err != nil {
					return usageError{err}
				}
				terminal := isatty.IsTerminal(os.Stderr.Fd())
				var bar *progressbar.ProgressBar
				lastLog := time.Now()
				start := time.Now()
				what := make([]string, len(ps))
				for i, p := range ps {
					what[i] = p.Name()
				}
				progress := func(done, total int64) {
					if terminal {
						if bar == nil {
							bar = progressbar.NewOptions64(total, progressbar.OptionSetDescription("rebuild "+strings.Join(what, ", ")),
								progressbar.OptionSetWriter(os.Stderr), progressbar.OptionShowCount(),
								progressbar.OptionShowIts(), progressbar.OptionSetItsString("events"),
								progressbar.OptionSetPredictTime(true), progressbar.OptionFullWidth())
						}
						bar.ChangeMax64(total)
						_ = bar.Set64(done)
						return
					}
					if time.Since(lastLog) >= 2*time.Second {
						rate := float64(done) / time.Since(start).Seconds()
						eta := time.Duration(float64(total-done)/rate) * time.Second
						log.Info().Strs("projections", what).Int64("events", done).Int64("total", total).
							Int("events_per_s", int(rate)).Dur("eta", eta).Msg("rebuilding")
						lastLog = time.Now()
					}
				}
				results, err := projections.RebuildAll(cmd.Context(), store, ps, progress)
				if bar != nil {
					_ = bar.Finish()
					fmt.Fprintln(os.Stderr)
				}
				if err != nil {
					return err
				}
				for _, res := range results {
					rate := float64(res.Events) / res.Duration.Seconds()
					log.Info().Str("projection", res.Projection).Int64("events", res.Events).Dur("took", res.Duration).
						Int("events_per_s", int(rate)).Int64("position", res.Position).
						Dur("read", res.Read).Dur("written", res.Written).Msg("rebuilt and switched over")
					fmt.Fprintf(cmd.OutOrStdout(), "%s: %d events in %s (%.0f events/s), switched over at position %d\n",
						res.Projection, res.Events, res.Duration.Round(time.Millisecond), rate, res.Position)
				}
				return nil
			})
		},
	}
}
