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

type orderRequest struct {
	OrderID   string `json:"order_id"`
	CompanyID string `json:"company_id"`
	Contact   struct {
		FirstName string `json:"first_name"`
		LastName  string `json:"last_name"`
		Email     string `json:"email"`
	} `json:"contact"`
}

// recordOrder accepts an order-confirmed event from the helpdesk, recorded
// once per order id; the super-user saga reacts to it.
func (s *Server) recordOrder(w http.ResponseWriter, r *http.Request) {
	var body orderRequest
	meta, _, err := s.commandInput(r, &body)
	if err != nil {
		writeError(w, r, err)
		return
	}
	err = s.app.RecordOrder(r.Context(), meta, commands.RecordOrder{OrderID: body.OrderID, CompanyID: body.CompanyID,
		FirstName: body.Contact.FirstName, LastName: body.Contact.LastName, Email: body.Contact.Email})
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "accepted", "order_id": body.OrderID})
}
