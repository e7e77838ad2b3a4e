package commands

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"gatehouse/domain"
	"gatehouse/eventstore"
)

// commandMetrics counts commands by outcome and the events they append.
type commandMetrics struct {
	commands *prometheus.CounterVec
	retries  *prometheus.CounterVec
	events   *prometheus.CounterVec
}

func newCommandMetrics(reg prometheus.Registerer) *commandMetrics {
	m := &commandMetrics{
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_commands_total",
			Help: "Commands by name and outcome: ok, conflict (concurrency or state), rejected (the caller's input or rights), error.",
		}, []string{"command", "outcome"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_command_conflict_retries_total", Help: "Commands decided again after losing a race for their stream.",
		}, []string{"command"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_events_appended_total", Help: "Events appended, by type.",
		}, []string{"type"}),
	}
	reg.MustRegister(m.commands, m.retries, m.events)
	return m
}

func (m *commandMetrics) commandDone(name string, err error) {
	outcome := "ok"
	var de *domain.Error
	switch {
	case err == nil:
	case errors.As(err, &de) && (de.Kind == domain.KindConflict || de.Kind == domain.KindPreconditionFailed):
		outcome = "conflict"
	case errors.As(err, &de):
		outcome = "rejected"
	default:
		outcome = "error"
	}
	m.commands.WithLabelValues(name, outcome).Inc()
}

func (m *commandMetrics) appended(events []eventstore.NewEvent) {
	for _, e := range events {
		m.events.WithLabelValues(e.Type).Inc()
	}
}
