package http

import (
	"net/http"

	"gatehouse/commands"
)

type ticketRequest struct {
	TicketID       string  `json:"ticket_id"`
	RequesterEmail string  `json:"requester_email"`
	RequesterName  string  `json:"requester_name"`
	Department     string  `json:"department"`
	CompanyID      *string `json:"company_id"`
}

// recordTicket accepts a ticket-created event from the helpdesk. It is
// recorded once per ticket id; a repeat is accepted and changes nothing.
func (s *Server) recordTicket(w http.ResponseWriter, r *http.Request) {
	var body ticketRequest
	meta, _, err := s.commandInput(r, &body)
	if err != nil {
		writeError(w, r, err)
		return
	}
	cmd := commands.RecordTicket{TicketID: body.TicketID, RequesterEmail: body.RequesterEmail, RequesterName: body.RequesterName, Department: body.Department}
	if body.CompanyID != nil {
		cmd.CompanyID = *body.CompanyID
	}
	if err := s.app.RecordTicket(r.Context(), meta, cmd); err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "accepted", "ticket_id": body.TicketID})
}
