// Package sagas holds the reactions that turn helpdesk events into
// decisions: auto-invite a new contact when their ticket arrives, create and
// invite a company's super user when an order is confirmed, and take
// helpdesk events from a Watermill topic. Each reaction issues commands
// with an Idempotency-Key derived from the event that caused it, so a
// redelivered event produces nothing new.
//
// It depends on domain and commands; it must not import http.
package sagas

import (
	"errors"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"gatehouse/commands"
	"gatehouse/domain"
	"gatehouse/eventstore"
)

// outcomes counts saga decisions.
type outcomes struct{ c *prometheus.CounterVec }

func newOutcomes(reg prometheus.Registerer) outcomes {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_saga_outcomes_total", Help: "Saga reactions by saga and outcome.",
	}, []string{"saga", "outcome"})
	if reg != nil {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				c = are.ExistingCollector.(*prometheus.CounterVec)
			}
		}
	}
	return outcomes{c: c}
}

func (o outcomes) add(saga, outcome string) { o.c.WithLabelValues(saga, outcome).Inc() }

// sagaMeta is the metadata of a command a saga issues because of e.
func sagaMeta(e eventstore.RecordedEvent, saga string, trigger domain.Trigger, key string) commands.Meta {
	return commands.Meta{
		Org:            domain.OrgID(e.OrgID),
		Actor:          domain.Actor{Kind: domain.ActorSystem, ID: saga, Name: saga + " saga"},
		Trigger:        trigger,
		CorrelationID:  e.Metadata.CorrelationID,
		CausationID:    e.ID.String(),
		IdempotencyKey: key + ":" + e.ID.String(),
	}
}

// splitName makes first and last names from a requester's display name;
// the email's local part stands in when there is no name.
func splitName(name, email string) (string, string) {
	name = strings.TrimSpace(name)
	if name == "" {
		name = email[:max(strings.IndexByte(email, '@'), 0)]
	}
	first, last, _ := strings.Cut(name, " ")
	if strings.TrimSpace(last) == "" {
		last = "(from ticket)"
	}
	return first, strings.TrimSpace(last)
}

// refused reports whether err is a business refusal (nothing to retry).
func refused(err error) bool {
	var de *domain.Error
	return errors.As(err, &de)
}
