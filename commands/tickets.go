package commands

import (
	"context"

	"gatehouse/domain"
)

// RecordTicket is a ticket the helpdesk reports.
type RecordTicket struct {
	TicketID       string `json:"ticket_id"`
	RequesterEmail string `json:"requester_email"`
	RequesterName  string `json:"requester_name"`
	Department     string `json:"department"`
	CompanyID      string `json:"company_id"`
}

// ticketStream names a ticket's stream; helpdesk ticket ids are only unique
// within one organization.
func ticketStream(org domain.OrgID, ticketID string) string {
	return "ticket-" + string(org) + "-" + ticketID
}

// RecordTicket records TicketCreated once per ticket id, however often the
// helpdesk reports it.
func (a *App) RecordTicket(ctx context.Context, meta Meta, cmd RecordTicket) error {
	var company *domain.Company
	var err error
	if cmd.CompanyID != "" {
		if company, err = a.company(ctx, meta.Org, domain.CompanyID(cmd.CompanyID)); err != nil {
			return err
		}
	}
	_, err = execute[domain.Ticket](ctx, a, meta, change[*domain.Ticket, struct{}]{
		name:    "RecordTicket",
		stream:  ticketStream(meta.Org, cmd.TicketID),
		subject: cmd.TicketID,
		request: cmd,
		decide: func(t *domain.Ticket, _ int) ([]domain.Event, error) {
			return t.Record(domain.NewTicket{OrgID: meta.Org, TicketID: cmd.TicketID, RequesterEmail: cmd.RequesterEmail,
				RequesterName: cmd.RequesterName, Department: cmd.Department, CompanyID: domain.CompanyID(cmd.CompanyID), Company: company})
		},
		result: func(*domain.Ticket, streamInfo) (struct{}, error) { return struct{}{}, nil },
	})
	return err
}
