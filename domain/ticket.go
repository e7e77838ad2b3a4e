package domain

import "strings"

// Ticket is a helpdesk ticket as far as Gatehouse cares: who asked, where.
type Ticket struct {
	TicketID       string
	RequesterEmail string
}

// Exists reports whether the ticket has been recorded.
func (t *Ticket) Exists() bool { return t.TicketID != "" }

// Apply evolves the ticket by one event.
func (t *Ticket) Apply(e Event) {
	if e, ok := e.(TicketCreated); ok {
		t.TicketID, t.RequesterEmail = e.TicketID, e.RequesterEmail
	}
}

// NewTicket is a ticket reported by the helpdesk; Company is the loaded
// company when CompanyID is set.
type NewTicket struct {
	OrgID          OrgID
	TicketID       string
	RequesterEmail string
	RequesterName  string
	Department     string
	CompanyID      CompanyID
	Company        *Company
}

// Record decides the recording of a ticket; a ticket reported again is
// recorded once (no events).
func (t *Ticket) Record(n NewTicket) ([]Event, error) {
	var v Validation
	id := strings.TrimSpace(n.TicketID)
	if id == "" || len(id) > 200 {
		v.Add("ticket_id", "is required (at most 200 characters)")
	}
	email := NormalizeEmail(n.RequesterEmail)
	if !validEmail(email) {
		v.Add("requester_email", "must be an email address")
	}
	name := cleanName(n.RequesterName)
	checkName(&v, "requester_name", name, false)
	dept := strings.TrimSpace(n.Department)
	checkName(&v, "department", dept, true)
	if n.CompanyID != "" && (n.Company == nil || !n.Company.Exists() || n.Company.OrgID != n.OrgID) {
		v.Add("company_id", "no such company")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	if t.Exists() {
		return nil, nil
	}
	return []Event{TicketCreated{TicketID: id, RequesterEmail: email, RequesterName: name, Department: dept, CompanyID: n.CompanyID}}, nil
}
